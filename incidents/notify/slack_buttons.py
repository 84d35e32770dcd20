"""The buttons on the Slack app's messages (a Block Kit `actions` block): which ones an incident offers in its state.

A tap comes back to POST /api/v1/slack/actions (incidents/slack/functions.py) with the button's `action_id` and its
`value`, the incident's id; incidents/slack/actions.py does what the button says. Without the Slack app
(SLACK_SIGNING_SECRET not set), messages carry no buttons.
"""

from __future__ import annotations

from typing import Any

from ..domain.models import Incident, State, Status

ACKNOWLEDGE = "incident.acknowledge"
CONFIRM = "incident.confirm"
DISMISS = "incident.dismiss"
RESOLVE = "incident.resolve"
LABELS = {ACKNOWLEDGE: "Acknowledge", CONFIRM: "Confirm and publish", DISMISS: "Dismiss", RESOLVE: "Resolve"}
_STYLES = {CONFIRM: "primary", DISMISS: "danger", RESOLVE: "primary"}


def offered(incident: Incident) -> list[str]:
    """The actions that would change the incident now: on a draft, Acknowledge (until someone has), Confirm and
    Dismiss; on a published incident, Acknowledge (likewise) and, once it is monitoring, Resolve."""
    if incident.state is State.dismissed or (incident.state is State.published and incident.status is Status.resolved):
        return []
    actions = [] if incident.acknowledged_at is not None else [ACKNOWLEDGE]
    if incident.state is State.draft:
        return [*actions, CONFIRM, DISMISS]
    return [*actions, RESOLVE] if incident.status is Status.monitoring else actions


def actions_block(incident: Incident) -> dict[str, Any] | None:
    """The buttons the incident offers, or None when there are none."""
    actions = offered(incident)
    if not actions:
        return None
    buttons = []
    for action in actions:
        button = {"type": "button", "action_id": action, "value": incident.id,
                  "text": {"type": "plain_text", "text": LABELS[action]}}
        if action in _STYLES:
            button["style"] = _STYLES[action]
        buttons.append(button)
    # A new block_id for each version of the incident: Slack asks for one per iteration of a message.
    return {"type": "actions", "block_id": f"{incident.id}/{len(incident.updates)}"[:255], "elements": buttons}
