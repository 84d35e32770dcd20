"""The admin and public API over real HTTP through the local host, on SQLite and on the Cosmos emulator."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from incidents.domain.store import IncidentQuery

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def test_create_answers_201_with_location_etag_and_the_whole_incident(api):
    response = api.request("POST", "v1/admin/incidents", json={
        "title": {"en": "Payments failing", "fr": "Paiements en échec"},
        "severity": "sev1",
        "public_message": "We are investigating failed payments.",
        "components": ["Payments", "Payments", "Checkout"],
        "note": "Stripe dashboard shows 502s",
    })
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"/api/v1/admin/incidents/{created['id']}"
    assert response.headers["ETag"]
    assert created["state"] == "published" and created["status"] == "investigating"
    assert created["title"] == {"en": "Payments failing", "fr": "Paiements en échec"}
    assert created["components"] == ["Payments", "Checkout"]
    assert created["started_at"] == created["updated_at"] == created["acknowledged_at"] == "2026-11-26T21:43:00.000Z"
    [first] = created["updates"]
    assert first["visibility"] == "public" and first["note"] == "Stripe dashboard shows 502s"
    assert first["author"] == "Local Admin"

    fetched = api.request("GET", response.headers["Location"].removeprefix("/api/"))
    assert fetched.json() == created and fetched.headers["ETag"] == response.headers["ETag"]


def test_a_patch_appends_one_entry_and_if_match_guards_against_stale_writes(api, store):
    created = api.create()
    path = f"v1/admin/incidents/{created['id']}"
    etag = api.request("GET", path).headers["ETag"]

    api.clock.advance(minutes=10)
    identified = api.request("PATCH", path, headers={"If-Match": etag},
                             json={"status": "identified", "public_message": "A faulty deploy is being rolled back."})
    assert identified.status_code == 200, identified.text
    assert identified.headers["ETag"] != etag
    body = identified.json()
    assert [u["id"] for u in body["updates"]] == ["u1", "u2"]
    assert body["updates"][0] == created["updates"][0]
    assert body["updates"][1]["changes"] == ["status", "public_message"]
    assert body["updated_at"] == "2026-11-26T21:53:00.000Z"

    stale = api.request("PATCH", path, headers={"If-Match": etag}, json={"status": "monitoring"})
    assert_problem(stale, 412, "ETag")
    assert store.get(created["id"]).incident.status.value == "identified"


def test_fifty_concurrent_patches_all_land(api, store):
    created = api.create()
    path = f"v1/admin/incidents/{created['id']}"
    headers = api.headers()

    def note(n: int) -> int:
        return api.request("PATCH", path, role=None, headers=headers, json={"note": f"note {n}"}).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(note, range(50)))
    assert statuses == [200] * 50
    updates = store.get(created["id"]).incident.updates
    assert len(updates) == 51
    assert sorted(u.note for u in updates[1:]) == sorted(f"note {n}" for n in range(50))
    assert [u.id for u in updates] == [f"u{n}" for n in range(1, 52)]


def test_the_timeline_cannot_be_rewritten_through_the_api(api, store):
    created = api.create()
    path = f"v1/admin/incidents/{created['id']}"
    api.request("PATCH", path, json={"note": "first"})
    before = store.get(created["id"]).incident.updates
    forged = [{**u.model_dump(mode="json"), "note": "rewritten"} for u in before]
    assert_problem(api.request("PATCH", path, json={"updates": forged}), 422)
    assert_problem(api.request("POST", "v1/admin/incidents", json={
        "title": "t", "severity": "sev3", "public_message": "m", "updates": forged}), 422)
    assert store.get(created["id"]).incident.updates == before


def test_workflow_violations_are_409_with_the_way_out(api):
    created = api.create(status="monitoring")
    path = f"v1/admin/incidents/{created['id']}"
    assert_problem(api.request("PATCH", path, json={"status": "investigating"}), 409, "only move forward")
    api.request("PATCH", path, json={"status": "resolved"})
    assert_problem(api.request("PATCH", path, json={"status": "monitoring"}), 409, '"reopen": true')
    reopened = api.request("PATCH", path, json={"reopen": True, "status": "identified"})
    assert reopened.status_code == 200 and reopened.json()["resolved_at"] is None
    assert reopened.json()["updates"][-1]["changes"] == ["status", "reopened"]


def test_listing_filters_orders_and_pages(api):
    made = []
    for n, severity in enumerate(["sev1", "sev2", "sev3", "sev2", "sev1", "sev2", "sev3"]):
        api.clock.advance(minutes=1)
        made.append(api.create(title=f"incident {n}", severity=severity, state="draft" if n % 3 == 0 else "published"))

    everything = api.request("GET", "v1/admin/incidents").json()
    assert [i["id"] for i in everything["items"]] == [i["id"] for i in reversed(made)]
    assert everything["next"] is None

    sev2 = api.request("GET", "v1/admin/incidents", params={"severity": "sev2", "state": "published"}).json()
    assert [i["title"]["en"] for i in sev2["items"]] == ["incident 5", "incident 1"]

    drafts = api.request("GET", "v1/admin/incidents", params={"state": "draft"}).json()
    assert [i["title"]["en"] for i in drafts["items"]] == ["incident 0", "incident 3", "incident 6"]  # oldest first

    seen, page = [], api.request("GET", "v1/admin/incidents", params={"limit": 3}).json()
    while True:
        seen += [i["id"] for i in page["items"]]
        if not page["next"]:
            break
        page = api.request("GET", page["next"].removeprefix("/api/")).json()
    assert seen == [i["id"] for i in reversed(made)]

    since = api.request("GET", "v1/admin/incidents", params={"since": made[5]["updated_at"]}).json()
    assert [i["title"]["en"] for i in since["items"]] == ["incident 6", "incident 5"]


def test_the_public_feed_shows_published_incidents_and_only_their_public_face(api):
    draft = api.create(title="Draft from an alert", state="draft")
    live = api.create(title="Results delayed", severity="sev2", note="queue backlog 40k")
    api.request("PATCH", f"v1/admin/incidents/{live['id']}", json={"note": "scaled workers to 12"})
    api.request("PATCH", f"v1/admin/incidents/{live['id']}", json={"status": "identified",
                                                                    "public_message": "We found the cause."})

    response = api.request("GET", "v1/public/incidents", role=None)
    assert response.status_code == 200
    assert "max-age" in response.headers["Cache-Control"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    feed = response.json()
    assert [i["id"] for i in feed["incidents"]] == [live["id"]]
    [shown] = feed["incidents"]
    assert shown["status"] == "identified" and [u["id"] for u in shown["updates"]] == ["u1", "u3"]
    for hidden in ("queue backlog", "scaled workers", "Local Admin", "author", "state", "note", "source",
                   draft["id"]):
        assert hidden not in response.text
    preflight = api.request("OPTIONS", "v1/public/incidents", role=None)
    assert preflight.status_code == 204 and "GET" in preflight.headers["Access-Control-Allow-Methods"]


def test_the_public_feed_covers_thirty_days_and_says_when_it_clamps(api):
    old = api.create(title="Old and resolved", status="resolved")
    still_open = api.create(title="Old but still open")
    api.clock.advance(days=45)
    recent = api.create(title="Recent")

    feed = api.request("GET", "v1/public/incidents", role=None, params={"since": "2026-01-01"}).json()
    assert feed["since_clamped"] is True and feed["since"] == "2026-12-11T21:43:00.000Z"
    assert [i["id"] for i in feed["incidents"]] == [recent["id"], still_open["id"]]
    assert old["id"] not in str(feed)

    narrow = api.request("GET", "v1/public/incidents", role=None, params={"since": "2027-01-10T00:00:00+01:00"}).json()
    assert narrow["since_clamped"] is False and narrow["since"] == "2027-01-09T23:00:00.000Z"


def test_the_public_feed_answers_304_to_a_poller_until_the_public_view_changes(api):
    live = api.create(title="Results delayed")
    first = api.request("GET", "v1/public/incidents", role=None)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and first.text == json.dumps(first.json(), ensure_ascii=False)  # json_response's
    api.clock.advance(minutes=1)  # generated_at and since move; the incidents do not
    again = api.request("GET", "v1/public/incidents", role=None, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    assert again.headers["Access-Control-Allow-Origin"] == "*" and "max-age" in again.headers["Cache-Control"]
    api.request("PATCH", f"v1/admin/incidents/{live['id']}", json={"note": "internal"})
    assert api.request("GET", "v1/public/incidents", role=None, headers={"If-None-Match": etag}).status_code == 304
    api.request("PATCH", f"v1/admin/incidents/{live['id']}", json={"status": "identified"})
    changed = api.request("GET", "v1/public/incidents", role=None, headers={"If-None-Match": f'"x", {etag}'})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.json()["incidents"][0]["status"] == "identified"


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "words"), [
    ("POST", "v1/admin/incidents", {"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400,
     ("not valid JSON",)),
    ("POST", "v1/admin/incidents", {"json": ["a", "list"]}, 400, ("JSON object",)),
    ("POST", "v1/admin/incidents", {"data": "title=x", "headers": {"Content-Type": "text/plain"}}, 415,
     ("Content-Type: application/json",)),
    ("POST", "v1/admin/incidents", {"json": {"title": "x" * 70_000}}, 413, ("64 KB",)),
    ("POST", "v1/admin/incidents", {"json": {"title": "t", "severity": "sev9", "public_message": "m"}}, 422,
     ("severity",)),
    ("POST", "v1/admin/incidents", {"json": {"title": "t", "severity": "sev1", "public_message": "m",
                                             "started_at": "2030-01-01T00:00:00Z"}}, 422, ("started_at", "future")),
    ("GET", "v1/admin/incidents", {"params": {"since": "yesterday"}}, 400, ("since", "ISO 8601")),
    ("GET", "v1/admin/incidents", {"params": {"since": "2026-11-26T10:00:00"}}, 400, ("time zone",)),
    ("GET", "v1/admin/incidents", {"params": {"status": "fixed"}}, 400, ("status", "investigating")),
    ("GET", "v1/admin/incidents", {"params": {"limit": "1000"}}, 400, ("limit",)),
    ("GET", "v1/admin/incidents", {"params": {"page": "garbage!"}}, 400, ("page",)),
    ("GET", "v1/public/incidents", {"params": {"since": "last week"}}, 400, ("since",)),
    ("GET", "v1/admin/incidents/inc-nope", {}, 404, ("inc-nope",)),
    ("PATCH", "v1/admin/incidents/inc-nope", {"json": {"note": "x"}}, 404, ("inc-nope",)),
])
def test_bad_requests_get_a_problem_that_says_what_to_fix_and_change_nothing(api, store, method, path, kwargs,
                                                                            status, words):
    role = None if path.startswith("v1/public") else "platform-admin"
    assert_problem(api.request(method, path, role=role, **kwargs), status, *words)
    assert store.find(IncidentQuery()).items == []


def test_a_patch_with_a_bad_field_names_it_and_changes_nothing(api, store):
    created = api.create()
    path = f"v1/admin/incidents/{created['id']}"
    body = assert_problem(api.request("PATCH", path, json={"public_message": {"en": "ok", "fr": "x" * 2001}}), 422)
    assert body["errors"][0]["field"] == "public_message.fr"
    assert_problem(api.request("PATCH", path, json={}), 422, "Nothing would change")
    assert len(store.get(created["id"]).incident.updates) == 1


def test_admin_routes_need_a_platform_admin_token(api, store):
    for method, path in [("GET", "v1/admin/incidents"), ("POST", "v1/admin/incidents"),
                         ("GET", "v1/admin/incidents/inc-x"), ("PATCH", "v1/admin/incidents/inc-x")]:
        missing = assert_problem(api.request(method, path, role=None, json={}), 401)
        assert missing["status"] == 401
        assert api.request(method, path, role=None).headers["WWW-Authenticate"].startswith("Bearer")
        bad = api.request(method, path, role=None, headers={"Authorization": "Bearer not.a.jwt"}, json={})
        assert_problem(bad, 401)
        assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
        assert_problem(api.request(method, path, role="viewer", json={}), 403, "platform-admin")
    expired = api.token(expires_in=__import__("datetime").timedelta(seconds=-120))
    assert_problem(api.request("GET", "v1/admin/incidents", role=None,
                               headers={"Authorization": f"Bearer {expired}"}), 401, "expired")
    assert store.find(IncidentQuery()).items == []


def test_head_answers_like_get_without_a_body_so_an_etag_can_be_read_with_curl_i(api):
    created = api.create()
    got = api.request("GET", f"v1/admin/incidents/{created['id']}")
    head = api.request("HEAD", f"v1/admin/incidents/{created['id']}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == got.headers["ETag"]
    assert api.request("HEAD", "v1/admin/incidents").status_code == 200
    assert api.request("HEAD", "v1/public/incidents", role=None).status_code == 200
    assert api.request("HEAD", f"v1/admin/incidents/{created['id']}", role=None).status_code == 401


def test_an_empty_if_match_is_refused_not_ignored(api, store):
    """An empty ETag (a shell variable that came back empty) must not turn a conditional PATCH unconditional."""
    created = api.create()
    before = store.get(created["id"])
    response = api.request("PATCH", f"v1/admin/incidents/{created['id']}", json={"status": "resolved"},
                           headers={"If-Match": ""})
    assert_problem(response, 400, "If-Match is empty")
    assert store.get(created["id"]) == before
