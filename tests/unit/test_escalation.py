"""Escalation as data (policy.toml's `paging`) and the engine that runs it (incidents/domain/escalation.py), with a
fixed clock: the issue's "Done when" scenarios at the domain level, and the rules around them."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from incidents.domain.escalation import EscalationState, PageKey, Slot, due_pages
from incidents.domain.models import Severity
from incidents.domain.oncall import Away, Cover, Person, Roster, Rotation, Why
from incidents.domain.policy import POLICY_FILE, Policy, load_policy

UTC = timezone.utc
POLICY = load_policy()
SEV1, SEV2, SEV3 = (POLICY.paging_snapshot(s) for s in Severity)
ALERT = datetime(2026, 11, 26, 20, 43, tzinfo=UTC)  # Thursday 21:43 in Paris


def paris(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A November 2026 wall-clock time in Paris (UTC+1), in UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=1)


def at(minutes: int) -> datetime:
    return ALERT + timedelta(minutes=minutes)


PEOPLE = [Person(id=name, display_name=name.capitalize(), email=f"{name}@example.org",
                 mobile=f"+46 70 000 00 {n:02d}", slack_user_id=f"U0{name.upper()}", time_zone="Europe/Paris")
          for n, name in enumerate(("alice", "bob", "carol", "dave", "lena"))]


def roster(*overrides, roles=None) -> Roster:
    """Week of 2026-11-23: alice primary, bob secondary; lena is the engineering lead."""
    return Roster(people=PEOPLE, rotation=Rotation(people=["alice", "bob", "carol"], first_handover=date(2026, 11, 2)),
                  overrides=list(overrides), roles={"engineering-lead": "lena"} if roles is None else roles)


def state(started_at=ALERT, stopped_at=None, sent=(), unstaffed=()) -> EscalationState:
    return EscalationState(incident_id="inc-1", started_at=started_at, stopped_at=stopped_at, sent=list(sent),
                           unstaffed=list(unstaffed))


def keys(due) -> list[str]:
    return [str(page.key) for page in due.pages]


def all_channels(level: int, person: str, attempt: int = 1, channels=("slack", "sms", "email")) -> list[str]:
    return [f"inc-1/level-{level}/attempt-{attempt}/{person}/{c}" for c in channels]


def recorded(*pages: str) -> list[PageKey]:
    out = []
    for page in pages:
        incident, level, attempt, person, channel = page.split("/")
        out.append(PageKey(incident_id=incident, level=int(level.split("-")[1]), attempt=int(attempt.split("-")[1]),
                           person_id=person, channel=channel))
    return out


# The "Done when", at the domain level


def test_a_sev1_alert_pages_the_primary_on_every_sev1_channel_at_once():
    due = due_pages(state(), SEV1, roster(), ALERT)
    assert keys(due) == all_channels(1, "alice")
    assert {page.why for page in due.pages} == {Why(source="rotation")}
    assert due.next_due_at == at(15)


@pytest.mark.parametrize(("now", "already_sent", "expected", "next_due"), [
    (at(14), all_channels(1, "alice"), [], at(15)),  # recorded pages are not repeated
    (at(15), all_channels(1, "alice"), all_channels(2, "bob"), at(30)),  # the secondary at the level's minute
    (at(30), all_channels(1, "alice") + all_channels(2, "bob"), all_channels(3, "lena"), at(45)),  # then the lead
    (at(45), all_channels(1, "alice") + all_channels(2, "bob") + all_channels(3, "lena"),
     all_channels(3, "lena", attempt=2), at(60)),  # the last level repeats every 15 minutes
    # The sweep ran late: no level is skipped...
    (at(31), [], all_channels(1, "alice") + all_channels(2, "bob") + all_channels(3, "lena"), at(45)),
    # ...but repeats missed collapse into the latest one
    (at(80), all_channels(1, "alice") + all_channels(2, "bob") + all_channels(3, "lena"),
     all_channels(3, "lena", attempt=4), at(90)),
    # A crash between recording two channels: only what is missing goes out
    (at(1), all_channels(1, "alice")[1:2], [all_channels(1, "alice")[0], all_channels(1, "alice")[2]], at(15)),
])
def test_an_unacknowledged_sev1_escalates_level_by_level(now, already_sent, expected, next_due):
    due = due_pages(state(sent=recorded(*already_sent)), SEV1, roster(), now)
    assert keys(due) == expected
    assert due.next_due_at == next_due


def test_two_sweeps_at_the_same_time_owe_the_same_pages():
    first, second = (due_pages(state(), SEV1, roster(), at(15)) for _ in range(2))
    assert keys(first) == keys(second) and len(set(keys(first))) == 6


@pytest.mark.parametrize("now", [at(3), at(15), at(31), at(600)])
def test_an_acknowledgement_at_21_46_stops_it(now):
    due = due_pages(state(stopped_at=at(3), sent=recorded(*all_channels(1, "alice"))), SEV1, roster(), now)
    assert due.pages == [] and due.next_due_at is None


@pytest.mark.parametrize(("started", "now", "expected", "next_due"), [
    (paris(24, 3), paris(24, 3), [], paris(24, 9)),  # Tuesday 03:00: nobody until 09:00
    (paris(24, 3), paris(24, 8, 59), [], paris(24, 9)),
    (paris(24, 3), paris(24, 9), all_channels(1, "alice", channels=("slack", "email")), None),  # no SMS, no repeat
    (paris(28, 3), paris(29, 12), [], paris(30, 9)),  # Saturday night: Monday 09:00
    # Monday 09:00 is before the 10:00 hand-over: still this week's primary
    (paris(30, 9), paris(30, 9), all_channels(1, "alice", channels=("slack", "email")), None),
    (paris(27, 17, 59), paris(27, 17, 59), all_channels(1, "alice", channels=("slack", "email")), None),
    (paris(27, 18), paris(27, 18), [], paris(30, 9)),  # Friday 18:00: working hours are over
])
def test_a_sev3_pages_in_working_hours_only(started, now, expected, next_due):
    due = due_pages(state(started_at=started), SEV3, roster(), now)
    assert keys(due) == expected
    assert due.next_due_at == next_due


def test_a_sev2_at_night_pages_at_once():
    assert keys(due_pages(state(started_at=paris(24, 3)), SEV2, roster(), paris(24, 3))) == all_channels(1, "alice")


def test_a_vacation_override_sends_the_page_to_the_replacement():
    vacation = Away(id="v1", person="alice", starts_at=paris(20, 0), ends_at=paris(30, 10))
    due = due_pages(state(), SEV1, roster(vacation), ALERT)
    assert keys(due) == all_channels(1, "bob")
    assert due.pages[0].why == Why(source="replacement", override_id="v1", instead_of="alice")
    later = due_pages(state(sent=[p.key for p in due.pages]), SEV1, roster(vacation), at(15))
    assert keys(later) == all_channels(2, "carol")  # bob moved up; the secondary is the next available


def test_a_roster_edited_mid_escalation_pages_whoever_is_on_call_then():
    sent = recorded(*all_channels(1, "alice"))
    cover = Cover(id="c1", layer="secondary", covered="bob", by="dave", starts_at=at(5), ends_at=at(120))
    assert keys(due_pages(state(sent=sent), SEV1, roster(cover), at(15))) == all_channels(2, "dave")


def test_a_level_recorded_once_is_not_paged_again_to_someone_else_after_an_edit():
    sent = recorded(*all_channels(1, "alice"), *all_channels(2, "bob"))
    cover = Cover(id="c1", layer="secondary", covered="bob", by="dave", starts_at=at(0), ends_at=at(120))
    assert keys(due_pages(state(sent=sent), SEV1, roster(cover), at(20))) == []


def test_a_level_with_nobody_to_page_is_reported_once_and_paged_when_someone_is_named():
    no_lead = roster(roles={})
    sent = recorded(*all_channels(1, "alice"), *all_channels(2, "bob"))
    due = due_pages(state(sent=sent), SEV1, no_lead, at(30))
    assert due.pages == [] and [(u.slot, u.who) for u in due.unstaffed] == [(Slot(3, 1), "engineering-lead")]
    assert due_pages(state(sent=sent, unstaffed=[Slot(3, 1)]), SEV1, no_lead, at(31)).unstaffed == []
    assert keys(due_pages(state(sent=sent, unstaffed=[Slot(3, 1)]), SEV1, roster(), at(31))) == all_channels(3, "lena")


def test_a_lead_on_vacation_is_not_paged():
    vacation = Away(id="v1", person="lena", starts_at=paris(20, 0), ends_at=paris(30, 10))
    sent = recorded(*all_channels(1, "alice"), *all_channels(2, "bob"))
    due = due_pages(state(sent=sent), SEV1, roster(vacation), at(30))
    assert due.pages == [] and [u.slot for u in due.unstaffed] == [Slot(3, 1)]


def test_before_the_escalation_starts_nothing_is_due():
    due = due_pages(state(), SEV1, roster(), at(-5))
    assert due.pages == [] and due.next_due_at == ALERT


def test_the_snapshot_copies_the_policy_in_force():
    assert SEV1.policy_version == POLICY.version and SEV1.paging == POLICY.severities["sev1"].paging
    assert SEV3.working_hours == POLICY.working_hours


# The policy's paging data: what a bad file is refused for


@pytest.mark.parametrize(("change", "complaint"), [
    (lambda p: p["severities"]["sev1"]["paging"]["levels"][0].update(after_minutes=5), "pages at once"),
    (lambda p: p["severities"]["sev1"]["paging"]["levels"][2].update(after_minutes=15), "increasing"),
    (lambda p: p["severities"]["sev1"]["paging"]["levels"][0].update(channels=["sms", "sms"]), "listed twice"),
    (lambda p: p["severities"]["sev1"]["paging"]["levels"][0].update(channels=["pager"]), "channels"),
    (lambda p: p["severities"]["sev1"]["paging"]["levels"][0].update(channels=[]), "channels"),
    (lambda p: p["severities"]["sev1"]["paging"].update(when="nights"), "when"),
    (lambda p: p["severities"]["sev1"]["paging"].update(levels=[]), "levels"),
    (lambda p: p["severities"]["sev1"]["paging"].update(repeat_every_minutes=0), "repeat_every_minutes"),
    (lambda p: p["severities"]["sev2"].pop("paging"), "paging"),
    (lambda p: p["working_hours"].update(start="18:00", end="09:00"), "end after they start"),
    (lambda p: p["working_hours"].update(time_zone="Paris"), "not an IANA time zone"),
])
def test_a_bad_paging_policy_is_refused_when_loaded(change, complaint):
    raw = tomllib.loads(POLICY_FILE.read_text())
    change(raw)
    with pytest.raises(ValidationError, match=complaint):
        Policy.model_validate(raw)


def test_the_policy_pages_as_the_handbook_says():
    sev1, sev2, sev3 = (POLICY.severities[s].paging for s in Severity)
    assert [(level.who, level.after_minutes) for level in sev1.levels] == [
        ("primary", 0), ("secondary", 15), ("engineering-lead", 30)]
    assert [(level.who, level.after_minutes) for level in sev2.levels] == [
        ("primary", 0), ("secondary", 30), ("engineering-lead", 120)]
    assert (sev3.when, [level.who for level in sev3.levels], sev3.repeat_every_minutes) == (
        "working-hours", ["primary"], None)
    assert "sms" not in sev3.levels[0].channels  # never at night, and no text message for a Sev3


@pytest.mark.parametrize(("now", "expected"), [
    (paris(23, 8, 59), paris(23, 9)),  # Monday morning
    (paris(23, 9), paris(23, 9)),
    (paris(23, 17, 59), paris(23, 17, 59)),
    (paris(23, 18), paris(24, 9)),
    (paris(27, 18), paris(30, 9)),  # Friday evening -> Monday
    (datetime(2026, 3, 27, 17, tzinfo=UTC), datetime(2026, 3, 30, 7, tzinfo=UTC)),  # across the March change: CEST
])
def test_working_hours_begin_at_09_00_paris(now, expected):
    assert POLICY.working_hours.next_open(now) == expected
