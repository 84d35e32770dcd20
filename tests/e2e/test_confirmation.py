"""An admin confirms or dismisses what the alerts drafted, over real HTTP, on both stores."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_alert_intake import HTTP_5XX, alert
from tests.e2e.test_incident_api import assert_problem


@pytest.fixture
def api_environ(slack_sink) -> dict[str, str]:
    return {"SLACK_WEBHOOK_URL": slack_sink.url}


@pytest.fixture
def draft_id(api) -> str:
    return api.post_alert(alert("metric-static", api.clock, alertRule=HTTP_5XX)).json()["incident_id"]


def confirm(api, incident_id: str, **body):
    return api.request("POST", f"v1/admin/incidents/{incident_id}/confirm", **({"json": body} if body else {}))


def test_waiting_drafts_are_listed_oldest_first(api):
    ids = []
    for n in range(3):
        api.clock.advance(minutes=2)
        payload = alert("metric-static", api.clock, alertId=f"/a/{n}", alertTargetIDs=[f"/vm/{n}"])
        ids.append(api.post_alert(payload).json()["incident_id"])
    listed = api.request("GET", "v1/admin/incidents", params={"state": "draft"}).json()["items"]
    assert [i["id"] for i in listed] == ids


def test_confirm_publishes_the_draft_as_drafted(api, draft_id, slack_sink):
    api.clock.advance(minutes=4)
    response = confirm(api, draft_id)
    assert response.status_code == 200, response.text
    incident = response.json()
    assert incident["state"] == "published" and incident["acknowledged_at"] == "2026-11-26T21:47:00.000Z"
    entry = incident["updates"][-1]
    assert entry["visibility"] == "public" and entry["changes"] == ["confirmed"]
    assert entry["message"]["fr"].startswith("Nous enquêtons")

    public = api.request("GET", "v1/public/incidents", role=None).json()["incidents"]
    assert [i["id"] for i in public] == [draft_id]
    assert public[0]["title"]["sv"] == "Förhöjd felfrekvens"
    assert [u["id"] for u in public[0]["updates"]] == [entry["id"]], "the draft's internal alert entry leaked"
    assert "Incident confirmed and published" in slack_sink.requests[-1].body["text"]


def test_confirm_with_edited_words(api, draft_id):
    response = confirm(api, draft_id, title={"en": "Login errors", "fr": "Erreurs de connexion"}, severity="sev2",
                       public_message="Some players cannot sign in. We are on it.", note="edited at 21:47")
    incident = response.json()
    assert incident["title"] == {"en": "Login errors", "fr": "Erreurs de connexion"}
    assert incident["severity"] == "sev2"
    assert incident["updates"][-1]["changes"] == ["confirmed", "title", "public_message", "severity"]
    assert incident["updates"][-1]["message"] == {"en": "Some players cannot sign in. We are on it."}


def test_a_second_confirm_is_a_409_and_changes_nothing(api, store, draft_id):
    first = confirm(api, draft_id).json()
    assert_problem(confirm(api, draft_id), 409, "already published")
    assert store.get(draft_id).incident.model_dump(mode="json") == first


def test_dismiss_needs_a_reason_and_keeps_the_draft_private(api, store, draft_id, slack_sink):
    path = f"v1/admin/incidents/{draft_id}/dismiss"
    body = assert_problem(api.request("POST", path, json={}), 422)
    assert body["errors"][0]["field"] == "reason"
    dismissed = api.request("POST", path, json={"reason": "Load test from the perf team"}).json()
    assert dismissed["state"] == "dismissed" and dismissed["updates"][-1]["note"] == "Load test from the perf team"
    assert "Load test from the perf team" in json.dumps(slack_sink.requests[-1].body)
    assert_problem(confirm(api, draft_id), 409, "dismissed")
    assert_problem(api.request("POST", path, json={"reason": "again"}), 409, "only drafts")
    assert api.request("GET", "v1/public/incidents", role=None).json()["incidents"] == []


def test_a_published_incident_is_resolved_not_dismissed(api):
    created = api.create()
    response = api.request("POST", f"v1/admin/incidents/{created['id']}/dismiss", json={"reason": "x"})
    assert_problem(response, 409, "Resolve it instead")


def test_confirm_and_dismiss_are_for_platform_admins_only(api, store, draft_id):
    for action, body in (("confirm", None), ("dismiss", {"reason": "x"})):
        path = f"v1/admin/incidents/{draft_id}/{action}"
        assert_problem(api.request("POST", path, role=None, json=body), 401)
        assert_problem(api.request("POST", path, role="viewer", json=body), 403)
    assert store.get(draft_id).incident.state.value == "draft"


def test_the_2143_scenario_from_alert_to_resolved(api, store):
    """The README's walkthrough: alert, draft listed, confirmed, public, monitoring, resolved."""
    draft = api.post_alert(alert("log-alert-v2", api.clock, alertRule=HTTP_5XX)).json()["incident_id"]
    waiting = api.request("GET", "v1/admin/incidents", params={"state": "draft"}).json()["items"]
    assert [(i["id"], i["severity"]) for i in waiting] == [(draft, "sev1")]
    api.clock.advance(minutes=3)
    confirm(api, draft)
    api.clock.advance(minutes=20)
    path = f"v1/admin/incidents/{draft}"
    api.request("PATCH", path, json={"status": "monitoring", "public_message": "A fix is live; we are monitoring."})
    api.clock.advance(minutes=30)
    done = api.request("PATCH", path, json={"status": "resolved", "public_message": "Error rates are back to normal."})
    assert done.json()["resolved_at"] == "2026-11-26T22:36:00.000Z"
    public = api.request("GET", "v1/public/incidents", role=None).json()["incidents"]
    assert [u["status"] for u in public[0]["updates"]] == ["investigating", "monitoring", "resolved"]


def test_the_postmortem_draft_carries_the_whole_timeline_in_order(api, store):
    draft = api.post_alert(alert("metric-static", api.clock, alertRule=HTTP_5XX)).json()["incident_id"]
    api.clock.advance(minutes=4)
    confirm(api, draft)
    api.clock.advance(minutes=10)
    path = f"v1/admin/incidents/{draft}"
    api.request("PATCH", path, json={"status": "identified", "note": "bad deploy 21:30, rolling back"})
    api.clock.advance(minutes=30)
    api.request("PATCH", path, json={"status": "resolved", "public_message": "Error rates are back to normal."})

    response = api.request("GET", f"{path}/postmortem")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/markdown")
    timeline = response.text.split("## Timeline")[1].split("## Root cause")[0]
    moments = [f"2026-11-26 {hhmm}:00 UTC" for hhmm in ("21:43", "21:47", "21:57", "22:27")]
    assert [timeline.index(m) for m in moments] == sorted(timeline.index(m) for m in moments)
    assert "bad deploy 21:30, rolling back" in timeline and HTTP_5XX in response.text
    assert "Time to resolve | 44 min" in response.text
    assert_problem(api.request("GET", f"{path}/postmortem", role="viewer"), 403)
