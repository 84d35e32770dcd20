"""The Slack app's buttons on a message (notify/slack_buttons.py, notify/slack.py's message()), the message that
replaces a tapped one (slack/actions.py), and where a tap's answer may be posted (slack/functions.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from incidents.domain.models import Incident
from incidents.domain.notifier import Notice, NoticeKind
from incidents.notify.slack import message
from incidents.notify.slack_buttons import offered
from incidents.slack.actions import replacement
from incidents.slack.functions import may_respond_to

T0 = datetime(2026, 11, 26, 21, 43, tzinfo=timezone.utc)
CONFIRM_URL = "https://func-x.azurewebsites.net/api/v1/admin/incidents/inc-0042/confirm"


def an_incident(**overrides) -> Incident:
    fields = {"id": "inc-0042", "title": {"en": "Checkout is slow"}, "severity": "sev1", "status": "investigating",
              "state": "draft", "public_message": {"en": "We are looking into it."}, "started_at": T0,
              "updated_at": T0}
    return Incident.model_validate(fields | overrides)


def buttons(payload: dict) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]


ACKED = {"acknowledged_at": T0, "acknowledged_by": "Alice Martin"}


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, ["incident.acknowledge", "incident.confirm", "incident.dismiss"]),
    (ACKED, ["incident.confirm", "incident.dismiss"]),
    ({"status": "monitoring"} | ACKED, ["incident.confirm", "incident.dismiss"]),  # a draft is confirmed first
    ({"state": "published"} | ACKED, []),
    ({"state": "published", "status": "identified"}, ["incident.acknowledge"]),
    ({"state": "published", "status": "monitoring"} | ACKED, ["incident.resolve"]),
    ({"state": "published", "status": "monitoring"}, ["incident.acknowledge", "incident.resolve"]),
    ({"state": "published", "status": "resolved", "resolved_at": T0} | ACKED, []),
    ({"state": "dismissed"}, []),
])
def test_the_buttons_an_incident_offers(fields, expected):
    assert offered(an_incident(**fields)) == expected


def test_a_draft_notice_carries_its_buttons_only_when_the_app_is_set_up():
    notice = Notice(kind=NoticeKind.draft_created, incident=an_incident(), at=T0 + timedelta(minutes=3),
                    confirm_url=CONFIRM_URL)
    plain, with_buttons = message(notice), message(notice, buttons=True)
    assert buttons(plain) == [] and plain["text"] == with_buttons["text"]
    assert buttons(with_buttons) == [("incident.acknowledge", "inc-0042"), ("incident.confirm", "inc-0042"),
                                     ("incident.dismiss", "inc-0042")]
    [actions] = [b for b in with_buttons["blocks"] if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Acknowledge", "Confirm and publish", "Dismiss"]
    text = "\n".join(b["text"]["text"] for b in with_buttons["blocks"] if "text" in b)
    assert "all four languages" in text and "<https://func-x.azurewebsites.net/api/v1/admin/incidents/inc-0042|" in text
    assert f"curl -X POST {CONFIRM_URL}" in text  # the fallback for people without the app


def test_only_a_published_incident_in_monitoring_offers_resolve():
    for status, expected in (("investigating", []), ("identified", []), ("monitoring", ["incident.resolve"])):
        notice = Notice(kind=NoticeKind.alert_cleared, incident=an_incident(state="published", status=status, **ACKED),
                        at=T0)
        assert [action for action, _ in buttons(message(notice, buttons=True))] == expected


def test_the_replacement_message_names_what_was_done_and_keeps_only_useful_buttons():
    acknowledged = replacement(an_incident(**ACKED), "Acknowledged by Alice Martin at 21:46 UTC")
    assert acknowledged["replace_original"] is True
    assert buttons(acknowledged) == [("incident.confirm", "inc-0042"), ("incident.dismiss", "inc-0042")]
    confirmed = replacement(an_incident(state="published", **ACKED), "Confirmed by Alice Martin at 21:46 UTC")
    assert buttons(confirmed) == [] and "Confirmed by Alice Martin at 21:46 UTC" in confirmed["text"]
    escaped = replacement(an_incident(title={"en": "<!channel> & co"}, state="dismissed"), "Dismissed")
    assert "<!channel>" not in str(escaped) and "&lt;!channel&gt; &amp; co" in escaped["text"]


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://hooks.slack.com/actions/T000/1764193561/r3sp0ns3", True),
    ("https://hooks.slack.com.example.org/actions/T000/1/x", False),
    ("https://hooks.slack.com@example.org/actions/T000/1/x", False),
    ("https://hooks.slack.com:8443/actions/T000/1/x", False),
    ("http://hooks.slack.com/actions/T000/1/x", False),
    ("https://hooks.slack.com/actions/T000/1/x?redirect=https://example.org", False),
    ("https://hooks.slack.com/actions/T000/1/x#y", False),
    ("https://hooks.slack.com/", False),
    ("https://example.org/https://hooks.slack.com/", False),
])
def test_a_response_url_must_be_slacks(url, allowed):
    assert may_respond_to(url, "https://hooks.slack.com/") is allowed


def test_the_slack_app_manifest_points_at_the_route_and_asks_for_the_webhook_only():
    """docs/slack-app-manifest.yaml is pasted as is: its request URL is the route function_app registers."""
    from pathlib import Path

    import function_app
    from incidents.localhost import app_functions  # get_functions() may be called once per app: the cached list

    text = (Path(__file__).resolve().parents[2] / "docs" / "slack-app-manifest.yaml").read_text()
    [url] = [line.split(": ", 1)[1] for line in text.splitlines() if line.strip().startswith("request_url:")]
    routes = {f.get_trigger().route for f in app_functions(function_app.app) if f.get_trigger().type == "httpTrigger"}
    assert url.startswith("https://") and url.endswith("/api/v1/slack/actions") and "v1/slack/actions" in routes
    scopes = text.split("bot:\n", 1)[1].split("settings:")[0]
    assert [line.split("#")[0].strip() for line in scopes.splitlines() if line.strip()] == ["- incoming-webhook"]


@pytest.mark.parametrize(("environ", "named"), [
    ({"SLACK_SIGNING_SECRET": "too-short"}, "SLACK_SIGNING_SECRET"),
    ({"SLACK_SIGNING_SECRET": " 8f14e45fceea167a5a36dedd4bea2543 "}, "SLACK_SIGNING_SECRET"),
    ({"SLACK_RESPONSE_URL_PREFIX": "http://hooks.example.org/"}, "SLACK_RESPONSE_URL_PREFIX"),
    ({"SLACK_RESPONSE_URL_PREFIX": "https://hooks.slack.com"}, "SLACK_RESPONSE_URL_PREFIX"),
])
def test_slack_settings_are_checked_without_showing_the_secret(tmp_path, environ, named):
    from incidents.settings import SettingsError, load_settings

    key = tmp_path / "key.pem"
    key.write_text("")
    with pytest.raises(SettingsError, match=named) as refused:
        load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(key), **environ})
    assert "too-short" not in str(refused.value) and "8f14e45f" not in str(refused.value)
    loopback = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(key),
                              "SLACK_RESPONSE_URL_PREFIX": "http://127.0.0.1:8080/actions/"})
    assert loopback.slack_response_url_prefix == "http://127.0.0.1:8080/actions/"
