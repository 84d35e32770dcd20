"""What every incident store must do: each test runs on SQLite and on Cosmos (the emulator), through the port only."""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from incidents.domain import deadline
from incidents.domain.models import (
    LOCALES,
    MAX_COMPONENTS,
    MESSAGE_MAX,
    TITLE_MAX,
    AlertSource,
    Confirmation,
    Dismissal,
    Escalation,
    Incident,
    IncidentChange,
    NewIncident,
    Update,
    format_utc,
)
from incidents.domain.service import IdempotencyKeyReused, IncidentService
from incidents.domain.size import CLOSING_RESERVE, COSMOS_ITEM_LIMIT, MAX_INCIDENT_BYTES, incident_bytes
from incidents.domain.store import (
    AlreadyExists,
    EtagMismatch,
    IncidentQuery,
    IncidentStore,
    IncidentTooLarge,
    NotFound,
    StoreMisconfigured,
    StoreUnavailable,
    check_fields,
)
from incidents.stores.cosmos import OPERATION_TIMEOUT_S, CosmosStore
from incidents.stores.sqlite import SqliteStore
from tests.support.cosmos_emulator import EMULATOR_KEY
from tests.support.processes import closed_port

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


def escalating(due_in: float | None, **fields) -> Incident:
    """An incident whose escalation next looks at at(due_in), or has stopped (None)."""
    escalation = Escalation(started_at=T0, policy={}, next_due_at=None if due_in is None else at(due_in),
                            stopped_at=at(0) if due_in is None else None,
                            stopped_because="acknowledged" if due_in is None else None)
    return an_incident(escalation=escalation, **fields)


def test_the_escalations_due_are_found_oldest_first_and_no_others(store):
    store.add(escalating(5, id="due-late-start", started_at=at(2)))
    store.add(escalating(3, id="due-early-start", started_at=at(1)))
    store.add(escalating(20, id="due-later", started_at=at(3)))
    store.add(escalating(None, id="stopped"))
    store.add(an_incident(id="never-escalated"))
    assert ids(store.find(IncidentQuery(escalation_due_by=at(10), oldest_first=True))) == [
        "due-early-start", "due-late-start"]
    assert ids(store.find(IncidentQuery(escalation_due_by=at(30), oldest_first=True, limit=2))) == [
        "due-early-start", "due-late-start"]


def test_sqlite_finds_the_escalations_due_without_reading_every_incident(tmp_path):
    """The sweep runs every 30 s and after every new alert: its query must cost the same with 10 incidents or
    10,000. Counted in SQLite's virtual machine steps (a progress handler), not in time."""
    store = SqliteStore(tmp_path / "incidents.sqlite3")
    store.add(escalating(5, id="due"))

    def steps() -> int:
        counted = [0]

        def count() -> int:
            counted[0] += 1
            return 0

        store._db().set_progress_handler(count, 10)
        try:
            assert ids(store.find(IncidentQuery(escalation_due_by=at(10), oldest_first=True))) == ["due"]
        finally:
            store._db().set_progress_handler(None, 10)
        return counted[0]

    few = steps()
    for n in range(1500):
        store.add(an_incident(id=f"quiet-{n:04d}", started_at=at(n % 90)))
    assert steps() <= few + 10, "the sweep's query walks every incident"
    store.close()


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
    with pytest.raises(StoreUnavailable):
        CosmosStore(f"https://127.0.0.1:{closed_port()}", "tests", "unreachable", key=EMULATOR_KEY, verify_tls=False)


# What no store may hold: anything that would not read back (issue 11: a 0999 timestamp froze the whole log)


@pytest.mark.parametrize(("fields", "entry"), [
    ({"updated_at": "999-06-01T00:00:00.000Z"}, {}),
    ({"resolved_at": "not a time"}, {}),
    ({"title": {"en": ""}}, {}),
    ({}, {"at": "0999-06-01T00:00:00.000Z"}),
    ({}, {"visibility": "secret"}),
])
def test_an_append_that_would_not_read_back_is_refused_and_changes_nothing(store, fields, entry):
    stored = store.add(an_incident())
    with pytest.raises(ValueError, match="cannot be read back"):
        store.append(stored.incident.id, stored.etag, fields, an_update(1) | entry)
    assert store.get(stored.incident.id) == stored
    assert [s.incident.id for s in store.find(IncidentQuery()).items] == [stored.incident.id]


def test_public_only_reads_the_public_entries_alone(store):
    stored = store.add(an_incident())
    for n in range(1, 6):
        visibility = "public" if n % 2 == 0 else "internal"
        stored = store.append(stored.incident.id, stored.etag, {"updated_at": format_at(n)},
                              an_update(n, visibility=visibility, message=None, note=f"internal {n}"
                                        if visibility == "internal" else None))
    [public] = store.find(IncidentQuery(public_only=True)).items
    assert [u.id for u in public.incident.updates] == ["u0", "u2", "u4"]
    assert public.incident.model_dump(exclude={"updates"}) == stored.incident.model_dump(exclude={"updates"})
    assert [u.id for u in store.find(IncidentQuery()).items[0].incident.updates] == [f"u{n}" for n in range(6)]


# Idempotent creation: the store's part is that `add` of one id lets exactly one writer win, even concurrently.


def test_concurrent_adds_of_one_id_let_exactly_one_win(store):
    incident = an_incident()
    outcomes: list[str] = []

    def add() -> None:
        try:
            store.add(incident)
            outcomes.append("added")
        except AlreadyExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["added"] + ["exists"] * 7
    assert ids(store.find(IncidentQuery())) == [incident.id]


def a_service(store) -> IncidentService:
    return IncidentService(store, clock=lambda: T0)


def test_a_create_retried_with_the_same_idempotency_key_opens_one_incident(store):
    service, body = a_service(store), NewIncident(title="Checkout fails", severity="sev1", public_message="Looking.")
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: service.create(body, author="ana", idempotency_key="k-1"), range(6)))
    assert {a.incident.id for a in answers} == {answers[0].incident.id}
    assert ids(store.find(IncidentQuery())) == [answers[0].incident.id]
    later = service.create(body, author="ana", idempotency_key="k-1")  # the first result again, as it is now
    assert later == store.get(answers[0].incident.id)


def test_an_idempotency_key_is_one_admins_and_one_requests(store):
    service, body = a_service(store), NewIncident(title="Checkout fails", severity="sev1", public_message="Looking.")
    first = service.create(body, author="ana", idempotency_key="k-1")
    with pytest.raises(IdempotencyKeyReused, match="k-1.*different body"):
        service.create(NewIncident(**body.model_dump(exclude={"severity"}), severity="sev2"), author="ana",
                       idempotency_key="k-1")
    other_admin = service.create(body, author="bo", idempotency_key="k-1")
    assert other_admin.incident.id != first.incident.id
    assert len(store.find(IncidentQuery()).items) == 2


# The public view's version: what lets caches of the public feed and the site know they are stale


def test_public_version_moves_on_every_write_the_public_can_see_and_only_then(store):
    seen = [store.public_version()]

    def moved() -> bool:
        seen.append(store.public_version())
        return seen[-1] != seen[-2]

    assert isinstance(seen[0], str) and store.public_version() == seen[0]
    draft = store.add(an_incident(state="draft"))
    assert not moved()
    draft = store.append(draft.incident.id, draft.etag, {"updated_at": format_at(1)},
                         an_update(1, visibility="internal", message=None, note="still firing"))
    assert not moved()
    published = store.append(draft.incident.id, draft.etag, {"state": "published", "updated_at": format_at(2)},
                             an_update(2))
    assert moved()
    other = store.add(an_incident())
    assert moved()
    note = an_update(3, visibility="internal", message=None, note="internal only")
    published = store.append(published.incident.id, published.etag, {"updated_at": format_at(3),
                                                                      "acknowledged_at": format_at(3)}, note)
    assert not moved(), "an internal note changes nothing the public sees"
    store.append(published.incident.id, published.etag, {"title": {"en": "Renamed"}, "updated_at": format_at(4)},
                 an_update(4, visibility="internal", message=None, note="renamed"))
    assert moved()
    append_status(store, other.incident.id, other.etag, "resolved", 5)
    assert moved()
    assert set(ids(store.find(IncidentQuery()))) == {other.incident.id, draft.incident.id}  # incidents only, ever


def test_two_stores_never_share_a_public_version(store, store_factory, request):
    kind = request.node.callspec.params["store"]
    other = store_factory(kind)
    for s in (store, other):
        s.add(an_incident())
    assert store.public_version() != other.public_version()


def test_a_change_through_another_handle_on_the_same_data_is_read_at_once(store, request):
    """Another instance of the app writes the same incidents: what this handle parsed before (adapters keep the last
    version they read) is never served once the incident has moved on, and a write from the old version is refused."""
    if isinstance(store, SqliteStore):
        other = SqliteStore(store.path)
    else:
        emulator = request.getfixturevalue("cosmos_emulator")
        other = CosmosStore(emulator.endpoint, store.database, store.container, key=emulator.key,
                            verify_tls=emulator.verify_tls)
    try:
        incident_id = store.add(an_incident()).incident.id
        seen = store.get(incident_id)
        moved = append_status(other, incident_id, other.get(incident_id).etag, "identified", 1)
        with pytest.raises(EtagMismatch):
            append_status(store, incident_id, seen.etag, "monitoring", 2)
        again = store.get(incident_id)
        assert (again.etag, again.incident) == (moved.etag, moved.incident)
        assert [u.status for u in again.incident.updates] == ["investigating", "identified"]
        last = append_status(store, incident_id, again.etag, "monitoring", 2)
        assert [u.status for u in last.incident.updates] == ["investigating", "identified", "monitoring"]
        assert other.get(incident_id) == last
    finally:
        other.close()


def test_a_change_made_while_deciding_another_to_the_same_incident_does_not_wait_forever(store):
    """Changes to one incident take turns in the process (IncidentService._changing); one made from within the
    decision of another, in the same thread, meets the etag instead: the outer one decides again on top of it."""
    from incidents.domain.workflow import apply_change

    service = IncidentService(store)
    incident_id = store.add(an_incident()).incident.id
    inner: list = []

    def decide(incident, now):
        if not inner:
            inner.append(service.change(incident_id, IncidentChange(note="inner"), author="a"))
        return apply_change(incident, IncidentChange(note="outer"), author="a", now=now)

    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(stored=service.update(incident_id, decide)), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the change made while deciding waits forever for the one deciding"
    assert [u.note for u in done["stored"].incident.updates[-2:]] == ["inner", "outer"]


_WRITES = ["create", "create_draft", "patch", "note", "confirm", "dismiss", "resolve", "reopen"]


def test_the_cached_public_feed_equals_the_computed_one_after_every_kind_of_write(store):
    """The public feed is cached by the store's public_version; after each kind of write, the cached feed (of the
    service that wrote, and of another instance on the same store) equals one computed afresh."""
    clock = [T0]
    writer = IncidentService(store, clock=lambda: clock[0])
    elsewhere = IncidentService(store, clock=lambda: clock[0])  # another Function App instance

    def computed():
        return IncidentService(store, clock=lambda: clock[0]).public_feed()  # an empty cache

    def check(label: str) -> None:
        fresh = computed()
        for service in (writer, elsewhere):
            cached = service.public_feed()
            assert (cached.incidents, cached.incidents_json, cached.next_token, cached.etag) == \
                   (fresh.incidents, fresh.incidents_json, fresh.next_token, fresh.etag), label

    body = NewIncident(title="Checkout fails", severity="sev2", public_message="Looking.")
    check("empty")
    live = writer.create(body, author="ana").incident.id
    check("create")
    draft = writer.create(NewIncident(**body.model_dump(exclude={"state"}), state="draft"), author="ana").incident.id
    other = writer.create(NewIncident(**body.model_dump(exclude={"state"}), state="draft"), author="ana").incident.id
    check("create a draft")
    clock[0] += timedelta(minutes=1)
    writer.change(live, IncidentChange(status="identified", public_message="Found it."), author="ana")
    check("patch")
    writer.change(live, IncidentChange(note="internal only"), author="ana")
    check("note")
    writer.confirm(draft, Confirmation(public_message="Confirmed."), author="ana")
    check("confirm")
    writer.dismiss(other, Dismissal(reason="a test"), author="ana")
    check("dismiss")
    writer.change(live, IncidentChange(status="resolved", public_message="Fixed."), author="ana")
    check("resolve")
    writer.change(live, IncidentChange(reopen=True, public_message="It is back."), author="ana")
    check("reopen")
    writer.change(live, IncidentChange(status="resolved"), author="ana")
    clock[0] += timedelta(days=30, minutes=1)  # the resolved incident leaves the 30-day window
    check("window")
    assert [i.id for i in writer.public_feed().incidents] == [draft]


# The byte budget (domain/size.py): the service refuses growth before Cosmos DB's 2 MB, on every store alike, and
# always leaves room to resolve. The Cosmos stand-in accepts items of 3 MiB, so this is checked by our own measure.


def test_an_incident_with_four_locale_updates_can_always_be_resolved(store):
    service = a_service(store)
    wide = "\U0001f6a8"  # 4 bytes in UTF-8: the most bytes per character the limits allow
    words = {locale: wide * MESSAGE_MAX for locale in LOCALES}
    opened = service.create(NewIncident(title={"en": "Outage", "fr": "Panne", "es": "Caída", "sv": "Avbrott"},
                                        severity="sev1", public_message=words), author="ana")
    incident_id, updates = opened.incident.id, 1
    with pytest.raises(IncidentTooLarge, match="kept for resolving it") as refused:
        while True:
            service.change(incident_id, IncidentChange(public_message=words, note=wide * MESSAGE_MAX), author="ana")
            updates += 1
    assert "Resolve it" in str(refused.value)
    full = store.get(incident_id).incident
    assert MAX_INCIDENT_BYTES - CLOSING_RESERVE - 50_000 < incident_bytes(full) <= MAX_INCIDENT_BYTES - CLOSING_RESERVE
    # The largest resolution there is still fits.
    resolved = service.change(incident_id, IncidentChange(
        status="resolved", public_message={locale: "\u2705" + wide * (MESSAGE_MAX - 1) for locale in LOCALES},
        note=wide * MESSAGE_MAX, title={locale: wide * TITLE_MAX for locale in LOCALES},
        components=[wide * 78 + f"{n:02d}" for n in range(MAX_COMPONENTS)]), author="ana").incident
    assert resolved.status.value == "resolved" and len(resolved.updates) == updates + 1
    assert incident_bytes(resolved) <= MAX_INCIDENT_BYTES < COSMOS_ITEM_LIMIT
    assert store.get(incident_id).incident == resolved


# Cosmos DB in trouble, through a loopback proxy that answers as Cosmos DB does (tests/support/cosmos_fault_proxy.py):
# every failure is the port's error, by status and sub-status, within the call's bound.


@pytest.fixture
def faulty_cosmos(faults, cosmos_emulator):
    store = CosmosStore(faults.endpoint, "tests", f"faults-{next(_ids)}-{time.time_ns()}", key=cosmos_emulator.key,
                        verify_tls=False)
    store.add(an_incident(id="inc-there"))
    yield store
    store.close()


@pytest.mark.cosmos
@pytest.mark.parametrize(("status", "substatus", "error"), [
    (429, None, StoreUnavailable),  # throttled (x-ms-retry-after-ms: 5000, which the client does not wait out)
    (503, None, StoreUnavailable),
    (500, None, StoreUnavailable),
    (408, None, StoreUnavailable),
    (449, None, StoreUnavailable),  # retry with
    (410, 1002, StoreUnavailable),  # partition key range gone
    (404, 1002, StoreUnavailable),  # read session not available
    (404, 1003, StoreMisconfigured),  # the container or database is missing: not "no such incident"
    (401, None, StoreMisconfigured),
    (403, None, StoreMisconfigured),
])
def test_cosmos_failures_are_the_ports_errors_within_the_bound(faults, faulty_cosmos, status, substatus, error):
    # 410 only on items: on the partition-key-range read the SDK itself deadlocks (see docs/engineering/cosmos-db.md)
    faults.answer(status, substatus=substatus, retry_after_ms=5000, where="/docs" if status == 410 else "/dbs")
    for call in (lambda: faulty_cosmos.get("inc-there"), lambda: faulty_cosmos.find(IncidentQuery(state="draft")),
                 lambda: append_status(faulty_cosmos, "inc-there", '"stale"', "identified", 1)):
        started = time.monotonic()
        with pytest.raises(error) as raised:
            call()
        assert time.monotonic() - started < OPERATION_TIMEOUT_S
        assert type(raised.value) is error
    if error is StoreMisconfigured:
        assert "COSMOS_" in str(raised.value)
    faults.heal()
    assert faulty_cosmos.get("inc-there").incident.id == "inc-there"


@pytest.mark.cosmos
def test_a_slow_cosmos_is_given_up_on_at_the_end_of_the_budget(faults, faulty_cosmos):
    faults.delay(30)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="did not answer"):
        faulty_cosmos.get("inc-there")
    assert OPERATION_TIMEOUT_S - 0.1 < time.monotonic() - started < OPERATION_TIMEOUT_S + 0.5
    with deadline.budget(1.0):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            faulty_cosmos.find(IncidentQuery())
        assert time.monotonic() - started < 1.3
        time.sleep(1.0)
        with pytest.raises(StoreUnavailable, match="budget is spent"):  # no call starts with no time left
            faulty_cosmos.get("inc-there")
    faults.heal()


@pytest.mark.cosmos
@pytest.mark.parametrize("missing", ["COSMOS_DATABASE", "COSMOS_CONTAINER"])
def test_opening_cosmos_checks_that_the_container_is_there(cosmos_emulator, missing):
    existing = CosmosStore(cosmos_emulator.endpoint, "tests", "present", key=cosmos_emulator.key, verify_tls=False)
    existing.close()
    database, container = ("nowhere", "present") if missing == "COSMOS_DATABASE" else ("tests", "nowhere")
    with pytest.raises(StoreMisconfigured, match=f"^{missing}: .*'nowhere'"):
        CosmosStore(cosmos_emulator.endpoint, database, container, key=cosmos_emulator.key, verify_tls=False,
                    create_if_missing=False)
    CosmosStore(cosmos_emulator.endpoint, "tests", "present", key=cosmos_emulator.key, verify_tls=False,
                create_if_missing=False).close()
