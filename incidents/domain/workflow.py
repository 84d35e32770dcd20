"""The incident workflow: how an incident is opened and how a change becomes exactly one new timeline entry.

Pure functions over the models: no clock, no store, no HTTP. The service passes `now` and the author in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .models import (
    MAX_UPDATES,
    Confirmation,
    Dismissal,
    Escalation,
    Incident,
    IncidentChange,
    NewIncident,
    State,
    Status,
    StopReason,
    Update,
    Visibility,
)

FLOW = " -> ".join(s.value for s in Status)
CLOCK_SKEW = timedelta(minutes=5)


class WorkflowError(Exception):
    """A change the workflow does not allow in the incident's current state (HTTP 409)."""


class NothingToChange(ValueError):
    """A change request that would change nothing (HTTP 422)."""


class AlreadyAcknowledged(WorkflowError):
    """Someone else acknowledged first (HTTP 409): the message says who and when."""

    def __init__(self, incident: Incident) -> None:
        super().__init__(f"Incident {incident.id} was already acknowledged by {incident.acknowledged_by or 'someone'} "
                         f"at {incident.acknowledged_at:%Y-%m-%d %H:%M} UTC; nothing changed.")
        self.by, self.at = incident.acknowledged_by, incident.acknowledged_at


def stop_escalation(escalation: Escalation | None, now: datetime, because: StopReason) -> Escalation | None:
    """The escalation, stopped now (unchanged when there is none or it already stopped)."""
    if escalation is None or escalation.stopped_at is not None:
        return escalation
    return escalation.model_copy(update={"stopped_at": now, "stopped_because": because, "next_due_at": None})


def _acknowledged(incident: Incident, author: str, now: datetime) -> dict[str, Any]:
    """The fields that acknowledge an incident (and stop its escalation), unless it already is."""
    if incident.acknowledged_at is not None:
        return {}
    return {"acknowledged_at": now, "acknowledged_by": author,
            "escalation": stop_escalation(incident.escalation, now, "acknowledged")}


def acknowledge(incident: Incident, *, author: str, now: datetime, via: str) -> tuple[Incident, Update] | None:
    """Someone has it: paging stops. Again by the same person changes nothing (None); by someone else it is
    AlreadyAcknowledged, naming who was first."""
    if incident.acknowledged_at is not None:
        if incident.acknowledged_by == author:
            return None
        raise AlreadyAcknowledged(incident)
    if incident.state is State.dismissed:
        raise WorkflowError(f"Incident {incident.id} was dismissed; there is nothing to acknowledge.")
    after = incident.model_copy(update={**_acknowledged(incident, author, now), "updated_at": now})
    entry = next_entry(after, now, author, Visibility.internal, changes=["acknowledged"],
                       note=f"Acknowledged by {author} ({via}).")
    return after.model_copy(update={"updates": [*incident.updates, entry]}), entry


def open_incident(body: NewIncident, *, incident_id: str, author: str, now: datetime,
                  escalation: Escalation | None = None) -> Incident:
    """A new incident. A draft (nobody has it yet) starts `escalation`; one opened published is acknowledged by
    whoever opened it."""
    if body.started_at and body.started_at > now + CLOCK_SKEW:
        raise ValueError("started_at is in the future")
    draft = body.state == State.draft.value
    first = Update(
        id="u1",
        at=now,
        status=body.status,
        severity=body.severity,
        message=body.public_message,
        note=body.note,
        changes=["opened"],
        author=author,
        visibility=Visibility.internal if draft else Visibility.public,
    )
    return Incident(
        id=incident_id,
        title=body.title,
        severity=body.severity,
        status=body.status,
        state=State(body.state),
        public_message=body.public_message,
        components=body.components,
        started_at=body.started_at or now,
        updated_at=now,
        acknowledged_at=None if draft else now,
        acknowledged_by=None if draft else author,
        resolved_at=now if body.status is Status.resolved else None,
        escalation=escalation if draft and body.status is not Status.resolved else None,
        updates=[first],
    )


def apply_change(incident: Incident, change: IncidentChange, *, author: str, now: datetime) -> tuple[Incident, Update]:
    """The incident after `change`, and the one timeline entry that records it."""
    if incident.state is State.dismissed:
        if change.note is None or change.model_dump(exclude={"note"}, exclude_defaults=True):
            raise WorkflowError(f"Incident {incident.id} was dismissed; a dismissed incident cannot change, except "
                                "for a note on its timeline (e.g. to say more about why it was dismissed).")
        after = incident.model_copy(update={"updated_at": now})
        entry = next_entry(after, now, author, Visibility.internal, changes=[], note=change.note)
        return after.model_copy(update={"updates": [*incident.updates, entry]}), entry
    fields: dict[str, Any] = _status_fields(incident, change, now)
    for name in ("severity", "title", "public_message", "components"):
        value = getattr(change, name)
        if value is not None and value != getattr(incident, name):
            fields[name] = value
    changed = [name for name in fields if name != "resolved_at"]  # before the bookkeeping fields below
    if change.reopen:
        changed.append("reopened")

    if not changed and change.public_message is None and change.note is None:
        raise NothingToChange(
            "Nothing would change: send at least one of status, severity, title, public_message, components or note."
        )

    public = incident.state is State.published and (bool(changed) or change.public_message is not None)
    if incident.state is State.published:
        fields |= _acknowledged(incident, author, now)  # whoever first works on a published incident has it
    if fields.get("status") is Status.resolved:
        fields["escalation"] = stop_escalation(fields.get("escalation", incident.escalation), now, "resolved")
    fields["updated_at"] = now

    after = incident.model_copy(update=fields)
    visibility = Visibility.public if public else Visibility.internal
    entry = next_entry(after, now, author, visibility, changes=changed, message=change.public_message, note=change.note)
    return after.model_copy(update={"updates": [*incident.updates, entry]}), entry


def confirm(incident: Incident, confirmation: Confirmation, *, author: str, now: datetime) -> tuple[Incident, Update]:
    """A draft goes public, with the words as drafted or as edited; a public entry records it."""
    if incident.state is State.published:
        raise WorkflowError(f"Incident {incident.id} is already published (acknowledged at "
                            f"{incident.acknowledged_at:%Y-%m-%d %H:%M} UTC); there is nothing to confirm.")
    if incident.state is State.dismissed:
        raise WorkflowError(f"Incident {incident.id} was dismissed and cannot be confirmed; open a new incident.")
    edits = {name: value for name in ("title", "public_message", "severity", "components")
             if (value := getattr(confirmation, name)) is not None and value != getattr(incident, name)}
    after = incident.model_copy(update={**edits, **_acknowledged(incident, author, now), "state": State.published,
                                        "updated_at": now})
    entry = next_entry(after, now, author, Visibility.public, changes=["confirmed", *edits],
                   message=after.public_message, note=confirmation.note)
    return after.model_copy(update={"updates": [*incident.updates, entry]}), entry


def dismiss(incident: Incident, dismissal: Dismissal, *, author: str, now: datetime) -> tuple[Incident, Update]:
    """A draft that is not an incident after all: it never becomes public."""
    if incident.state is not State.draft:
        instead = " Resolve it instead." if incident.state is State.published else ""
        raise WorkflowError(f"Incident {incident.id} is {incident.state.value}: only drafts can be dismissed.{instead}")
    after = incident.model_copy(update={"state": State.dismissed, "updated_at": now,
                                        "escalation": stop_escalation(incident.escalation, now, "dismissed")})
    entry = next_entry(after, now, author, Visibility.internal, changes=["dismissed"], note=dismissal.reason)
    return after.model_copy(update={"updates": [*incident.updates, entry]}), entry


def next_entry(after: Incident, now: datetime, author: str, visibility: Visibility, **fields: Any) -> Update:
    """The entry that follows the incident's timeline."""
    if len(after.updates) >= MAX_UPDATES:
        raise WorkflowError(f"Incident {after.id} has reached {MAX_UPDATES} updates; open a follow-up incident.")
    return Update(id=f"u{len(after.updates) + 1}", at=now, status=after.status, severity=after.severity,
                  author=author, visibility=visibility, **fields)


def _status_fields(incident: Incident, change: IncidentChange, now: datetime) -> dict[str, Any]:
    current, wanted = incident.status, change.status
    if change.reopen:
        if current is not Status.resolved:
            raise WorkflowError(f"Incident {incident.id} is {current.value}, not resolved; only a resolved incident "
                                "can be reopened.")
        target = wanted or Status.investigating
        if target is Status.resolved:
            raise WorkflowError("To reopen an incident, give the status it goes back to, e.g. investigating.")
        return {"status": target, "resolved_at": None}
    if wanted is None or wanted is current:
        return {}
    if current is Status.resolved:
        raise WorkflowError(
            f'Incident {incident.id} is resolved. To reopen it, send {{"reopen": true, "status": "{wanted.value}"}}.'
        )
    if wanted.rank < current.rank:
        raise WorkflowError(
            f"Incident {incident.id} cannot move back from {current.value} to {wanted.value}: "
            f"incidents only move forward ({FLOW})."
        )
    return {"status": wanted, "resolved_at": now} if wanted is Status.resolved else {"status": wanted}
