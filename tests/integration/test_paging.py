"""The escalation runner (incidents/domain/paging.py) with a fixed clock, on each incident store, paging through the
real channel adapters: Slack to the loopback Slack stand-in, email and SMS to the loopback ACS stand-in (Slack and
Azure Communication Services cannot be reached from here). The issue's "Done when" scenarios, one per test."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest

from incidents.domain.models import NewIncident
from incidents.domain.oncall import Away, Person, Roster, Rotation
from incidents.domain.paging import EscalationRunner, read_ack_token
from incidents.domain.policy import Channel
from incidents.domain.service import IncidentService
from incidents.domain.store import NO_ROSTER_ETAG, StoreUnavailable
from incidents.domain.workflow import AlreadyAcknowledged
from incidents.notify.acs import AcsEmailPager, AcsSmsPager
from incidents.notify.slack import SlackPager
from incidents.stores.sqlite import SqliteRosterStore

UTC = timezone.utc
ALERT = datetime(2026, 11, 26, 20, 43, tzinfo=UTC)  # Thursday 21:43 in Paris
SECRET = b"test-link-secret-that-is-long-enough-000"
SENDER, SMS_FROM = "pager@example.org", "+15550000000"
PEOPLE = [Person(id=name, display_name=name.capitalize(), email=f"{name}@example.org",
                 mobile=f"+46 70 000 00 {n:02d}", slack_user_id=f"U0{name.upper()}", time_zone="Europe/Paris")
          for n, name in enumerate(("alice", "bob", "carol", "lena"))]
MOBILE = {p.id: p.mobile for p in PEOPLE}
EMAIL = {p.id: p.email for p in PEOPLE}


def roster(*overrides) -> Roster:
    """Week of 2026-11-23: alice primary, bob secondary; lena is the engineering lead."""
    return Roster(people=PEOPLE, rotation=Rotation(people=["alice", "bob", "carol"], first_handover=date(2026, 11, 2)),
                  overrides=list(overrides), roles={"engineering-lead": "lena"})


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = ALERT + timedelta(minutes=minutes)


@pytest.fixture
def rig(store, tmp_path, acs_standin, slack_sink):
    clock = Clock(ALERT)
    rosters = SqliteRosterStore(tmp_path / "roster.sqlite3")
    rosters.put(roster(), NO_ROSTER_ETAG)
    incidents = IncidentService(store, clock=clock)
    pagers = {Channel.slack: SlackPager(slack_sink.url),
              Channel.email: AcsEmailPager(SENDER, connection_string=acs_standin.connection_string),
              Channel.sms: AcsSmsPager(SMS_FROM, connection_string=acs_standin.connection_string)}
    runner = EscalationRunner(incidents, rosters, pagers, link_secret=SECRET,
                              public_base_url="https://incidents.example.org", retry_waits=(0.01, 0.01))
    yield Rig(clock, incidents, runner, rosters, acs_standin, slack_sink)
    rosters.close()


class Rig:
    def __init__(self, clock, incidents, runner, rosters, acs, slack) -> None:
        self.clock, self.incidents, self.runner, self.rosters, self.acs, self.slack = (
            clock, incidents, runner, rosters, acs, slack)

    def draft(self, severity: str = "sev1") -> str:
        body = NewIncident(title="Elevated error rates", severity=severity, public_message="We are investigating.",
                           state="draft")
        return self.incidents.create(body, author="Azure Monitor").incident.id

    def paged(self) -> list[tuple[str, str]]:
        """(person, channel) of every page a service accepted, in no particular order."""
        by_mobile = {m.replace(" ", ""): p for p, m in MOBILE.items()}
        by_email = {e: p for p, e in EMAIL.items()}
        by_slack = {f"<@U0{p.upper()}>": p for p in MOBILE}
        pages = [(by_mobile[t["smsRecipients"][0]["to"]], "sms") for t in self.acs.texts()]
        pages += [(by_email[e["recipients"]["to"][0]["address"]], "email") for e in self.acs.emails()]
        for request in self.slack.requests:
            text = str(request.body)
            pages += [(p, "slack") for mention, p in by_slack.items() if mention in text]
        return sorted(pages)

    def timeline(self, incident_id: str):
        return self.incidents.get(incident_id).incident.updates


def everyone(person: str) -> list[tuple[str, str]]:
    return sorted((person, channel) for channel in ("email", "slack", "sms"))


def test_a_sev1_pages_the_primary_on_every_channel_then_the_secondary_then_the_lead(rig):
    incident_id = rig.draft()
    rig.runner.sweep()
    assert rig.paged() == everyone("alice")
    entry = rig.timeline(incident_id)[-1]
    assert entry.visibility.value == "internal" and "Paging Alice (primary, level 1) by slack, sms, email" in entry.note
    assert {p.key for p in entry.paging.pages} == {f"{incident_id}/level-1/attempt-1/alice/{c}"
                                                   for c in ("slack", "sms", "email")}

    rig.clock.at(14)
    rig.runner.sweep()
    assert rig.paged() == everyone("alice"), "nothing new before the level's minute"
    rig.clock.at(15.5)  # the sweep after 21:58
    rig.runner.sweep()
    assert rig.paged() == sorted(everyone("alice") + everyone("bob"))
    rig.clock.at(30)
    rig.runner.sweep()
    assert rig.paged() == sorted(everyone("alice") + everyone("bob") + everyone("lena"))
    escalation = rig.incidents.get(incident_id).incident.escalation
    assert escalation.next_due_at == ALERT + timedelta(minutes=45)  # the lead again every 15 minutes


@pytest.mark.parametrize("how", ["api", "link", "confirm"])
def test_an_acknowledgement_at_21_46_stops_the_escalation(rig, how):
    incident_id = rig.draft()
    rig.runner.sweep()
    rig.clock.at(3)
    if how == "link":
        text = rig.acs.texts()[0]["message"]
        token = text.split("/api/v1/oncall/acknowledge/")[1].split()[0]
        claim = read_ack_token(SECRET, token, rig.clock())
        assert (claim.incident_id, claim.person_id, claim.level) == (incident_id, "alice", 1)
        rig.incidents.acknowledge(incident_id, author="Alice", via="acknowledge link")
    elif how == "api":
        rig.incidents.acknowledge(incident_id, author="alice@example.org", via="admin API")
    else:
        from incidents.domain.models import Confirmation

        rig.incidents.confirm(incident_id, Confirmation(), author="alice@example.org")
    incident = rig.incidents.get(incident_id).incident
    assert incident.acknowledged_at == ALERT + timedelta(minutes=3)
    assert incident.escalation.stopped_because == "acknowledged" and incident.escalation.next_due_at is None
    for minutes in (15.5, 30, 60):
        rig.clock.at(minutes)
        assert rig.runner.sweep().incidents == 0
    assert rig.paged() == everyone("alice")
    with pytest.raises(AlreadyAcknowledged, match="already acknowledged by"):
        rig.incidents.acknowledge(incident_id, author="bob@example.org", via="admin API")


def test_a_sev3_at_three_in_the_morning_pages_nobody_until_working_hours(rig):
    rig.clock.now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # Friday 03:00 in Paris
    incident_id = rig.draft("sev3")
    for hour in (2, 5, 7):
        rig.clock.now = datetime(2026, 11, 27, hour, 59, tzinfo=UTC)
        rig.runner.sweep()
    assert rig.paged() == []
    rig.clock.now = datetime(2026, 11, 27, 8, 0, 20, tzinfo=UTC)  # 09:00:20 in Paris
    rig.runner.sweep()
    assert rig.paged() == [("alice", "email"), ("alice", "slack")]  # Sev3: no SMS
    assert rig.incidents.get(incident_id).incident.escalation.next_due_at is None  # one level, no repeat


def test_a_vacation_sends_the_page_to_the_replacement(rig):
    away = Away(id="ski-trip", person="alice", starts_at=ALERT - timedelta(days=1), ends_at=ALERT + timedelta(days=3))
    current = rig.rosters.get()
    rig.rosters.put(roster(away), current.etag)
    rig.draft()
    rig.runner.sweep()
    # bob moves up to primary; carol, the next available, becomes secondary
    assert rig.paged() == everyone("bob")
    rig.clock.at(15.5)
    rig.runner.sweep()
    assert rig.paged() == sorted(everyone("bob") + everyone("carol"))


def test_two_concurrent_sweeps_send_each_page_once(rig):
    for _ in range(3):
        rig.draft()
    barrier = threading.Barrier(2)

    def sweep():
        barrier.wait()
        rig.runner.sweep()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(rig.acs.texts()) == len(rig.acs.emails()) == 3
    assert len(rig.paged()) == 9


def test_a_failing_channel_is_retried_then_recorded_and_the_others_still_page(rig, closed_acs_connection_string):
    rig.runner.pagers[Channel.sms] = AcsSmsPager(SMS_FROM, connection_string=closed_acs_connection_string)
    incident_id = rig.draft()
    sent = rig.runner.run(incident_id)
    assert sorted((s.page.key.channel.value, s.error is None) for s in sent) == [
        ("email", True), ("slack", True), ("sms", False)]
    assert rig.paged() == [("alice", "email"), ("alice", "slack")]
    failure = rig.timeline(incident_id)[-1]
    assert failure.paging.failed[0].key.endswith("/alice/sms") and "after 3 attempts" in failure.paging.failed[0].error
    assert "The sms page to Alice (level 1) failed" in failure.note and "Delivered: " in failure.note
    assert MOBILE["alice"].replace(" ", "") not in failure.note


def test_the_store_down_during_a_sweep_loses_nothing_and_the_next_sweep_catches_up(rig, monkeypatch):
    incident_id = rig.draft()
    real_append = rig.incidents.store.append

    def unavailable(*args, **kwargs):
        raise StoreUnavailable("the store is down")

    monkeypatch.setattr(rig.incidents.store, "append", unavailable)  # a fault injected at the port, not a mock of it
    result = rig.runner.sweep()
    assert (result.incidents, result.errors, result.sent) == (1, 1, 0) and rig.paged() == []
    monkeypatch.setattr(rig.incidents.store, "append", real_append)
    rig.clock.at(1)
    rig.runner.sweep()
    rig.runner.sweep()
    assert rig.paged() == everyone("alice")
    assert [u.changes for u in rig.timeline(incident_id)].count(["paging"]) == 1


def test_a_roster_edited_mid_escalation_pages_whoever_is_secondary_then(rig):
    rig.draft()
    rig.runner.sweep()
    rig.clock.at(10)
    current = rig.rosters.get()
    sick = Away(id="flu", person="bob", starts_at=rig.clock(), ends_at=rig.clock() + timedelta(days=2))
    rig.rosters.put(roster(sick), current.etag)
    rig.clock.at(15.5)
    rig.runner.sweep()
    assert rig.paged() == sorted(everyone("alice") + everyone("carol"))


def test_nobody_to_page_is_said_on_the_timeline_and_in_slack_once(rig):
    from incidents.notify.slack import SlackNotifier

    rig.incidents.notifier = SlackNotifier(rig.slack.url)
    current = rig.rosters.get()
    rig.rosters.put(Roster(people=PEOPLE, rotation=Rotation(people=["alice"], first_handover=date(2026, 11, 2)),
                           roles={}), current.etag)
    incident_id = rig.draft()
    rig.runner.sweep()
    rig.clock.at(15.5)
    rig.runner.sweep()
    rig.runner.sweep()
    notes = [u.note for u in rig.timeline(incident_id) if u.paging and u.paging.unstaffed]
    assert len(notes) == 1 and "Level 2 (secondary) came due with nobody to page" in notes[0]
    assert rig.paged() == everyone("alice")
    told = [r.body["text"] for r in rig.slack.requests if "Nobody to page" in r.body["text"]]
    assert len(told) == 1 and incident_id in told[0]  # said once in the channel too, not at every sweep


def test_the_daily_check_tells_slack_the_gaps_and_mentions_who_starts_a_shift(rig):
    from incidents.notify.slack import SlackNotifier

    rig.incidents.notifier = SlackNotifier(rig.slack.url)
    current = rig.rosters.get()
    away = Away(id="ski-trip", person="carol", starts_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
                ends_at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    rig.rosters.put(Roster(people=PEOPLE, rotation=Rotation(people=["alice", "bob", "carol"],
                                                            first_handover=date(2026, 11, 2)),
                           overrides=[away], roles={}), current.etag)
    rig.clock.now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # Sunday 11:00 in Paris: the hand-over is in 23 hours
    digest = rig.runner.post_digest()
    text = rig.slack.requests[-1].body["text"]
    # Monday's hand-over makes bob primary and carol secondary, but carol is away: alice, next in the order, stands
    # in, so there is no gap; both new holders are mentioned.
    assert [(s.layer.value, p.id) for s, p in digest.starting] == [("primary", "bob"), ("secondary", "alice")]
    assert "<@U0BOB> your primary shift starts Mon 30 Nov 10:00 (Europe/Paris)" in text
    assert "Someone is on call" in text and "bob@example.org" not in text
    rig.rosters.put(Roster(people=PEOPLE, rotation=Rotation(people=["alice", "carol"],
                                                            first_handover=date(2026, 11, 2)),
                           overrides=[away], roles={}), rig.rosters.get().etag)
    rig.runner.post_digest()
    assert "Nobody is on call" in rig.slack.requests[-1].body["text"]
