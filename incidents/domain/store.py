"""The incident store port: the few operations the service needs, whatever keeps the data.

The port has no way to rewrite or drop a timeline entry: `append` only adds one, and sets top-level fields. That is
what makes `updates` append-only in every adapter. Every adapter passes tests/integration/test_store_conformance.py.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Protocol

from pydantic import TypeAdapter, ValidationError

from .maintenance import MAINTENANCE_FIELDS, Maintenance, MaintenanceUpdate
from .models import MUTABLE_FIELDS, Incident, PublicIncident, Severity, State, Status, Update, format_utc
from .oncall import Roster


class StoreError(Exception):
    """Base of what a store may raise."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class EtagMismatch(StoreError):
    """Someone else changed the incident since it was read."""


class IncidentTooLarge(StoreError):
    """The store cannot hold a bigger incident (Cosmos DB caps a document at 2 MB)."""


class StoreUnavailable(StoreError):
    """A transient failure (throttling, network, a locked or full database): the caller may retry later."""


class StoreMisconfigured(StoreUnavailable):
    """The store cannot be used as configured (a path that cannot be opened, a missing container, refused
    credentials). Callers still retry later (nothing they sent is wrong); the message names the setting to fix."""


@dataclass(frozen=True)
class Stored:
    incident: Incident
    etag: str  # opaque, quoted as in an HTTP ETag header


@dataclass(frozen=True)
class IncidentQuery:
    state: State | None = None
    status: Status | None = None
    severity: Severity | None = None
    fingerprint: str | None = None  # incidents drafted by alerts with this fingerprint
    updated_since: datetime | None = None  # changed at or after
    active_since: datetime | None = None  # not resolved, or resolved at or after
    public_only: bool = False  # timeline entries: only the public ones are read (the public feed and site)
    escalation_due_by: datetime | None = None  # a running escalation whose next_due_at is at or before this
    oldest_first: bool = False  # by started_at; newest first otherwise
    limit: int = 50
    page_token: str | None = None  # from a previous Page.next_token of the same query

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("limit must be at least 1")


@dataclass(frozen=True)
class Page:
    items: list[Stored]
    next_token: str | None


class IncidentStore(Protocol):
    one_writer: bool
    """True when the store takes one write at a time, whichever incident it changes (SQLite); False when writes to
    different incidents go on side by side (Cosmos DB items). The service takes turns accordingly (service.py)."""

    def add(self, incident: Incident) -> Stored:
        """Store a new incident; AlreadyExists if its id is taken."""

    def get(self, incident_id: str) -> Stored:
        """NotFound if there is no such incident."""

    def append(self, incident_id: str, if_match: str, fields: Mapping[str, Any], update: Mapping[str, Any]) -> Stored:
        """Atomically set `fields` (JSON values, names from MUTABLE_FIELDS) and add `update` (a JSON timeline entry)
        at the end of the timeline, only if the stored etag is still `if_match` (EtagMismatch otherwise)."""

    def find(self, query: IncidentQuery) -> Page:
        """Incidents matching every filter of the query, ordered by started_at (then id), one page at a time."""

    def public_version(self) -> str:
        """A cheap read that changes whenever the public view may have changed: every `add` of a published incident
        and every `append` for which `changes_public_view` holds moves it on. Opaque, and unique to this store (two
        stores never share a value), so that caches of the public view on any instance can tell they are stale."""

    def close(self) -> None: ...


# The fields of an incident that the public sees (PublicIncident's updated_at comes from the public entries).
PUBLIC_FIELDS = frozenset(PublicIncident.model_fields) & frozenset(MUTABLE_FIELDS) - {"updated_at"}


def changes_public_view(state: str, fields: Mapping[str, Any], update: Mapping[str, Any]) -> bool:
    """Whether an append that leaves the incident in `state` (its JSON value) changes what the public sees: it moves
    the incident into or out of the published state, or changes a published incident's public face. An internal
    note on a published incident does not."""
    if "state" in fields:
        return True
    public_entry = update.get("visibility") == "public"
    return state == State.published.value and (public_entry or not PUBLIC_FIELDS.isdisjoint(fields))


def check_fields(fields: Mapping[str, Any], update: Mapping[str, Any] | None = None, *, model: type = Incident,
                 entry: type = Update, mutable: tuple[str, ...] = MUTABLE_FIELDS) -> None:
    """Refuse what an append could write but no one could read back: a field that may not change in place, or a
    value (field or timeline entry) that the models would not accept. Incidents by default; maintenance windows
    with their own model, entry and fields (check_maintenance_fields)."""
    check_field_names(fields, model=model, mutable=mutable)
    try:
        for name, value in fields.items():
            _field_type(model, name).validate_python(value)
        if update is not None:
            entry.model_validate(update)
    except ValidationError as exc:
        raise cannot_be_read_back(exc) from None


def check_field_names(fields: Mapping[str, Any], *, model: type = Incident,
                      mutable: tuple[str, ...] = MUTABLE_FIELDS) -> None:
    """check_fields without the values: for an adapter that reads back the whole new head and entry anyway."""
    unknown = set(fields) - set(mutable)
    if unknown:
        what = "incident" if model is Incident else model.__name__.lower()
        raise ValueError(f"these {what} fields cannot be changed in place: {sorted(unknown)}")


def cannot_be_read_back(exc: ValidationError) -> ValueError:
    return ValueError(f"an append would store what cannot be read back: {exc.errors()[0]['msg']}")


@cache
def _field_type(model: type, name: str) -> TypeAdapter:
    field = model.model_fields[name]
    return TypeAdapter(Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)


def encode_page_token(started_at: str, incident_id: str) -> str:
    """An opaque keyset position: the sort key of the last item of a page."""
    return base64.urlsafe_b64encode(json.dumps([started_at, incident_id]).encode()).decode()


PAGE_TOKEN_MAX = 400  # a token holds a timestamp and an id (at most 100 characters): well under this


def decode_page_token(token: str) -> tuple[str, str]:
    try:
        if len(token) <= PAGE_TOKEN_MAX:
            started_at, incident_id = json.loads(base64.urlsafe_b64decode(token.encode()))
            if isinstance(started_at, str) and isinstance(incident_id, str):
                return started_at, incident_id
    except (binascii.Error, UnicodeError, ValueError, TypeError, RecursionError):
        pass
    raise ValueError("page_token is not valid: pass the next_token of a previous page unchanged")


class ParsedIncidents:
    """The last version read or written of recently used incidents, for an adapter to parse an incident's JSON once
    per version: parsing a 300-entry timeline costs milliseconds, and every change reads the incident, then writes
    it. Keyed by etag, which changes with every write from any process; holds at most `size` incidents."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[str, Stored] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, incident_id: str, etag: str) -> Stored | None:
        with self._lock:
            kept = self._items.get(incident_id)
            if kept is None or kept.etag != etag:
                return None
            self._items.move_to_end(incident_id)
            return kept

    def keep(self, stored: Stored) -> Stored:
        with self._lock:
            self._items[stored.incident.id] = stored
            self._items.move_to_end(stored.incident.id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return stored


def find_all(store: IncidentStore, query: IncidentQuery) -> Iterator[Stored]:
    """Every incident matching `query`, page after page."""
    while True:
        page = store.find(query)
        yield from page.items
        if page.next_token is None:
            return
        query = replace(query, page_token=page.next_token)


def page_of(items: list[Stored], limit: int) -> Page:
    """One page from up to limit + 1 items read in order: the extra item only says that there is a next page."""
    if len(items) <= limit:
        return Page(items, None)
    last = items[limit - 1].incident
    return Page(items[:limit], encode_page_token(format_utc(last.started_at), last.id))


# The roster store port: the on-call roster (people, rotation, overrides, roles) is one small document, read and
# replaced whole, so that every change is checked against the whole (Roster's validators) and is atomic. Every adapter
# passes tests/integration/test_roster_store_conformance.py. Contact details live here and nowhere else.

NO_ROSTER_ETAG = '"0"'  # the etag of a roster that was never saved: `put` with it creates the first one


@dataclass(frozen=True)
class StoredRoster:
    roster: Roster
    etag: str  # opaque, quoted as in an HTTP ETag header


class RosterStore(Protocol):
    def get(self) -> StoredRoster:
        """The roster; an empty Roster() with NO_ROSTER_ETAG if none was ever saved."""

    def put(self, roster: Roster, if_match: str) -> StoredRoster:
        """Replace the whole roster, only if the stored etag is still `if_match` (EtagMismatch otherwise)."""

    def close(self) -> None: ...


# The maintenance store port: announced maintenance windows (domain/maintenance.py), each with its append-only timeline
# as for incidents: `append` sets fields and adds one entry, never rewrites one. Every adapter passes
# tests/integration/test_maintenance_store_conformance.py.


@dataclass(frozen=True)
class StoredMaintenance:
    maintenance: Maintenance
    etag: str  # opaque, quoted as in an HTTP ETag header


@dataclass(frozen=True)
class MaintenanceQuery:
    """Windows that overlap a time range: ending after `ends_after` and starting before `starts_before` (either
    bound left out: no bound), by starts_at then id, at most `limit` of them."""

    ends_after: datetime | None = None
    starts_before: datetime | None = None
    limit: int = 500

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("limit must be at least 1")


class MaintenanceStore(Protocol):
    def add(self, maintenance: Maintenance) -> StoredMaintenance:
        """Store a new window; AlreadyExists if its id is taken."""

    def get(self, maintenance_id: str) -> StoredMaintenance:
        """NotFound if there is no such window."""

    def append(self, maintenance_id: str, if_match: str, fields: Mapping[str, Any],
               update: Mapping[str, Any]) -> StoredMaintenance:
        """Atomically set `fields` (JSON values, names from MAINTENANCE_FIELDS) and add `update` (a JSON timeline
        entry) at the end of the timeline, only if the stored etag is still `if_match` (EtagMismatch otherwise)."""

    def find(self, query: MaintenanceQuery) -> list[StoredMaintenance]:
        """The windows of the query's range, by starts_at then id."""

    def close(self) -> None: ...


def check_maintenance_fields(fields: Mapping[str, Any], update: Mapping[str, Any] | None = None) -> None:
    """As check_fields, for a maintenance window."""
    check_fields(fields, update, model=Maintenance, entry=MaintenanceUpdate, mutable=MAINTENANCE_FIELDS)
