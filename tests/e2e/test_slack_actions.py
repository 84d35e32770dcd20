"""The Slack app's buttons through the local host, on each store: requests signed as Slack signs them (with a test
secret; the client side of the signature is plain hmac here, the server's is slack-sdk's), roster people made with the
admin API, drafts made by alerts, and `slack_sink` standing in for both the channel's webhook and the taps'
response_url. The clock is the test's: 21:43 UTC, then 21:46 when someone taps."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import urlencode

import pytest
import requests

from tests.e2e.test_paging_flow import post_alert

SECRET = "8f14e45fceea167a5a36dedd4bea2543-test"
FORM = "application/x-www-form-urlencoded"
BASE_URL = "https://incidents.example.org"
PEOPLE = {
    "alice": {"display_name": "Alice Martin", "email": "alice@example.org", "mobile": "+46 70 000 00 01",
              "slack_user_id": "U0ALICE", "time_zone": "Europe/Paris", "may_publish": True},
    "bob": {"display_name": "Bob Ek", "email": "bob@example.org", "mobile": "+46 70 000 00 02",
            "slack_user_id": "U0BOB", "time_zone": "Europe/Stockholm"},  # may_publish: false by default
}


@pytest.fixture
def api_environ(request, slack_sink, tmp_path) -> dict[str, str]:
    """The Slack app set up (the signing secret, response_urls on the sink's address); `off` leaves it out."""
    environ = {"SLACK_WEBHOOK_URL": slack_sink.url, "INCIDENTS_PUBLIC_BASE_URL": BASE_URL,
               "ONCALL_LINK_SECRET": "e2e-" + "x" * 40, "PAGER_OUTBOX_DIRECTORY": str(tmp_path / "outbox")}
    if getattr(request, "param", None) != "off":
        environ |= {"SLACK_SIGNING_SECRET": SECRET, "SLACK_RESPONSE_URL_PREFIX": origin(slack_sink) + "/actions/"}
    return environ


def origin(slack_sink) -> str:
    return slack_sink.url.split("/services/")[0]


@pytest.fixture
def slack(api, slack_sink):
    """Alice (who may publish) and Bob (who may not) in the roster, in a rotation, as an admin sets them up."""
    api.set_up_rotation(PEOPLE)
    return api


def tap(action: str, incident_id: str, user: str = "U0ALICE", **overrides) -> dict:
    """A block_actions payload, as Slack sends it when someone taps a button of our message."""
    return {
        "type": "block_actions", "api_app_id": "A0APP", "team": {"id": "T000", "domain": "petanque"},
        "user": {"id": user, "username": user.lower(), "team_id": "T000"},
        "container": {"type": "message", "message_ts": "1764193380.000100", "channel_id": "C0ONCALL"},
        "trigger_id": "1.2.3", "response_url": overrides.pop("response_url", None),
        "actions": [{"type": "button", "action_id": action, "block_id": f"{incident_id}/1", "value": incident_id,
                     "action_ts": "1764193561.000200", "text": {"type": "plain_text", "text": "Button"}}],
        **overrides,
    }


def form(payload) -> str:
    return urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)})


def signed_headers(api, body: str | bytes, *, secret: str = SECRET, seconds_ago: int = 0) -> dict[str, str]:
    timestamp = str(int(api.clock.now.timestamp()) - seconds_ago)
    raw = body if isinstance(body, bytes) else body.encode()
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {"Content-Type": FORM, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}


def send(api, body: str | bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{api.url}/api/v1/slack/actions", data=body, headers=headers, timeout=30)


def press(api, slack_sink, action: str, incident_id: str, user: str = "U0ALICE", **overrides) -> requests.Response:
    """Tap a button: the payload form-encoded and signed now, its response_url on the sink."""
    overrides.setdefault("response_url", f"{origin(slack_sink)}/actions/T000/1764193561/r3sp0ns3")
    body = form(tap(action, incident_id, user, **overrides))
    return send(api, body, signed_headers(api, body))


def responses(slack_sink) -> list[dict]:
    """What was posted to the taps' response_url (not the channel's webhook)."""
    return [r.body for r in slack_sink.requests if r.path.startswith("/actions/")]


def incident(api, incident_id: str) -> dict:
    return api.request("GET", f"v1/admin/incidents/{incident_id}").json()


def buttons(message: dict) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def ephemeral_text(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["response_type"] == "ephemeral" and body["replace_original"] is False
    return body["text"]


def test_a_draft_in_slack_offers_acknowledge_confirm_and_dismiss(slack, slack_sink):
    incident_id = post_alert(slack)
    [draft] = [r.body for r in slack_sink.requests if r.path.startswith("/services/") and "draft" in r.body["text"]]
    assert buttons(draft) == [("incident.acknowledge", incident_id), ("incident.confirm", incident_id),
                              ("incident.dismiss", incident_id)]
    text = "\n".join(b["text"]["text"] for b in draft["blocks"] if "text" in b)
    assert "all four languages" in text and f"{BASE_URL}/api/v1/admin/incidents/{incident_id}|" in text
    assert f"curl -X POST {BASE_URL}/api/v1/admin/incidents/{incident_id}/confirm" in text  # without the app too
    assert "Elevated error rates" in draft["text"]  # notifications still read without the buttons


def test_acknowledge_from_slack_stops_paging_once_and_names_the_roster_person(slack, slack_sink):
    api = slack
    incident_id = post_alert(api)
    assert api.sweep().sent >= 1  # alice is paged
    api.clock.advance(minutes=3)  # 21:46
    before = len(incident(api, incident_id)["updates"])

    answer = press(api, slack_sink, "incident.acknowledge", incident_id)
    assert answer.status_code == 200 and answer.text == ""
    after = incident(api, incident_id)
    assert (after["acknowledged_by"], after["acknowledged_at"]) == ("Alice Martin", "2026-11-26T21:46:00.000Z")
    assert after["escalation"]["stopped_because"] == "acknowledged"
    assert len(after["updates"]) == before + 1 and after["updates"][-1]["author"] == "Alice Martin"
    assert after["updates"][-1]["note"] == "Acknowledged by Alice Martin (Slack)."
    [replaced] = responses(slack_sink)
    assert replaced["replace_original"] is True
    assert "Acknowledged by Alice Martin at 21:46 UTC" in json.dumps(replaced)
    assert buttons(replaced) == [("incident.confirm", incident_id), ("incident.dismiss", incident_id)]

    again = press(api, slack_sink, "incident.acknowledge", incident_id)  # a second tap, on a stale message
    assert "already acknowledged by Alice Martin at 21:46 UTC" in ephemeral_text(again)
    assert incident(api, incident_id) == after
    assert responses(slack_sink)[-1]["response_type"] == "ephemeral"

    api.clock.advance(minutes=30)
    assert api.sweep().sent == 0  # nobody else is paged


def test_confirm_from_slack_publishes_the_drafted_words_and_a_replay_changes_nothing(slack, slack_sink):
    api = slack
    incident_id = post_alert(api)
    api.clock.advance(minutes=3)
    body = form(tap("incident.confirm", incident_id,
                    response_url=f"{origin(slack_sink)}/actions/T000/1764193561/r3sp0ns3"))
    headers = signed_headers(api, body)
    assert send(api, body, headers).status_code == 200

    published = incident(api, incident_id)
    assert published["state"] == "published" and published["acknowledged_by"] == "Alice Martin"
    assert set(published["public_message"]) == set(published["title"]) == {"en", "fr", "es", "sv"}
    entry = published["updates"][-1]
    assert (entry["changes"], entry["author"], entry["visibility"]) == (["confirmed"], "Alice Martin", "public")
    assert entry["message"] == published["public_message"]
    public = requests.get(f"{api.url}/api/v1/public/incidents", timeout=10).json()["incidents"]
    assert [i["id"] for i in public] == [incident_id] and "Alice" not in json.dumps(public)
    [replaced] = responses(slack_sink)
    assert buttons(replaced) == [] and "Confirmed by Alice Martin at 21:46 UTC" in replaced["blocks"][2]["text"]["text"]
    assert "U0ALICE" not in json.dumps(published)  # the timeline names the person, not the Slack id

    replayed = send(api, body, headers)  # the very same signed request, within its 5 minutes
    assert "already published by Alice Martin at 21:46 UTC" in ephemeral_text(replayed)
    assert incident(api, incident_id) == published


def test_dismiss_from_slack_needs_no_words_and_confirm_comes_too_late_after_it(slack, slack_sink):
    api = slack
    incident_id = post_alert(api)
    api.clock.advance(minutes=3)
    assert press(api, slack_sink, "incident.dismiss", incident_id).status_code == 200
    dismissed = incident(api, incident_id)
    assert dismissed["state"] == "dismissed" and dismissed["escalation"]["stopped_because"] == "dismissed"
    assert dismissed["updates"][-1]["note"] == "Dismissed from Slack by Alice Martin."
    assert "Dismissed by Alice Martin at 21:46 UTC" in json.dumps(responses(slack_sink)[-1])
    assert buttons(responses(slack_sink)[-1]) == []

    api.clock.advance(minutes=1)
    late = ephemeral_text(press(api, slack_sink, "incident.confirm", incident_id))
    assert "was dismissed by Alice Martin at 21:46 UTC, so it cannot be published" in late
    assert "already dismissed by Alice Martin" in ephemeral_text(press(api, slack_sink, "incident.dismiss",
                                                                       incident_id))
    assert incident(api, incident_id) == dismissed
    assert api.request("GET", "v1/public/incidents", role=None).json()["incidents"] == []


def test_resolve_is_offered_and_done_only_once_monitoring(slack, slack_sink):
    api = slack
    opened = api.create(components=["Website"])  # published by the admin, who has it
    incident_id = opened["id"]
    early = ephemeral_text(press(api, slack_sink, "incident.resolve", incident_id))
    assert "is investigating: Resolve from Slack is for incidents in monitoring" in early
    assert incident(api, incident_id)["status"] == "investigating"

    api.clock.advance(minutes=3)
    assert api.request("PATCH", f"v1/admin/incidents/{incident_id}", json={"status": "monitoring"}).status_code == 200
    assert press(api, slack_sink, "incident.resolve", incident_id).status_code == 200
    resolved = incident(api, incident_id)
    assert resolved["status"] == "resolved" and resolved["resolved_at"] == "2026-11-26T21:46:00.000Z"
    entry = resolved["updates"][-1]
    assert entry["author"] == "Alice Martin" and entry["visibility"] == "public"
    assert set(entry["message"]) == {"en", "fr", "es", "sv"}
    assert "Resolved by Alice Martin at 21:46 UTC" in json.dumps(responses(slack_sink)[-1])
    again = ephemeral_text(press(api, slack_sink, "incident.resolve", incident_id))
    assert "already resolved by Alice Martin at 21:46 UTC" in again
    assert incident(api, incident_id) == resolved


@pytest.mark.parametrize("user", ["U0BOB", "U0NOBODY"])  # in the roster without may_publish; not in it at all
def test_someone_who_may_not_publish_is_told_so_and_nothing_changes(slack, slack_sink, user):
    api = slack
    incident_id = post_alert(api)
    before = incident(api, incident_id)
    for action in ("incident.acknowledge", "incident.confirm", "incident.dismiss", "incident.resolve"):
        text = ephemeral_text(press(api, slack_sink, action, incident_id, user=user))
        assert text.startswith("You are not allowed to ") and "from Slack" in text
        assert responses(slack_sink)[-1] == {"response_type": "ephemeral", "replace_original": False, "text": text}
    assert "not allowed to confirm and publish incidents" in responses(slack_sink)[1]["text"]
    assert incident(api, incident_id) == before


def test_forged_stale_replayed_and_unsigned_requests_are_refused(slack, slack_sink):
    api = slack
    incident_id = post_alert(api)
    before = incident(api, incident_id)
    body = form(tap("incident.confirm", incident_id))
    good = signed_headers(api, body)
    refused = {
        "wrong secret": (body, signed_headers(api, body, secret="not-the-apps-signing-secret")),
        "stale": (body, signed_headers(api, body, seconds_ago=301)),
        "from the future": (body, signed_headers(api, body, seconds_ago=-301)),
        "no signature": (body, {k: v for k, v in good.items() if k != "X-Slack-Signature"}),
        "no timestamp": (body, {k: v for k, v in good.items() if k != "X-Slack-Request-Timestamp"}),
        "timestamp not a number": (body, {**good, "X-Slack-Request-Timestamp": "soon"}),
        "huge timestamp": (body, {**good, "X-Slack-Request-Timestamp": "9" * 5000}),
        "another version": (body, {**good, "X-Slack-Signature": good["X-Slack-Signature"].replace("v0=", "v1=")}),
        "body changed": (form(tap("incident.dismiss", incident_id)), good),
        "not UTF-8": (b"payload=\xff\xfe", signed_headers(api, b"payload=\xff\xfe")),
    }
    for case, (sent_body, headers) in refused.items():
        answer = send(api, sent_body, headers)
        assert answer.status_code == 401, case
        assert answer.headers["Content-Type"] == "application/problem+json", case
    api.clock.advance(minutes=5, seconds=1)  # the good request, replayed once its 5 minutes are over
    assert send(api, body, good).status_code == 401
    assert incident(api, incident_id) == before and responses(slack_sink) == []


def test_bad_bodies_are_400_and_unknown_buttons_or_incidents_an_ephemeral_answer(slack, slack_sink):
    api = slack
    incident_id = post_alert(api)
    before = incident(api, incident_id)
    payload = tap("incident.confirm", incident_id)
    bad = {
        "JSON, not a form": (json.dumps(payload), "application/json"),
        "not form-encoded": ("payload", FORM),
        "no payload field": (urlencode({"something": "else"}), FORM),
        "payload not JSON": (form("{not json"), FORM),
        "payload a list": (form("[1, 2]"), FORM),
        "payload too deep": (form("[" * 20_000 + "]" * 20_000), FORM),
        "not a button": (form({**payload, "type": "view_submission"}), FORM),
        "no actions": (form({**payload, "actions": []}), FORM),
        "no user": (form({k: v for k, v in payload.items() if k != "user"}), FORM),
        "two payloads": (form(payload) + "&" + form(payload), FORM),
        "empty": ("", FORM),
    }
    for case, (body, content_type) in bad.items():
        answer = send(api, body, {**signed_headers(api, body), "Content-Type": content_type})
        assert answer.status_code == 400, (case, answer.text)
    unknown = ephemeral_text(press(api, slack_sink, "incident.delete", incident_id))
    assert "This button (incident.delete) is not one this app knows" in unknown
    gone = ephemeral_text(press(api, slack_sink, "incident.confirm", "inc-20261126-nope22"))
    assert "There is no incident inc-20261126-nope22 any more" in gone
    assert "There is no incident" in ephemeral_text(press(api, slack_sink, "incident.confirm", "../../x y"))
    assert incident(api, incident_id) == before


def test_a_response_url_elsewhere_is_not_posted_to_and_a_failed_update_keeps_the_change(slack, slack_sink, caplog):
    api = slack
    first, second = post_alert(api), api.create(state="draft", title="Search is slow")["id"]
    elsewhere = press(api, slack_sink, "incident.acknowledge", first,
                      response_url="https://hooks.slack.com.example.org/actions/T000/1/x")
    assert elsewhere.status_code == 200 and incident(api, first)["acknowledged_by"] == "Alice Martin"
    assert responses(slack_sink) == []
    slack_sink.script([200, 500, 500])  # the channel's notice, then the update fails twice: the change stays
    assert press(api, slack_sink, "incident.dismiss", second).status_code == 200
    assert incident(api, second)["state"] == "dismissed" and len(responses(slack_sink)) == 2  # 2 attempts
    assert "response_url did not take the answer after 2 attempt(s): HTTP 500" in caplog.text


def test_the_signing_secret_never_appears_in_logs_or_answers(slack, slack_sink, caplog):
    api = slack
    caplog.set_level(logging.DEBUG)
    incident_id = post_alert(api)
    answers = [press(api, slack_sink, "incident.acknowledge", incident_id),
               press(api, slack_sink, "incident.confirm", incident_id, user="U0NOBODY")]
    body = form(tap("incident.confirm", incident_id))
    answers.append(send(api, body, signed_headers(api, body, secret=SECRET[::-1])))
    answers.append(send(api, "payload=%7B", signed_headers(api, "payload=%7B")))
    seen = caplog.text + "".join(r.getMessage() for r in caplog.records) + "".join(a.text for a in answers)
    assert [a.status_code for a in answers] == [200, 200, 401, 400]
    assert SECRET not in seen and SECRET[:16] not in seen
    assert "r3sp0ns3" not in caplog.text  # nor a response_url, which lets its holder post to the channel


@pytest.mark.parametrize("api_environ", ["off"], indirect=True)
def test_without_the_signing_secret_the_route_is_404_and_messages_have_no_buttons(slack, slack_sink):
    api = slack
    incident_id = post_alert(api)
    answer = press(api, slack_sink, "incident.confirm", incident_id)
    assert answer.status_code == 404 and "SLACK_SIGNING_SECRET" in answer.json()["detail"]
    assert all(buttons(r.body) == [] for r in slack_sink.requests if isinstance(r.body, dict))
    assert incident(api, incident_id)["state"] == "draft"
