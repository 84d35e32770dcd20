"""What each button on the Slack app's messages does (incidents/notify/slack_buttons.py draws them), and for whom.

The Slack user who tapped must be a person of the on-call roster who may publish (`may_publish`); anyone else is
told so and nothing changes. Then one call of the incident service, in the person's display name, and the message
that replaces the one tapped. A tap that comes too late (a second tap, a replay, an incident that moved on) changes
nothing and says what already happened. No HTTP here: functions.py verifies the request and posts what this returns.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain.models import Confirmation, Dismissal, Incident, IncidentChange, State, Status, Update
from ..domain.oncall import Person
from ..domain.roster import RosterService
from ..domain.service import IncidentService
from ..domain.store import IncidentTooLarge, NotFound, Stored
from ..domain.workflow import NothingToChange, WorkflowError
from ..notify.slack import escape
from ..notify.slack_buttons import ACKNOWLEDGE, CONFIRM, DISMISS, RESOLVE, actions_block

log = logging.getLogger(__name__)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
VERBS = {ACKNOWLEDGE: "acknowledge", CONFIRM: "confirm and publish", DISMISS: "dismiss", RESOLVE: "resolve"}
RESOLVED_MESSAGE = {
    "en": "This incident has been resolved. Thank you for your patience.",
    "fr": "Cet incident est résolu. Merci de votre patience.",
    "es": "Este incidente se ha resuelto. Gracias por su paciencia.",
    "sv": "Incidenten är löst. Tack för ert tålamod.",
}


@dataclass(frozen=True)
class Tap:
    """A button tapped in Slack, as the signed request tells it."""

    action_id: str
    incident_id: str  # the button's value
    slack_user_id: str


@dataclass(frozen=True)
class Outcome:
    message: dict[str, Any]  # for the tap's response_url: the message tapped, replaced; or an ephemeral answer
    changed: bool


def ephemeral(text: str) -> dict[str, Any]:
    """An answer only the person who tapped sees; the message tapped stays as it is."""
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def act(tap: Tap, incidents: IncidentService, roster: RosterService) -> Outcome:
    verb = VERBS.get(tap.action_id)
    person = person_of(roster, tap.slack_user_id)
    if person is None or not person.may_publish:
        log.info("Slack: %s refused to Slack user %s (%s)", tap.action_id[:60], tap.slack_user_id[:30],
                 "not in the roster" if person is None else f"{person.id} may not publish")
        what = f"{verb} incidents" if verb else "act on incidents"
        return _refused(f"You are not allowed to {what} from Slack: that takes a person of the on-call roster with "
                        "your Slack account and `may_publish`. Ask a platform admin. Nothing changed.")
    if verb is None:
        return _refused(f"This button ({escape(tap.action_id[:60])}) is not one this app knows. Nothing changed.")
    gone = _refused(f"There is no incident {escape(tap.incident_id[:100])} any more. Nothing changed.")
    if not _ID.fullmatch(tap.incident_id):
        return gone
    try:
        incident = incidents.get(tap.incident_id).incident
        now = incidents.clock()
        if (too_late := _too_late(tap.action_id, incident, now)) is not None:
            return _refused(too_late)
        stored = _do(tap.action_id, incidents, incident.id, person.display_name)
    except NotFound:
        return gone
    except (WorkflowError, NothingToChange, IncidentTooLarge) as exc:  # it moved on between the read and the write
        text = escape(str(exc))
        return _refused(text if "nothing changed" in text.lower() else f"{text} Nothing changed.")
    log.info("Slack: %s on incident %s by %s", tap.action_id, incident.id, person.id)
    return Outcome(replacement(stored.incident, _done(tap.action_id, person.display_name, stored, now)), True)


def person_of(roster: RosterService, slack_user_id: str) -> Person | None:
    return next((p for p in roster.roster().people if p.slack_user_id == slack_user_id), None)


def replacement(incident: Incident, done: str) -> dict[str, Any]:
    """The message tapped, rewritten: the incident as it is now, what was done, and the buttons still useful."""
    severity, title, ident = incident.severity.value.upper(), escape(incident.title["en"]), escape(incident.id)
    facts = f"State: {incident.state.value} · Status: {incident.status.value} · ID: `{ident}`"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{severity}* {title}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": done}},
    ]
    if (actions := actions_block(incident)) is not None:
        blocks.append(actions)
    return {"replace_original": True, "text": f"{done} {severity} {title} ({ident})", "blocks": blocks}


def _refused(text: str) -> Outcome:
    return Outcome(ephemeral(text), False)


def _do(action: str, incidents: IncidentService, incident_id: str, name: str) -> Stored:
    """The one service call a button makes, in the person's name."""
    if action == ACKNOWLEDGE:
        return incidents.acknowledge(incident_id, author=name, via="Slack")
    if action == CONFIRM:  # the drafted words, every language; edits are the admin API's
        return incidents.confirm(incident_id, Confirmation(note="Confirmed from Slack, with the drafted words."),
                                 author=name)
    if action == DISMISS:
        return incidents.dismiss(incident_id, Dismissal(reason=f"Dismissed from Slack by {name}."), author=name)
    change = IncidentChange(status=Status.resolved, public_message=RESOLVED_MESSAGE, note="Resolved from Slack.")
    return incidents.change(incident_id, change, author=name)


def _done(action: str, name: str, stored: Stored, now: datetime) -> str:
    incident = stored.incident
    at = _when(incident.updates[-1].at, now)
    name = escape(name)
    if action == ACKNOWLEDGE:
        after = " Confirm or dismiss it when you know more." if incident.state is State.draft else ""
        return f":raising_hand: Acknowledged by {name} at {at}: paging has stopped.{after}"
    if action == CONFIRM:
        return (f":white_check_mark: Confirmed by {name} at {at}: it is public on the status page, with the drafted "
                "words. Post updates with the admin API.")
    if action == DISMISS:
        return f":no_entry_sign: Dismissed by {name} at {at}. It never becomes public."
    return f":large_green_circle: Resolved by {name} at {at}."


def _too_late(action: str, incident: Incident, now: datetime) -> str | None:
    """Why the button no longer applies (what already happened, by whom and when), or None if it does."""
    ident, state = escape(incident.id), incident.state
    if state is State.dismissed:
        dismissed = _by(_last(incident, "dismissed"), now)
        if action == DISMISS:
            return f"{ident} was already dismissed{dismissed}. Nothing changed."
        return f"{ident} was dismissed{dismissed}, so it cannot be {_past(action)} any more. Nothing changed."
    if action == ACKNOWLEDGE and incident.acknowledged_at is not None:
        who = escape(incident.acknowledged_by or "someone")
        return f"{ident} was already acknowledged by {who} at {_when(incident.acknowledged_at, now)}. Nothing changed."
    published = _by(_last(incident, "confirmed") or incident.updates[0], now)
    if action == CONFIRM and state is State.published:
        return f"{ident} was already published{published}. Nothing changed."
    if action == DISMISS and state is State.published:
        return f"{ident} was published{published}: resolve it rather than dismiss it. Nothing changed."
    if action != RESOLVE:
        return None
    if state is State.draft:
        return f"{ident} is still a draft: confirm it before resolving it. Nothing changed."
    if incident.status is Status.resolved:
        resolved = next((u for u in reversed(incident.updates)
                         if "status" in u.changes and u.status is Status.resolved), None)
        return f"{ident} was already resolved{_by(resolved, now)}. Nothing changed."
    if incident.status is not Status.monitoring:
        return (f"{ident} is {incident.status.value}: Resolve from Slack is for incidents in monitoring. Move it on "
                "with the admin API. Nothing changed.")
    return None


def _past(action: str) -> str:
    return {ACKNOWLEDGE: "acknowledged", CONFIRM: "published", RESOLVE: "resolved"}.get(action, "changed")


def _last(incident: Incident, change: str) -> Update | None:
    return next((u for u in reversed(incident.updates) if change in u.changes), None)


def _by(entry: Update | None, now: datetime) -> str:
    return f" by {escape(entry.author)} at {_when(entry.at, now)}" if entry is not None else ""


def _when(at: datetime, now: datetime) -> str:
    """21:46 UTC today, 2026-11-25 21:46 UTC another day."""
    return f"{at:%H:%M} UTC" if at.date() == now.date() else f"{at:%Y-%m-%d %H:%M} UTC"
