"""The roster and the schedule it gives (incidents/domain/oncall.py), and a person's calendar
(incidents/oncall/calendar.py): tables of input and expected output with a fixed clock.

Contact details are obviously fake (example.org, +46 70 000 00 xx): no real person's data in the repository."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from pydantic import ValidationError

from incidents.domain.oncall import (
    Away,
    Cover,
    Gap,
    Layer,
    Person,
    Roster,
    Rotation,
    Why,
    gaps,
    local_instant,
    on_call_at,
    schedule,
)
from incidents.oncall.calendar import person_calendar

UTC = timezone.utc
ROTATION = ("alice", "bob", "carol")  # week 0 starts Monday 2026-11-02 10:00 Paris: alice primary, bob secondary


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def person(person_id: str, number: int = 1, **fields) -> Person:
    return Person(id=person_id, display_name=person_id.capitalize(), email=f"{person_id}@example.org",
                  mobile=f"+46 70 000 00 {number:02d}", slack_user_id=f"U0{person_id.upper()}",
                  time_zone="Europe/Paris", **fields)


PEOPLE = [person(name, n) for n, name in enumerate(("alice", "bob", "carol", "dave", "lena"))]


def roster(*overrides, people=ROTATION, first_handover=date(2026, 11, 2), **rotation) -> Roster:
    return Roster(people=PEOPLE, rotation=Rotation(people=list(people), first_handover=first_handover, **rotation),
                  overrides=list(overrides), roles={"engineering-lead": "lena"})


def away(override_id, who, start, end) -> Away:
    return Away(id=override_id, person=who, starts_at=start, ends_at=end)


def cover(override_id, by, covered, layer, start, end) -> Cover:
    return Cover(id=override_id, by=by, covered=covered, layer=layer, starts_at=start, ends_at=end)


ROTATION_WHY = Why(source="rotation")


# People, rotations and overrides: what is refused, and why


@pytest.mark.parametrize(("fields", "complaint"), [
    ({"mobile": "0700000000"}, "E.164"),
    ({"mobile": "+0 70 000 00 00"}, "E.164"),
    ({"mobile": "+46 70 000 00 00 00 00 00"}, "E.164"),  # 17 digits: E.164 allows 15
    ({"time_zone": "Europe/Pariss"}, "not an IANA time zone"),
    ({"time_zone": "CEST"}, "not an IANA time zone"),
    ({"time_zone": "../../etc/passwd"}, "not an IANA time zone"),
    ({"email": "alice.example.org"}, "email address"),
    ({"slack_user_id": "alice"}, "slack_user_id"),
    ({"id": "Alice Smith"}, "id"),
])
def test_a_person_with_bad_details_is_refused(fields, complaint):
    good = person("alice").model_dump()
    with pytest.raises(ValidationError, match=complaint):
        Person.model_validate({**good, **fields})


def test_a_mobile_number_is_kept_compact_and_contact_details_stay_out_of_repr():
    alice = person("alice", 7)
    assert alice.mobile == "+46700000007"
    assert "example.org" not in repr(alice) and "+46" not in repr(alice) and "U0ALICE" not in repr(alice)


@pytest.mark.parametrize(("fields", "complaint"), [
    ({"people": []}, "at least one person"),
    ({"people": ["alice", "bob", "alice"]}, "alice appear more than once"),
    ({"time_zone": "Mars/Olympus"}, "not an IANA time zone"),
    ({"first_handover": date(2026, 11, 3)}, "2026-11-03 is a Tuesday, not a monday"),
    ({"handover_time": time(10, 0, 30)}, "whole minutes"),
    ({"handover_time": time(10, 0, tzinfo=UTC)}, "without an offset"),
    ({"first_handover": date(1999, 12, 27)}, "between 2000-01-01 and 2100-01-01"),
])
def test_a_bad_rotation_is_refused(fields, complaint):
    with pytest.raises(ValidationError, match=complaint):
        Rotation.model_validate({"people": ["alice", "bob"], "first_handover": date(2026, 11, 2), **fields})


@pytest.mark.parametrize(("overrides", "complaint"), [
    ([away("v1", "alice", utc(2026, 11, 20), utc(2026, 11, 25)),
      away("v2", "alice", utc(2026, 11, 24), utc(2026, 11, 30))], "v2 overlaps v1: both say alice is away between "
                                                                   "2026-11-24T00:00Z and 2026-11-25T00:00Z"),
    ([cover("c1", "bob", "alice", "primary", utc(2026, 11, 24, 8), utc(2026, 11, 24, 12)),
      cover("c2", "carol", "alice", "primary", utc(2026, 11, 24, 11), utc(2026, 11, 24, 13))],
     "both cover alice's primary shift"),
    ([away("v1", "zoe", utc(2026, 11, 20), utc(2026, 11, 25))], "override v1 names 'zoe'"),
    ([away("v1", "bob", utc(2026, 11, 20), utc(2026, 11, 25)),
      away("v1", "carol", utc(2026, 11, 26), utc(2026, 11, 27))], "share an id"),
])
def test_conflicting_or_unknown_overrides_are_refused(overrides, complaint):
    with pytest.raises(ValidationError, match=complaint):
        roster(*overrides)


@pytest.mark.parametrize("overrides", [
    # Back to back is not overlapping: intervals are [start, end).
    [away("v1", "alice", utc(2026, 11, 20), utc(2026, 11, 25)),
     away("v2", "alice", utc(2026, 11, 25), utc(2026, 12, 1))],
    # The same person away while covered, or two layers covered at once: not ambiguous.
    [cover("c1", "bob", "alice", "primary", utc(2026, 11, 24), utc(2026, 11, 25)),
     cover("c2", "carol", "alice", "secondary", utc(2026, 11, 24), utc(2026, 11, 25)),
     away("v1", "alice", utc(2026, 11, 24), utc(2026, 11, 25))],
])
def test_overrides_that_do_not_conflict_are_accepted(overrides):
    assert roster(*overrides).overrides == overrides


@pytest.mark.parametrize(("override", "complaint"), [
    ({"kind": "away", "id": "v1", "person": "alice", "starts_at": "2026-11-25T00:00:00Z",
      "ends_at": "2026-11-25T00:00:00Z"}, "ends_at must be after starts_at"),
    ({"kind": "away", "id": "v1", "person": "alice", "starts_at": "1999-11-25T00:00:00Z",
      "ends_at": "2026-11-25T00:00:00Z"}, "from 2000-01-01 to before 2100-01-01"),
    ({"kind": "away", "id": "v1", "person": "alice", "starts_at": "2026-11-25T00:00:00",
      "ends_at": "2026-11-26T00:00:00Z"}, "must include a time zone"),
    ({"kind": "cover", "id": "c1", "layer": "primary", "covered": "alice", "by": "alice",
      "starts_at": "2026-11-25T00:00:00Z", "ends_at": "2026-11-26T00:00:00Z"}, "cannot cover their own shift"),
    ({"kind": "swap", "id": "s1"}, "kind"),
])
def test_a_bad_override_is_refused(override, complaint):
    with pytest.raises(ValidationError, match=complaint):
        Roster.model_validate({"people": [p.model_dump() for p in PEOPLE], "overrides": [override]})


# Who is on call, and why


THU = utc(2026, 11, 26, 20, 43)  # Thursday 21:43 in Paris, week 3: alice primary, bob secondary


@pytest.mark.parametrize(("overrides", "at", "primary", "secondary"), [
    ([], utc(2026, 11, 2, 8, 59), None, None),  # before the first hand-over (10:00 Paris = 09:00Z)
    ([], utc(2026, 11, 2, 9), ("alice", ROTATION_WHY), ("bob", ROTATION_WHY)),
    ([], utc(2026, 11, 9, 9), ("bob", ROTATION_WHY), ("carol", ROTATION_WHY)),  # next week's primary was secondary
    ([], utc(2026, 11, 16, 9), ("carol", ROTATION_WHY), ("alice", ROTATION_WHY)),
    ([], THU, ("alice", ROTATION_WHY), ("bob", ROTATION_WHY)),
    # B covers A's primary shift
    ([cover("c1", "dave", "alice", "primary", utc(2026, 11, 26, 18), utc(2026, 11, 26, 22))], THU,
     ("dave", Why(source="cover", override_id="c1", instead_of="alice")), ("bob", ROTATION_WHY)),
    ([cover("c1", "dave", "alice", "primary", utc(2026, 11, 26, 18), utc(2026, 11, 26, 20, 43))], THU,
     ("alice", ROTATION_WHY), ("bob", ROTATION_WHY)),  # the cover ended at 20:43: [start, end)
    ([cover("c1", "dave", "carol", "primary", utc(2026, 11, 26, 18), utc(2026, 11, 26, 22))], THU,
     ("alice", ROTATION_WHY), ("bob", ROTATION_WHY)),  # carol is not primary then: nothing to cover
    # The primary away: the secondary moves up, the next available person becomes secondary (the handbook's rule)
    ([away("v1", "alice", utc(2026, 11, 20), utc(2026, 11, 30))], THU,
     ("bob", Why(source="replacement", override_id="v1", instead_of="alice")),
     ("carol", Why(source="replacement", override_id="v1", instead_of="bob"))),
    ([away("v1", "bob", utc(2026, 11, 20), utc(2026, 11, 30))], THU,
     ("alice", ROTATION_WHY), ("carol", Why(source="replacement", override_id="v1", instead_of="bob"))),
    ([away("v1", "alice", utc(2026, 11, 20), utc(2026, 11, 30)),
      away("v2", "bob", utc(2026, 11, 20), utc(2026, 12, 1))], THU,
     ("carol", Why(source="replacement", override_id="v1", instead_of="alice")), None),
    ([away(f"v{n}", name, utc(2026, 11, 20), utc(2026, 11, 30)) for n, name in enumerate(ROTATION)], THU, None, None),
    # The cover is away too: the next available person after the covered one
    ([cover("c1", "dave", "alice", "primary", utc(2026, 11, 20), utc(2026, 11, 30)),
      away("v1", "dave", utc(2026, 11, 26), utc(2026, 11, 27))], THU,
     ("bob", Why(source="replacement", override_id="v1", instead_of="dave")),
     ("carol", Why(source="replacement", override_id="v1", instead_of="bob"))),
    # The secondary covers the primary: they cannot hold both, the next person takes the secondary
    ([cover("c1", "bob", "alice", "primary", utc(2026, 11, 26), utc(2026, 11, 27))], THU,
     ("bob", Why(source="cover", override_id="c1", instead_of="alice")),
     ("carol", Why(source="replacement", override_id="c1", instead_of="bob"))),
])
def test_who_is_on_call_and_why(overrides, at, primary, secondary):
    now = on_call_at(roster(*overrides), at)
    got = [(a.person_id, a.why) if a else None for a in (now.primary, now.secondary)]
    assert got == [primary, secondary]


def test_a_rotation_of_one_has_no_secondary():
    now = on_call_at(roster(people=["alice"]), THU)
    assert now.primary.person_id == "alice" and now.secondary is None


def test_without_a_rotation_nobody_is_on_call():
    assert on_call_at(Roster(people=PEOPLE), THU).primary is None


def test_times_outside_the_sane_range_are_refused():
    with pytest.raises(ValueError, match="from 2000-01-01"):
        on_call_at(roster(), utc(2100, 1, 1))
    with pytest.raises(ValueError, match="time zone"):
        on_call_at(roster(), datetime(2026, 11, 26, 21, 43))


# Time zones: the hand-over stays at its local time across DST changes


@pytest.mark.parametrize(("day", "at", "zone", "expected"), [
    (date(2026, 3, 23), time(10), "Europe/Paris", utc(2026, 3, 23, 9)),  # CET, +01:00
    (date(2026, 3, 30), time(10), "Europe/Paris", utc(2026, 3, 30, 8)),  # CEST, +02:00
    (date(2026, 10, 19), time(10), "Europe/Paris", utc(2026, 10, 19, 8)),
    (date(2026, 10, 26), time(10), "Europe/Paris", utc(2026, 10, 26, 9)),
    # 02:30 does not exist on 2026-03-29 in Paris: the offset before the gap (+01:00), i.e. 03:30 CEST
    (date(2026, 3, 29), time(2, 30), "Europe/Paris", utc(2026, 3, 29, 1, 30)),
    # 02:30 exists twice on 2026-10-25: the first one (+02:00)
    (date(2026, 10, 25), time(2, 30), "Europe/Paris", utc(2026, 10, 25, 0, 30)),
    (date(2026, 3, 8), time(2, 30), "America/New_York", utc(2026, 3, 8, 7, 30)),  # 03:30 EDT
    (date(2026, 11, 1), time(1, 30), "America/New_York", utc(2026, 11, 1, 5, 30)),  # the first 01:30, EDT
])
def test_local_instants_across_dst(day, at, zone, expected):
    assert local_instant(day, at, zone) == expected


def test_weekly_shifts_keep_the_local_hand_over_across_both_dst_changes():
    spring = schedule(roster(first_handover=date(2026, 3, 2)), utc(2026, 3, 16, 9), utc(2026, 4, 6, 8))
    primaries = [(s.person_id, s.starts_at, s.ends_at) for s in spring if s.layer is Layer.primary]
    assert primaries == [
        ("carol", utc(2026, 3, 16, 9), utc(2026, 3, 23, 9)),
        ("alice", utc(2026, 3, 23, 9), utc(2026, 3, 30, 8)),  # 167 hours: the clocks went forward
        ("bob", utc(2026, 3, 30, 8), utc(2026, 4, 6, 8)),
    ]
    autumn = schedule(roster(first_handover=date(2026, 3, 2)), utc(2026, 10, 19, 8), utc(2026, 11, 2, 9))
    hours = [(s.ends_at - s.starts_at) / timedelta(hours=1) for s in autumn if s.layer is Layer.primary]
    assert hours == [169, 168]  # 2026-10-19 to 10-26 holds the extra hour


def test_a_handover_at_a_time_that_dst_skips_happens_after_the_gap():
    sunday = roster(first_handover=date(2026, 3, 22), handover_weekday="sunday", handover_time=time(2, 30))
    assert sunday.rotation.handover(1) == utc(2026, 3, 29, 1, 30)  # 03:30 CEST that day
    assert sunday.rotation.handover(2) == utc(2026, 4, 5, 0, 30)  # 02:30 CEST again


# Schedules and gaps


def test_the_schedule_cuts_at_overrides_and_merges_the_same_person():
    swap = [cover("s1", "alice", "bob", "primary", utc(2026, 11, 30, 9), utc(2026, 12, 7, 9)),
            cover("s2", "bob", "alice", "secondary", utc(2026, 11, 30, 9), utc(2026, 12, 7, 9))]
    shifts = schedule(roster(*swap), utc(2026, 11, 23, 9), utc(2026, 12, 14, 9))
    primary = [(s.person_id, s.starts_at, s.ends_at, s.why) for s in shifts if s.layer is Layer.primary]
    assert primary == [
        ("alice", utc(2026, 11, 23, 9), utc(2026, 12, 7, 9),
         [ROTATION_WHY, Why(source="cover", override_id="s1", instead_of="bob")]),  # two weeks, one shift
        ("carol", utc(2026, 12, 7, 9), utc(2026, 12, 14, 9), [ROTATION_WHY]),
    ]


def test_an_afternoon_away_cuts_a_shift_in_three():
    shifts = schedule(roster(away("v1", "alice", utc(2026, 11, 26, 13), utc(2026, 11, 26, 17))),
                      utc(2026, 11, 26), utc(2026, 11, 27))
    assert [(s.layer.value, s.person_id, s.starts_at.hour, s.ends_at.hour) for s in shifts] == [
        ("primary", "alice", 0, 13), ("secondary", "bob", 0, 13),
        ("primary", "bob", 13, 17), ("secondary", "carol", 13, 17),
        ("primary", "alice", 17, 0), ("secondary", "bob", 17, 0),
    ]


@pytest.mark.parametrize(("start", "end", "complaint"), [
    (utc(2026, 11, 1), utc(2027, 1, 31), "at most 90 days"),
    (utc(2026, 11, 2), utc(2026, 11, 1), "after the start"),
    (utc(2099, 12, 1), utc(2100, 1, 2), "from 2000-01-01"),
])
def test_a_bad_schedule_window_is_refused(start, end, complaint):
    with pytest.raises(ValueError, match=complaint):
        schedule(roster(), start, end)


def test_gaps_are_the_intervals_where_a_layer_has_nobody():
    everyone_away = [away(f"v{n}", name, utc(2026, 11, 28), utc(2026, 11, 29)) for n, name in enumerate(ROTATION)]
    two_away = [away("w1", "alice", utc(2026, 12, 2), utc(2026, 12, 3)), away("w2", "bob", utc(2026, 12, 2),
                                                                              utc(2026, 12, 3))]
    assert gaps(roster(*everyone_away, *two_away), THU, days=14) == [
        Gap(layer=Layer.primary, starts_at=utc(2026, 11, 28), ends_at=utc(2026, 11, 29)),
        Gap(layer=Layer.secondary, starts_at=utc(2026, 11, 28), ends_at=utc(2026, 11, 29)),
        Gap(layer=Layer.secondary, starts_at=utc(2026, 12, 2), ends_at=utc(2026, 12, 3)),
    ]
    assert gaps(roster(), THU) == []
    assert gaps(roster(people=["alice"]), THU, days=7) == [
        Gap(layer=Layer.secondary, starts_at=THU, ends_at=THU + timedelta(days=7))]
    assert gaps(roster(first_handover=date(2026, 11, 30)), THU, days=7) == [
        Gap(layer=layer, starts_at=THU, ends_at=utc(2026, 11, 30, 9)) for layer in Layer]


# Properties: whatever the roster, each layer is covered exactly once or reported as a gap

ZONES = ["Europe/Paris", "America/New_York", "Australia/Sydney", "UTC"]
START = utc(2026, 3, 1)
instants = st.integers(0, 60 * 24 * 60).map(lambda minutes: START + timedelta(minutes=minutes))


@st.composite
def rosters(draw):
    people = draw(st.lists(st.sampled_from([p.id for p in PEOPLE]), min_size=1, max_size=5, unique=True))
    first = date(2026, 2, 2) + timedelta(days=draw(st.integers(0, 60)))
    rotation = Rotation(people=people, handover_weekday=list(("monday", "tuesday", "wednesday", "thursday", "friday",
                                                              "saturday", "sunday"))[first.weekday()],
                        handover_time=time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30]))),
                        time_zone=draw(st.sampled_from(ZONES)), first_handover=first)
    overrides = []
    for n in range(draw(st.integers(0, 6))):
        start = draw(instants)
        end = start + timedelta(minutes=draw(st.integers(1, 60 * 24 * 10)))
        who = draw(st.sampled_from([p.id for p in PEOPLE]))
        if draw(st.booleans()):
            overrides.append(away(f"o{n}", who, start, end))
        else:
            covered = draw(st.sampled_from(people))
            assume(covered != who)
            overrides.append(cover(f"o{n}", who, covered, draw(st.sampled_from(list(Layer))), start, end))
    try:
        return Roster(people=PEOPLE, rotation=rotation, overrides=overrides)
    except ValidationError:
        assume(False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(roster=rosters(), start=instants, days=st.integers(1, 30), probes=st.lists(instants, max_size=8))
def test_every_instant_is_one_shift_or_a_reported_gap(roster, start, days, probes):
    end = start + timedelta(days=days)
    shifts, holes = schedule(roster, start, end), gaps(roster, start, days)
    for layer in Layer:
        pieces = sorted([(s.starts_at, s.ends_at, s.person_id) for s in shifts if s.layer is layer]
                        + [(g.starts_at, g.ends_at, None) for g in holes if g.layer is layer])
        assert pieces[0][0] == start and pieces[-1][1] == end
        for (_, a_end, a_who), (b_start, _, b_who) in zip(pieces, pieces[1:], strict=False):
            assert a_end == b_start  # no overlap, no hole
            assert a_who != b_who  # the same person next to themselves is merged
    for at in (p for p in probes if start <= p < end):
        now = on_call_at(roster, at)
        for layer in Layer:
            held = now.of(layer)
            covering = [s.person_id for s in shifts if s.layer is layer and s.starts_at <= at < s.ends_at]
            assert covering == ([held.person_id] if held else [])
            if held:
                assert roster.away_at(held.person_id, at) is None  # nobody away is on call
        if now.primary and now.secondary:
            assert now.primary.person_id != now.secondary.person_id


# The calendar


def parsed_events(ics: bytes) -> list:
    calendar = Calendar.from_ical(ics)
    return sorted(calendar.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))


def test_a_persons_calendar_keeps_10_00_paris_across_the_march_change():
    ics = person_calendar(roster(first_handover=date(2026, 1, 5)), "alice", utc(2026, 2, 1))
    events = parsed_events(ics)
    starts = [e.decoded("dtstart") for e in events]
    assert all(str(s.tzinfo) == "Europe/Paris" for s in starts)
    assert {(s.weekday(), s.hour, s.minute) for s in starts} == {(0, 10, 0)}
    utc_starts = [s.astimezone(UTC) for s in starts]
    assert utc(2026, 3, 23, 9) in utc_starts and utc(2026, 3, 30, 8) in utc_starts  # CET, then CEST
    assert [str(e["summary"]) for e in events][:4] == ["On call: primary", "On call: secondary",
                                                      "On call: primary", "On call: secondary"]
    assert max(utc_starts) < utc(2026, 2, 1) + timedelta(days=90)
    assert b"BEGIN:VTIMEZONE" in ics and b"TZID:Europe/Paris" in ics
    assert b"example.org" not in ics and b"+4670" not in ics


def test_the_shift_under_way_shows_whole_and_keeps_its_uid():
    at_nine, at_noon = (person_calendar(roster(), "alice", t) for t in (utc(2026, 11, 26, 9), utc(2026, 11, 26, 12)))
    first = [parsed_events(ics)[0] for ics in (at_nine, at_noon)]
    assert {str(e["uid"]) for e in first} == {"alice-primary-20261123T090000Z@incidents.petanque.life"}
    assert first[0].decoded("dtstart").astimezone(UTC) == utc(2026, 11, 23, 9)


def test_a_cover_reads_as_such_in_the_calendar():
    ics = person_calendar(roster(cover("c1", "dave", "alice", "primary", utc(2026, 11, 26, 18),
                                       utc(2026, 11, 26, 22))), "dave", THU)
    (event,) = parsed_events(ics)
    assert str(event["description"]) == "Covering Alice (override c1)."
    assert event.decoded("dtend").astimezone(UTC) == utc(2026, 11, 26, 22)


def test_a_calendar_for_nobody_or_too_long_is_refused():
    with pytest.raises(ValueError, match="no person 'zoe'"):
        person_calendar(roster(), "zoe", THU)
    with pytest.raises(ValueError, match="1 to 90 days"):
        person_calendar(roster(), "alice", THU, days=91)
