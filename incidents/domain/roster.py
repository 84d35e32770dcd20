"""The roster service: what admins do with the on-call roster (people, the rotation, overrides, roles) and the
schedule it gives, on top of any RosterStore.

The roster is one document. Every change reads it whole, changes one part, lets Roster's validators judge the whole,
and writes it back only if nobody wrote in between; after a concurrent write it reads and changes again, so no one's
change is lost. Each part has its own strong ETag, a hash of its JSON: an If-Match on a person fails only when that
person changed, not when someone else did. Messages name ids, never anyone's contact details.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, RootModel, TypeAdapter, ValidationError

from .models import UtcDateTime, format_utc
from .oncall import (
    Assignment,
    Gap,
    Override,
    Person,
    PersonId,
    RoleName,
    Roster,
    Rotation,
    Shift,
    Why,
    gaps,
    on_call_at,
    schedule,
)
from .store import EtagMismatch, RosterStore, StoreUnavailable

DEFAULT_SCHEDULE_DAYS = 7
DEFAULT_GAP_DAYS = 14
T = TypeVar("T")


class RosterError(Exception):
    """What the roster service refuses; the message says what to fix."""


class NotInRoster(RosterError):
    """No such person, override or rotation (HTTP 404)."""


class RosterConflict(RosterError):
    """Refused because of what the roster holds: an id already taken, a person still named elsewhere (HTTP 409)."""


class InvalidRoster(RosterError):
    """A change the roster's rules refuse (HTTP 422); `field` is where to look."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


class RosterChanged(RosterError):
    """If-Match: that part of the roster changed since it was read (HTTP 412)."""


class Roles(RootModel[dict[RoleName, PersonId]]):
    """Who holds each named role, e.g. {"engineering-lead": "alice"}."""


class _View(BaseModel):
    """What the schedule questions answer: ids and display names, no contact details."""

    model_config = ConfigDict(frozen=True)


class Holder(_View):
    person_id: PersonId
    display_name: str
    why: Why


class OnCallNow(_View):
    at: UtcDateTime
    primary: Holder | None
    secondary: Holder | None


class ShiftsBetween(_View):
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    shifts: list[Shift]


class GapsBetween(_View):
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    gaps: list[Gap]


@dataclass(frozen=True)
class Versioned(Generic[T]):
    value: T
    etag: str  # strong, quoted as in an HTTP ETag header


_JSON = TypeAdapter(Any)
_OVERRIDE = TypeAdapter(Override)


def as_json(part: Any) -> Any:
    """A part of the roster (a person, a list of overrides, the roles...) as JSON values."""
    return _JSON.dump_python(part, mode="json")


def etag_of(part: Any) -> str:
    """The strong ETag of one part of the roster: a hash of its JSON."""
    text = json.dumps(as_json(part), sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:20] + '"'


def versioned(part: T) -> Versioned[T]:
    return Versioned(part, etag_of(part))


def parse_override(data: Mapping[str, Any]) -> Override:
    """A Cover or an Away from its JSON; without an id it gets a new one, such as ovr-3fa9c01b."""
    if data.get("kind") not in ("cover", "away"):
        raise InvalidRoster("kind must be 'cover' (someone takes another's shift) or 'away' (someone is unavailable)",
                            "kind")
    return _OVERRIDE.validate_python({"id": f"ovr-{secrets.token_hex(4)}", **data})


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class RosterService:
    def __init__(self, store: RosterStore, *, clock: Callable[[], datetime] = utc_now,
                 conflict_attempts: int = 50) -> None:
        self.store = store
        self.clock = clock
        self.conflict_attempts = conflict_attempts

    def roster(self) -> Roster:
        return self.store.get().roster

    # People

    def people(self) -> Versioned[list[Person]]:
        return versioned(self.roster().people)

    def person(self, person_id: str) -> Versioned[Person]:
        return versioned(_person(self.roster(), person_id))

    def get_person_or_none(self, person_id: str) -> Person | None:
        return self.roster().person(person_id)

    def add_person(self, person: Person) -> Versioned[Person]:
        def add(roster: Roster) -> Roster:
            if roster.person(person.id):
                raise RosterConflict(f"There is already a person with id '{person.id}': PUT to change them.")
            return _checked(roster, people=[*roster.people, person])

        self._change(add)
        return versioned(person)

    def replace_person(self, person: Person, *, if_match: str | None = None) -> Versioned[Person]:
        def replace(roster: Roster) -> Roster:
            _person(roster, person.id)
            return _checked(roster, people=[person if p.id == person.id else p for p in roster.people])

        self._change(replace, if_match, lambda roster: _person(roster, person.id), f"Person {person.id}")
        return versioned(person)

    def delete_person(self, person_id: str, *, if_match: str | None = None) -> None:
        def delete(roster: Roster) -> Roster:
            _person(roster, person_id)
            try:
                return _checked(roster, people=[p for p in roster.people if p.id != person_id])
            except InvalidRoster as exc:
                where = str(exc).removeprefix("unknown people: ")
                raise RosterConflict(f"{person_id} is still named in the roster ({where}): take them out of it "
                                     f"first, then delete them.") from None

        self._change(delete, if_match, lambda roster: _person(roster, person_id), f"Person {person_id}")

    # The rotation and the roles

    def rotation(self) -> Versioned[Rotation]:
        rotation = self.roster().rotation
        if rotation is None:
            raise NotInRoster("There is no rotation yet: PUT one (people, handover_weekday, handover_time, "
                              "time_zone, first_handover).")
        return versioned(rotation)

    def put_rotation(self, rotation: Rotation, *, if_match: str | None = None) -> Versioned[Rotation]:
        self._change(lambda roster: _checked(roster, rotation=rotation), if_match, lambda roster: roster.rotation,
                     "The rotation")
        return versioned(rotation)

    def roles(self) -> Versioned[dict[str, str]]:
        return versioned(self.roster().roles)

    def put_roles(self, roles: Mapping[str, str], *, if_match: str | None = None) -> Versioned[dict[str, str]]:
        roles = dict(roles)
        self._change(lambda roster: _checked(roster, roles=roles), if_match, lambda roster: roster.roles, "The roles")
        return versioned(roles)

    # Overrides

    def overrides(self) -> Versioned[list[Override]]:
        return versioned(sorted(self.roster().overrides, key=lambda o: (o.starts_at, o.id)))

    def override(self, override_id: str) -> Versioned[Override]:
        return versioned(_override(self.roster(), override_id))

    def add_override(self, override: Override) -> Versioned[Override]:
        now = self.clock()
        if override.ends_at <= now:
            raise InvalidRoster(f"The override ends at {format_utc(override.ends_at)}, which has passed (it is now "
                                f"{format_utc(now)}): only present and future overrides can be added.", "ends_at")

        def add(roster: Roster) -> Roster:
            if any(o.id == override.id for o in roster.overrides):
                raise RosterConflict(f"There is already an override with id '{override.id}'.")
            return _checked(roster, overrides=[*roster.overrides, override])

        self._change(add)
        return versioned(override)

    def delete_override(self, override_id: str, *, if_match: str | None = None) -> None:
        def delete(roster: Roster) -> Roster:
            _override(roster, override_id)
            return _checked(roster, overrides=[o for o in roster.overrides if o.id != override_id])

        self._change(delete, if_match, lambda roster: _override(roster, override_id), f"Override {override_id}")

    # The schedule

    def on_call(self, at: datetime | None = None) -> OnCallNow:
        roster = self.roster()
        now = on_call_at(roster, at or self.clock())
        return OnCallNow(at=now.at, primary=_holder(roster, now.primary), secondary=_holder(roster, now.secondary))

    def schedule(self, start: datetime | None = None, end: datetime | None = None) -> ShiftsBetween:
        """Every shift in [start, end): a week from now by default, at most 90 days (ValueError otherwise)."""
        week = timedelta(days=DEFAULT_SCHEDULE_DAYS)
        start = start or (self.clock() if end is None else end - week)
        end = end or start + week
        return ShiftsBetween(starts_at=start, ends_at=end, shifts=schedule(self.roster(), start, end))

    def gaps(self, days: int = DEFAULT_GAP_DAYS) -> GapsBetween:
        """Where a layer has nobody available in the next `days` days (at most 90: ValueError otherwise)."""
        now = self.clock()
        found = gaps(self.roster(), now, days)
        return GapsBetween(starts_at=now, ends_at=now + timedelta(days=days), gaps=found)

    def _change(self, change: Callable[[Roster], Roster], if_match: str | None = None,
                part: Callable[[Roster], Any] = lambda roster: roster, what: str = "The roster") -> Roster:
        """Write `change(roster)` over the stored roster; with `if_match`, only while `part(roster)` still has that
        ETag (RosterChanged otherwise)."""
        for attempt in range(self.conflict_attempts):
            stored = self.store.get()
            if if_match is not None and etag_of(part(stored.roster)) != if_match:
                raise RosterChanged(f"{what} changed since you read it: GET it again, re-apply your change and send "
                                    "its new ETag in If-Match.")
            after = change(stored.roster)
            if after == stored.roster:
                return after
            try:
                return self.store.put(after, stored.etag).roster
            except EtagMismatch:
                time.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.05)))
        raise StoreUnavailable("the roster is changing too often; try again")


def _checked(roster: Roster, **parts: Any) -> Roster:
    """`roster` with `parts` replaced, if Roster's rules accept the whole (InvalidRoster with their reason)."""
    try:
        return Roster.model_validate({**dict(roster), **parts})
    except ValidationError as exc:  # its message only: the input would hold contact details
        error = exc.errors()[0]
        field = ".".join(map(str, error["loc"])) or next(iter(parts))
        raise InvalidRoster(str(error["msg"]).removeprefix("Value error, "), field) from None


def _person(roster: Roster, person_id: str) -> Person:
    person = roster.person(person_id)
    if person is None:
        raise NotInRoster(f"There is no person with id '{person_id}' in the roster.")
    return person


def _override(roster: Roster, override_id: str) -> Override:
    found = next((o for o in roster.overrides if o.id == override_id), None)
    if found is None:
        raise NotInRoster(f"There is no override with id '{override_id}'.")
    return found


def _holder(roster: Roster, assignment: Assignment | None) -> Holder | None:
    if assignment is None:
        return None
    person = _person(roster, assignment.person_id)
    return Holder(person_id=person.id, display_name=person.display_name, why=assignment.why)
