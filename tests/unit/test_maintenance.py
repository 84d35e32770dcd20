"""Maintenance windows as tables of (window, clock, change) -> outcome, with no store and no HTTP."""

from datetime import datetime, timedelta, timezone

import pytest

from incidents.domain.maintenance import (
    InvalidMaintenance,
    Maintenance,
    MaintenanceAction,
    MaintenanceChange,
    MaintenanceConflict,
    MaintenanceState,
    NewMaintenance,
    cancel,
    change_maintenance,
    complete,
    covering,
    open_maintenance,
    public_timeline,
    start,
)
from incidents.domain.policy import load_policy, platform_components
from incidents.domain.workflow import NothingToChange

NOW = datetime(2026, 11, 26, 21, 43, tzinfo=timezone.utc)  # a Thursday
SUNDAY_2 = datetime(2026, 11, 29, 2, 0, tzinfo=timezone.utc)
SUNDAY_230 = SUNDAY_2 + timedelta(minutes=30)
KNOWN = platform_components(load_policy())


def announce(starts=SUNDAY_2, ends=SUNDAY_230, components=("Payments",), *, others=(), now=NOW,
             mid="mnt-1") -> Maintenance:
    body = NewMaintenance(title={"en": "Payments upgrade", "fr": "Mise à jour des paiements"},
                          message="Payments will be unavailable.", components=list(components),
                          starts_at=starts, ends_at=ends)
    return open_maintenance(body, maintenance_id=mid, author="ada", now=now, known=KNOWN, others=others)


SUNDAY = [
    (NOW, "scheduled"), (SUNDAY_2 - timedelta(seconds=1), "scheduled"), (SUNDAY_2, "in_progress"),
    (SUNDAY_2 + timedelta(minutes=29), "in_progress"), (SUNDAY_230, "completed"), (SUNDAY_230 + timedelta(days=9),
                                                                                    "completed"),
]


@pytest.mark.parametrize(("clock", "state"), SUNDAY)
def test_the_clock_moves_a_window_with_nobody_touching_it(clock, state):
    window = announce()
    assert window.state_at(clock) is MaintenanceState(state)
    assert window.state is MaintenanceState.scheduled  # nothing was recorded: the state is read from the clock
    assert [u.changes for u in window.updates] == [["announced"]]


def test_a_window_is_under_maintenance_from_its_start_to_its_end_and_says_when_the_clock_moves_it():
    window = announce()
    assert window.span(SUNDAY_2) is None and window.span(NOW) is None
    assert window.span(SUNDAY_2 + timedelta(minutes=10)) == (SUNDAY_2, SUNDAY_2 + timedelta(minutes=10))
    assert window.span(SUNDAY_230 + timedelta(hours=5)) == (SUNDAY_2, SUNDAY_230)
    assert window.changes_at(NOW) == [SUNDAY_2, SUNDAY_230]  # already within the 14 upcoming days
    assert window.changes_at(SUNDAY_230) == []


@pytest.mark.parametrize(("starts", "ends", "components", "field"), [
    (SUNDAY_230, SUNDAY_2, ["Payments"], "ends_at"),  # ends before it starts
    (SUNDAY_2, SUNDAY_2, ["Payments"], "ends_at"),
    (SUNDAY_2, SUNDAY_2 + timedelta(days=7, minutes=1), ["Payments"], "ends_at"),  # longer than 7 days
    (NOW - timedelta(hours=1), NOW + timedelta(hours=1), ["Payments"], "starts_at"),  # in the past
    (SUNDAY_2, SUNDAY_230, ["Payments", "Bowling alley"], "components"),  # nobody knows it
])
def test_a_bad_window_is_refused_naming_the_field(starts, ends, components, field):
    with pytest.raises(InvalidMaintenance) as refused:
        announce(starts, ends, components)
    assert refused.value.field == field


def test_seven_days_exactly_and_a_start_within_the_clocks_skew_are_fine():
    assert announce(SUNDAY_2, SUNDAY_2 + timedelta(days=7)).ends_at == SUNDAY_2 + timedelta(days=7)
    assert announce(NOW - timedelta(minutes=2), NOW + timedelta(hours=1)).state_at(NOW) is MaintenanceState.in_progress


def test_a_window_may_not_overlap_another_on_a_shared_component():
    first = announce()
    with pytest.raises(MaintenanceConflict, match="mnt-1 on Payments"):
        announce(SUNDAY_2 + timedelta(minutes=20), SUNDAY_2 + timedelta(hours=1), ["Payments", "Website"],
                 others=[first], mid="mnt-2")
    beside = announce(SUNDAY_2, SUNDAY_230, ["Website"], others=[first], mid="mnt-2")  # another component
    after = announce(SUNDAY_230, SUNDAY_230 + timedelta(hours=1), others=[first], mid="mnt-3")  # half-open: touching
    called_off, _ = cancel(first, MaintenanceAction(), author="ada", now=NOW)
    again = announce(others=[called_off], mid="mnt-4")  # a cancelled window holds nothing
    assert {w.id for w in (beside, after, again)} == {"mnt-2", "mnt-3", "mnt-4"}


def test_start_early_extend_and_complete_early_by_hand():
    window = announce()
    early = SUNDAY_2 - timedelta(minutes=15)
    started, entry = start(window, MaintenanceAction(message="Starting now."), author="ada", now=early, others=[])
    assert started.state_at(early) is MaintenanceState.in_progress and started.starts_at == early
    assert entry.changes == ["started"] and "scheduled to start at 2026-11-29 02:00" in entry.note
    extended, entry = change_maintenance(started, MaintenanceChange(ends_at=SUNDAY_230 + timedelta(minutes=30)),
                                         author="bo", now=SUNDAY_2, known=KNOWN, others=[])
    assert entry.changes == ["ends_at"] and extended.state_at(SUNDAY_230 + timedelta(minutes=10)).value == "in_progress"
    done_at = SUNDAY_2 + timedelta(minutes=40)
    done, entry = complete(extended, MaintenanceAction(), author="bo", now=done_at)
    assert done.state_at(done_at) is MaintenanceState.completed and done.ends_at == done_at
    assert done.span(done_at + timedelta(hours=1)) == (early, done_at)
    assert [u.id for u in done.updates] == ["u1", "u2", "u3", "u4"]


@pytest.mark.parametrize(("move", "clock", "expected"), [
    ("start", SUNDAY_2 + timedelta(minutes=5), "already in progress"),
    ("start", SUNDAY_230, "completed"),
    ("complete", NOW, "has not started"),
    ("complete", SUNDAY_230, "completed"),
    ("cancel", SUNDAY_230 + timedelta(minutes=1), "completed"),  # cancelling a completed window: 409
])
def test_moves_the_state_does_not_allow_are_conflicts(move, clock, expected):
    moves = {"start": lambda w, now: start(w, MaintenanceAction(), author="ada", now=now, others=[]),
             "complete": lambda w, now: complete(w, MaintenanceAction(), author="ada", now=now),
             "cancel": lambda w, now: cancel(w, MaintenanceAction(), author="ada", now=now)}
    with pytest.raises(MaintenanceConflict, match=expected):
        moves[move](announce(), clock)


def test_cancel_before_the_start_means_it_never_happens_and_while_it_runs_that_it_ends_now():
    before, _ = cancel(announce(), MaintenanceAction(), author="ada", now=NOW)
    assert before.state_at(SUNDAY_2 + timedelta(minutes=5)) is MaintenanceState.cancelled
    assert before.span(SUNDAY_230) is None and before.changes_at(NOW) == []
    midway = SUNDAY_2 + timedelta(minutes=10)
    during, _ = cancel(announce(), MaintenanceAction(message="Called off."), author="ada", now=midway)
    assert during.span(SUNDAY_230) == (SUNDAY_2, midway)
    with pytest.raises(MaintenanceConflict, match="cancelled"):
        cancel(during, MaintenanceAction(), author="ada", now=SUNDAY_230)


def test_a_running_window_keeps_its_start_and_cannot_end_in_the_past():
    running = SUNDAY_2 + timedelta(minutes=5)
    with pytest.raises(MaintenanceConflict, match="cannot move"):
        change_maintenance(announce(), MaintenanceChange(starts_at=SUNDAY_2 + timedelta(minutes=10)), author="bo",
                           now=running, known=KNOWN, others=[])
    with pytest.raises(InvalidMaintenance, match="complete"):
        change_maintenance(announce(), MaintenanceChange(ends_at=running), author="bo", now=running, known=KNOWN,
                           others=[])
    with pytest.raises(NothingToChange):
        same = announce()
        change_maintenance(same, MaintenanceChange(title=same.title, components=same.components), author="bo",
                           now=NOW, known=KNOWN, others=[])


def test_the_public_timeline_adds_the_moves_the_clock_made():
    window, _ = change_maintenance(announce(), MaintenanceChange(note="internal only"), author="bo", now=NOW,
                                   known=KNOWN, others=[])
    states = [(e.id, e.at, e.state.value) for e in public_timeline(window, SUNDAY_230 + timedelta(hours=1))]
    assert states == [("u1", NOW, "scheduled"), ("started", SUNDAY_2, "in_progress"),
                      ("completed", SUNDAY_230, "completed")]  # the note-only entry u2 stays internal
    assert [e.id for e in public_timeline(window, NOW)] == ["u1"]


def test_covering_needs_every_component_under_maintenance_in_progress():
    payments = announce()
    website = announce(components=["Website"], mid="mnt-2")
    during = SUNDAY_2 + timedelta(minutes=1)
    assert covering([payments], ["Payments"], during) == [payments]
    assert covering([payments, website], ["Website", "Payments"], during) == [payments, website]
    assert covering([payments], ["Payments", "Website"], during) == []
    assert covering([payments], ["Payments"], NOW) == []  # not started
    assert covering([payments], [], during) == []  # an alert on no component concerns the whole platform


def test_when_windows_cannot_be_read_alerts_page_as_usual(caplog):
    from incidents.domain.maintenance_service import MaintenanceService
    from incidents.domain.store import StoreUnavailable

    class Down:
        def find(self, query):
            raise StoreUnavailable("Cosmos DB answered 503")

    service = MaintenanceService(Down(), clock=lambda: SUNDAY_2)
    assert service.covering(["Payments"]) == [] and "page as usual" in caplog.text
