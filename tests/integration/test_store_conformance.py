"""What every incident store must do: each test runs on SQLite and on Cosmos (the emulator), through the port only."""

from __future__ import annotations

import itertools
import random
import socket
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from incidents.domain.models import AlertSource, Incident, Update, format_utc
from incidents.domain.store import (
    AlreadyExists,
    EtagMismatch,
    IncidentQuery,
    IncidentStore,
    NotFound,
    StoreUnavailable,
    check_fields,
)
from incidents.stores.cosmos import CosmosStore
from incidents.stores.sqlite import SqliteStore
from tests.support.cosmos_emulator import EMULATOR_KEY

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def an_update(n: int = 1, **overrides) -> dict:
    entry = {
        "id": f"u{n}", "at": at(n), "status": "investigating", "severity": "sev2",
        "message": {"en": f"Entry {n}", "fr": f"Entrée {n}"}, "author": "oncall@example.com", "visibility": "public",
    }
    return Update.model_validate(entry | overrides).model_dump(mode="json")


def an_incident(**overrides) -> Incident:
    """A valid published incident; override any field."""
    fields = {
        "id": f"inc-{next(_ids):04d}", "title": {"en": "Checkout is slow", "sv": "Kassan är långsam"},
        "severity": "sev2", "status": "investigating", "state": "published",
        "public_message": {"en": "We are looking into it."}, "started_at": T0, "updated_at": T0,
        "updates": [an_update(0)],
    }
    return Incident.model_validate(fields | overrides)


def append_status(store: IncidentStore, incident_id: str, etag: str, status: str, n: int):
    return store.append(incident_id, etag, {"status": status, "updated_at": format_at(n)}, an_update(n, status=status))


def format_at(n: float) -> str:
    return format_utc(at(n))


def ids(page) -> list[str]:
    return [s.incident.id for s in page.items]


# Create and read


def test_add_then_get_round_trips_every_field(store):
    incident = an_incident(
        title={"en": "Payments fail", "fr": "Les paiements échouent", "es": "Fallan los pagos", "sv": "Betalningar"},
        severity="sev1", status="identified", components=["api", "checkout"],
        source=AlertSource(alert_id="/subscriptions/x/alerts/1", alert_rule="5xx", fingerprint="fp-5xx",
                           target_ids=["/r/1"], fired_at=at(-5)),
        started_at=T0.replace(microsecond=123000), acknowledged_at=at(1), resolved_at=None,
        updates=[an_update(0), an_update(1, note="internal", visibility="internal", message=None, changes=["status"])],
    )
    added = store.add(incident)
    got = store.get(incident.id)
    assert got.incident == incident == added.incident
    assert got.etag == added.etag and got.etag.startswith('"') and got.etag.endswith('"')


def test_get_of_a_missing_incident_is_not_found(store):
    with pytest.raises(NotFound):
        store.get("inc-missing")


def test_an_id_is_added_once(store):
    incident = store.add(an_incident()).incident
    with pytest.raises(AlreadyExists):
        store.add(an_incident(id=incident.id, title="Another"))
    assert store.get(incident.id).incident == incident


# Append


def test_append_sets_fields_and_adds_one_entry_at_the_end(store):
    added = store.add(an_incident())
    fields = {"status": "resolved", "resolved_at": format_at(30), "updated_at": format_at(30), "acknowledged_at": None,
              "title": {"en": "Fixed", "es": "Arreglado"}, "components": ["db"]}
    after = store.append(added.incident.id, added.etag, fields, an_update(1, status="resolved"))
    assert after.etag != added.etag
    assert after == store.get(added.incident.id)
    assert after.incident.model_dump(mode="json", include=set(fields)) == fields
    assert after.incident.updates == [*added.incident.updates, Update.model_validate(an_update(1, status="resolved"))]


def test_a_stale_etag_is_refused_and_changes_nothing(store):
    added = store.add(an_incident())
    current = append_status(store, added.incident.id, added.etag, "identified", 1)
    with pytest.raises(EtagMismatch):
        append_status(store, added.incident.id, added.etag, "resolved", 2)
    assert store.get(added.incident.id) == current


def test_append_to_a_missing_incident_is_not_found(store):
    with pytest.raises(NotFound):
        append_status(store, "inc-missing", '"1"', "identified", 1)


@pytest.mark.parametrize("field", ["updates", "id", "source", "started_at"])
def test_append_refuses_fields_that_cannot_change_in_place(store, field):
    added = store.add(an_incident())
    with pytest.raises(ValueError, match=field):
        store.append(added.incident.id, added.etag, {field: []}, an_update(1))
    with pytest.raises(ValueError):
        check_fields({field: []})
    assert store.get(added.incident.id) == added


def test_the_timeline_is_append_only(store):
    current = store.add(an_incident())
    seen: list[str] = [u.model_dump_json() for u in current.incident.updates]
    for n in range(1, 31):
        current = append_status(store, current.incident.id, current.etag, "monitoring", n)
        timeline = [u.model_dump_json() for u in current.incident.updates]
        assert timeline[:-1] == seen, "an earlier entry changed"
        seen = timeline
    assert len(seen) == 31
    port_methods = {name for name in vars(IncidentStore) if not name.startswith("_")}
    public = {name for name in dir(store) if not name.startswith("_") and callable(getattr(store, name))}
    assert public <= port_methods, "a store offers no way to edit or remove a timeline entry"


def test_sqlite_refuses_to_edit_or_delete_an_entry_even_in_sql(tmp_path):
    store = SqliteStore(tmp_path / "incidents.sqlite3")
    added = store.add(an_incident())
    store.close()
    db = sqlite3.connect(tmp_path / "incidents.sqlite3")
    for sql in ("UPDATE incident_updates SET body = '{}'", "DELETE FROM incident_updates"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(sql)
    db.close()
    assert SqliteStore(tmp_path / "incidents.sqlite3").get(added.incident.id) == added


# Find


@pytest.fixture
def four_incidents(store):
    """a: published, open, updated at +10; b: published, resolved at +8; c: draft, open, +7; d: dismissed, resolved,
    updated at +11."""
    rows = {
        "a": dict(state="published", status="investigating", severity="sev1", started_at=at(4), updated_at=at(10)),
        "b": dict(state="published", status="resolved", severity="sev2", started_at=at(3), updated_at=at(8),
                  resolved_at=at(8)),
        "c": dict(state="draft", status="investigating", severity="sev2", started_at=at(2), updated_at=at(7)),
        "d": dict(state="dismissed", status="resolved", severity="sev3", started_at=at(1), updated_at=at(11),
                  resolved_at=at(11), source=AlertSource(alert_id="x1", alert_rule="r", fingerprint="fp-1")),
    }
    for name, fields in rows.items():
        store.add(an_incident(id=name, **fields))
    return store


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (IncidentQuery(), ["a", "b", "c", "d"]),
        (IncidentQuery(state="published"), ["a", "b"]),
        (IncidentQuery(status="resolved"), ["b", "d"]),
        (IncidentQuery(severity="sev2"), ["b", "c"]),
        (IncidentQuery(updated_since=at(10)), ["a", "d"]),
        (IncidentQuery(active_since=at(9)), ["a", "c", "d"]),
        (IncidentQuery(state="published", active_since=at(9)), ["a"]),
        (IncidentQuery(oldest_first=True), ["d", "c", "b", "a"]),
        (IncidentQuery(fingerprint="fp-1"), ["d"]),
        (IncidentQuery(fingerprint="fp-unknown"), []),
    ],
    ids=["all", "state", "status", "severity", "updated_since", "active_since", "state+active_since", "oldest_first",
         "fingerprint", "unknown fingerprint"],
)
def test_find_filters_and_orders(four_incidents, query, expected):
    page = four_incidents.find(query)
    assert ids(page) == expected and page.next_token is None


@pytest.mark.parametrize("oldest_first", [False, True], ids=["newest_first", "oldest_first"])
def test_paging_visits_every_incident_once_in_order(store, oldest_first):
    # Pairs share a start time, so the id tiebreak decides the order, also across page boundaries.
    added = [store.add(an_incident(id=f"inc-{n:02d}", started_at=at(n // 2))).incident for n in range(23)]
    expected = [i.id for i in sorted(added, key=lambda i: (i.started_at, i.id), reverse=not oldest_first)]
    seen, token, pages = [], None, 0
    while True:
        page = store.find(IncidentQuery(oldest_first=oldest_first, limit=5, page_token=token))
        seen += ids(page)
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert seen == expected
    assert pages == 5


def test_a_bad_page_token_is_a_value_error(store):
    for token in ("not base64!", "bm9wZQ==", ""):
        with pytest.raises(ValueError, match="page_token"):
            store.find(IncidentQuery(page_token=token))


# Concurrency


def test_fifty_concurrent_read_then_append_writers_lose_nothing(store):
    incident_id = store.add(an_incident(updates=[])).incident.id
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            while True:
                current = store.get(incident_id)
                try:
                    store.append(incident_id, current.etag, {"updated_at": format_at(n)}, an_update(n))
                    return
                except EtagMismatch:
                    time.sleep(random.uniform(0, 0.005))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 51)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(u.id for u in store.get(incident_id).incident.updates) == sorted(f"u{n}" for n in range(1, 51))


# Transient failures


def test_sqlite_busy_past_the_timeout_is_store_unavailable(tmp_path):
    store = SqliteStore(tmp_path / "incidents.sqlite3", busy_timeout=0.05)
    added = store.add(an_incident())
    other = sqlite3.connect(tmp_path / "incidents.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with pytest.raises(StoreUnavailable):
        append_status(store, added.incident.id, added.etag, "identified", 1)
    other.execute("ROLLBACK")
    assert append_status(store, added.incident.id, added.etag, "identified", 1).incident.status == "identified"
    store.close()


@pytest.mark.cosmos
def test_cosmos_unreachable_is_store_unavailable():
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreUnavailable):
        CosmosStore(f"https://127.0.0.1:{port}", "tests", "unreachable", key=EMULATOR_KEY, verify_tls=False)
