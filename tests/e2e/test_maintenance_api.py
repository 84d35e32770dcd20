"""Maintenance windows through the local host, on each store: the admin API (problem+json, ETag/If-Match, the
platform-admin bearer), the clock moving a window with nobody touching it, and an alert on components under
maintenance that drafts but pages nobody (the escalation sweep the timer runs sends nothing)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from incidents.domain.models import format_utc
from tests.e2e.test_alert_intake import alert, drafts
from tests.e2e.test_incident_api import assert_problem
from tests.e2e.test_paging_flow import BASE_URL, oncall, pages  # noqa: F401 - oncall is a fixture

SUNDAY_2 = datetime(2026, 11, 29, 2, 0, tzinfo=timezone.utc)
SUNDAY_230 = SUNDAY_2 + timedelta(minutes=30)
ROUTE = "v1/admin/maintenances"
HTTP_5XX = "petanque-http-5xx-rate"  # its components: Website, Mobile app


@pytest.fixture
def api_environ(tmp_path, slack_sink) -> dict[str, str]:
    return {"COSMOS_MAINTENANCE_CONTAINER": f"maintenance-{uuid.uuid4().hex[:12]}",  # a fresh one per test
            "INCIDENTS_PUBLIC_BASE_URL": BASE_URL, "ONCALL_LINK_SECRET": "e2e-" + "x" * 40,
            "PAGER_OUTBOX_DIRECTORY": str(tmp_path / "outbox"), "SLACK_WEBHOOK_URL": slack_sink.url}


@pytest.fixture
def outbox(tmp_path):
    return tmp_path / "outbox"


def window(**overrides) -> dict:
    return {"title": {"en": "Website move", "fr": "Déménagement du site"}, "message": "The website will be down.",
            "components": ["Website", "Mobile app"], "starts_at": format_utc(SUNDAY_2),
            "ends_at": format_utc(SUNDAY_230), **overrides}


def announce(api, **overrides) -> tuple[dict, str]:
    response = api.request("POST", ROUTE, json=window(**overrides))
    assert response.status_code == 201, response.text
    return response.json(), response.headers["ETag"]


def test_an_admin_announces_a_window_that_the_clock_starts_and_completes(api):
    created, etag = announce(api)
    assert created["id"].startswith("mnt-20261126-") and created["state"] == "scheduled"
    got = api.request("GET", f"{ROUTE}/{created['id']}")
    assert got.status_code == 200 and got.headers["ETag"] == etag and got.json() == created
    listed = api.request("GET", ROUTE).json()["items"]
    assert [w["id"] for w in listed] == [created["id"]]

    api.clock.now = SUNDAY_2
    assert api.request("GET", f"{ROUTE}/{created['id']}").json()["state"] == "in_progress"
    api.clock.now = SUNDAY_230
    done = api.request("GET", f"{ROUTE}/{created['id']}")
    assert done.json()["state"] == "completed" and done.headers["ETag"] == etag  # the clock wrote nothing
    refused = api.request("POST", f"{ROUTE}/{created['id']}/cancel")
    assert_problem(refused, 409)
    assert "completed" in refused.json()["detail"]


def test_extend_with_if_match_then_complete_early(api):
    created, etag = announce(api)
    later = format_utc(SUNDAY_230 + timedelta(minutes=30))
    extended = api.request("PATCH", f"{ROUTE}/{created['id']}", json={"ends_at": later, "note": "Needs longer."},
                           headers={"If-Match": etag})
    assert extended.status_code == 200, extended.text
    assert extended.json()["ends_at"] == later and extended.headers["ETag"] != etag
    stale = api.request("PATCH", f"{ROUTE}/{created['id']}", json={"message": "Again."}, headers={"If-Match": etag})
    assert_problem(stale, 412)
    api.clock.now = SUNDAY_2 + timedelta(minutes=10)
    done = api.request("POST", f"{ROUTE}/{created['id']}/complete", json={"message": "All done early."})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["state"] == "completed" and body["ends_at"] == format_utc(api.clock.now)
    assert [u["changes"] for u in body["updates"]] == [["announced"], ["ends_at"], ["completed"]]
    assert body["updates"][1]["note"] == "Needs longer." and body["updates"][2]["author"]


def test_start_early_and_cancel(api):
    created, _ = announce(api)
    started = api.request("POST", f"{ROUTE}/{created['id']}/start")
    assert started.status_code == 200 and started.json()["state"] == "in_progress"
    assert started.json()["starts_at"] == format_utc(api.clock.now)
    assert_problem(api.request("POST", f"{ROUTE}/{created['id']}/start"), 409)
    other, _ = announce(api, components=["Payments"])
    cancelled = api.request("POST", f"{ROUTE}/{other['id']}/cancel", json={"message": "Not needed after all."})
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert_problem(api.request("POST", f"{ROUTE}/{other['id']}/complete"), 409)


@pytest.mark.parametrize(("overrides", "status", "field"), [
    ({"ends_at": format_utc(SUNDAY_2 - timedelta(minutes=1))}, 422, "ends_at"),
    ({"ends_at": format_utc(SUNDAY_2 + timedelta(days=8))}, 422, "ends_at"),
    ({"starts_at": "2026-11-26T20:00:00Z", "ends_at": "2026-11-26T23:00:00Z"}, 422, "starts_at"),
    ({"components": ["Website", "Bowling alley"]}, 422, "components"),
    ({"components": []}, 422, "components"),
    ({"starts_at": "sunday"}, 422, "starts_at"),
])
def test_bad_windows_are_clear_4xx_naming_the_field(api, overrides, status, field):
    response = api.request("POST", ROUTE, json=window(**overrides))
    assert_problem(response, status)
    assert response.json()["errors"][0]["field"] == field
    assert api.request("GET", ROUTE).json()["items"] == []


def test_a_window_overlapping_another_on_a_shared_component_is_a_conflict(api):
    first, _ = announce(api)
    overlap = api.request("POST", ROUTE, json=window(components=["Website"],
                                                     starts_at=format_utc(SUNDAY_2 + timedelta(minutes=20)),
                                                     ends_at=format_utc(SUNDAY_230 + timedelta(minutes=20))))
    assert_problem(overlap, 409)
    assert first["id"] in overlap.json()["detail"]
    assert announce(api, components=["Payments"])[0]["id"] != first["id"]  # another component: fine


def test_admins_only_and_unknown_ids(api):
    assert_problem(api.request("POST", ROUTE, json=window(), role=None), 401)
    assert_problem(api.request("GET", ROUTE, role="reader"), 403)
    assert_problem(api.request("GET", f"{ROUTE}/mnt-20261126-nothere"), 404)
    assert_problem(api.request("POST", f"{ROUTE}/mnt-20261126-nothere/cancel"), 404)
    assert_problem(api.request("POST", ROUTE, data="{}", headers={"Content-Type": "text/plain"}), 415)


def test_an_alert_on_components_under_maintenance_drafts_but_pages_nobody(oncall, outbox, store, slack_sink):  # noqa: F811
    api = oncall
    created, _ = announce(api)
    api.clock.now = SUNDAY_2 + timedelta(minutes=5)
    response = api.post_alert(alert("metric-static", api.clock, alertRule=HTTP_5XX))
    assert response.status_code == 202 and response.json()["outcome"] == "created"
    [draft] = drafts(store)
    assert draft.components == ["Website", "Mobile app"]
    assert draft.escalation.stopped_because == "maintenance" and draft.escalation.next_due_at is None
    assert draft.updates[0].note.startswith(f"During maintenance {created['id']} (Website move, until ")
    assert "nobody is paged" in draft.updates[0].note and draft.updates[0].visibility.value == "internal"
    assert "during maintenance" in slack_sink.requests[-1].body["text"]

    for minutes in (0, 10, 20):
        api.clock.now = SUNDAY_2 + timedelta(minutes=5 + minutes)
        assert api.sweep().sent == 0
    assert pages(outbox) == {}

    api.clock.now = SUNDAY_230 + timedelta(minutes=5)  # over, and the alert fires again: paging starts
    again = api.post_alert(alert("metric-static", api.clock, alertRule=HTTP_5XX, alertId="/alerts/after"))
    assert again.json() == {"outcome": "attached", "incident_id": draft.id}
    assert api.sweep().sent == 3 and {key.split("/")[3] for key in pages(outbox)} == {"alice"}


def test_an_alert_on_a_component_not_under_maintenance_pages_as_usual(oncall, outbox, store):  # noqa: F811
    api = oncall
    announce(api, components=["Website"])  # the rule names Mobile app too
    api.clock.now = SUNDAY_2 + timedelta(minutes=5)
    api.post_alert(alert("metric-static", api.clock, alertRule=HTTP_5XX))
    [draft] = drafts(store)
    assert draft.escalation.stopped_at is None and "maintenance" not in draft.updates[0].note.split("\n")[0]
    assert api.sweep().sent == 3


@pytest.mark.parametrize(("method", "suffix", "body", "headers", "status"), [
    ("POST", "", [], {}, 400),  # not an object
    ("POST", "", {**window(), "state": "completed"}, {}, 422),  # unknown field
    ("POST", "", {**window(), "starts_at": "2026-11-29T02:00:00"}, {}, 422),  # no time zone
    ("POST", "", {**window(), "title": {"fr": "Sans anglais"}}, {}, 422),  # English is required
    ("PATCH", "/{id}", {}, {}, 422),  # nothing to change
    ("PATCH", "/{id}", {"ends_at": format_utc(SUNDAY_2 + timedelta(days=8))}, {}, 422),
    ("PATCH", "/{id}", {"message": "x"}, {"If-Match": 'W/"weak"'}, 412),
    ("PATCH", "/{id}", {"message": "x"}, {"If-Match": '"stale"'}, 412),
    ("POST", "/{id}/start", {"reason": "why not"}, {}, 422),
])
def test_hostile_requests_are_4xx_and_change_nothing(api, method, suffix, body, headers, status):
    created, etag = announce(api)
    response = api.request(method, ROUTE + suffix.format(id=created["id"]), json=body, headers=headers)
    assert_problem(response, status)
    after = api.request("GET", f"{ROUTE}/{created['id']}")
    assert after.headers["ETag"] == etag and len(api.request("GET", ROUTE).json()["items"]) == 1
