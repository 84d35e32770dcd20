"""The byte budget of one incident: what keeps every incident storable as one Cosmos DB item, and resolvable.

An incident is one document with its whole timeline. Cosmos DB refuses an item over 2 MB, "UTF-8 length of JSON
representation" (learn.microsoft.com/azure/cosmos-db/concepts-limits, "Per-item limits"), and a refused write would
freeze the incident: not even its resolution could be recorded. So the service, for every store alike, measures the
incident a change leads to the same way (compact JSON, UTF-8) and refuses, with IncidentTooLarge, any change that
would take it over MAX_INCIDENT_BYTES; and any change that would leave less than CLOSING_RESERVE below that, unless
the change resolves or dismisses the incident. The reserve is the most that one closing change can add (computed
below from the models' limits), so a resolution always fits. Timeline entries count the same way: the last of the
MAX_UPDATES slots is kept for the closing entry.
"""

from __future__ import annotations

import json
from typing import Any

from .models import (
    LOCALES,
    MAX_COMPONENTS,
    MAX_UPDATES,
    MESSAGE_MAX,
    TITLE_MAX,
    Incident,
    State,
    Status,
    incident_json,
)
from .store import IncidentTooLarge

COSMOS_ITEM_LIMIT = 2_000_000  # "2 MB"; read as decimal megabytes to be safe
MAX_INCIDENT_BYTES = 1_800_000  # ours; the rest is for Cosmos DB's system properties (_rid, _etag, ...) and margin
AUTHOR_MAX = 256  # an admin's name from a token; longer ones only eat into the margin above


def size_of(data: Any) -> int:
    """Bytes of `data` as compact UTF-8 JSON, as Cosmos DB counts an item."""
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())


def incident_bytes(incident: Incident) -> int:
    return len(incident_json(incident).encode())


def _largest_closing_change() -> int:
    """The most bytes one resolving (or dismissing) change can add: a full entry, and every field replaced by its
    largest value, in the widest characters (4 bytes in UTF-8)."""
    wide = "\U0001f6a8"
    words = {locale: wide * MESSAGE_MAX for locale in LOCALES}
    entry = {"id": f"u{MAX_UPDATES}", "at": "2026-11-26T21:43:00.000Z", "status": "resolved", "severity": "sev1",
             "message": words, "note": wide * MESSAGE_MAX, "author": "a" * AUTHOR_MAX, "visibility": "public",
             "changes": ["status", "severity", "title", "public_message", "components", "confirmed", "reopened"],
             "alert": None}
    fields = {"title": {locale: wide * TITLE_MAX for locale in LOCALES}, "public_message": words,
              "components": [wide * 80] * MAX_COMPONENTS, "resolved_at": entry["at"], "updated_at": entry["at"],
              "acknowledged_at": entry["at"], "status": "investigating", "state": "published", "severity": "sev1"}
    return size_of(entry) + size_of(fields)


CLOSING_RESERVE = _largest_closing_change()


def closes(before: Incident, after: Incident) -> bool:
    """Whether the change from `before` to `after` resolves or dismisses the incident."""
    resolves = after.status is Status.resolved and before.status is not Status.resolved
    dismisses = after.state is State.dismissed and before.state is not State.dismissed
    return resolves or dismisses


def check_room(before: Incident, after: Incident) -> None:
    """IncidentTooLarge unless the incident may grow from `before` to `after` (see the module's docstring)."""
    closing = closes(before, after)
    if not closing and len(after.updates) >= MAX_UPDATES:
        raise IncidentTooLarge(f"Incident {after.id} has {len(before.updates)} updates; the last one of "
                               f"{MAX_UPDATES} is kept for resolving it. Resolve it, and open a follow-up incident.")
    limit = MAX_INCIDENT_BYTES if closing else MAX_INCIDENT_BYTES - CLOSING_RESERVE
    size = incident_bytes(after)
    if size > limit:
        kept = "" if closing else " (the rest is kept for resolving it)"
        raise IncidentTooLarge(
            f"Incident {after.id} would take {size:,} bytes; it may hold {limit:,}{kept}. Resolve it, and open a "
            "follow-up incident for what comes next."
        )
