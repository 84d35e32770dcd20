"""What an attacker (or a careless script) can send, over real HTTP through the local host, on both stores: every
case answers 4xx problem+json that names what to fix, stores nothing, and leaves the log readable and publishable.
Each case is one that once broke the log (issue 11)."""

from __future__ import annotations

import logging

import pytest

from incidents.domain.store import IncidentQuery
from incidents.site.publisher import publish
from incidents.site.sink_directory import DirectorySink
from tests.e2e.test_alert_intake import alert


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert "Traceback" not in body["detail"] and "pydantic" not in body["detail"].lower()
    return body


def everything_still_reads(api, store, tmp_path) -> None:
    """The admin list, the public feed and a publish all still work: nothing unreadable was stored."""
    assert api.request("GET", "v1/admin/incidents").status_code == 200
    assert api.request("GET", "v1/public/incidents", role=None).status_code == 200
    publish(store, DirectorySink(tmp_path / "published"), now=api.clock())


@pytest.mark.parametrize("started_at", ["0999-06-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
                                        "9999-12-31T23:59:59-01:00", "1999-12-31T23:59:59Z", 0, 1700000000,
                                        "1700000000", True])
def test_a_start_time_out_of_range_or_not_a_time_is_refused(api, store, tmp_path, started_at):
    body = {"title": "Login is failing", "severity": "sev1", "public_message": "We are investigating.",
            "started_at": started_at}
    refused = problem(api.request("POST", "v1/admin/incidents", json=body), 422)
    assert refused["errors"][0]["field"] == "started_at"
    assert store.find(IncidentQuery()).items == []
    everything_still_reads(api, store, tmp_path)


@pytest.mark.parametrize("key", ["firedDateTime", "resolvedDateTime"])
def test_an_alert_time_before_year_1000_is_refused_and_nothing_is_recorded(api, store, tmp_path, key):
    fired = api.post_alert(alert("metric-static", api.clock))
    assert fired.status_code == 202
    before = store.find(IncidentQuery()).items
    payload = alert("metric-static", api.clock, condition="Resolved")
    payload["data"]["essentials"][key] = "0999-06-01T00:00:00Z"
    refused = problem(api.post_alert(payload), 400)
    assert refused["errors"][0]["field"] == f"data.essentials.{key}"
    assert store.find(IncidentQuery()).items == before
    assert api.post_alert(alert("metric-static", api.clock)).status_code == 202  # the rule still works
    everything_still_reads(api, store, tmp_path)


@pytest.mark.parametrize("query", [
    "since=0001-01-01T00:00:00%2B01:00", "since=9999-12-31T23:59:59-01:00", "since=0999-01-01",
    "since=%EF%BC%92026-01-01", "limit=%C2%B2", "limit=" + "9" * 10000, "limit=0", "limit=-1",
    "page=" + "%5B" * 2000, "page=W1tbW1tbW1tb", "page=" + "A" * 5000,
])
@pytest.mark.parametrize("route", ["v1/admin/incidents", "v1/public/incidents"])
def test_query_parameters_that_once_gave_500_give_400(api, query, route):
    if route.startswith("v1/public") and query.startswith("page=W1"):
        pytest.skip("same token path as the admin list")
    refused = problem(api.request("GET", f"{route}?{query}"), 400)
    assert refused["detail"].startswith("Query parameter '" + query.split("=")[0] + "'")


def nested(depth: int) -> bytes:
    return b'{"title": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [40, 1000, 30_000])
def test_json_nested_too_deep_is_a_400_on_every_json_route(api, store, depth):
    created = api.create()
    for method, path in [("POST", "v1/admin/incidents"), ("PATCH", f"v1/admin/incidents/{created['id']}"),
                         ("POST", f"v1/admin/incidents/{created['id']}/confirm")]:
        body = problem(api.request(method, path, data=nested(depth), headers={"Content-Type": "application/json"}),
                       400)
        assert "levels deep" in body["detail"]
    body = problem(api.post_alert(nested(depth), headers={"Content-Type": "application/json"}), 400)
    assert "levels deep" in body["detail"]
    assert len(store.find(IncidentQuery()).items) == 1


@pytest.mark.parametrize(("field", "value"), [
    ("title", "\u200b\u200c\u200d\u2060"),  # zero-width characters only
    ("title", "\u00a0 \u3000"),  # spaces only
    ("title", "Login\nforged line"),
    ("title", {"en": "Login", "fr": "\x1b[31m"}),
    ("public_message", "We are on it\x00"),
    ("components", ["Payments", "\u200b"]),
    ("note", "\u200b"),
])
def test_text_without_anything_visible_or_with_control_characters_is_refused(api, store, field, value):
    body = {"title": "Login is failing", "severity": "sev1", "public_message": "We are investigating.",
            field: value}
    refused = problem(api.request("POST", "v1/admin/incidents", json=body), 422)
    assert refused["errors"][0]["field"].startswith(field)
    assert store.find(IncidentQuery()).items == []


@pytest.mark.parametrize("reopen", ["yes", "true", 1, "1", None])
def test_reopen_must_be_a_json_boolean(api, store, reopen):
    created = api.create()
    api.request("PATCH", f"v1/admin/incidents/{created['id']}", json={"status": "resolved"})
    before = store.get(created["id"])
    refused = problem(api.request("PATCH", f"v1/admin/incidents/{created['id']}",
                                  json={"reopen": reopen, "status": "investigating"}), 422)
    assert refused["errors"][0]["field"] == "reopen"
    assert store.get(created["id"]).etag == before.etag


def test_an_internal_note_does_not_move_the_public_time_of_change(api):
    created = api.create()
    public_before = api.request("GET", "v1/public/incidents", role=None).json()["incidents"][0]
    api.clock.advance(minutes=30)
    noted = api.request("PATCH", f"v1/admin/incidents/{created['id']}", json={"note": "DB failover at 03:12"})
    assert noted.json()["updated_at"] > created["updated_at"]  # admins see the internal change
    public_after = api.request("GET", "v1/public/incidents", role=None).json()["incidents"][0]
    assert public_after["updated_at"] == public_before["updated_at"] == created["updated_at"]
    api.clock.advance(minutes=5)
    api.request("PATCH", f"v1/admin/incidents/{created['id']}", json={"status": "identified"})
    assert api.request("GET", "v1/public/incidents", role=None).json()["incidents"][0]["updated_at"] > \
        public_before["updated_at"]


def test_an_alert_rule_name_cannot_forge_a_log_line(api, caplog):
    forged = "cpu\n2026-12-03 06:00:00 INFO incidents: all clear\x1b[2K"
    with caplog.at_level(logging.INFO):
        assert api.post_alert(alert("metric-static", api.clock, alertRule=forged)).status_code == 202
    lines = [r.getMessage() for r in caplog.records if "cpu" in r.getMessage()]
    assert lines and all("\n" not in line and "\x1b" not in line for line in lines)
    assert any("cpu\\n2026-12-03" in line for line in lines)
