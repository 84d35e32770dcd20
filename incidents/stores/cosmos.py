"""The incident store on Azure Cosmos DB for NoSQL (sync azure-cosmos client).

One document per incident: the incident's JSON (`id` = the incident id) with its timeline embedded in `updates`,
plus Cosmos system properties (`_etag`, `_rid`, `_self`, `_attachments`, `_ts`) that are stripped before validation.
The ETag is Cosmos's own `_etag`, already quoted like an HTTP ETag, passed through unchanged.

Partition key `/id`: every operation but `find` reads or patches one incident by id, and point reads and patches
are cheapest when the partition key is the id; writes spread evenly over partitions; `find` is a small
cross-partition query. A field like state or status would make a hot partition, and it changes, which a partition
key cannot.

`append` is one patch (set each field, add the entry at `/updates/-`) guarded by If-Match, so it is atomic and
never rewrites earlier entries. Paging is keyset paging on (started_at, id), the same opaque token as SQLite, not
the SDK continuation token: the Python SDK's continuation for cross-partition ORDER BY queries is not reliable on a
multi-partition container (Azure/azure-sdk-for-python issues 37230, 41434), and the emulator has one partition so
tests could not tell. The two-field ORDER BY needs the composite indexes of INDEXING_POLICY: a container created
elsewhere (Bicep) must declare them too.

`public_version` reads one small marker document (PUBLIC_VIEW_ID, in the same container, left out of every query)
whose counter is incremented (a patch) after every write that changes the public view. Cosmos DB has no transaction
across two partitions, so the increment follows the write: a process that dies between the two leaves the counter
behind until the next public write, which is why caches of the public view also expire on their own (service.py).

With a key, the client may create the database and container (create_if_missing). With Entra ID
(DefaultAzureCredential, e.g. a managed identity) the data-plane roles cannot create them: pass
create_if_missing=False and provision them with the infrastructure; opening the store then checks that both exist.

Every call is bounded (CLIENT_BOUNDS, OPERATION_TIMEOUT_S, and the request's budget from domain/deadline.py) and
every failure becomes the port's error by status and sub-status: a missing container or refused credentials are
StoreMisconfigured naming the setting to fix, never NotFound. docs/engineering/cosmos-db.md has the measurements,
and what the Cosmos stand-in of the tests does not check.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import CosmosClient, PartitionKey, exceptions
from pydantic import ValidationError

from ..domain.deadline import time_left
from ..domain.maintenance import Maintenance
from ..domain.models import Incident, Severity, State, Status, Update, format_utc
from ..domain.oncall import Roster
from ..domain.store import (
    NO_ROSTER_ETAG,
    AlreadyExists,
    EtagMismatch,
    IncidentQuery,
    IncidentTooLarge,
    MaintenanceQuery,
    NotFound,
    Page,
    ParsedIncidents,
    Stored,
    StoredMaintenance,
    StoredRoster,
    StoreError,
    StoreMisconfigured,
    StoreUnavailable,
    changes_public_view,
    check_fields,
    check_maintenance_fields,
    decode_page_token,
    page_of,
)

# The container's indexing policy; infrastructure/modules/cosmos.bicep declares the same block (a test keeps them
# equal). A composite index serves an ORDER BY on its paths in its own order or entirely reversed, so one per query
# shape serves both `order`s; a query filtering on a path by equality orders by that path first, so the index that
# starts with it serves both the filter and the sort (learn.microsoft.com/azure/cosmos-db/index-policy, "Composite
# indexes": "Queries with a filter and ORDER BY").
INDEXING_POLICY = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": "/updates/*"}, {"path": '/"_etag"/?'}],
    "compositeIndexes": [
        [{"path": "/started_at", "order": "ascending"}, {"path": "/id", "order": "ascending"}],
        [{"path": "/state", "order": "ascending"}, {"path": "/started_at", "order": "ascending"},
         {"path": "/id", "order": "ascending"}],
        [{"path": "/source/fingerprint", "order": "ascending"}, {"path": "/started_at", "order": "ascending"},
         {"path": "/id", "order": "ascending"}],
    ],
}

# How long one call may take (azure-cosmos 4.17; sources: cosmos_client.py _build_connection_policy, documents.py
# ConnectionPolicy, _retry_utility.py Execute, _resource_throttle_retry_policy.py). The SDK's defaults nest retry
# loops (9 throttle retries up to 30 s of waits per request, inside query and region retries): one query under
# steady 429s ran for 100 s. Every call also gets an absolute `timeout`, clipped to the request's budget
# (domain/deadline.py), which the SDK checks before each attempt and each wait; the waits below are short so that
# it cannot oversleep by much. The measured results are in docs/engineering/cosmos-db.md.
CLIENT_BOUNDS = {
    "retry_total": 2,  # throttle retries (RetryOptions.MaxRetryAttemptCount, default 9) and connection retries
    "retry_fixed_interval": 250,  # ms between throttle retries, instead of x-ms-retry-after-ms (seconds at worst)
    "retry_backoff_max": 1,  # s: cap of the throttle waits (default 30) and of a connection retry's backoff
    "retry_backoff_factor": 0.2,  # s: a connection retry's wait (azure-core RetryPolicy, fixed mode; default 1)
    "connection_timeout": 2,  # s to connect (default 5)
    "read_timeout": 3,  # s without a byte of the answer (default 65)
}
OPERATION_TIMEOUT_S = 5.0  # per call, outside any request budget (timers, the command line)
MIN_ATTEMPT_S = 0.3  # no call is started with less of the budget left than this
# SDK calls run here, so that a caller can stop waiting (CosmosStore._call). A call given up on keeps its worker
# until the SDK's bounds end it; when all are busy, calls queue, and the wait counts against their budget.
_WORKERS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="cosmos")
T = TypeVar("T")
log = logging.getLogger(__name__)
PUBLIC_VIEW_ID = "_public-view"  # no incident id can start with "_" (api/functions.py _ID)

# Cosmos DB's status and sub-status codes (learn.microsoft.com/rest/api/cosmos-db/http-status-codes-for-cosmosdb;
# sub-statuses as named in azure/cosmos/http_constants.py SubStatusCodes). A 404 is "no such incident" only with
# no sub-status: 404/1003 means the container or database itself is missing, 404/1002 a replica behind the session.
_OWNER_RESOURCE_NOT_FOUND, _READ_SESSION_NOT_AVAILABLE = 1003, 1002
_BY_STATUS: dict[int, type[Exception]] = {
    409: AlreadyExists,
    412: EtagMismatch,
    413: IncidentTooLarge,  # a document is capped at 2 MB; the service keeps incidents well under it
    408: StoreUnavailable,
    410: StoreUnavailable,  # gone: a partition moved (410/1002 partition key range gone, 1007 split)
    429: StoreUnavailable,  # only after the SDK's own retries
    449: StoreUnavailable,  # retry with: a concurrent update on the server side
}


def _stored(doc: Mapping[str, Any], *, public_only: bool = False) -> Stored:
    # System properties all start with "_" and no incident field does.
    fields = {k: v for k, v in doc.items() if not k.startswith("_")}
    if public_only:  # internal entries are dropped before they cost a parse
        fields["updates"] = [u for u in fields.get("updates", ()) if u.get("visibility") == "public"]
    return Stored(Incident.model_validate(fields), doc["_etag"])


class CosmosContainer:
    """One container of the account, and every call to it bounded and mapped to the port's errors: what the incident
    and the roster stores share. `container_setting` is the setting that names the container, for error messages."""

    container_setting = "COSMOS_CONTAINER"
    indexing_policy: dict[str, Any] | None = None  # None: Cosmos DB's default (every path, consistent)

    def __init__(
        self,
        endpoint: str,
        database: str,
        container: str,
        *,
        key: str | None = None,
        credential: Any = None,
        verify_tls: bool = True,
        create_if_missing: bool = True,
    ) -> None:
        """Connects and checks that the container is there (StoreMisconfigured names the setting to fix)."""
        self.endpoint, self.database, self.container = endpoint, database, container
        if credential is None and key is None:
            from azure.identity import DefaultAzureCredential  # only deployments without a key pay for this import

            credential = DefaultAzureCredential()
        self._client = self._container = None
        self._options = {"credential": credential or key, "verify_tls": verify_tls,
                         "create_if_missing": create_if_missing}  # to open another container alike (`beside`)
        self._call("open the store", lambda bounds: self._open(credential or key, verify_tls, create_if_missing,
                                                                bounds))

    def _open(self, credential: Any, verify_tls: bool, create_if_missing: bool, bounds: dict[str, float]) -> None:
        self._client = CosmosClient(self.endpoint, credential=credential, connection_verify=verify_tls,
                                    **CLIENT_BOUNDS)
        if create_if_missing:
            db = self._client.create_database_if_not_exists(self.database, **bounds)
            self._container = db.create_container_if_not_exists(
                self.container, partition_key=PartitionKey(path="/id"), indexing_policy=self.indexing_policy, **bounds
            )
        else:
            db = self._client.get_database_client(self.database)
            self._container = db.get_container_client(self.container)
            self._check_exists(db.read, f"database '{self.database}'", "COSMOS_DATABASE", bounds)
            self._check_exists(self._container.read, f"container '{self.container}'", self.container_setting, bounds)

    def _check_exists(self, read, what: str, setting: str, bounds: dict[str, float]) -> None:
        try:
            read(**bounds)
        except exceptions.CosmosResourceNotFoundError:
            raise StoreMisconfigured(
                f"{setting}: Cosmos DB has no {what} at {self.endpoint}; create it (infrastructure/main.bicep) or "
                f"set {setting} to the one that exists"
            ) from None

    def _timeouts(self) -> dict[str, float]:
        """The SDK's per-call bounds: what is left of the request's budget, at most OPERATION_TIMEOUT_S."""
        left = time_left()
        if left is not None and left < MIN_ATTEMPT_S:
            raise StoreUnavailable("Cosmos DB: the request's time budget is spent")
        seconds = OPERATION_TIMEOUT_S if left is None else min(left, OPERATION_TIMEOUT_S)
        return {"timeout": seconds, "read_timeout": min(seconds, CLIENT_BOUNDS["read_timeout"])}

    def _call(self, what: str, call: Callable[[dict[str, float]], T]) -> T:
        """`call(bounds)` on a worker thread, given up when its time is up whatever the SDK is still doing: the SDK
        checks its `timeout` only between attempts and waits, so a slow answer can outlast it (measured: a query
        against a gateway answering in 3 s took 9 s)."""
        bounds = self._timeouts()
        with self._mapped(what):
            attempt = _WORKERS.submit(call, bounds)
            try:
                return attempt.result(timeout=bounds["timeout"])
            except TimeoutError:
                attempt.cancel()  # it still runs if it started, until the SDK's own bounds end it
                raise StoreUnavailable(f"{what}: Cosmos DB at {self.endpoint} (COSMOS_ENDPOINT) did not answer "
                                       f"within {bounds['timeout']:.1f} s") from None

    @contextmanager
    def _mapped(self, what: str) -> Iterator[None]:
        """SDK errors as the port's, by status and sub-status; configuration errors name the setting to fix."""
        try:
            yield
        except exceptions.CosmosHttpResponseError as exc:
            status, sub = exc.status_code or 0, getattr(exc, "sub_status", None) or 0
            answered = f"{what}: Cosmos DB answered {status}" + (f"/{sub}" if sub else "")
            if status == 404 and sub == _OWNER_RESOURCE_NOT_FOUND:
                raise StoreMisconfigured(
                    f"COSMOS_DATABASE/{self.container_setting}: {answered}: the database '{self.database}' or the "
                    f"container '{self.container}' does not exist at {self.endpoint}"
                ) from exc
            if status in (401, 403):
                raise StoreMisconfigured(
                    f"COSMOS_KEY: {answered}: the account at {self.endpoint} refused our credentials; check "
                    "COSMOS_KEY, or the managed identity's Cosmos DB data role on the database"
                ) from exc
            if status == 404:
                raise (NotFound if sub == 0 else StoreUnavailable)(answered) from exc
            error = _BY_STATUS.get(status) or (StoreUnavailable if status >= 500 else None)
            if error is None:
                raise
            raise error(answered) from exc
        except (exceptions.CosmosClientTimeoutError, ServiceRequestError, ServiceResponseError) as exc:
            raise StoreUnavailable(f"{what}: Cosmos DB at {self.endpoint} (COSMOS_ENDPOINT) did not answer in "
                                   f"time: {type(exc).__name__}") from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class CosmosStore(CosmosContainer):
    indexing_policy = INDEXING_POLICY
    one_writer = False  # each item is written on its own

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # What was parsed, by etag (store.ParsedIncidents): documents still come whole; their parse is what is saved.
        self._parsed, self._parsed_public = ParsedIncidents(), ParsedIncidents(4096)

    def add(self, incident: Incident) -> Stored:
        body = incident.model_dump(mode="json")
        added = _stored(self._call(f"add {incident.id}", lambda bounds: self._container.create_item(body, **bounds)))
        if incident.state is State.published:
            self._bump_public_view()
        return added

    def get(self, incident_id: str) -> Stored:
        doc = self._call(f"get {incident_id}", lambda bounds: self._container.read_item(
            item=incident_id, partition_key=incident_id, **bounds))
        return self._parsed.get(incident_id, doc["_etag"]) or self._parsed.keep(_stored(doc))

    def append(self, incident_id: str, if_match: str, fields: Mapping[str, Any], update: Mapping[str, Any]) -> Stored:
        check_fields(fields, update)  # also keeps the patch within Cosmos's 10 operations: 9 fields + the entry
        operations = [{"op": "set", "path": f"/{name}", "value": value} for name, value in fields.items()]
        operations.append({"op": "add", "path": "/updates/-", "value": dict(update)})
        doc = self._call(f"append to {incident_id}", lambda bounds: self._container.patch_item(
            item=incident_id,
            partition_key=incident_id,
            patch_operations=operations,
            etag=if_match,
            match_condition=MatchConditions.IfNotModified,
            **bounds,
        ))
        if changes_public_view(doc["state"], fields, update):
            self._bump_public_view()
        kept = self._parsed.get(incident_id, if_match)  # the version the patch applied to, if parsed already
        if kept is None or len(doc["updates"]) != len(kept.incident.updates) + 1:
            return self._parsed.keep(_stored(doc))
        head = _stored({k: v for k, v in doc.items() if k != "updates"})
        updates = [*kept.incident.updates, Update.model_validate(doc["updates"][-1])]
        return self._parsed.keep(Stored(head.incident.model_copy(update={"updates": updates}), head.etag))

    def find(self, query: IncidentQuery) -> Page:
        where, params = [], []
        for name, kind in (("state", State), ("status", Status), ("severity", Severity)):
            value = getattr(query, name)
            if value is not None:
                where.append(f"c.{name} = @{name}")
                params.append({"name": f"@{name}", "value": kind(value).value})  # kind(): also a plain string
        if query.fingerprint is not None:
            where.append("c.source.fingerprint = @fingerprint")
            params.append({"name": "@fingerprint", "value": query.fingerprint})
        if query.updated_since is not None:
            where.append("c.updated_at >= @updated_since")
            params.append({"name": "@updated_since", "value": format_utc(query.updated_since)})
        if query.active_since is not None:
            where.append("(c.status != 'resolved' OR c.resolved_at >= @active_since)")
            params.append({"name": "@active_since", "value": format_utc(query.active_since)})
        if query.escalation_due_by is not None:  # stopped escalations have next_due_at null: never <=
            where.append("c.escalation.next_due_at <= @due_by")
            params.append({"name": "@due_by", "value": format_utc(query.escalation_due_by)})
        direction, after = ("ASC", ">") if query.oldest_first else ("DESC", "<")
        if query.page_token is not None:
            started_at, incident_id = decode_page_token(query.page_token)
            where.append(f"(c.started_at {after} @start OR (c.started_at = @start AND c.id {after} @after_id))")
            params += [{"name": "@start", "value": started_at}, {"name": "@after_id", "value": incident_id}]
        # Ordering first by a path filtered by equality changes nothing in the order, and lets the composite index
        # that starts with it (INDEXING_POLICY) serve the query.
        leading = ["c.source.fingerprint"] if query.fingerprint is not None else ["c.state"] if query.state else []
        order = ", ".join(f"{path} {direction}" for path in [*leading, "c.started_at", "c.id"])
        where.append("c.id != @public_view")
        params.append({"name": "@public_view", "value": PUBLIC_VIEW_ID})
        sql = f"SELECT TOP {int(query.limit) + 1} * FROM c WHERE {' AND '.join(where)} ORDER BY {order}"
        docs = self._call("find incidents", lambda bounds: list(self._container.query_items(
            sql, parameters=params, enable_cross_partition_query=True, max_item_count=int(query.limit) + 1, **bounds
        )))
        only, kept_by = query.public_only, self._parsed_public if query.public_only else self._parsed
        return page_of([kept_by.get(doc["id"], doc["_etag"]) or kept_by.keep(_stored(doc, public_only=only))
                        for doc in docs], query.limit)

    def public_version(self) -> str:
        try:
            doc = self._call("read the public view's version", lambda bounds: self._container.read_item(
                item=PUBLIC_VIEW_ID, partition_key=PUBLIC_VIEW_ID, **bounds))
        except NotFound:
            return f"{self.database}/{self.container}:0"  # no public write yet
        return f"{doc['store_id']}:{doc['version']}"

    def _bump_public_view(self) -> None:
        """Increment the marker's counter (creating it on the first public write). The write it follows is already
        stored, so a failure here is logged, not raised: a retry would repeat that write."""
        increment = [{"op": "incr", "path": "/version", "value": 1}]
        try:
            for _ in range(3):
                try:
                    self._call("bump the public view's version", lambda bounds: self._container.patch_item(
                        item=PUBLIC_VIEW_ID, partition_key=PUBLIC_VIEW_ID, patch_operations=increment, **bounds))
                    return
                except NotFound:
                    marker = {"id": PUBLIC_VIEW_ID, "store_id": uuid.uuid4().hex[:16], "version": 1}
                    try:
                        self._call("create the public view's version", lambda bounds, marker=marker:
                                   self._container.create_item(marker, **bounds))
                        return
                    except AlreadyExists:
                        continue  # another writer created it first: increment that one
        except StoreUnavailable as exc:
            log.warning("the public view's version was not moved on after a public write (%s); caches of the "
                        "public view catch up when they expire", exc)


ROSTER_ID = "roster"


class CosmosRosterStore(CosmosContainer):
    """The on-call roster (domain/store.py RosterStore) as one document, {"id": "roster", "roster": {...}}, in a
    container of its own (COSMOS_ONCALL_CONTAINER, partition key /id). The first put creates it (409: someone else
    did first); every later one replaces it with If-Match on its `_etag`."""

    container_setting = "COSMOS_ONCALL_CONTAINER"

    @classmethod
    def beside(cls, other: CosmosContainer, container: str) -> CosmosRosterStore:
        """A roster store in `container` of the same account and database as `other`, opened the same way."""
        return cls(other.endpoint, other.database, container, **other._options)

    def get(self) -> StoredRoster:
        try:
            doc = self._call("read the roster", lambda bounds: self._container.read_item(
                item=ROSTER_ID, partition_key=ROSTER_ID, **bounds))
        except NotFound:
            return StoredRoster(Roster(), NO_ROSTER_ETAG)
        return _stored_roster(doc)

    def put(self, roster: Roster, if_match: str) -> StoredRoster:
        doc = {"id": ROSTER_ID, "roster": roster.model_dump(mode="json")}
        try:
            if if_match == NO_ROSTER_ETAG:
                saved = self._call("create the roster", lambda bounds: self._container.create_item(doc, **bounds))
            else:
                saved = self._call("replace the roster", lambda bounds: self._container.replace_item(
                    item=ROSTER_ID, body=doc, etag=if_match, match_condition=MatchConditions.IfNotModified,
                    **bounds))
        except (AlreadyExists, NotFound):  # created by someone else first; or gone since it was read
            raise EtagMismatch("the roster changed since it was read") from None
        return _stored_roster(saved)


def _stored_roster(doc: Mapping[str, Any]) -> StoredRoster:
    try:
        return StoredRoster(Roster.model_validate(doc.get("roster")), doc["_etag"])
    except ValidationError as exc:  # never a caller's fault: not a 422 (and no field's value in the message)
        raise StoreError(f"the roster does not read back as stored: {exc.errors()[0]['msg']}") from None


class CosmosMaintenanceStore(CosmosContainer):
    """Maintenance windows (domain/store.py MaintenanceStore), one document each with its timeline embedded in
    `updates`, in a container of their own (COSMOS_MAINTENANCE_CONTAINER, partition key /id, default indexing). As for
    incidents, `append` is one patch guarded by If-Match: set each field, add the entry at /updates/-."""

    container_setting = "COSMOS_MAINTENANCE_CONTAINER"

    @classmethod
    def beside(cls, other: CosmosContainer, container: str) -> CosmosMaintenanceStore:
        """A maintenance store in `container` of the same account and database as `other`, opened the same way."""
        return cls(other.endpoint, other.database, container, **other._options)

    def add(self, maintenance: Maintenance) -> StoredMaintenance:
        body = maintenance.model_dump(mode="json")
        return _stored_maintenance(self._call(f"add {maintenance.id}", lambda bounds: self._container.create_item(
            body, **bounds)))

    def get(self, maintenance_id: str) -> StoredMaintenance:
        return _stored_maintenance(self._call(f"get {maintenance_id}", lambda bounds: self._container.read_item(
            item=maintenance_id, partition_key=maintenance_id, **bounds)))

    def append(self, maintenance_id: str, if_match: str, fields: Mapping[str, Any],
               update: Mapping[str, Any]) -> StoredMaintenance:
        check_maintenance_fields(fields, update)  # at most 8 fields + the entry: within Cosmos's 10 operations
        operations = [{"op": "set", "path": f"/{name}", "value": value} for name, value in fields.items()]
        operations.append({"op": "add", "path": "/updates/-", "value": dict(update)})
        return _stored_maintenance(self._call(f"append to {maintenance_id}", lambda bounds: self._container.patch_item(
            item=maintenance_id, partition_key=maintenance_id, patch_operations=operations, etag=if_match,
            match_condition=MatchConditions.IfNotModified, **bounds)))

    def find(self, query: MaintenanceQuery) -> list[StoredMaintenance]:
        where, params = ["true"], []
        if query.ends_after is not None:
            where.append("c.ends_at > @ends_after")
            params.append({"name": "@ends_after", "value": format_utc(query.ends_after)})
        if query.starts_before is not None:
            where.append("c.starts_at < @starts_before")
            params.append({"name": "@starts_before", "value": format_utc(query.starts_before)})
        # One ORDER BY path (the default range index serves it); ties on starts_at are ordered by id below.
        sql = f"SELECT TOP {int(query.limit)} * FROM c WHERE {' AND '.join(where)} ORDER BY c.starts_at"
        docs = self._call("find maintenance windows", lambda bounds: list(self._container.query_items(
            sql, parameters=params, enable_cross_partition_query=True, max_item_count=int(query.limit), **bounds)))
        return sorted((_stored_maintenance(doc) for doc in docs),
                      key=lambda s: (s.maintenance.starts_at, s.maintenance.id))


def _stored_maintenance(doc: Mapping[str, Any]) -> StoredMaintenance:
    try:
        return StoredMaintenance(Maintenance.model_validate({k: v for k, v in doc.items() if not k.startswith("_")}),
                                 doc["_etag"])
    except ValidationError as exc:  # never a caller's fault: not a 422
        raise StoreError(f"a maintenance window does not read back as stored: {exc.errors()[0]['msg']}") from None
