"""What every roster store must do: each test runs on SQLite and on Cosmos (the emulator), through the port only.

Contact details are obviously fake (example.org, +46 70 000 00 xx): no real person's data in the repository."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import date, datetime, timezone

import pytest

from incidents.domain.oncall import Away, Cover, Person, Roster, Rotation
from incidents.domain.store import NO_ROSTER_ETAG, EtagMismatch, RosterStore, StoreMisconfigured, StoreUnavailable
from incidents.stores.cosmos import OPERATION_TIMEOUT_S, CosmosRosterStore
from incidents.stores.sqlite import SqliteRosterStore

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def person(person_id: str, number: int, **fields) -> Person:
    return Person.model_validate({
        "id": person_id, "display_name": person_id.capitalize(), "email": f"{person_id}@example.org",
        "mobile": f"+46 70 000 00 {number:02d}", "slack_user_id": f"U0{person_id.upper()}",
        "time_zone": "Europe/Paris", **fields,
    })


def a_roster(*names: str, **fields) -> Roster:
    names = names or ("alice", "bob", "carol")
    return Roster(people=[person(name, n) for n, name in enumerate(names, start=1)],
                  rotation=Rotation(people=list(names), first_handover=date(2026, 11, 2)), **fields)


def reopened(store: RosterStore) -> RosterStore:
    """Another store on the same file or container, as another process would open it."""
    if isinstance(store, SqliteRosterStore):
        return SqliteRosterStore(store.path)
    assert isinstance(store, CosmosRosterStore)
    return CosmosRosterStore.beside(store, store.container)


def test_a_roster_never_saved_is_empty_with_the_no_roster_etag(roster_store):
    stored = roster_store.get()
    assert stored.roster == Roster() and stored.etag == NO_ROSTER_ETAG


def test_put_then_get_round_trips_people_rotation_overrides_and_roles(roster_store):
    roster = a_roster(
        overrides=[
            Cover(id="ovr-swap", layer="primary", covered="alice", by="carol", starts_at=T0,
                  ends_at=datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)),
            Away(id="ovr-vacation", person="bob", starts_at=T0, ends_at=datetime(2026, 12, 7, tzinfo=timezone.utc)),
        ],
        roles={"engineering-lead": "carol", "communications": "alice"},
    )
    saved = roster_store.put(roster, NO_ROSTER_ETAG)
    got = roster_store.get()
    assert got.roster == roster == saved.roster
    assert got.etag == saved.etag != NO_ROSTER_ETAG
    assert got.etag.startswith('"') and got.etag.endswith('"')


def test_contact_details_read_back_exactly(roster_store):
    people = [person("alice", 1, display_name="Alice Ångström-Œuvre", may_publish=True),
              person("bob.b", 2, email="bob+oncall@mail.example.org", mobile="+1 (555) 000-0002",
                     slack_user_id="W0BOB", time_zone="America/Los_Angeles")]
    roster_store.put(Roster(people=people), NO_ROSTER_ETAG)
    [alice, bob] = roster_store.get().roster.people
    assert alice.model_dump() == people[0].model_dump() and alice.display_name == "Alice Ångström-Œuvre"
    assert (bob.email, bob.mobile, bob.slack_user_id, bob.time_zone) == (
        "bob+oncall@mail.example.org", "+15550000002", "W0BOB", "America/Los_Angeles")


def test_each_put_moves_the_etag_on(roster_store):
    first = roster_store.put(a_roster(), NO_ROSTER_ETAG)
    second = roster_store.put(a_roster("alice", "bob"), first.etag)
    assert second.etag not in (first.etag, NO_ROSTER_ETAG)
    assert roster_store.get() == second


def test_a_stale_etag_is_refused_and_changes_nothing(roster_store):
    first = roster_store.put(a_roster(), NO_ROSTER_ETAG)
    current = roster_store.put(a_roster("alice", "bob"), first.etag)
    with pytest.raises(EtagMismatch):
        roster_store.put(a_roster("carol"), first.etag)
    with pytest.raises(EtagMismatch):  # "create" once a roster exists
        roster_store.put(a_roster("carol"), NO_ROSTER_ETAG)
    with pytest.raises(EtagMismatch):
        roster_store.put(a_roster("carol"), '"made-up"')
    assert roster_store.get() == current


def test_an_etag_before_any_roster_is_refused(roster_store):
    with pytest.raises(EtagMismatch):
        roster_store.put(a_roster(), '"made-up"')
    assert roster_store.get().etag == NO_ROSTER_ETAG


def test_concurrent_first_puts_let_exactly_one_win(roster_store):
    rosters = [a_roster(name) for name in ("alice", "bob", "carol", "dave", "erik", "fay")]
    outcomes: dict[str, str] = {}
    start = threading.Barrier(len(rosters))

    def put(roster: Roster) -> None:
        start.wait()
        try:
            roster_store.put(roster, NO_ROSTER_ETAG)
            outcomes[roster.people[0].id] = "saved"
        except EtagMismatch:
            outcomes[roster.people[0].id] = "refused"

    threads = [threading.Thread(target=put, args=(r,)) for r in rosters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [winner] = [name for name, outcome in outcomes.items() if outcome == "saved"]
    assert sorted(outcomes.values()) == ["refused"] * 5 + ["saved"]
    assert [p.id for p in roster_store.get().roster.people] == [winner]


def test_a_store_reopened_on_the_same_file_or_container_keeps_the_roster(roster_store):
    saved = roster_store.put(a_roster(roles={"engineering-lead": "bob"}), NO_ROSTER_ETAG)
    other = reopened(roster_store)
    try:
        assert other.get() == saved
        again = other.put(a_roster("alice", "bob"), saved.etag)
        assert roster_store.get() == again
    finally:
        other.close()


def test_sqlite_keeps_the_roster_and_the_incidents_in_one_file(tmp_path):
    """The deployed layout: INCIDENTS_SQLITE_PATH holds both, and opening either leaves the other as it was."""
    from incidents.domain.store import IncidentQuery
    from incidents.stores.sqlite import SqliteStore

    path = tmp_path / "incidents.sqlite3"
    SqliteStore(path).close()
    saved = SqliteRosterStore(path).put(a_roster(), NO_ROSTER_ETAG)
    incidents = SqliteStore(path)
    assert incidents.find(IncidentQuery()).items == []
    assert SqliteRosterStore(path).get() == saved
    incidents.close()


# Failures: transient ones are StoreUnavailable (HTTP 503), a missing container names its setting


def test_sqlite_busy_past_the_timeout_is_store_unavailable(tmp_path):
    store = SqliteRosterStore(tmp_path / "incidents.sqlite3", busy_timeout=0.05)
    saved = store.put(a_roster(), NO_ROSTER_ETAG)
    other = sqlite3.connect(tmp_path / "incidents.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with pytest.raises(StoreUnavailable, match="busy"):
        store.put(a_roster("alice"), saved.etag)
    other.execute("ROLLBACK")
    assert store.get() == saved
    assert store.put(a_roster("alice"), saved.etag).roster == a_roster("alice")


def test_sqlite_on_a_path_that_cannot_be_a_database_names_the_setting(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreMisconfigured, match="^INCIDENTS_SQLITE_PATH: "):
        SqliteRosterStore(tmp_path / "a-file" / "incidents.sqlite3")


@pytest.mark.cosmos
@pytest.mark.parametrize(("status", "substatus", "error"), [
    (429, None, StoreUnavailable),
    (503, None, StoreUnavailable),
    (404, 1003, StoreMisconfigured),  # the container is gone: not "no roster yet"
])
def test_cosmos_failures_are_the_ports_errors_within_the_bound(faults, cosmos_emulator, status, substatus, error):
    store = CosmosRosterStore(faults.endpoint, "tests", f"oncall-faults-{time.time_ns()}", key=cosmos_emulator.key,
                              verify_tls=False)
    saved = store.put(a_roster(), NO_ROSTER_ETAG)
    faults.answer(status, substatus=substatus, retry_after_ms=5000)
    for call in (store.get, lambda: store.put(a_roster("alice"), saved.etag)):
        started = time.monotonic()
        with pytest.raises(error) as raised:
            call()
        assert time.monotonic() - started < OPERATION_TIMEOUT_S and type(raised.value) is error
    if error is StoreMisconfigured:
        assert "COSMOS_ONCALL_CONTAINER" in str(raised.value)
    faults.heal()
    assert store.get() == saved
    store.close()


@pytest.mark.cosmos
def test_opening_cosmos_without_the_container_names_its_setting(cosmos_emulator):
    with pytest.raises(StoreMisconfigured, match="^COSMOS_ONCALL_CONTAINER: .*'nowhere'"):
        CosmosRosterStore(cosmos_emulator.endpoint, "tests", "nowhere", key=cosmos_emulator.key, verify_tls=False,
                          create_if_missing=False)


def test_the_composition_root_keeps_the_roster_beside_the_incidents(store, dev_key):
    """Given only the incident store (as the tests and the local host do), the roster lands beside it: in the same
    SQLite file, or in COSMOS_ONCALL_CONTAINER of the same Cosmos DB database."""
    from incidents import bootstrap
    from incidents.settings import load_settings
    from incidents.stores.sqlite import SqliteStore

    container = f"oncall-{time.time_ns()}"
    settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key), "COSMOS_ONCALL_CONTAINER": container})
    services = bootstrap.build(settings, store=store)
    services.roster.add_person(person("alice", 1))
    if isinstance(store, SqliteStore):
        beside = SqliteRosterStore(store.path)
    else:
        beside = CosmosRosterStore.beside(store, container)
    assert [p.id for p in beside.get().roster.people] == ["alice"]
    beside.close()
