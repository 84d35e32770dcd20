"""Azure Monitor posting alerts through the local host (real HTTP, function key), on SQLite and on the Cosmos
emulator: drafts, deduplication, grouping, Resolved, the quiet-draft sweep and Slack (a loopback sink stands in for
Slack, which cannot be reached from here)."""

from __future__ import annotations

import copy
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import function_app
from incidents.domain.models import format_utc
from incidents.domain.store import IncidentQuery
from incidents.localhost import app_functions
from tests.e2e.test_incident_api import assert_problem

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
KINDS = sorted(p.stem for p in FIXTURES.glob("*.json") if "resolved" not in p.stem)
HTTP_5XX = "petanque-http-5xx-rate"


@pytest.fixture
def api_environ(slack_sink, public_base_url) -> dict[str, str]:
    return {"SLACK_WEBHOOK_URL": slack_sink.url, **({"INCIDENTS_PUBLIC_BASE_URL": public_base_url} if public_base_url
                                                    else {})}


@pytest.fixture
def public_base_url() -> str | None:
    return None


def alert(kind: str, clock, *, condition: str = "Fired", **essentials) -> dict:
    """A documented payload, fired (or resolved) now by the test clock, with some essentials replaced."""
    payload = json.loads((FIXTURES / f"{kind}.json").read_text())
    payload["data"]["essentials"].update({"firedDateTime": format_utc(clock.now), "monitorCondition": condition},
                                         **essentials)
    if condition == "Resolved":
        payload["data"]["essentials"]["resolvedDateTime"] = format_utc(clock.now)
    return payload


def drafts(store) -> list:
    return [s.incident for s in store.find(IncidentQuery(state="draft", oldest_first=True)).items]


def fired(incident) -> list[str]:
    return [u.alert.alert_id for u in incident.updates if u.alert and u.alert.condition == "Fired"]


def sweep() -> None:
    """Run the registered timer function, as the host would every minute."""
    [timer] = [f for f in app_functions(function_app.app) if f.get_function_name() == "dismiss_quiet_drafts"]
    timer.get_user_function()(None)


@pytest.mark.parametrize("kind", KINDS)
def test_every_documented_alert_kind_drafts_one_incident(api, store, kind):
    payload = alert(kind, api.clock)
    response = api.post_alert(payload)
    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "created"

    [draft] = drafts(store)
    essentials = payload["data"]["essentials"]
    assert draft.id == response.json()["incident_id"]
    assert draft.state.value == "draft" and draft.status.value == "investigating"
    assert draft.source.alert_id == essentials["alertId"] and draft.source.alert_rule == essentials["alertRule"]
    assert set(draft.title) == set(draft.public_message) == {"en", "fr", "es", "sv"}
    [entry] = draft.updates
    assert entry.visibility.value == "internal" and entry.author == "Azure Monitor"
    assert essentials["alertRule"] in entry.note
    public = api.request("GET", "v1/public/incidents", role=None).json()
    assert public["incidents"] == []


@pytest.mark.parametrize(("rule", "azure", "custom", "severity", "title"), [
    (HTTP_5XX, "Sev3", None, "sev1", "Elevated error rates"),
    ("petanque-api-latency-p95", "Sev1", None, "sev2", "Slow response times"),
    ("petanque-api-latency-p95", "Sev1", {"incidentSeverity": "sev3"}, "sev3", "Slow response times"),
    ("some-rule-we-do-not-know", "Sev0", None, "sev1", "Service disruption"),
    ("some-rule-we-do-not-know", "Sev2", None, "sev2", "Service disruption"),
    ("some-rule-we-do-not-know", "Sev4", {"ruleKey": "stripe-webhook-error-rate"}, "sev2",
     "Payment confirmations delayed"),
])
def test_severity_and_words_come_from_the_policy(api, store, rule, azure, custom, severity, title):
    payload = alert("metric-static", api.clock, alertRule=rule, severity=azure)
    payload["data"]["customProperties"] = custom
    assert api.post_alert(payload).status_code == 202
    [draft] = drafts(store)
    assert draft.severity.value == severity and draft.title["en"] == title
    assert "/subscriptions/" not in json.dumps(draft.public_message) and rule not in json.dumps(draft.title)


def test_the_internal_entry_carries_the_alert_details_and_the_runbook(api, store):
    payload = alert("log-alert-v2", api.clock, alertRule=HTTP_5XX)
    api.post_alert(payload)
    [draft] = drafts(store)
    note = draft.updates[0].note
    assert draft.components == ["Website", "Mobile app"]
    assert "docs/engineering/operations/runbooks/http-5xx-rate.md" in note
    assert "Investigate: https://" in note and "Target: /subscriptions/" in note


def test_the_same_delivery_twice_or_twenty_times_at_once_makes_one_draft(api, store):
    payload = alert("metric-static", api.clock)
    first, again = api.post_alert(payload), api.post_alert(payload)
    assert (first.json()["outcome"], again.json()["outcome"]) == ("created", "duplicate")

    other = alert("prometheus", api.clock)
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: api.post_alert(other), range(20)))
    assert [r.status_code for r in responses] == [202] * 20
    assert sorted(r.json()["outcome"] for r in responses) == ["created"] + ["duplicate"] * 19
    assert sorted(len(d.updates) for d in drafts(store)) == [1, 1]


def test_repeats_with_new_alert_ids_join_the_open_incident_within_the_window(api, store, slack_sink):
    for n in range(4):  # a stateless log alert: a new alertId at every evaluation
        api.clock.advance(minutes=5)
        assert api.post_alert(alert("log-alert-v2", api.clock, alertId=f"/alerts/eval-{n}")).status_code == 202
    [draft] = drafts(store)
    assert fired(draft) == [f"/alerts/eval-{n}" for n in range(4)]
    said = [r.body["text"] for r in slack_sink.requests]
    assert "New draft incident" in said[0] and "Draft incident grew" in said[1] and len(said) == 2

    api.clock.advance(minutes=61)  # quiet for longer than the grouping window: a new occurrence
    later = api.post_alert(alert("log-alert-v2", api.clock, alertId="/alerts/eval-late")).json()
    assert later["outcome"] == "created" and later["incident_id"].endswith("-2")
    assert [len(fired(d)) for d in drafts(store)] == [4, 1]


def test_different_targets_are_different_incidents(api, store):
    api.post_alert(alert("metric-static", api.clock))
    api.post_alert(alert("metric-static", api.clock, alertId="/alerts/other-vm", alertTargetIDs=["/vm/other"]))
    assert len(drafts(store)) == 2


def test_resolved_adds_an_internal_entry_and_a_quiet_untouched_draft_is_dismissed(api, store, slack_sink):
    api.post_alert(alert("metric-static", api.clock))
    api.clock.advance(minutes=3)
    cleared = api.post_alert(alert("metric-static", api.clock, condition="Resolved"))
    assert cleared.json()["outcome"] == "cleared"
    assert api.post_alert(alert("metric-static", api.clock, condition="Resolved")).json()["outcome"] == "duplicate"
    [draft] = drafts(store)
    assert [u.alert.condition for u in draft.updates] == ["Fired", "Resolved"]

    api.clock.advance(minutes=14)
    sweep()
    assert len(drafts(store)) == 1, "dismissed before the quiet period ended"
    api.clock.advance(minutes=2)
    sweep()
    assert drafts(store) == []
    dismissed = store.get(draft.id).incident
    assert dismissed.state.value == "dismissed" and "automatically" in dismissed.updates[-1].note
    assert api.request("GET", "v1/public/incidents", role=None).json()["incidents"] == []
    assert "Draft incident dismissed" in slack_sink.requests[-1].body["text"]


def test_a_draft_an_admin_touched_is_never_dismissed_automatically(api, store):
    created = api.post_alert(alert("metric-static", api.clock)).json()
    api.request("PATCH", f"v1/admin/incidents/{created['incident_id']}", json={"note": "looking at it"})
    api.post_alert(alert("metric-static", api.clock, condition="Resolved"))
    api.clock.advance(hours=2)
    sweep()
    assert [d.id for d in drafts(store)] == [created["incident_id"]]


def test_a_published_incident_is_never_resolved_by_its_alert_clearing(api, store, slack_sink):
    created = api.post_alert(alert("metric-static", api.clock)).json()
    api.request("POST", f"v1/admin/incidents/{created['incident_id']}/confirm")
    api.clock.advance(minutes=20)
    api.post_alert(alert("metric-static", api.clock, condition="Resolved"))
    api.clock.advance(hours=1)
    sweep()
    incident = store.get(created["incident_id"]).incident
    assert incident.state.value == "published" and incident.status.value == "investigating"
    assert incident.updates[-1].alert.condition == "Resolved" and incident.updates[-1].visibility.value == "internal"
    assert "NOT* resolved automatically" in json.dumps(slack_sink.requests[-1].body)


def test_a_resolved_alert_we_never_saw_fire_changes_nothing(api, store):
    response = api.post_alert(alert("metric-static", api.clock, condition="Resolved"))
    assert response.status_code == 202 and response.json()["outcome"] == "ignored"
    assert store.find(IncidentQuery()).items == []


@pytest.mark.parametrize("public_base_url", ["https://func-petanque.example"])
def test_slack_hears_of_a_new_draft_with_the_exact_confirm_call(api, slack_sink):
    created = api.post_alert(alert("metric-static", api.clock, alertRule=HTTP_5XX),
                             headers={"Host": "evil.example"}).json()
    [message] = slack_sink.requests
    text = json.dumps(message.body)
    assert "SEV1" in text and "Elevated error rates" in text and created["incident_id"] in text
    assert f"https://func-petanque.example/api/v1/admin/incidents/{created['incident_id']}/confirm" in text
    assert "evil.example" not in text


def test_without_a_configured_base_url_slack_gets_no_command_whatever_the_host_header_says(api, slack_sink):
    """The Host header is the caller's to choose: a link built from it would send the on-call's token elsewhere."""
    api.post_alert(alert("metric-static", api.clock, alertRule=HTTP_5XX), headers={"Host": 'x";id;echo "'})
    text = json.dumps(slack_sink.requests[0].body)
    assert "curl" not in text and "id;echo" not in text and "Confirm or dismiss it with the admin API." in text


def test_a_slack_outage_never_loses_or_blocks_the_draft(api, store, slack_sink):
    slack_sink.script([500, 500, 500])
    response = api.post_alert(alert("metric-static", api.clock))
    assert response.status_code == 202 and len(drafts(store)) == 1


def test_the_webhook_needs_the_function_key(api, store):
    assert api.post_alert(alert("metric-static", api.clock), key=None).status_code == 401
    assert api.post_alert(alert("metric-static", api.clock), key="wrong").status_code == 401
    assert store.find(IncidentQuery()).items == []


@pytest.mark.parametrize(("body", "headers", "status", "words"), [
    ({"schemaId": "Microsoft.Insights/activityLogs", "data": {}}, {}, 400, "useCommonAlertSchema"),
    ({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"alertRule": "x"}}}, {}, 400, "alertId"),
    ("{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
    ("alert!", {"Content-Type": "text/plain"}, 415, "application/json"),
    ('{"pad": "' + "x" * (1024 * 1024) + '"}', {"Content-Type": "application/json"}, 413, "limit"),
])
def test_a_payload_that_is_not_an_alert_gets_a_clear_4xx_and_writes_nothing(api, store, body, headers, status,
                                                                             words):
    assert_problem(api.post_alert(body, headers=headers), status, words)
    assert store.find(IncidentQuery()).items == []


def test_a_locked_store_answers_503_so_azure_retries(api, store, tmp_path):
    if not hasattr(store, "busy_timeout"):
        pytest.skip("a held write lock is how SQLite fails transiently; the Cosmos mapping is in the conformance suite")
    store.busy_timeout = 0.2
    store.close()  # reconnect with the short timeout
    blocker = sqlite3.connect(store.path)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        response = api.post_alert(alert("metric-static", api.clock))
        assert_problem(response, 503)
        assert response.headers["Retry-After"]
    finally:
        blocker.rollback()
        blocker.close()
    assert api.post_alert(alert("metric-static", api.clock)).json()["outcome"] == "created"


def test_a_malformed_alert_context_never_rejects_the_alert(api, store):
    payload = alert("log-alert-v2", api.clock)
    mangled = copy.deepcopy(payload)
    mangled["data"]["alertContext"] = {"condition": {"allOf": "not a list"}, "unexpected": [1, {"x": None}]}
    assert api.post_alert(mangled).status_code == 202
    assert len(drafts(store)) == 1


def test_without_entra_id_configured_the_secure_route_is_closed(api, store):
    """No ALERTS_AAD_AUDIENCE: the keyless route must not become an open door."""
    response = requests.post(f"{api.url}/api/v1/alerts/azure-monitor/secure",
                             json=alert("metric-static", api.clock), timeout=30)
    assert response.status_code == 404 and "ALERTS_AAD_AUDIENCE" in response.json()["detail"]
    assert store.find(IncidentQuery()).items == []
