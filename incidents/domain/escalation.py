"""What an incident's escalation must page now: a pure function that any runner (a timer sweep, a Durable
orchestration, a test with a fixed clock) can call as often as it likes.

due_pages(state, snapshot, roster, now) -> which pages are due and not yet recorded, and when to look again.

- Level i is due at start + after_minutes; the last level repeats every repeat_every_minutes. A severity that pages
  in working hours only starts its clock when they next begin, and each due time moves to working hours too.
- Escalation stops at acknowledgement, dismissal or resolution (`stopped_at`): nothing is due after that.
- Every page has a key (incident, level, attempt, person, channel). A (level, attempt, channel) recorded once is
  never due again, whoever the roster names later; so a crash, a retry or two sweeps never page twice.
- A late sweep sends every level that came due (none is skipped). Repeats of the last level that were missed
  collapse into the latest one: paging the lead four times at once helps nobody.
- Who a level pages is resolved from the roster as it is now, at the level's due time: a roster edited mid-escalation
  pages whoever is on call then, an absence pages the replacement. Two sweeps given the same roster agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from .models import Escalation, Incident, UtcDateTime, in_range
from .oncall import Layer, PersonId, Roster, Why, on_call_at
from .policy import Channel, PagingLevel, PagingSnapshot


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PageKey(_Frozen):
    incident_id: str
    level: int = Field(ge=1)
    attempt: int = Field(ge=1)
    person_id: PersonId
    channel: Channel

    def __str__(self) -> str:
        return f"{self.incident_id}/level-{self.level}/attempt-{self.attempt}/{self.person_id}/{self.channel.value}"


class Slot(NamedTuple):
    level: int
    attempt: int


class EscalationState(_Frozen):
    """What the incident holds about its escalation; later kept on its internal timeline."""

    incident_id: str
    started_at: UtcDateTime
    stopped_at: UtcDateTime | None = None  # acknowledged, dismissed or resolved
    sent: list[PageKey] = []  # every page recorded so far
    unstaffed: list[Slot] = []  # levels already reported as having nobody to page


class Page(_Frozen):
    key: PageKey
    due_at: UtcDateTime
    who: str  # the level's `who`: primary, secondary, or a role
    why: Why | None = None  # for a layer: the rotation, a cover, or a replacement


class Unstaffed(_Frozen):
    """A level that came due with nobody to page: worth a timeline entry and a word in Slack."""

    slot: Slot
    due_at: UtcDateTime
    who: str


class Due(_Frozen):
    pages: list[Page] = []
    unstaffed: list[Unstaffed] = []
    next_due_at: UtcDateTime | None = None  # when something may next come due; None once stopped or finished


def start_escalation(snapshot: PagingSnapshot, now: datetime) -> Escalation:
    """An escalation starting now under `snapshot`: its first level is due now, or when working hours next begin."""
    state = EscalationState(incident_id="-", started_at=now)
    return Escalation(started_at=now, policy=snapshot.model_dump(mode="json"),
                      next_due_at=due_pages(state, snapshot, Roster(), now - timedelta(microseconds=1)).next_due_at)


def snapshot_of(escalation: Escalation) -> PagingSnapshot:
    return PagingSnapshot.model_validate(escalation.policy)


def state_of(incident: Incident) -> EscalationState:
    """The escalation as due_pages reads it: its start and stop, and every page and gap its timeline records."""
    escalation = incident.escalation
    if escalation is None:
        raise ValueError(f"incident {incident.id} has no escalation")
    sent, unstaffed = [], []
    for event in (u.paging for u in incident.updates if u.paging is not None):
        sent += [PageKey(incident_id=incident.id, level=p.level, attempt=p.attempt, person_id=p.person_id,
                         channel=Channel(p.channel)) for p in event.pages]
        unstaffed += [Slot(u.level, u.attempt) for u in event.unstaffed]
    return EscalationState(incident_id=incident.id, started_at=escalation.started_at,
                           stopped_at=escalation.stopped_at, sent=sent, unstaffed=unstaffed)


def due_pages(state: EscalationState, snapshot: PagingSnapshot, roster: Roster, now: datetime) -> Due:
    now = in_range(now)
    if state.stopped_at is not None:
        return Due()
    paging = snapshot.paging
    opens = snapshot.working_hours.next_open if paging.when == "working-hours" else (lambda at: at)
    start = opens(state.started_at)

    def due_at(slot: Slot) -> datetime:
        level = paging.levels[slot.level - 1]
        extra = (slot.attempt - 1) * (paging.repeat_every_minutes or 0)
        return opens(start + timedelta(minutes=level.after_minutes + extra))

    last = len(paging.levels)
    slots = [Slot(number, 1) for number in range(1, last + 1)]
    repeat = _latest_repeat(paging.repeat_every_minutes, last, due_at, now)
    if repeat:
        slots.append(repeat)

    sent = {(k.level, k.attempt, k.channel) for k in state.sent}
    pages: list[Page] = []
    unstaffed: list[Unstaffed] = []
    for slot in (s for s in slots if due_at(s) <= now):
        level = paging.levels[slot.level - 1]
        channels = [c for c in level.channels if (slot.level, slot.attempt, c) not in sent]
        if not channels:
            continue
        when = due_at(slot)
        person_id, why = _who(level, roster, when)
        if person_id is None:
            if slot not in state.unstaffed:
                unstaffed.append(Unstaffed(slot=slot, due_at=when, who=level.who))
            continue
        pages += [Page(key=PageKey(incident_id=state.incident_id, level=slot.level, attempt=slot.attempt,
                                   person_id=person_id, channel=channel), due_at=when, who=level.who, why=why)
                  for channel in channels]

    upcoming = [due_at(s) for s in slots if due_at(s) > now]
    if paging.repeat_every_minutes:
        following = Slot(last, (repeat.attempt if repeat else 1) + 1)
        upcoming.append(due_at(following))
    return Due(pages=pages, unstaffed=unstaffed, next_due_at=min(upcoming, default=None))


def _latest_repeat(every: int | None, last: int, due_at, now: datetime) -> Slot | None:
    """The latest repeat (attempt 2 or more) of the last level that is due at `now`, if any."""
    if not every or due_at(Slot(last, 2)) > now:
        return None
    first = due_at(Slot(last, 1))
    attempt = max(2, 1 + int((now - first) / timedelta(minutes=every)))
    while attempt > 2 and due_at(Slot(last, attempt)) > now:  # working hours push due times later
        attempt -= 1
    return Slot(last, attempt)


def _who(level: PagingLevel, roster: Roster, at: datetime) -> tuple[str | None, Why | None]:
    if level.who in set(Layer):
        assignment = on_call_at(roster, at).of(Layer(level.who))
        return (assignment.person_id, assignment.why) if assignment else (None, None)
    person_id = roster.roles.get(level.who)
    if person_id is None or roster.away_at(person_id, at):
        return None, None
    return person_id, None
