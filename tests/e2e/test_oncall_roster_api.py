"""The on-call roster's admin API and the calendar subscription over real HTTP through the local host, on SQLite and
on the Cosmos emulator: what a newcomer does on their first day, and everything they could get wrong.

Contact details are obviously fake (example.org, +46 70 000 00 xx): no real person's data in the repository."""

from __future__ import annotations

import functools
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from icalendar import Calendar
from pydantic import SecretStr

from incidents import bootstrap
from incidents.stores.cosmos import CosmosRosterStore
from incidents.stores.sqlite import SqliteRosterStore
from tests.e2e.test_incident_api import assert_problem

BASE_URL = "https://oncall.example.org"
SECRET = "calendar-secret-for-tests-only-0123456789"
ALICE = {"id": "alice", "display_name": "Alice", "email": "alice@example.org", "mobile": "+46 70 000 00 01",
         "slack_user_id": "U0ALICE", "time_zone": "Europe/Paris"}
BOB = {"id": "bob", "display_name": "Bob", "email": "bob@example.org", "mobile": "+46 70 000 00 02",
       "slack_user_id": "U0BOB", "time_zone": "Europe/Paris"}
CONTACTS = ("alice@example.org", "+46 70 000 00 01", "+46700000001", "bob@example.org", "+46700000002")
# Week 0 starts Monday 2026-11-23 10:00 Paris (09:00 UTC); the test clock stands on Thursday 2026-11-26 21:43 UTC.
ROTATION = {"people": ["alice", "bob"], "handover_weekday": "monday", "handover_time": "10:00",
            "time_zone": "Europe/Paris", "first_handover": "2026-11-23"}
VACATION = {"kind": "away", "person": "alice", "starts_at": "2026-11-27T00:00:00Z", "ends_at": "2026-11-30T09:00:00Z"}
ADMIN = "v1/admin/oncall"


@pytest.fixture
def api_environ() -> dict[str, str]:
    return {"INCIDENTS_PUBLIC_BASE_URL": BASE_URL, "ONCALL_LINK_SECRET": SECRET}


def reconfigure(api, store, roster_store, **changes) -> None:
    """The same app and stores under other settings (a rotated secret, a setting removed)."""
    settings = api.settings.model_copy(update=changes)
    bootstrap.use(bootstrap.build(settings, store=store, roster_store=roster_store, clock=api.clock))


def add_team(api) -> None:
    for person in (ALICE, BOB):
        assert api.request("POST", f"{ADMIN}/people", json=person).status_code == 201
    assert api.request("PUT", f"{ADMIN}/rotation", json=ROTATION).status_code == 200


def holder(now: dict, layer: str) -> tuple | None:
    held = now[layer]
    return held and (held["person_id"], held["why"]["source"], held["why"]["override_id"], held["why"]["instead_of"])


# The newcomer's flow


def test_a_newcomer_sets_up_the_rotation_and_asks_who_is_on_call(api, roster_store, caplog):
    caplog.set_level(logging.DEBUG)
    added = api.request("POST", f"{ADMIN}/people", json=ALICE)
    assert added.status_code == 201, added.text
    assert added.headers["Location"] == f"/api/{ADMIN}/people/alice" and added.headers["ETag"]
    assert added.json() == ALICE | {"mobile": "+46700000001", "may_publish": False}
    fetched = api.request("GET", added.headers["Location"].removeprefix("/api/"))
    assert fetched.json() == added.json() and fetched.headers["ETag"] == added.headers["ETag"]
    assert api.request("POST", f"{ADMIN}/people", json=BOB).status_code == 201
    assert [p["id"] for p in api.request("GET", f"{ADMIN}/people").json()["items"]] == ["alice", "bob"]

    rotation = api.request("PUT", f"{ADMIN}/rotation", json=ROTATION)
    assert rotation.status_code == 200, rotation.text
    assert rotation.json() == ROTATION | {"handover_time": "10:00:00"}
    assert api.request("GET", f"{ADMIN}/rotation").headers["ETag"] == rotation.headers["ETag"]

    now = api.request("GET", f"{ADMIN}/now").json()
    assert now["at"] == "2026-11-26T21:43:00.000Z"
    assert now["primary"] == {"person_id": "alice", "display_name": "Alice",
                              "why": {"source": "rotation", "override_id": None, "instead_of": None}}
    assert holder(now, "secondary") == ("bob", "rotation", None, None)
    next_week = api.request("GET", f"{ADMIN}/now", params={"at": "2026-12-01T12:00:00+01:00"}).json()
    assert (holder(next_week, "primary"), holder(next_week, "secondary")) == (
        ("bob", "rotation", None, None), ("alice", "rotation", None, None))

    week = api.request("GET", f"{ADMIN}/schedule").json()
    assert (week["starts_at"], week["ends_at"]) == ("2026-11-26T21:43:00.000Z", "2026-12-03T21:43:00.000Z")
    assert [(s["layer"], s["person_id"], s["starts_at"], s["ends_at"]) for s in week["shifts"]] == [
        ("primary", "alice", "2026-11-26T21:43:00.000Z", "2026-11-30T09:00:00.000Z"),
        ("secondary", "bob", "2026-11-26T21:43:00.000Z", "2026-11-30T09:00:00.000Z"),
        ("primary", "bob", "2026-11-30T09:00:00.000Z", "2026-12-03T21:43:00.000Z"),
        ("secondary", "alice", "2026-11-30T09:00:00.000Z", "2026-12-03T21:43:00.000Z"),
    ]
    assert api.request("GET", f"{ADMIN}/gaps").json()["gaps"] == []

    vacation = api.request("POST", f"{ADMIN}/overrides", json=VACATION)
    assert vacation.status_code == 201, vacation.text
    override_id = vacation.json()["id"]
    assert override_id.startswith("ovr-") and vacation.headers["Location"] == f"/api/{ADMIN}/overrides/{override_id}"
    during = api.request("GET", f"{ADMIN}/now", params={"at": "2026-11-28T12:00:00Z"}).json()
    assert holder(during, "primary") == ("bob", "replacement", override_id, "alice")
    assert during["secondary"] is None  # only bob is left: nobody can be his second
    gaps = api.request("GET", f"{ADMIN}/gaps", params={"days": "14"}).json()
    assert gaps["gaps"] == [{"layer": "secondary", "starts_at": "2026-11-27T00:00:00.000Z",
                             "ends_at": "2026-11-30T09:00:00.000Z"}]
    assert [o["id"] for o in api.request("GET", f"{ADMIN}/overrides").json()["items"]] == [override_id]

    assert api.request("DELETE", f"{ADMIN}/overrides/{override_id}").status_code == 204
    assert api.request("GET", f"{ADMIN}/gaps").json()["gaps"] == []
    assert_problem(api.request("GET", f"{ADMIN}/overrides/{override_id}"), 404, override_id)
    assert roster_store.get().roster.overrides == []

    api.request("PUT", f"{ADMIN}/roles", json={"engineering-lead": "bob"})
    assert api.request("GET", f"{ADMIN}/roles").json() == {"engineering-lead": "bob"}
    assert_no_contact_details_in(caplog)


def test_a_cover_hands_one_layer_to_someone_else(api):
    add_team(api)
    cover = {"kind": "cover", "id": "swap-1", "layer": "primary", "covered": "alice", "by": "bob",
             "starts_at": "2026-11-27T08:00:00Z", "ends_at": "2026-11-27T12:00:00Z"}
    assert api.request("POST", f"{ADMIN}/overrides", json=cover).status_code == 201
    then = api.request("GET", f"{ADMIN}/now", params={"at": "2026-11-27T09:00:00Z"}).json()
    assert holder(then, "primary") == ("bob", "cover", "swap-1", "alice")
    assert holder(then, "secondary") == ("alice", "replacement", "swap-1", "bob")


def test_people_can_be_replaced_and_deleted_once_nothing_names_them(api, roster_store):
    add_team(api)
    carol = ALICE | {"id": "carol", "display_name": "Carol", "email": "carol@example.org", "slack_user_id": "U0CAROL"}
    assert api.request("POST", f"{ADMIN}/people", json=carol).status_code == 201
    renamed = api.request("PUT", f"{ADMIN}/people/carol", json={k: v for k, v in carol.items() if k != "id"}
                          | {"display_name": "Carol C.", "may_publish": True})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["display_name"] == "Carol C." and renamed.json()["id"] == "carol"
    assert api.request("DELETE", f"{ADMIN}/people/carol").status_code == 204
    assert [p.id for p in roster_store.get().roster.people] == ["alice", "bob"]
    assert_problem(api.request("GET", f"{ADMIN}/people/carol"), 404, "carol")
    assert_problem(api.request("DELETE", f"{ADMIN}/people/carol"), 404, "carol")
    assert_problem(api.request("PUT", f"{ADMIN}/people/carol", json=carol), 404, "carol")


def test_concurrent_changes_to_the_roster_all_land(api, roster_store):
    add_team(api)
    headers = api.headers()

    def add(n: int) -> int:
        person = BOB | {"id": f"p{n:02d}", "display_name": f"Person {n}", "slack_user_id": f"U0P{n:02d}"}
        return api.request("POST", f"{ADMIN}/people", role=None, headers=headers, json=person).status_code

    def cover(n: int) -> int:
        body = {"kind": "cover", "layer": "secondary", "covered": "bob", "by": "alice",
                "starts_at": f"2026-12-{n + 1:02d}T00:00:00Z", "ends_at": f"2026-12-{n + 1:02d}T12:00:00Z"}
        return api.request("POST", f"{ADMIN}/overrides", role=None, headers=headers, json=body).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(add, range(12))) + list(pool.map(cover, range(12)))
    assert statuses == [201] * 24
    roster = roster_store.get().roster
    assert sorted(p.id for p in roster.people) == ["alice", "bob", *(f"p{n:02d}" for n in range(12))]
    assert len(roster.overrides) == 12


def test_a_store_in_trouble_answers_503_and_changes_nothing(api, store, roster_store, request):
    add_team(api)
    before = roster_store.get()
    if isinstance(roster_store, SqliteRosterStore):
        troubled = SqliteRosterStore(roster_store.path, busy_timeout=0.1)
        writer = sqlite3.connect(roster_store.path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # someone else holds the write lock past the busy timeout
        recover = functools.partial(writer.execute, "ROLLBACK")
    else:
        faults, emulator = request.getfixturevalue("faults"), request.getfixturevalue("cosmos_emulator")
        troubled = CosmosRosterStore(faults.endpoint, roster_store.database, roster_store.container,
                                     key=emulator.key, verify_tls=False)
        faults.answer(429, retry_after_ms=5000)  # throttled beyond the client's few retries
        recover = faults.heal
    bootstrap.use(bootstrap.build(api.settings, store=store, roster_store=troubled, clock=api.clock))
    carol = ALICE | {"id": "carol", "email": "carol@example.org", "slack_user_id": "U0CAROL"}
    refused = api.request("POST", f"{ADMIN}/people", json=carol)
    assert_problem(refused, 503, "retry")
    assert refused.headers["Retry-After"]
    recover()
    assert roster_store.get() == before
    assert api.request("POST", f"{ADMIN}/people", json=carol).status_code == 201


# ETag and If-Match


def test_if_match_guards_each_part_against_stale_writes(api, roster_store):
    add_team(api)
    alice = api.request("GET", f"{ADMIN}/people/alice")
    bob = api.request("GET", f"{ADMIN}/people/bob")
    changed = api.request("PUT", f"{ADMIN}/people/alice", headers={"If-Match": alice.headers["ETag"]},
                          json=ALICE | {"display_name": "Alice A."})
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] != alice.headers["ETag"]
    assert api.request("GET", f"{ADMIN}/people/alice").headers["ETag"] == changed.headers["ETag"]
    # Someone else changed alice, not bob: bob's ETag still holds.
    assert api.request("PUT", f"{ADMIN}/people/bob", headers={"If-Match": bob.headers["ETag"]},
                       json=BOB | {"display_name": "Bob B."}).status_code == 200

    before = roster_store.get()
    stale = api.request("PUT", f"{ADMIN}/people/alice", headers={"If-Match": alice.headers["ETag"]},
                        json=ALICE | {"display_name": "Stale"})
    assert_problem(stale, 412, "ETag")
    assert_problem(api.request("DELETE", f"{ADMIN}/people/alice", headers={"If-Match": alice.headers["ETag"]}), 412)
    rotation = api.request("GET", f"{ADMIN}/rotation").headers["ETag"]
    api.request("PUT", f"{ADMIN}/rotation", json=ROTATION | {"people": ["bob", "alice"]})
    before = roster_store.get()
    assert_problem(api.request("PUT", f"{ADMIN}/rotation", headers={"If-Match": rotation}, json=ROTATION), 412)
    assert_problem(api.request("PUT", f"{ADMIN}/roles", headers={"If-Match": '"nope"'}, json={}), 412)
    assert_problem(api.request("PUT", f"{ADMIN}/rotation", headers={"If-Match": f"W/{rotation}"}, json=ROTATION),
                   412, "weak")
    assert_problem(api.request("PUT", f"{ADMIN}/rotation", headers={"If-Match": ""}, json=ROTATION), 400,
                   "If-Match is empty")
    assert roster_store.get() == before

    current = api.request("GET", f"{ADMIN}/rotation").headers["ETag"]
    assert api.request("PUT", f"{ADMIN}/rotation", headers={"If-Match": current}, json=ROTATION).status_code == 200
    assert api.request("PUT", f"{ADMIN}/rotation", headers={"If-Match": "*"}, json=ROTATION).status_code == 200


# Bad input: a 4xx that says what to fix, and the roster unchanged


def without(body: dict, name: str) -> dict:
    return {k: v for k, v in body.items() if k != name}


BAD_REQUESTS = [
    ("POST", "people", ALICE | {"id": "carol", "time_zone": "Europe/Pariss"}, 422, "not an IANA time zone"),
    ("POST", "people", ALICE | {"id": "carol", "mobile": "0700000000"}, 422, "E.164"),
    ("POST", "people", ALICE | {"id": "carol", "email": "carol.example.org"}, 422, "email address"),
    ("POST", "people", ALICE | {"id": "Carol Smith"}, 422, "id"),
    ("POST", "people", without(ALICE | {"id": "carol"}, "email"), 422, "email"),
    ("POST", "people", ALICE, 409, "already"),
    ("PUT", "people/alice", ALICE | {"id": "alicia"}, 422, "keeps their id"),
    ("PUT", "people/alice", ALICE | {"mobile": "+46 70 000 00 00 00 00 00"}, 422, "E.164"),
    ("PUT", "rotation", ROTATION | {"handover_weekday": "funday"}, 422, "handover_weekday"),
    ("PUT", "rotation", ROTATION | {"first_handover": "2026-11-24"}, 422, "not a monday"),
    ("PUT", "rotation", ROTATION | {"people": []}, 422, "at least one person"),
    ("PUT", "rotation", ROTATION | {"people": ["alice", "zed"]}, 422, "'zed'"),
    ("PUT", "rotation", ROTATION | {"time_zone": "Mars/Olympus"}, 422, "not an IANA time zone"),
    ("PUT", "rotation", ROTATION | {"handover_time": "25:00"}, 422, "handover_time"),
    ("PUT", "roles", {"engineering-lead": "zed"}, 422, "'zed'"),
    ("PUT", "roles", {"Engineering Lead": "alice"}, 422, "Engineering Lead"),
    ("POST", "overrides", VACATION | {"starts_at": "2026-11-28T00:00:00Z"}, 422, "overlaps ovr-vacation"),
    ("POST", "overrides", VACATION | {"starts_at": "2026-11-01T00:00:00Z", "ends_at": "2026-11-02T00:00:00Z"}, 422,
     "has passed"),
    ("POST", "overrides", VACATION | {"person": "zed"}, 422, "'zed'"),
    ("POST", "overrides", VACATION | {"kind": "holiday"}, 422, "kind"),
    ("POST", "overrides", VACATION | {"ends_at": "2026-11-26T00:00:00Z"}, 422, "ends_at must be after starts_at"),
    ("POST", "overrides", VACATION | {"id": "ovr-vacation"}, 409, "already"),
    ("DELETE", "people/alice", None, 409, "the rotation names 'alice'"),
    ("DELETE", "people/Alice Smith", None, 404, "no person"),
    ("DELETE", "overrides/ovr-unknown", None, 404, "ovr-unknown"),
    ("GET", "people/zed", None, 404, "zed"),
    ("GET", "schedule?from=2026-11-26T00:00:00Z&to=2027-03-01T00:00:00Z", None, 400, "at most 90 days"),
    ("GET", "schedule?from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z", None, 400, "after the start"),
    ("GET", "schedule?from=tomorrow", None, 400, "'from'"),
    ("GET", "gaps?days=91", None, 400, "from 1 to 90"),
    ("GET", "gaps?days=-1", None, 400, "from 1 to 90"),
    ("GET", "now?at=2026-11-26T21:43:00", None, 400, "time zone"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), BAD_REQUESTS,
                         ids=[f"{m} {p.split('?')[0]} {n}" for n, (m, p, *_) in enumerate(BAD_REQUESTS)])
def test_bad_input_is_a_problem_that_says_what_to_fix_and_changes_nothing(api, roster_store, method, path, body,
                                                                          status, words):
    add_team(api)
    api.request("POST", f"{ADMIN}/overrides", json=VACATION | {"id": "ovr-vacation"})
    before = roster_store.get()
    response = api.request(method, f"{ADMIN}/{path}", **({"json": body} if body is not None else {}))
    problem = assert_problem(response, status, words)
    if status == 422:
        assert problem["errors"][0]["field"] and problem["errors"][0]["message"]
    assert roster_store.get() == before


def test_bodies_that_are_not_json_objects_are_refused(api, roster_store):
    add_team(api)
    before = roster_store.get()
    assert_problem(api.request("POST", f"{ADMIN}/people", data=b"{", headers={"Content-Type": "application/json"}),
                   400, "not valid JSON")
    assert_problem(api.request("PUT", f"{ADMIN}/roles", data=b"[]", headers={"Content-Type": "application/json"}),
                   400, "JSON object")
    assert_problem(api.request("PUT", f"{ADMIN}/rotation", data=b"people=alice"), 415, "Content-Type")
    assert roster_store.get() == before


# Who may call


ADMIN_ROUTES = [("GET", "people"), ("POST", "people"), ("GET", "people/alice"), ("PUT", "people/alice"),
                ("DELETE", "people/alice"), ("GET", "people/alice/calendar"), ("GET", "rotation"), ("PUT", "rotation"),
                ("GET", "roles"), ("PUT", "roles"), ("GET", "overrides"), ("POST", "overrides"),
                ("GET", "overrides/ovr-1"), ("DELETE", "overrides/ovr-1"), ("GET", "now"), ("GET", "schedule"),
                ("GET", "gaps")]


def test_every_admin_route_wants_a_platform_admin(api, roster_store):
    add_team(api)
    before = roster_store.get()
    for method, path in ADMIN_ROUTES:
        body = {"json": ALICE} if method in ("POST", "PUT") else {}
        anonymous = api.request(method, f"{ADMIN}/{path}", role=None, **body)
        assert_problem(anonymous, 401, "Authorization")
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        assert_problem(api.request(method, f"{ADMIN}/{path}", role="reader", **body), 403, "role")
    assert roster_store.get() == before


# The calendar


def test_a_person_subscribes_to_their_calendar_by_its_secret_address(api, store, roster_store, caplog):
    caplog.set_level(logging.DEBUG)
    add_team(api)
    api.request("POST", f"{ADMIN}/overrides", json=VACATION)
    address = api.request("GET", f"{ADMIN}/people/alice/calendar")
    assert address.status_code == 200, address.text
    url = address.json()["url"]
    assert url.startswith(f"{BASE_URL}/api/v1/oncall/calendar/alice/") and url.endswith(".ics")
    local = url.replace(BASE_URL, api.url)
    # Whoever sends the request, the address comes from INCIDENTS_PUBLIC_BASE_URL alone.
    forged = api.request("GET", f"{ADMIN}/people/alice/calendar", headers={"Host": "evil.example.com",
                                                                         "X-Forwarded-Host": "evil.example.com"})
    assert forged.json()["url"] == url

    calendar = requests.get(local, timeout=30)
    assert calendar.status_code == 200, calendar.text
    assert calendar.headers["Content-Type"].startswith("text/calendar")
    parsed = Calendar.from_ical(calendar.content)
    events = [(str(e["summary"]), e.decoded("dtstart").isoformat()) for e in parsed.walk("VEVENT")]
    assert events[:3] == [("On call: primary", "2026-11-23T10:00:00+01:00"),
                          ("On call: secondary", "2026-11-30T10:00:00+01:00"),
                          ("On call: primary", "2026-12-07T10:00:00+01:00")]
    assert {summary for summary, _ in events} == {"On call: primary", "On call: secondary"}
    for contact in CONTACTS:
        assert contact.encode() not in calendar.content

    bob = api.request("GET", f"{ADMIN}/people/bob/calendar").json()["url"].replace(BASE_URL, api.url)
    for wrong in (local.replace("/alice/", "/bob/"), bob.replace("/bob/", "/alice/"), local[:-8] + "AAAA.ics",
                  local.replace("/alice/", "/zed/")):
        refused = requests.get(wrong, timeout=30)
        assert refused.status_code == 404, wrong
        assert refused.json()["detail"] == "There is no calendar at this address."

    reconfigure(api, store, roster_store, oncall_link_secret=SecretStr(SECRET[::-1]))
    assert requests.get(local, timeout=30).status_code == 404  # a rotated secret revokes every address
    rotated = api.request("GET", f"{ADMIN}/people/alice/calendar").json()["url"]
    assert rotated != url and requests.get(rotated.replace(BASE_URL, api.url), timeout=30).status_code == 200
    assert_no_contact_details_in(caplog)


def test_without_the_settings_there_is_no_calendar_address(api, store, roster_store):
    add_team(api)
    url = api.request("GET", f"{ADMIN}/people/alice/calendar").json()["url"].replace(BASE_URL, api.url)
    reconfigure(api, store, roster_store, incidents_public_base_url=None)
    assert_problem(api.request("GET", f"{ADMIN}/people/alice/calendar"), 409, "INCIDENTS_PUBLIC_BASE_URL")
    reconfigure(api, store, roster_store, oncall_link_secret=None)
    assert_problem(api.request("GET", f"{ADMIN}/people/alice/calendar"), 409, "ONCALL_LINK_SECRET")
    assert requests.get(url, timeout=30).status_code == 404
    assert_problem(api.request("GET", f"{ADMIN}/people/zed/calendar"), 404, "zed")


def assert_no_contact_details_in(caplog) -> None:
    assert caplog.records, "the local host logs every request: the check must see them"
    for record in caplog.records:
        text = record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        for contact in CONTACTS:
            assert contact not in text, f"{record.name}: {text}"
