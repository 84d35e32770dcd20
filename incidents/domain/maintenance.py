"""Announced maintenance ("Payments will be unavailable Sunday 02:00-02:30"): what a window is, the state the clock
gives it, and how an admin may change it. Pure functions over the models: the service (maintenance_service.py)
passes `now`, the author, the known components and the other windows in.

States: scheduled -> in_progress -> completed, or cancelled. The clock moves a window, with nobody touching it: it
is in progress from `starts_at` and completed at `ends_at`, and `state_at(now)` derives that at read time, so every
reader (the status site, alert intake, the admin API) agrees at any time without a timer writing anything. An admin
moves it by hand, and each change is one entry appended to its timeline: start early (`starts_at` becomes now),
extend or shorten (`ends_at`), complete early (`ends_at` becomes now), cancel. `state` holds what the last change by
hand recorded; only completed and cancelled stick whatever the clock says.

Rules (a 4xx for each): a window ends after it starts, lasts at most MAX_DURATION, does not start in the past when
announced (CLOCK_SKEW of grace), names only the platform's components (policy.platform_components), and never
overlaps a scheduled or running window on a shared component. A completed or cancelled window no longer changes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .models import Components, Message, Note, Title, UtcDateTime
from .workflow import CLOCK_SKEW, NothingToChange, WorkflowError

MAX_DURATION = timedelta(days=7)
UPCOMING = timedelta(days=14)  # how far ahead the status site shows scheduled windows
MAX_MAINTENANCE_UPDATES = 200


class MaintenanceState(StrEnum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"


ENDED = (MaintenanceState.completed, MaintenanceState.cancelled)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


WindowComponents = Annotated[Components, Field(min_length=1)]


class MaintenanceUpdate(_Strict):
    """One entry of a window's timeline, appended and never edited. Public but for `note` and `author`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    at: UtcDateTime
    state: MaintenanceState  # the window's state right after this entry
    message: Message | None = None  # public words, when the entry carries any
    note: Note | None = None  # internal words, never public
    changes: list[str] = []  # the fields or moves this entry records: announced, started, ends_at, ...
    author: Annotated[str, StringConstraints(max_length=200)]


class Maintenance(_Strict):
    id: str
    title: Title
    message: Message
    components: WindowComponents
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    state: MaintenanceState = MaintenanceState.scheduled  # as last recorded by hand; state_at(now) is the truth
    cancelled_at: UtcDateTime | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    updates: Annotated[list[MaintenanceUpdate], Field(max_length=MAX_MAINTENANCE_UPDATES)] = []

    def state_at(self, now: datetime) -> MaintenanceState:
        if self.state in ENDED:
            return self.state
        if now < self.starts_at:
            return MaintenanceState.scheduled
        return MaintenanceState.in_progress if now < self.ends_at else MaintenanceState.completed

    def span(self, now: datetime) -> tuple[datetime, datetime] | None:
        """When its components were under maintenance, up to `now`; None if never (yet, or cancelled before)."""
        end = self.ends_at if self.cancelled_at is None else min(self.ends_at, self.cancelled_at)
        end = min(end, now)
        return (self.starts_at, end) if self.starts_at < end else None

    def changes_at(self, now: datetime) -> list[datetime]:
        """When the clock alone next changes what the public sees of it: it enters the site's upcoming list, starts,
        ends. (A publisher republishes then.)"""
        if self.state in ENDED:
            return []
        return [t for t in (self.starts_at - UPCOMING, self.starts_at, self.ends_at) if t > now]


# Fields a change may set in place; `id`, `created_at` and `updates` never change this way.
MAINTENANCE_FIELDS = ("title", "message", "components", "starts_at", "ends_at", "state", "cancelled_at",
                      "updated_at")


class NewMaintenance(_Strict):
    """Body of POST /v1/admin/maintenances."""

    title: Title
    message: Message
    components: WindowComponents
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    note: Note | None = None


class MaintenanceChange(_Strict):
    """Body of PATCH /v1/admin/maintenances/{id}: new words, components or times (extend with a later ends_at)."""

    title: Title | None = None
    message: Message | None = None
    components: WindowComponents | None = None
    starts_at: UtcDateTime | None = None
    ends_at: UtcDateTime | None = None
    note: Note | None = None


class MaintenanceAction(_Strict):
    """Body of POST .../start, .../complete and .../cancel, all optional: words for the public and a note."""

    message: Message | None = None
    note: Note | None = None


class InvalidMaintenance(ValueError):
    """A window the rules refuse (HTTP 422); `field` is where to look."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class MaintenanceConflict(WorkflowError):
    """A change the window's state or another window does not allow (HTTP 409)."""


@dataclass(frozen=True)
class PublicEntry:
    """One entry of the public timeline: the stored public entries, and the moves the clock made."""

    id: str
    at: datetime
    state: MaintenanceState
    message: dict[str, str] | None


def public_timeline(m: Maintenance, now: datetime) -> list[PublicEntry]:
    """Oldest first. Stored entries are public unless they only carry a note; a start or an end that the clock made
    (nobody started or completed it by hand) is added at its time, as Statuspage does."""
    entries = [PublicEntry(u.id, u.at, u.state, u.message) for u in m.updates if u.message or u.changes]
    done = {change for u in m.updates for change in u.changes}
    began = m.starts_at <= now and (m.cancelled_at is None or m.cancelled_at > m.starts_at)
    if began and "started" not in done:
        entries.append(PublicEntry("started", m.starts_at, MaintenanceState.in_progress, None))
    if m.state_at(now) is MaintenanceState.completed and "completed" not in done:
        entries.append(PublicEntry("completed", m.ends_at, MaintenanceState.completed, None))
    return sorted(entries, key=lambda e: e.at)


def covering(windows: Iterable[Maintenance], components: Collection[str], now: datetime) -> list[Maintenance]:
    """The windows in progress at `now` that together put every one of `components` under maintenance; [] when
    some component is not, or none is named (an alert on no component concerns the whole platform)."""
    running = [m for m in windows if m.state_at(now) is MaintenanceState.in_progress]
    covered = {name for m in running for name in m.components}
    if not components or not set(components) <= covered:
        return []
    return [m for m in running if set(m.components) & set(components)]


# The workflow


def open_maintenance(body: NewMaintenance, *, maintenance_id: str, author: str, now: datetime,
                     known: Collection[str], others: Iterable[Maintenance]) -> Maintenance:
    """A new window, announced now."""
    if body.starts_at < now - CLOCK_SKEW:
        raise InvalidMaintenance(f"starts_at {body.starts_at:%Y-%m-%d %H:%M} UTC is in the past: announce a window "
                                 "that starts now or later", "starts_at")
    window = Maintenance(id=maintenance_id, title=body.title, message=body.message, components=body.components,
                         starts_at=body.starts_at, ends_at=body.ends_at, created_at=now, updated_at=now)
    check_window(window, known=known, others=others, now=now)
    first = MaintenanceUpdate(id="u1", at=now, state=window.state_at(now), message=body.message, note=body.note,
                              changes=["announced"], author=author)
    return window.model_copy(update={"updates": [first]})


def change_maintenance(m: Maintenance, change: MaintenanceChange, *, author: str, now: datetime,
                       known: Collection[str], others: Iterable[Maintenance]) -> tuple[Maintenance, MaintenanceUpdate]:
    state = _not_ended(m, now, "change")
    fields: dict[str, Any] = {name: value for name in ("title", "message", "components", "starts_at", "ends_at")
                              if (value := getattr(change, name)) is not None and value != getattr(m, name)}
    if "starts_at" in fields:
        if state is MaintenanceState.in_progress:
            raise MaintenanceConflict(f"Maintenance {m.id} started at {m.starts_at:%Y-%m-%d %H:%M} UTC: its start "
                                      "cannot move. Change ends_at to extend it, or complete it.")
        if fields["starts_at"] < now - CLOCK_SKEW:
            raise InvalidMaintenance("starts_at is in the past: to start the window now, POST .../start",
                                     "starts_at")
    if "ends_at" in fields and fields["ends_at"] <= now:
        raise InvalidMaintenance("ends_at is in the past: to end the window now, POST .../complete", "ends_at")
    if not fields and change.message is None and change.note is None:
        raise NothingToChange("Nothing would change: send at least one of title, message, components, starts_at, "
                              "ends_at or note.")
    after = m.model_copy(update={**fields, "updated_at": now})
    if fields.keys() & {"components", "starts_at", "ends_at"}:
        check_window(after, known=known, others=others, now=now)
    return _appended(after, now, author, changes=list(fields), message=change.message, note=change.note)


def start(m: Maintenance, action: MaintenanceAction, *, author: str, now: datetime,
          others: Iterable[Maintenance]) -> tuple[Maintenance, MaintenanceUpdate]:
    """Start early: the window runs from now."""
    state = _not_ended(m, now, "start")
    if state is MaintenanceState.in_progress:
        raise MaintenanceConflict(f"Maintenance {m.id} is already in progress (since "
                                  f"{m.starts_at:%Y-%m-%d %H:%M} UTC).")
    after = m.model_copy(update={"starts_at": now, "state": MaintenanceState.in_progress, "updated_at": now})
    check_window(after, known=m.components, others=others, now=now)
    note = f"Started by hand; it was scheduled to start at {m.starts_at:%Y-%m-%d %H:%M} UTC."
    return _appended(after, now, author, changes=["started"], message=action.message,
                     note=f"{note}\n{action.note}" if action.note else note)


def complete(m: Maintenance, action: MaintenanceAction, *, author: str,
             now: datetime) -> tuple[Maintenance, MaintenanceUpdate]:
    """Complete early: the window ends now."""
    state = _not_ended(m, now, "complete")
    if state is MaintenanceState.scheduled:
        raise MaintenanceConflict(f"Maintenance {m.id} has not started (it starts at "
                                  f"{m.starts_at:%Y-%m-%d %H:%M} UTC): cancel it instead.")
    after = m.model_copy(update={"ends_at": now, "state": MaintenanceState.completed, "updated_at": now})
    return _appended(after, now, author, changes=["completed"], message=action.message, note=action.note)


def cancel(m: Maintenance, action: MaintenanceAction, *, author: str,
           now: datetime) -> tuple[Maintenance, MaintenanceUpdate]:
    """Called off: before it starts, it never happens; while it runs, it ends now."""
    state = _not_ended(m, now, "cancel")
    fields: dict[str, Any] = {"state": MaintenanceState.cancelled, "cancelled_at": now, "updated_at": now}
    if state is MaintenanceState.in_progress:
        fields["ends_at"] = now
    return _appended(m.model_copy(update=fields), now, author, changes=["cancelled"], message=action.message,
                     note=action.note)


def check_window(m: Maintenance, *, known: Collection[str], others: Iterable[Maintenance], now: datetime) -> None:
    if m.ends_at <= m.starts_at:
        raise InvalidMaintenance(f"ends_at ({m.ends_at:%Y-%m-%d %H:%M} UTC) must be after starts_at "
                                 f"({m.starts_at:%Y-%m-%d %H:%M} UTC)", "ends_at")
    if m.ends_at - m.starts_at > MAX_DURATION:
        hours = (m.ends_at - m.starts_at) / timedelta(hours=1)
        raise InvalidMaintenance(f"a window lasts at most {MAX_DURATION.days} days; this one would last "
                                 f"{hours:.0f} hours: announce several", "ends_at")
    unknown = [name for name in m.components if name not in known]
    if unknown:
        raise InvalidMaintenance(f"unknown component(s) {', '.join(map(repr, unknown))}; the platform's components "
                                 f"are {', '.join(map(repr, known))}", "components")
    for other in others:
        if (other.id != m.id and other.state_at(now) not in ENDED and other.starts_at < m.ends_at
                and m.starts_at < other.ends_at and set(other.components) & set(m.components)):
            shared = ", ".join(sorted(set(other.components) & set(m.components)))
            raise MaintenanceConflict(
                f"This window overlaps maintenance {other.id} on {shared} ({other.starts_at:%Y-%m-%d %H:%M} to "
                f"{other.ends_at:%Y-%m-%d %H:%M} UTC): change or extend that one instead, or pick other times.")


def _not_ended(m: Maintenance, now: datetime, what: str) -> MaintenanceState:
    state = m.state_at(now)
    if state in ENDED:
        raise MaintenanceConflict(f"Maintenance {m.id} is {state.value}: a {state.value} window cannot {what}; "
                                  "announce a new one.")
    return state


def _appended(after: Maintenance, now: datetime, author: str, **fields: Any) -> tuple[Maintenance, MaintenanceUpdate]:
    if len(after.updates) >= MAX_MAINTENANCE_UPDATES:
        raise MaintenanceConflict(f"Maintenance {after.id} has reached {MAX_MAINTENANCE_UPDATES} updates.")
    entry = MaintenanceUpdate(id=f"u{len(after.updates) + 1}", at=now, state=after.state_at(now), author=author,
                              **fields)
    return after.model_copy(update={"updates": [*after.updates, entry]}), entry
