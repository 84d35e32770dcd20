"""The incident workflow as tables of (from, change) -> outcome, with no store and no HTTP."""

from datetime import datetime, timedelta, timezone

import pytest

from incidents.domain.models import MAX_UPDATES, IncidentChange, NewIncident, State, Status, Visibility
from incidents.domain.workflow import NothingToChange, WorkflowError, apply_change, open_incident

NOW = datetime(2026, 11, 26, 21, 43, tzinfo=timezone.utc)
LATER = NOW + timedelta(minutes=7)


def opened(status="investigating", state="published", **extra):
    body = NewIncident(title="Login is failing", severity="sev1", public_message="We are investigating.",
                       status=status, state=state, **extra)
    return open_incident(body, incident_id="inc-1", author="ada", now=NOW)


FORWARD = [
    ("investigating", "identified"), ("investigating", "monitoring"), ("investigating", "resolved"),
    ("identified", "monitoring"), ("identified", "resolved"), ("monitoring", "resolved"),
]
BACKWARD = [("identified", "investigating"), ("monitoring", "identified"), ("monitoring", "investigating")]


@pytest.mark.parametrize(("start", "target"), FORWARD)
def test_any_forward_move_is_allowed_skips_included(start, target):
    after, update = apply_change(opened(start), IncidentChange(status=target), author="bo", now=LATER)
    assert after.status == Status(target) and update.status == Status(target)
    assert update.changes == ["status"] and update.visibility is Visibility.public
    assert (after.resolved_at == LATER) == (target == "resolved")


@pytest.mark.parametrize(("start", "target"), BACKWARD)
def test_moving_back_is_refused_with_the_flow_spelled_out(start, target):
    with pytest.raises(WorkflowError, match="only move forward"):
        apply_change(opened(start), IncidentChange(status=target), author="bo", now=LATER)


def test_a_resolved_incident_only_changes_status_when_reopened_explicitly():
    resolved = opened("resolved")
    with pytest.raises(WorkflowError, match='"reopen": true'):
        apply_change(resolved, IncidentChange(status="investigating"), author="bo", now=LATER)
    after, update = apply_change(resolved, IncidentChange(reopen=True, status="identified"), author="bo", now=LATER)
    assert after.status is Status.identified and after.resolved_at is None
    assert update.changes == ["status", "reopened"]


def test_reopen_is_refused_unless_resolved_and_needs_an_open_status():
    with pytest.raises(WorkflowError, match="only a resolved incident"):
        apply_change(opened("monitoring"), IncidentChange(reopen=True), author="bo", now=LATER)
    with pytest.raises(WorkflowError, match="status it goes back to"):
        apply_change(opened("resolved"), IncidentChange(reopen=True, status="resolved"), author="bo", now=LATER)


def test_reopen_without_a_status_goes_back_to_investigating():
    after, _ = apply_change(opened("resolved"), IncidentChange(reopen=True), author="bo", now=LATER)
    assert after.status is Status.investigating


def test_every_change_appends_exactly_one_entry_and_keeps_the_earlier_ones():
    incident = opened()
    for n, change in enumerate([IncidentChange(note="paged the DB team"), IncidentChange(severity="sev2"),
                                IncidentChange(public_message="Fix rolling out.", status="monitoring")], start=2):
        before = list(incident.updates)
        incident, update = apply_change(incident, change, author="bo", now=LATER)
        assert incident.updates[:-1] == before and incident.updates[-1] == update
        assert update.id == f"u{n}" and len(incident.updates) == n


def test_a_note_alone_is_an_internal_entry_and_changes_no_public_field():
    incident = opened()
    after, update = apply_change(incident, IncidentChange(note="suspect the 21:30 deploy"), author="bo", now=LATER)
    assert update.visibility is Visibility.internal and update.changes == [] and update.message is None
    assert after.model_dump(exclude={"updates", "updated_at"}) == incident.model_dump(exclude={"updates", "updated_at"})


def test_a_repeated_public_message_is_a_public_update_even_if_unchanged():
    _, update = apply_change(opened(), IncidentChange(public_message="We are investigating."), author="bo", now=LATER)
    assert update.visibility is Visibility.public and update.message == {"en": "We are investigating."}


def test_a_change_that_changes_nothing_is_refused():
    incident = opened()
    for empty in (IncidentChange(), IncidentChange(status="investigating", severity="sev1")):
        with pytest.raises(NothingToChange):
            apply_change(incident, empty, author="bo", now=LATER)


def test_drafts_get_internal_entries_only_and_dismissed_incidents_take_only_notes():
    draft = opened(state="draft")
    assert draft.updates[0].visibility is Visibility.internal and draft.acknowledged_at is None
    _, update = apply_change(draft, IncidentChange(status="identified"), author="bo", now=LATER)
    assert update.visibility is Visibility.internal
    dismissed = draft.model_copy(update={"state": State.dismissed})
    for change in (IncidentChange(status="identified", note="x"), IncidentChange(title="New"),
                   IncidentChange(reopen=True, note="x")):
        with pytest.raises(WorkflowError, match="dismissed incident cannot change, except for a note"):
            apply_change(dismissed, change, author="bo", now=LATER)
    # A note says more about why (a dismissal from Slack carries a fixed reason): the incident itself stays as it was
    after, note = apply_change(dismissed, IncidentChange(note="It was the perf team's load test."), author="bo",
                               now=LATER)
    unchanged = {"updates", "updated_at"}
    assert after.model_dump(exclude=unchanged) == dismissed.model_dump(exclude=unchanged)
    assert (note.visibility, note.changes, note.note) == (Visibility.internal, [], "It was the perf team's load test.")


def test_the_first_admin_change_acknowledges_an_unacknowledged_incident():
    incident = opened().model_copy(update={"acknowledged_at": None})
    after, _ = apply_change(incident, IncidentChange(note="on it"), author="bo", now=LATER)
    assert after.acknowledged_at == LATER
    again, _ = apply_change(after, IncidentChange(note="still on it"), author="bo", now=LATER + timedelta(hours=1))
    assert again.acknowledged_at == LATER


def test_the_timeline_is_capped():
    incident = opened()
    full = incident.model_copy(update={"updates": incident.updates * MAX_UPDATES})
    with pytest.raises(WorkflowError, match=f"{MAX_UPDATES} updates"):
        apply_change(full, IncidentChange(note="one more"), author="bo", now=LATER)


def test_an_incident_cannot_start_in_the_future():
    body = NewIncident(title="t", severity="sev3", public_message="m", started_at=NOW + timedelta(hours=1))
    with pytest.raises(ValueError, match="future"):
        open_incident(body, incident_id="inc-2", author="ada", now=NOW)


# Acknowledgement and the escalation it stops

def escalating_draft():
    from incidents.domain.escalation import start_escalation
    from incidents.domain.policy import load_policy

    body = NewIncident(title="Login is failing", severity="sev1", public_message="We are investigating.", state="draft")
    return open_incident(body, incident_id="inc-1", author="ada", now=NOW,
                         escalation=start_escalation(load_policy().paging_snapshot("sev1"), NOW))


def test_a_draft_starts_its_escalation_and_one_opened_published_is_acknowledged_by_its_author():
    draft = escalating_draft()
    assert draft.escalation.next_due_at == NOW and draft.escalation.stopped_at is None
    assert draft.escalation.policy["paging"]["levels"][0]["who"] == "primary"
    published = opened()
    assert published.acknowledged_by == "ada" and published.escalation is None


def test_acknowledging_stops_paging_once_and_names_who_was_first():
    from incidents.domain.workflow import AlreadyAcknowledged, acknowledge

    after, entry = acknowledge(escalating_draft(), author="bo", now=LATER, via="admin API")
    assert (after.acknowledged_at, after.acknowledged_by) == (LATER, "bo")
    assert after.escalation.stopped_at == LATER and after.escalation.stopped_because == "acknowledged"
    assert after.escalation.next_due_at is None and after.state is State.draft
    assert entry.changes == ["acknowledged"] and entry.visibility is Visibility.internal and "admin API" in entry.note
    assert acknowledge(after, author="bo", now=LATER + timedelta(minutes=1), via="link") is None  # a retry: no change
    with pytest.raises(AlreadyAcknowledged, match="already acknowledged by bo at 2026-11-26 21:50 UTC"):
        acknowledge(after, author="cy", now=LATER, via="link")


@pytest.mark.parametrize("how", ["confirm", "dismiss", "resolve"])
def test_confirming_dismissing_or_resolving_stops_the_escalation(how):
    from incidents.domain.models import Confirmation, Dismissal
    from incidents.domain.workflow import confirm, dismiss

    draft = escalating_draft()
    if how == "confirm":
        after, _ = confirm(draft, Confirmation(), author="bo", now=LATER)
        assert (after.acknowledged_at, after.acknowledged_by) == (LATER, "bo")
    elif how == "dismiss":
        after, _ = dismiss(draft, Dismissal(reason="A test alert"), author="bo", now=LATER)
    else:
        confirmed = draft.model_copy(update={"state": State.published})  # published, never acknowledged
        after, _ = apply_change(confirmed, IncidentChange(status="resolved"), author="bo", now=LATER)
    expected = {"confirm": "acknowledged", "dismiss": "dismissed", "resolve": "acknowledged"}[how]
    assert after.escalation.stopped_because == expected and after.escalation.next_due_at is None


def test_an_acknowledged_escalation_is_not_restarted_or_rewritten_by_later_changes():
    from incidents.domain.workflow import acknowledge

    acked, _ = acknowledge(escalating_draft(), author="bo", now=LATER, via="link")
    published = acked.model_copy(update={"state": State.published})
    after, _ = apply_change(published, IncidentChange(status="resolved"), author="cy", now=LATER + timedelta(hours=1))
    assert after.escalation == acked.escalation and after.acknowledged_by == "bo"
