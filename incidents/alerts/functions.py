"""Azure Functions of alert intake: the Azure Monitor webhook, and the timer that dismisses drafts gone quiet.

The webhook answers within Azure Monitor's 10 s: 202 once the delivery is stored, 4xx for a payload that retrying
cannot fix, and 503 (which Azure retries; it does not retry 500) for anything that might pass on a second try.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from ..bootstrap import services
from ..http.problems import Problem, http_function, json_body, json_response

blueprint = func.Blueprint()
log = logging.getLogger(__name__)

MAX_ALERT_BYTES = 1024 * 1024  # Azure caps an alert at 256 KB; anything far beyond is not from Azure
DRAFT_SWEEP_SCHEDULE = "0 * * * * *"  # NCRONTAB, every minute


@blueprint.route(route="v1/alerts/azure-monitor", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function(unexpected_status=503)
def azure_monitor_alert(req: func.HttpRequest) -> func.HttpResponse:
    """The function key in the URL (the fallback); plus Azure Monitor's Entra ID token when ALERTS_AAD_AUDIENCE
    is set."""
    app = services()
    if app.webhook_tokens is not None:
        _azure_monitor_token(req)
    return _receive(req)


@blueprint.route(route="v1/alerts/azure-monitor/secure", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function(unexpected_status=503)
def azure_monitor_alert_secure(req: func.HttpRequest) -> func.HttpResponse:
    """Azure Monitor's "secure webhook" (the default): its Entra ID token is the credential, so no key sits in
    the action group's URL for every Reader of the resource group to see."""
    if services().webhook_tokens is None:
        raise Problem(404, "The secure webhook is not configured here: set ALERTS_AAD_AUDIENCE (and the tenant), "
                           "or post to v1/alerts/azure-monitor with the function key.")
    _azure_monitor_token(req)
    return _receive(req)


def _azure_monitor_token(req: func.HttpRequest) -> None:
    from ..http.auth import WEBHOOK_ROLE

    services().webhook_tokens.authenticate(req.headers.get("Authorization"), WEBHOOK_ROLE)


def _receive(req: func.HttpRequest) -> func.HttpResponse:
    from .schema import AlertRejected, parse_alert

    payload = json_body(req, max_bytes=MAX_ALERT_BYTES)
    try:
        alert = parse_alert(payload)
    except AlertRejected as exc:
        raise Problem(400, f"Not a common-alert-schema alert: {exc}",
                      errors=[{"field": exc.field, "message": str(exc)}]) from None
    outcome = services().alerts.receive(alert)
    log.info("alert %s %s: %s %s", alert.rule, alert.condition, outcome.kind, outcome.incident_id or "")
    return json_response({"outcome": outcome.kind, "incident_id": outcome.incident_id}, status=202)


@blueprint.timer_trigger(schedule=DRAFT_SWEEP_SCHEDULE, arg_name="timer", run_on_startup=False)
def dismiss_quiet_drafts(timer: func.TimerRequest) -> None:
    dismissed = services().alerts.dismiss_quiet_drafts()
    if dismissed:
        log.info("dismissed quiet drafts: %s", json.dumps(dismissed))
