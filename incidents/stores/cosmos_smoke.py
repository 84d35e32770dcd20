"""What a deployment must check once against its real Cosmos DB account, because the tests' stand-in cannot: run by
hand, never by the tests (docs/engineering/cosmos-db.md).

    COSMOS_ENDPOINT=https://<account>.documents.azure.com:443/ [COSMOS_KEY=...] \\
    COSMOS_DATABASE=incidents COSMOS_CONTAINER=incidents  python -m incidents.stores.cosmos_smoke

Without COSMOS_KEY it signs in with DefaultAzureCredential (`az login`, or the managed identity), which needs the
Cosmos DB Built-in Data Contributor role on the database. It writes one dismissed incident (never public) whose id
starts with `smoke-`, and deletes it at the end. It checks, and prints with the request units each step cost:
1. the container is reachable and declares the composite indexes of INDEXING_POLICY;
2. what each query shape `find` sends costs: a few RU on a small container; a cost that grows with the container
   means a query is not served by its composite index (the Data Explorer's "Query Stats" show the index used);
3. Azure refuses an item over 2 MB (413), and accepts an incident at our byte budget (domain/size.py);
4. a second client (another instance, another session) reads the write of the first.
Exit status 0 when every check passed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from datetime import datetime, timezone

from ..domain.models import Incident
from ..domain.size import COSMOS_ITEM_LIMIT, MAX_INCIDENT_BYTES, incident_bytes
from ..domain.store import IncidentQuery
from .cosmos import INDEXING_POLICY, CosmosStore

QUERIES = {
    "admin list, newest first": IncidentQuery(limit=50),
    "admin list of drafts, oldest first": IncidentQuery(state="draft", oldest_first=True, limit=50),
    "public feed": IncidentQuery(state="published", active_since=datetime(2026, 1, 1, tzinfo=timezone.utc),
                                 public_only=True, limit=50),
    "alert grouping by fingerprint": IncidentQuery(fingerprint="smoke-fingerprint", limit=5),
}


def charge(store: CosmosStore) -> str:
    headers = store._container.client_connection.last_response_headers or {}
    return f"{float(headers.get('x-ms-request-charge', 0)):.1f} RU"


def smoke_incident(incident_id: str, note_bytes: int) -> Incident:
    now = datetime.now(timezone.utc)
    entry = {"id": "u1", "at": now, "status": "resolved", "severity": "sev3", "author": "cosmos_smoke",
             "visibility": "internal", "note": "smoke test"}
    # Entries of four 2,000-character messages and a note (about 10 KB each) until it is about note_bytes big.
    words = {locale: "s" * 2000 for locale in ("en", "fr", "es", "sv")}
    updates = [entry | {"id": f"u{n}", "message": words, "note": "s" * 2000}
               for n in range(1, max(1, note_bytes // 10_300) + 1)]
    return Incident.model_validate({
        "id": incident_id, "title": "Cosmos DB smoke test", "severity": "sev3", "status": "resolved",
        "state": "dismissed", "public_message": "Smoke test, never public.", "started_at": now, "updated_at": now,
        "resolved_at": now, "updates": updates,
    })


def main() -> int:
    from azure.cosmos import exceptions

    endpoint = os.environ["COSMOS_ENDPOINT"]
    store = CosmosStore(endpoint, os.environ.get("COSMOS_DATABASE", "incidents"),
                        os.environ.get("COSMOS_CONTAINER", "incidents"), key=os.environ.get("COSMOS_KEY") or None,
                        create_if_missing=False)
    failed: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            failed.append(what)

    declared = store._container.read().get("indexingPolicy", {})
    check(declared.get("compositeIndexes") == INDEXING_POLICY["compositeIndexes"],
          "1. the container declares INDEXING_POLICY's composite indexes")

    for name, query in QUERIES.items():
        store.find(query)
        check(True, f"2. {name}: {charge(store)}")

    incident_id = f"smoke-{uuid.uuid4().hex[:12]}"
    container = store._container
    try:
        at_budget = smoke_incident(incident_id, MAX_INCIDENT_BYTES - 10_000)
        store.add(at_budget)
        check(True, f"3. an incident of {incident_bytes(at_budget):,} bytes is accepted ({charge(store)})")
        too_big = {"id": f"{incident_id}-big", "padding": "x" * (COSMOS_ITEM_LIMIT + 100_000)}
        try:
            container.create_item(too_big)
            container.delete_item(too_big["id"], partition_key=too_big["id"])
            check(False, "3. Azure refuses an item over 2 MB")
        except exceptions.CosmosHttpResponseError as exc:
            check(exc.status_code == 413, f"3. Azure refuses an item over 2 MB ({exc.status_code})")

        other = CosmosStore(endpoint, store.database, store.container, key=os.environ.get("COSMOS_KEY") or None,
                            create_if_missing=False)
        check(other.get(incident_id).incident.id == incident_id, "4. another client reads the write at once")
        other.close()
    finally:
        with contextlib.suppress(exceptions.CosmosResourceNotFoundError):
            container.delete_item(incident_id, partition_key=incident_id)
        store.close()
    print("every check passed" if not failed else f"{len(failed)} check(s) failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
