"""POST /api/v1/slack/actions: the Slack app's Interactivity Request URL, where Slack sends each tap on a button.

Anyone can POST to it, so nothing of the request is read before Slack's signature is verified (slack-sdk's
SignatureVerifier: `X-Slack-Signature` v0, HMAC-SHA256 of `v0:{timestamp}:{body}` with SLACK_SIGNING_SECRET, the
timestamp at most 5 minutes from now). Then the form's `payload` is parsed, the tap done (actions.py: one store write),
and its answer posted to the tap's `response_url`, bounded in time, before the 200 Slack waits 3 s for. A refusal is
also the 200's body; a failed post is logged and never undoes the change. Without SLACK_SIGNING_SECRET, 404.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import azure.functions as func

from ..bootstrap import services
from ..http.problems import Problem, http_function, json_response

if TYPE_CHECKING:
    from .actions import Tap

blueprint = func.Blueprint()
log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024  # a tap carries the message tapped; ours are far smaller
FORM = "application/x-www-form-urlencoded"
_URL_TAIL = re.compile(r"[A-Za-z0-9._~%/-]{1,1000}")  # what may follow SLACK_RESPONSE_URL_PREFIX in a response_url


@blueprint.route(route="v1/slack/actions", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def slack_actions(req: func.HttpRequest) -> func.HttpResponse:
    from .actions import act

    app = services()
    secret = app.settings.slack_signing_secret
    if secret is None:
        raise Problem(404, "Slack actions are switched off here: SLACK_SIGNING_SECRET (the Slack app's signing "
                           "secret) is not set.")
    body = req.get_body() or b""
    if len(body) > MAX_BODY:
        raise Problem(413, f"The body is {len(body)} bytes; a Slack action is at most {MAX_BODY // 1024} KB.")
    if not _signed_by_slack(req, body, secret.get_secret_value(), app.incidents.clock):
        raise Problem(401, "This request is not signed by Slack: X-Slack-Signature must sign the body and "
                           "X-Slack-Request-Timestamp, at most 5 minutes old, with the Slack app's signing secret.")
    tap, response_url = _read_tap(req, body, app.settings.slack_response_url_prefix)
    outcome = act(tap, app.incidents, app.roster)
    if response_url is not None:  # after the store write: a failure here is logged and changes nothing back
        _respond(response_url, outcome.message)
    if outcome.changed:
        return func.HttpResponse(status_code=200)
    return json_response(outcome.message)


def _signed_by_slack(req: func.HttpRequest, body: bytes, secret: str, clock: Callable[[], datetime]) -> bool:
    from slack_sdk.signature import Clock, SignatureVerifier

    class AppClock(Clock):  # the app's clock, which tests move
        def now(self) -> float:
            return clock().timestamp()

    verifier = SignatureVerifier(secret, clock=AppClock())
    try:
        return verifier.is_valid(body=body, timestamp=req.headers.get("X-Slack-Request-Timestamp"),
                                 signature=req.headers.get("X-Slack-Signature"))
    except (ValueError, TypeError, OverflowError):  # a timestamp that is no number, a body that is not UTF-8...
        return False


def _read_tap(req: func.HttpRequest, body: bytes, prefix: str) -> tuple[Tap, str | None]:
    """The tap in the signed form's `payload` (400 when it is not one), and its response_url when it may be used."""
    from urllib.parse import parse_qs

    from .actions import Tap

    media_type = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise Problem(400, f"Slack sends actions form-encoded: Content-Type {FORM}, with a `payload` field.")
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=20, errors="strict")
    except ValueError:
        raise Problem(400, "The body is not form-encoded: Slack sends payload=<JSON>.") from None
    if len(form.get("payload", [])) != 1:
        raise Problem(400, "The form must have one `payload` field, the action as JSON.")
    try:
        payload = json.loads(form["payload"][0])
    except (ValueError, RecursionError):
        raise Problem(400, "The form's `payload` is not JSON.") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise Problem(400, "The `payload` must be a block_actions interaction: a button tapped on a message.")
    actions, user = payload.get("actions"), payload.get("user")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    action_id, value = action.get("action_id"), action.get("value", "")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not (_text(action_id, 255) and _text(value, 2000, empty=True) and _text(user_id, 64)):
        raise Problem(400, "The `payload` must name the action (actions[0].action_id, .value) and the user (user.id).")
    url = payload.get("response_url")
    response_url = url if isinstance(url, str) and may_respond_to(url, prefix) else None
    if url is not None and response_url is None:
        log.warning("A Slack action's response_url is not under SLACK_RESPONSE_URL_PREFIX: not used")  # nor shown
    return Tap(action_id=action_id, incident_id=value, slack_user_id=user_id), response_url


def _text(value: Any, limit: int, *, empty: bool = False) -> bool:
    return isinstance(value, str) and (empty or bool(value)) and len(value) <= limit


def may_respond_to(url: str, prefix: str) -> bool:
    """Whether a response_url (outside input, though signed) points where Slack's do: under `prefix`
    (https://hooks.slack.com/ unless SLACK_RESPONSE_URL_PREFIX says otherwise), with no query, user or port of its
    own."""
    from urllib.parse import urlsplit

    if not url.startswith(prefix) or not _URL_TAIL.fullmatch(url[len(prefix):]):
        return False
    try:
        return urlsplit(url).netloc == urlsplit(prefix).netloc
    except ValueError:
        return False


def _respond(url: str, message: dict[str, Any]) -> None:
    from ..notify.slack import SlackResponse

    try:
        SlackResponse(url).post(message)
    except Exception:  # never the URL: it lets whoever holds it post to the channel
        log.warning("The answer to a Slack action could not be posted to its response_url")
