"""The incident store port: the few operations the service needs, whatever keeps the data.

The port has no way to rewrite or drop a timeline entry: `append` only adds one, and sets top-level fields. That is
what makes `updates` append-only in every adapter. Every adapter passes tests/integration/test_store_conformance.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .models import MUTABLE_FIELDS, Incident, Severity, State, Status


class StoreError(Exception):
    """Base of what a store may raise."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class EtagMismatch(StoreError):
    """Someone else changed the incident since it was read."""


class StoreUnavailable(StoreError):
    """A transient failure (throttling, network, a locked database): the caller may retry later."""


@dataclass(frozen=True)
class Stored:
    incident: Incident
    etag: str  # opaque, quoted as in an HTTP ETag header


@dataclass(frozen=True)
class IncidentQuery:
    state: State | None = None
    status: Status | None = None
    severity: Severity | None = None
    updated_since: datetime | None = None  # changed at or after
    active_since: datetime | None = None  # changed at or after, or not yet resolved
    oldest_first: bool = False  # by started_at; newest first otherwise
    limit: int = 50
    page_token: str | None = None  # from a previous Page.next_token of the same query


@dataclass(frozen=True)
class Page:
    items: list[Stored]
    next_token: str | None


class IncidentStore(Protocol):
    def add(self, incident: Incident) -> Stored:
        """Store a new incident; AlreadyExists if its id is taken."""

    def get(self, incident_id: str) -> Stored:
        """NotFound if there is no such incident."""

    def append(self, incident_id: str, if_match: str, fields: Mapping[str, Any], update: Mapping[str, Any]) -> Stored:
        """Atomically set `fields` (JSON values, names from MUTABLE_FIELDS) and add `update` (a JSON timeline entry)
        at the end of the timeline, only if the stored etag is still `if_match` (EtagMismatch otherwise)."""

    def find(self, query: IncidentQuery) -> Page:
        """Incidents matching every filter of the query, ordered by started_at (then id), one page at a time."""

    def close(self) -> None: ...


def check_fields(fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - set(MUTABLE_FIELDS)
    if unknown:
        raise ValueError(f"these incident fields cannot be changed in place: {sorted(unknown)}")
