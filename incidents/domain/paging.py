"""The escalation runner: each sweep asks escalation.due_pages what is due, records it on the incident, then pages.

Any runner calls it: the timer every 30 s on Azure, the same timer on the local host, a right-away run when an
escalation starts (IncidentService.page_soon), a test with a fixed clock. docs/decisions/0001-escalation-runner.md
says why a timer and not Durable Functions.

- Record, then send. The due pages are appended to the incident's internal timeline (one entry, with their keys and
  the escalation's next due time) under the store's concurrency check, and only the sweep whose append won sends
  them. Two overlapping sweeps, or a retry, find the pages already recorded and send nothing: a page is sent at most
  once. A crash between the two loses that page, never the next level.
- Every channel of a page is tried, at the same time; a channel that fails with a transient error is tried again
  after RETRY_WAITS. What still failed is appended to the timeline: a failure is never silent.
- The roster is read once per sweep, so a roster edited mid-escalation pages whoever is on call at the next level.
- The store down: the sweep raises or skips that incident; nothing was recorded, so the next sweep pages it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .escalation import Page, Unstaffed, due_pages, snapshot_of, state_of
from .models import (
    MAX_UPDATES,
    Incident,
    PageFailure,
    PageRecord,
    PagingEvent,
    UnstaffedLevel,
    Visibility,
    printable,
)
from .notifier import NoticeKind, RosterDigest
from .oncall import Person, Roster, gaps, schedule
from .pager import OutgoingPage, PageFailed, Pager
from .policy import Channel
from .service import IncidentService
from .store import IncidentQuery, RosterStore, StoreError, find_all
from .workflow import WorkflowError, next_entry, stop_escalation

AUTHOR = "Escalation"
RETRY_WAITS = (1.0, 3.0)  # seconds before the 2nd and 3rd attempt of a channel that failed with a transient error
TIMELINE_ROOM = MAX_UPDATES - 60  # paging stops here, leaving the last entries for people
ACK_LINK_VALID = timedelta(minutes=60)
log = logging.getLogger(__name__)


# Acknowledge links: /api/v1/oncall/acknowledge/<token>, the token signed with ONCALL_LINK_SECRET and bound to the
# incident, the person and the level. A link is good for ACK_LINK_VALID; acknowledging is done once per incident, so
# a second use only shows who acknowledged.

class InvalidLink(ValueError):
    """A token that was not signed with the current secret, or that has expired (the message says which)."""


@dataclass(frozen=True)
class AckClaim:
    incident_id: str
    person_id: str
    level: int
    expires_at: datetime


def link_signature(secret: bytes, purpose: str, payload: str) -> str:
    """What makes a link unguessable: a truncated HMAC-SHA256 of "<purpose>:<payload>", base64url (acknowledge
    links here, calendar addresses in oncall/calendar.py). Rotating the secret revokes every link at once."""
    digest = hmac.new(secret, f"{purpose}:{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]


def ack_token(secret: bytes, incident_id: str, person_id: str, level: int, expires_at: datetime) -> str:
    payload = f"{incident_id}|{person_id}|{level}|{int(expires_at.timestamp())}"
    encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{encoded}.{link_signature(secret, 'ack', payload)}"


def read_ack_token(secret: bytes, token: str, now: datetime) -> AckClaim:
    try:
        encoded, mac = token.split(".")
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        incident_id, person_id, level, expires = payload.split("|")
        claim = AckClaim(incident_id, person_id, int(level), datetime.fromtimestamp(int(expires), timezone.utc))
    except (ValueError, UnicodeError, OverflowError, OSError):
        raise InvalidLink("This acknowledge link is not valid: it may have been cut short.") from None
    if len(token) > 400 or not hmac.compare_digest(mac, link_signature(secret, "ack", payload)):
        raise InvalidLink("This acknowledge link is not valid: it may have been cut short, or replaced by a newer "
                          "one after the link secret was rotated.")
    if now >= claim.expires_at:
        raise InvalidLink(f"This acknowledge link expired at {claim.expires_at:%H:%M} UTC (links are good for "
                          f"{int(ACK_LINK_VALID.total_seconds() // 60)} minutes). Acknowledge from the latest page, "
                          "or with the admin API.")
    return claim


@dataclass(frozen=True)
class Sent:
    page: Page
    error: str | None = None  # None: the channel took it


@dataclass
class SweepResult:
    incidents: int = 0  # escalations looked at
    sent: int = 0
    failed: int = 0
    errors: int = 0  # incidents the sweep could not settle (the store down): the next sweep retries them


class EscalationRunner:
    def __init__(self, incidents: IncidentService, roster: RosterStore, pagers: Mapping[Channel, Pager], *,
                 link_secret: bytes | None = None, public_base_url: str | None = None,
                 retry_waits: tuple[float, ...] = RETRY_WAITS, sleep: Callable[[float], None] = time.sleep) -> None:
        self.incidents, self.store, self.clock = incidents, incidents.store, incidents.clock
        self.roster, self.pagers = roster, dict(pagers)
        self.link_secret, self.public_base_url = link_secret, (public_base_url or "").rstrip("/") or None
        self.retry_waits, self.sleep = retry_waits, sleep

    def sweep(self) -> SweepResult:
        """Page what is due on every running escalation. StoreUnavailable when the store cannot be read at all."""
        now = self.clock()
        roster = self.roster.get().roster
        result = SweepResult()
        for stored in list(find_all(self.store, IncidentQuery(escalation_due_by=now, oldest_first=True, limit=50))):
            result.incidents += 1
            try:
                sent = self.run(stored.incident.id, roster)
            except StoreError as exc:
                result.errors += 1
                log.warning("escalation of %s not settled, the next sweep retries: %s", stored.incident.id, exc)
                continue
            result.sent += sum(1 for s in sent if s.error is None)
            result.failed += sum(1 for s in sent if s.error is not None)
        if result.incidents:
            log.info("escalation sweep: %d incidents, %d pages sent, %d failed, %d not settled", result.incidents,
                     result.sent, result.failed, result.errors)
        return result

    def run(self, incident_id: str, roster: Roster | None = None) -> list[Sent]:
        """Record and send what is due on one incident's escalation now; what was sent, or failed."""
        roster = roster if roster is not None else self.roster.get().roster
        due: list[Page] = []
        unstaffed: list[Unstaffed] = []

        def decide(incident: Incident, now: datetime):
            nonlocal due, unstaffed
            due, unstaffed = [], []
            escalation = incident.escalation
            if escalation is None or escalation.stopped_at is not None:
                return None
            if len(incident.updates) >= TIMELINE_ROOM:
                after = incident.model_copy(update={
                    "escalation": stop_escalation(escalation, now, "timeline-full"), "updated_at": now})
                return _entry(incident, after, now, note="Paging stopped: this incident's timeline is nearly full. "
                                                         "Acknowledge it, or open a follow-up incident.")
            decided = due_pages(state_of(incident), snapshot_of(escalation), roster, now)
            if not decided.pages and not decided.unstaffed and decided.next_due_at == escalation.next_due_at:
                return None
            due, unstaffed = decided.pages, decided.unstaffed
            after = incident.model_copy(update={
                "escalation": escalation.model_copy(update={"next_due_at": decided.next_due_at}), "updated_at": now})
            event = PagingEvent(
                pages=[PageRecord(key=str(p.key), level=p.key.level, attempt=p.key.attempt,
                                  person_id=p.key.person_id, channel=p.key.channel.value, who=p.who) for p in due],
                unstaffed=[UnstaffedLevel(level=u.slot.level, attempt=u.slot.attempt, who=u.who)
                           for u in decided.unstaffed])
            return _entry(incident, after, now, note=_paging_note(due, decided.unstaffed, roster,
                                                                  decided.next_due_at), paging=event)

        try:
            stored = self.incidents.update(incident_id, decide)
        except WorkflowError as exc:  # no room for even one more entry
            log.error("escalation of %s cannot record its pages: %s", incident_id, exc)
            return []
        if unstaffed:  # the timeline alone is not enough: nobody reads it at 3 a.m.
            self.incidents.announce(NoticeKind.nobody_to_page, stored.incident, reason=" ".join(
                f"Level {u.slot.level} ({u.who}) came due at {u.due_at:%H:%M} UTC and nobody is {u.who} now, or they "
                "are away." for u in unstaffed))
        if not due:
            return []
        sent = self._send(stored.incident, due, roster)
        failed = [s for s in sent if s.error is not None]
        if failed:
            self._record_failures(incident_id, failed, sent, roster)
        return sent

    def post_digest(self, days: int = 7) -> RosterDigest:
        """The daily check: gaps in the next `days` days, and shifts starting within 24 hours, told to Slack."""
        now = self.clock()
        roster = self.roster.get().roster
        starting = [(shift, person) for shift in schedule(roster, now, now + timedelta(hours=24))
                    if shift.starts_at > now and (person := roster.person(shift.person_id)) is not None]
        digest = RosterDigest(at=now, days=days, gaps=gaps(roster, now, days), starting=starting,
                              time_zone=roster.rotation.time_zone if roster.rotation else "UTC")
        self.incidents.notifier.send_digest(digest)
        return digest

    def acknowledge_link(self, incident_id: str, person_id: str, level: int, now: datetime) -> str | None:
        if not self.link_secret or not self.public_base_url:
            return None
        token = ack_token(self.link_secret, incident_id, person_id, level, now + ACK_LINK_VALID)
        return f"{self.public_base_url}/api/v1/oncall/acknowledge/{token}"

    # Sending

    def _send(self, incident: Incident, due: list[Page], roster: Roster) -> list[Sent]:
        now = self.clock()
        outgoing = []
        for page in due:
            person = roster.person(page.key.person_id)
            if person is None:  # removed from the roster between recording and sending
                outgoing.append((page, None))
                continue
            outgoing.append((page, OutgoingPage(
                key=str(page.key), channel=page.key.channel, person=person, incident_id=incident.id,
                title=incident.title["en"], severity=incident.severity, level=page.key.level,
                attempt=page.key.attempt, who=page.who,
                acknowledge_url=self.acknowledge_link(incident.id, person.id, page.key.level, now))))
        with ThreadPoolExecutor(max_workers=max(1, len(outgoing)), thread_name_prefix="page") as pool:
            return list(pool.map(lambda pair: self._deliver(*pair), outgoing))

    def _deliver(self, page: Page, outgoing: OutgoingPage | None) -> Sent:
        if outgoing is None:
            return Sent(page, "the person is no longer on the roster")
        pager = self.pagers.get(page.key.channel)
        if pager is None:
            return Sent(page, f"no {page.key.channel.value} channel is configured")
        waits = list(self.retry_waits)
        attempts = 0
        while True:
            attempts += 1
            try:
                pager.send(outgoing)
                log.info("paged %s", page.key)
                return Sent(page)
            except PageFailed as exc:
                error = printable(str(exc), 200)
                if not exc.transient or not waits:
                    log.warning("page %s failed after %d attempt(s): %s", page.key, attempts, error)
                    return Sent(page, f"{error} (after {attempts} attempt{'s' if attempts > 1 else ''})")
                self.sleep(waits.pop(0))

    def _record_failures(self, incident_id: str, failed: list[Sent], sent: list[Sent], roster: Roster) -> None:
        def decide(incident: Incident, now: datetime):
            after = incident.model_copy(update={"updated_at": now})
            event = PagingEvent(failed=[PageFailure(key=str(s.page.key), error=s.error[:300]) for s in failed])
            return _entry(incident, after, now, note=_failure_note(failed, sent, roster), paging=event)

        try:
            self.incidents.update(incident_id, decide)
        except (StoreError, WorkflowError) as exc:  # the log line is then the only trace
            log.error("could not record %d failed pages of %s on its timeline: %s", len(failed), incident_id, exc)


def _entry(incident: Incident, after: Incident, now: datetime, **fields):
    entry = next_entry(after, now, AUTHOR, Visibility.internal, changes=["paging"], **fields)
    return after.model_copy(update={"updates": [*incident.updates, entry]}), entry


def _name(roster: Roster, person_id: str) -> str:
    person: Person | None = roster.person(person_id)
    return person.display_name if person else person_id


def _paging_note(due: list[Page], unstaffed, roster: Roster, next_due_at: datetime | None) -> str:
    lines = []
    by_person: dict[tuple, list[str]] = {}
    for page in due:
        by_person.setdefault((page.key.level, page.key.attempt, page.key.person_id, page.who), []).append(
            page.key.channel.value)
    for (level, attempt, person_id, who), channels in by_person.items():
        again = f", attempt {attempt}" if attempt > 1 else ""
        lines.append(f"Paging {_name(roster, person_id)} ({who}, level {level}{again}) by {', '.join(channels)}.")
    for gap in unstaffed:
        lines.append(f"Level {gap.slot.level} ({gap.who}) came due with nobody to page: nobody is {gap.who} now, "
                     "or they are away. Fix the roster, or page someone by hand.")
    if next_due_at is not None:
        lines.append(f"Next level at {next_due_at:%H:%M} UTC unless someone acknowledges.")
    return "\n".join(lines) or "Escalation rescheduled."


def _failure_note(failed: list[Sent], sent: list[Sent], roster: Roster) -> str:
    lines = [f"The {s.page.key.channel.value} page to {_name(roster, s.page.key.person_id)} (level "
             f"{s.page.key.level}) failed: {s.error}." for s in failed]
    delivered = [f"{s.page.key.channel.value} to {_name(roster, s.page.key.person_id)}" for s in sent
                 if s.error is None]
    lines.append(f"Delivered: {', '.join(delivered)}." if delivered else "No channel took the page: call them.")
    return "\n".join(lines)

