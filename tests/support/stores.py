"""Pytest plugin: a fresh, empty incident store per test, on each adapter.

`store` is parametrised over SQLite and Cosmos (the emulator; marked `cosmos`), so a test that uses it runs on both.
`store_factory(kind)` opens more stores in one test; `make_store` builds one outside a fixture. `roster_store` is
an on-call roster store beside `store`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from incidents.domain.store import IncidentStore, RosterStore

STORE_KINDS = ("sqlite", "cosmos")
COSMOS_DATABASE = "tests"


def make_store(kind: str, *, tmp_path: Path, cosmos_emulator=None) -> IncidentStore:
    """A new empty store: SQLite in a new file under tmp_path, Cosmos in a new container of the emulator."""
    name = f"incidents-{uuid.uuid4().hex[:12]}"
    if kind == "sqlite":
        from incidents.stores.sqlite import SqliteStore

        return SqliteStore(tmp_path / f"{name}.sqlite3")
    if kind == "cosmos":
        from incidents.stores.cosmos import CosmosStore

        if cosmos_emulator is None:
            raise ValueError("a cosmos store needs the cosmos_emulator fixture's value")
        return CosmosStore(
            cosmos_emulator.endpoint,
            COSMOS_DATABASE,
            name,
            key=cosmos_emulator.key,
            verify_tls=cosmos_emulator.verify_tls,
        )
    raise ValueError(f"unknown store kind {kind!r}; expected one of {STORE_KINDS}")


@pytest.fixture
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], IncidentStore]]:
    opened: list[IncidentStore] = []

    def factory(kind: str) -> IncidentStore:
        # Only a Cosmos store starts (or reuses) the emulator.
        emulator = request.getfixturevalue("cosmos_emulator") if kind == "cosmos" else None
        store = make_store(kind, tmp_path=tmp_path, cosmos_emulator=emulator)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("cosmos", id="cosmos", marks=pytest.mark.cosmos)]
)
def store(request: pytest.FixtureRequest, store_factory: Callable[[str], IncidentStore]) -> IncidentStore:
    return store_factory(request.param)


@pytest.fixture
def roster_store(request: pytest.FixtureRequest, store: IncidentStore) -> Iterator[RosterStore]:
    """A new, empty roster store beside `store`, so of its kind too: in the same SQLite file (as deployed), or in a
    new container of the emulator."""
    from incidents.stores.sqlite import SqliteRosterStore, SqliteStore

    if isinstance(store, SqliteStore):
        roster = SqliteRosterStore(store.path)
    else:
        from incidents.stores.cosmos import CosmosRosterStore

        emulator = request.getfixturevalue("cosmos_emulator")
        roster = CosmosRosterStore(emulator.endpoint, COSMOS_DATABASE, f"oncall-{uuid.uuid4().hex[:12]}",
                                   key=emulator.key, verify_tls=emulator.verify_tls)
    yield roster
    roster.close()
