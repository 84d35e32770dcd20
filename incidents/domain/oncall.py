"""The on-call roster and the schedule it gives: who is primary and secondary at any time, and why.

Pure functions over pydantic models: no clock, no store. The rules (docs/engineering/operations/on-call-rotation.md):

- A rotation hands over weekly at a local time (Monday 10:00 Europe/Paris). In week k, counted from the first
  hand-over, the primary is people[k] and the secondary people[k + 1] (cyclically): next week's primary is this
  week's secondary. The hand-over stays at 10:00 local time across DST changes.
- A hand-over time that does not exist on a DST day (02:30 when clocks jump from 02:00 to 03:00) takes the UTC offset
  from before the gap, so it happens at 03:30; a time that exists twice (clocks going back) is its first occurrence.
  This is RFC 5545's rule (section 3.3.5) and zoneinfo's fold=0, so calendars show the same instants.
- A cover ("B covers A's primary shift from T1 to T2") puts B in A's place wherever A holds that layer in [T1, T2).
- An absence ("A is away from T1 to T2"): whoever would hold a layer then and is away is replaced by the next
  available person in the rotation's order. One person never holds both layers: when the secondary moves up to
  primary, the next available person becomes secondary (the handbook's "the secondary becomes primary").
- Nobody available for a layer is a gap, reported by `gaps`.

Intervals are half-open, [start, end): an override ending at 10:00 and one starting at 10:00 do not overlap.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from .models import EARLIEST, LATEST, UtcDateTime, in_range

SCHEDULE_MAX = timedelta(days=90)
WEEK = timedelta(days=7)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_zone(name: str) -> str:
    if name not in _zone_names():
        raise ValueError(f"{name!r} is not an IANA time zone, such as Europe/Paris")
    return name


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(_known_zone(name))


def local_instant(day: date, at: time, zone_name: str) -> datetime:
    """The UTC instant of a wall-clock time on a day: a time skipped by DST takes the offset before the gap, an
    ambiguous one is its first occurrence (RFC 5545, section 3.3.5; zoneinfo's fold=0)."""
    return datetime.combine(day, at, tzinfo=zone(zone_name)).astimezone(timezone.utc)


class Weekday(StrEnum):
    monday = "monday"
    tuesday = "tuesday"
    wednesday = "wednesday"
    thursday = "thursday"
    friday = "friday"
    saturday = "saturday"
    sunday = "sunday"

    @property
    def number(self) -> int:
        """Monday is 0, as date.weekday() counts."""
        return _WEEKDAY_NUMBERS[self]


_WEEKDAY_NUMBERS = {day: n for n, day in enumerate(Weekday)}  # every due time of an escalation asks, many times


class Layer(StrEnum):
    primary = "primary"
    secondary = "secondary"


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
PersonId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
OverrideId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


def _e164(number: str) -> str:
    compact = re.sub(r"[ \-()]", "", number)
    if not E164.fullmatch(compact):
        raise ValueError("must be an E.164 mobile number: +, the country code, the number, e.g. +46 70 000 00 00")
    return compact


def _email(address: str) -> str:
    if len(address) > 254 or not EMAIL.fullmatch(address):
        raise ValueError("must be an email address such as name@example.org")
    return address


def _whole_minutes(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("must be a local time without an offset; the time zone is given apart")
    if value.second or value.microsecond:
        raise ValueError("must be whole minutes, e.g. 10:00")
    return value


LocalTime = Annotated[time, AfterValidator(_whole_minutes)]


class Person(_Frozen):
    """Someone who can be paged. Contact details are personal data: kept out of repr (and so out of log lines)."""

    id: PersonId
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    email: Annotated[str, AfterValidator(_email)] = Field(repr=False)
    mobile: Annotated[str, AfterValidator(_e164)] = Field(repr=False)  # stored compact, E.164 without spaces
    slack_user_id: Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,20}$")] = Field(repr=False)
    time_zone: TimeZoneName
    may_publish: bool = False  # may confirm and publish incidents from Slack


class Rotation(_Frozen):
    """People in order, handing over weekly at a local time; week 0 starts at `first_handover`."""

    people: list[PersonId]
    handover_weekday: Weekday = Weekday.monday
    handover_time: LocalTime = time(10, 0)
    time_zone: TimeZoneName = "Europe/Paris"
    first_handover: date

    @field_validator("people")
    @classmethod
    def _somebody_once(cls, people: list[str]) -> list[str]:
        if not people:
            raise ValueError("a rotation needs at least one person")
        twice = sorted({p for p in people if people.count(p) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} appear more than once; each person has one place in the order")
        return people

    @model_validator(mode="after")
    def _first_handover_fits(self) -> Rotation:
        if self.first_handover.weekday() != self.handover_weekday.number:
            raise ValueError(f"first_handover {self.first_handover} is a {self.first_handover:%A}, "
                             f"not a {self.handover_weekday.value}")
        if not EARLIEST.date() < self.first_handover < LATEST.date() - WEEK:
            raise ValueError(f"first_handover must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
        return self

    def handover(self, week: int) -> datetime:
        """The UTC instant week `week` starts (week 0 at first_handover)."""
        return local_instant(self.first_handover + week * WEEK, self.handover_time, self.time_zone)

    def week_at(self, at: datetime) -> int | None:
        """The week `at` falls in, or None before the first hand-over."""
        start = self.handover(0)
        if at < start:
            return None
        week = (at - start) // WEEK  # off by one at most: a week is 167 to 169 hours long
        while self.handover(week) > at:
            week -= 1
        while self.handover(week + 1) <= at:
            week += 1
        return week

    def scheduled(self, week: int, layer: Layer) -> str:
        return self.people[(week + (layer is Layer.secondary)) % len(self.people)]


class _Interval(_Frozen):
    starts_at: UtcDateTime
    ends_at: UtcDateTime

    @model_validator(mode="after")
    def _ends_after_start(self):
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def holds(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def overlaps(self, other: _Interval) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


class Cover(_Interval):
    """`by` takes `covered`'s `layer` shift wherever `covered` holds it in [starts_at, ends_at). A swap is two."""

    kind: Literal["cover"] = "cover"
    id: OverrideId
    layer: Layer
    covered: PersonId
    by: PersonId

    @model_validator(mode="after")
    def _two_people(self) -> Cover:
        if self.by == self.covered:
            raise ValueError("a person cannot cover their own shift")
        return self


class Away(_Interval):
    """`person` is unavailable in [starts_at, ends_at): vacation, sick, a train."""

    kind: Literal["away"] = "away"
    id: OverrideId
    person: PersonId


Override = Annotated[Cover | Away, Field(discriminator="kind")]


class Roster(_Frozen):
    """Everything the schedule is computed from: people, the rotation, overrides, and who holds each named role."""

    people: list[Person] = []
    rotation: Rotation | None = None
    overrides: list[Override] = []
    roles: dict[RoleName, PersonId] = {}  # e.g. engineering-lead -> a person id

    @model_validator(mode="after")
    def _consistent(self) -> Roster:
        ids = [p.id for p in self.people]
        if len(ids) != len(set(ids)):
            raise ValueError("two people share an id")
        named = [("the rotation", p) for p in (self.rotation.people if self.rotation else [])]
        named += [(f"role {role}", p) for role, p in self.roles.items()]
        for o in self.overrides:
            named += [(f"override {o.id}", p) for p in ((o.covered, o.by) if isinstance(o, Cover) else (o.person,))]
        unknown = [f"{where} names {p!r}" for where, p in named if p not in ids]
        if unknown:
            raise ValueError(f"unknown people: {'; '.join(unknown)}")
        override_ids = [o.id for o in self.overrides]
        if len(override_ids) != len(set(override_ids)):
            raise ValueError("two overrides share an id")
        for i, a in enumerate(self.overrides):
            for b in self.overrides[i + 1:]:
                if _conflict(a, b) and a.overlaps(b):
                    raise ValueError(f"override {b.id} overlaps {a.id}: {_conflict(a, b)} "
                                     f"between {max(a.starts_at, b.starts_at):%Y-%m-%dT%H:%MZ} and "
                                     f"{min(a.ends_at, b.ends_at):%Y-%m-%dT%H:%MZ}")
        return self

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)

    def away_at(self, person_id: str, at: datetime) -> Away | None:
        return next((o for o in self.overrides if isinstance(o, Away) and o.person == person_id and o.holds(at)),
                    None)

    def cover_at(self, layer: Layer, covered: str, at: datetime) -> Cover | None:
        return next((o for o in self.overrides if isinstance(o, Cover) and o.layer is layer
                     and o.covered == covered and o.holds(at)), None)


def _conflict(a: Override, b: Override) -> str | None:
    """Why two overrides may not overlap in time, or None when they may."""
    if isinstance(a, Away) and isinstance(b, Away) and a.person == b.person:
        return f"both say {a.person} is away"
    if isinstance(a, Cover) and isinstance(b, Cover) and (a.layer, a.covered) == (b.layer, b.covered):
        return f"both cover {a.covered}'s {a.layer.value} shift"
    return None


class Why(_Frozen):
    """Why someone holds a layer: the rotation, a cover, or standing in for someone unavailable."""

    source: Literal["rotation", "cover", "replacement"]
    override_id: str | None = None  # the cover, or the absence, that put them there
    instead_of: PersonId | None = None  # whom they stand in for


class Assignment(_Frozen):
    person_id: PersonId
    why: Why


class OnCall(_Frozen):
    at: UtcDateTime
    primary: Assignment | None
    secondary: Assignment | None

    def of(self, layer: Layer) -> Assignment | None:
        return self.primary if layer is Layer.primary else self.secondary


class Shift(_Frozen):
    layer: Layer
    person_id: PersonId
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    why: list[Why]  # each distinct reason over the shift, in order (merged intervals may have several)


class Gap(_Frozen):
    layer: Layer
    starts_at: UtcDateTime
    ends_at: UtcDateTime


def on_call_at(roster: Roster, at: datetime) -> OnCall:
    """Who is primary and who is secondary at `at`, with why."""
    at = in_range(at)
    rotation = roster.rotation
    week = rotation.week_at(at) if rotation else None
    if rotation is None or week is None:
        return OnCall(at=at, primary=None, secondary=None)
    primary = _fill(roster, rotation, week, Layer.primary, at, taken=None)
    secondary = _fill(roster, rotation, week, Layer.secondary, at, taken=primary)
    return OnCall(at=at, primary=primary, secondary=secondary)


def _fill(roster: Roster, rotation: Rotation, week: int, layer: Layer, at: datetime,
          taken: Assignment | None) -> Assignment | None:
    scheduled = rotation.scheduled(week, layer)
    holder, why = scheduled, Why(source="rotation")
    cover = roster.cover_at(layer, scheduled, at)
    if cover:
        holder, why = cover.by, Why(source="cover", override_id=cover.id, instead_of=scheduled)
    away = roster.away_at(holder, at)
    is_taken = taken is not None and taken.person_id == holder
    if not away and not is_taken:
        return Assignment(person_id=holder, why=why)
    # The cause named on the replacement: this person's absence, or whatever moved them up to the other layer.
    cause = away.id if away else (taken.why.override_id if taken else None)
    order = rotation.people
    start = order.index(holder) if holder in order else order.index(scheduled)
    for step in range(1, len(order)):
        candidate = order[(start + step) % len(order)]
        if candidate != holder and not roster.away_at(candidate, at) and (taken is None
                                                                          or candidate != taken.person_id):
            return Assignment(person_id=candidate, why=Why(source="replacement", override_id=cause,
                                                           instead_of=holder))
    return None


def _checked_window(start: datetime, end: datetime, limit: timedelta = SCHEDULE_MAX) -> tuple[datetime, datetime]:
    start, end = in_range(start), in_range(end)
    if end <= start:
        raise ValueError("the end must be after the start")
    if end - start > limit:
        raise ValueError(f"a schedule spans at most {limit.days} days")
    return start, end


def _timeline(roster: Roster, start: datetime, end: datetime) -> list[tuple[Layer, datetime, datetime,
                                                                           list[Assignment]]]:
    """Each layer's [start, end) cut where its holder changes: (layer, from, to, assignments; empty for a gap)."""
    cuts = {start, end}
    for o in roster.overrides:
        cuts |= {t for t in (o.starts_at, o.ends_at) if start < t < end}
    if roster.rotation:
        week = roster.rotation.week_at(start)
        week = -1 if week is None else week
        while (handover := roster.rotation.handover(week + 1)) < end:
            if handover > start:
                cuts.add(handover)
            week += 1
    times = sorted(cuts)
    result = []
    for layer in Layer:
        merged: list[tuple[Layer, datetime, datetime, list[Assignment]]] = []
        for a, b in zip(times, times[1:], strict=False):
            held = on_call_at(roster, a).of(layer)
            if merged and merged[-1][2] == a and _same_holder(merged[-1][3], held):
                previous = merged[-1]
                merged[-1] = (layer, previous[1], b, previous[3] + ([held] if held else []))
            else:
                merged.append((layer, a, b, [held] if held else []))
        result += merged
    return result


def _same_holder(assignments: list[Assignment], held: Assignment | None) -> bool:
    return (assignments[-1].person_id if assignments else None) == (held.person_id if held else None)


def schedule(roster: Roster, start: datetime, end: datetime, *, limit: timedelta = SCHEDULE_MAX) -> list[Shift]:
    """Every shift in [start, end) (at most 90 days), adjacent intervals of the same person merged; by start time."""
    start, end = _checked_window(start, end, limit)
    shifts = [Shift(layer=layer, person_id=held[0].person_id, starts_at=a, ends_at=b,
                    why=list(dict.fromkeys(h.why for h in held)))
              for layer, a, b, held in _timeline(roster, start, end) if held]
    return sorted(shifts, key=lambda s: (s.starts_at, list(Layer).index(s.layer)))


def shifts_of(roster: Roster, person_id: str, start: datetime, end: datetime, *,
              limit: timedelta = SCHEDULE_MAX) -> list[Shift]:
    return [s for s in schedule(roster, start, end, limit=limit) if s.person_id == person_id]


def gaps(roster: Roster, now: datetime, days: int = 14) -> list[Gap]:
    """Every interval in the next `days` days where a layer has nobody available; by start time."""
    start, end = _checked_window(now, now + timedelta(days=days))
    found = [Gap(layer=layer, starts_at=a, ends_at=b) for layer, a, b, held in _timeline(roster, start, end)
             if not held]
    return sorted(found, key=lambda g: (g.starts_at, list(Layer).index(g.layer)))
