"""What every maintenance store must do: each test runs on SQLite and on Cosmos (the emulator), through the port."""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from incidents.domain.maintenance import Maintenance, MaintenanceUpdate
from incidents.domain.models import format_utc
from incidents.domain.store import (
    AlreadyExists,
    EtagMismatch,
    IncidentQuery,
    MaintenanceQuery,
    MaintenanceStore,
    NotFound,
    StoreMisconfigured,
    check_maintenance_fields,
)
from incidents.stores.cosmos import CosmosMaintenanceStore
from incidents.stores.sqlite import SqliteMaintenanceStore, SqliteStore
from tests.support.stores import COSMOS_DATABASE

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


@pytest.fixture
def maintenance_store(request: pytest.FixtureRequest, store) -> Iterator[MaintenanceStore]:
    """A new, empty maintenance store beside `store`: in the same SQLite file (as deployed), or in a new container
    of the emulator."""
    if isinstance(store, SqliteStore):
        opened = SqliteMaintenanceStore(store.path)
    else:
        emulator = request.getfixturevalue("cosmos_emulator")
        opened = CosmosMaintenanceStore(emulator.endpoint, COSMOS_DATABASE, f"maintenance-{uuid.uuid4().hex[:12]}",
                                        key=emulator.key, verify_tls=emulator.verify_tls)
    yield opened
    opened.close()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def an_entry(n: int = 1, **overrides) -> dict:
    entry = {"id": f"u{n}", "at": at(n - 60), "state": "scheduled", "message": {"en": f"Entry {n}"},
             "changes": ["announced"] if n == 1 else ["message"], "author": "ada"}
    return MaintenanceUpdate.model_validate(entry | overrides).model_dump(mode="json")


def a_window(**overrides) -> Maintenance:
    fields = {"id": f"mnt-20261129-{next(_ids):06d}", "title": {"en": "Payments upgrade", "sv": "Uppgradering"},
              "message": {"en": "Payments will be unavailable."}, "components": ["Payments"],
              "starts_at": T0, "ends_at": at(30), "created_at": at(-60), "updated_at": at(-60),
              "updates": [an_entry(1)]}
    return Maintenance.model_validate(fields | overrides)


def ids(found) -> list[str]:
    return [s.maintenance.id for s in found]


def test_add_then_get_round_trips_every_field(maintenance_store):
    window = a_window(components=["Payments", "Website"], state="in_progress", cancelled_at=None,
                      starts_at=T0.replace(microsecond=123000),
                      updates=[an_entry(1), an_entry(2, note="internal", message=None, state="in_progress",
                                                     changes=["started"])])
    added = maintenance_store.add(window)
    got = maintenance_store.get(window.id)
    assert got.maintenance == window == added.maintenance
    assert got.etag == added.etag and got.etag.startswith('"') and got.etag.endswith('"')


def test_get_of_a_missing_window_is_not_found_and_an_id_is_added_once(maintenance_store):
    with pytest.raises(NotFound):
        maintenance_store.get("mnt-missing")
    window = maintenance_store.add(a_window()).maintenance
    with pytest.raises(AlreadyExists):
        maintenance_store.add(a_window(id=window.id, title="Another"))
    assert maintenance_store.get(window.id).maintenance == window


def test_append_sets_fields_and_adds_one_entry_at_the_end(maintenance_store):
    added = maintenance_store.add(a_window())
    fields = {"ends_at": format_utc(at(60)), "state": "cancelled", "cancelled_at": format_utc(at(5)),
              "updated_at": format_utc(at(5)), "components": ["Payments", "Website"]}
    entry = an_entry(2, state="cancelled", changes=["cancelled"])
    after = maintenance_store.append(added.maintenance.id, added.etag, fields, entry)
    assert after.etag != added.etag and after == maintenance_store.get(added.maintenance.id)
    assert after.maintenance.model_dump(mode="json", include=set(fields)) == fields
    assert after.maintenance.updates == [*added.maintenance.updates, MaintenanceUpdate.model_validate(entry)]


def test_a_stale_etag_is_refused_and_changes_nothing(maintenance_store):
    added = maintenance_store.add(a_window())
    current = maintenance_store.append(added.maintenance.id, added.etag, {"ends_at": format_utc(at(45))}, an_entry(2))
    with pytest.raises(EtagMismatch):
        maintenance_store.append(added.maintenance.id, added.etag, {"ends_at": format_utc(at(90))}, an_entry(3))
    with pytest.raises(NotFound):
        maintenance_store.append("mnt-missing", added.etag, {}, an_entry(2))
    assert maintenance_store.get(added.maintenance.id) == current


@pytest.mark.parametrize(("fields", "entry"), [
    ({"id": "mnt-other"}, {}),
    ({"updates": []}, {}),
    ({"created_at": format_utc(T0)}, {}),
    ({"ends_at": "0999-06-01T00:00:00.000Z"}, {}),
    ({"components": []}, {}),
    ({"state": "postponed"}, {}),
    ({}, {"state": "verifying"}),
])
def test_an_append_that_cannot_change_in_place_or_would_not_read_back_is_refused(maintenance_store, fields, entry):
    added = maintenance_store.add(a_window())
    with pytest.raises(ValueError):
        maintenance_store.append(added.maintenance.id, added.etag, fields, an_entry(2) | entry)
    with pytest.raises(ValueError):
        check_maintenance_fields(fields, an_entry(2) | entry)
    assert maintenance_store.get(added.maintenance.id) == added


def test_the_timeline_is_append_only(maintenance_store):
    current = maintenance_store.add(a_window())
    seen = [u.model_dump_json() for u in current.maintenance.updates]
    for n in range(2, 22):
        current = maintenance_store.append(current.maintenance.id, current.etag, {"updated_at": format_utc(at(n))},
                                           an_entry(n))
        timeline = [u.model_dump_json() for u in current.maintenance.updates]
        assert timeline[:-1] == seen, "an earlier entry changed"
        seen = timeline
    assert len(seen) == 21
    port_methods = {name for name in vars(MaintenanceStore) if not name.startswith("_")}
    offered = {name for name in dir(maintenance_store)
               if not name.startswith("_") and callable(getattr(maintenance_store, name))}
    assert offered <= port_methods | {"beside"}, "a store offers no way to edit or remove a timeline entry"


def test_sqlite_refuses_to_edit_or_delete_an_entry_even_in_sql(tmp_path):
    store = SqliteMaintenanceStore(tmp_path / "incidents.sqlite3")
    added = store.add(a_window())
    db = sqlite3.connect(tmp_path / "incidents.sqlite3")
    for sql in ("UPDATE maintenance_updates SET body = '{}'", "DELETE FROM maintenance_updates"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(sql)
    db.close()
    assert SqliteMaintenanceStore(tmp_path / "incidents.sqlite3").get(added.maintenance.id) == added


@pytest.fixture
def four_windows(maintenance_store):
    """a: 01:00-01:30 (over), b: 02:00-02:30, c: 02:00-04:00 (same start: by id), d: next week."""
    rows = {"a": (at(-60), at(-30)), "b": (T0, at(30)), "c": (T0, at(120)), "d": (at(7 * 1440), at(7 * 1440 + 60))}
    for name, (starts, ends) in rows.items():
        maintenance_store.add(a_window(id=f"mnt-{name}", starts_at=starts, ends_at=ends))
    return maintenance_store


@pytest.mark.parametrize(("query", "expected"), [
    (MaintenanceQuery(), ["mnt-a", "mnt-b", "mnt-c", "mnt-d"]),
    (MaintenanceQuery(ends_after=at(-30)), ["mnt-b", "mnt-c", "mnt-d"]),  # ended exactly then: out
    (MaintenanceQuery(ends_after=at(60)), ["mnt-c", "mnt-d"]),
    (MaintenanceQuery(starts_before=T0), ["mnt-a"]),
    (MaintenanceQuery(ends_after=at(15), starts_before=at(1440)), ["mnt-b", "mnt-c"]),
    (MaintenanceQuery(limit=2), ["mnt-a", "mnt-b"]),
])
def test_find_returns_the_windows_overlapping_a_range_by_start(four_windows, query, expected):
    assert ids(four_windows.find(query)) == expected


def test_concurrent_read_then_append_writers_lose_nothing(maintenance_store):
    window_id = maintenance_store.add(a_window()).maintenance.id
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            while True:
                current = maintenance_store.get(window_id)
                try:
                    maintenance_store.append(window_id, current.etag, {"updated_at": format_utc(at(n))},
                                             an_entry(n, id=f"w{n}"))
                    return
                except EtagMismatch:
                    time.sleep(random.uniform(0, 0.005))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2, 22)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(u.id for u in maintenance_store.get(window_id).maintenance.updates) == sorted(
        ["u1", *(f"w{n}" for n in range(2, 22))])


def test_sqlite_keeps_maintenance_beside_the_incidents_in_one_file(tmp_path):
    path = tmp_path / "incidents.sqlite3"
    SqliteStore(path).close()
    saved = SqliteMaintenanceStore(path).add(a_window())
    incidents = SqliteStore(path)
    assert incidents.find(IncidentQuery()).items == []
    assert SqliteMaintenanceStore(path).get(saved.maintenance.id) == saved
    incidents.close()


def test_sqlite_on_a_path_that_cannot_be_a_database_names_the_setting(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreMisconfigured, match="^INCIDENTS_SQLITE_PATH: "):
        SqliteMaintenanceStore(tmp_path / "a-file" / "incidents.sqlite3")


@pytest.mark.cosmos
def test_opening_cosmos_without_the_container_names_its_setting(cosmos_emulator):
    with pytest.raises(StoreMisconfigured, match="^COSMOS_MAINTENANCE_CONTAINER: .*'nowhere'"):
        CosmosMaintenanceStore(cosmos_emulator.endpoint, "tests", "nowhere", key=cosmos_emulator.key,
                               verify_tls=False, create_if_missing=False)


def test_the_composition_root_keeps_maintenance_beside_the_incidents(store, dev_key):
    """Given only the incident store (as the tests and the local host do), windows land beside it: in the same SQLite
    file, or in COSMOS_MAINTENANCE_CONTAINER of the same Cosmos DB database."""
    from incidents import bootstrap
    from incidents.domain.maintenance import NewMaintenance
    from incidents.settings import load_settings

    container = f"maintenance-{time.time_ns()}"
    settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key), "COSMOS_MAINTENANCE_CONTAINER": container})
    services = bootstrap.build(settings, store=store, clock=lambda: at(-120))
    created = services.maintenance.create(NewMaintenance(title="Upgrade", message="Down.", components=["Payments"],
                                                         starts_at=T0, ends_at=at(30)), author="ada")
    if isinstance(store, SqliteStore):
        beside = SqliteMaintenanceStore(store.path)
    else:
        beside = CosmosMaintenanceStore.beside(store, container)
    assert beside.get(created.maintenance.id) == created
    beside.close()
