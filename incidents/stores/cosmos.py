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

With a key, the client may create the database and container (create_if_missing). With Entra ID
(DefaultAzureCredential, e.g. a managed identity) the data-plane roles cannot create them: pass
create_if_missing=False and provision them with the infrastructure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import CosmosClient, PartitionKey, exceptions

from ..domain.models import Incident, Severity, State, Status, format_utc
from ..domain.store import (
    AlreadyExists,
    EtagMismatch,
    IncidentQuery,
    IncidentTooLarge,
    NotFound,
    Page,
    Stored,
    StoreUnavailable,
    check_fields,
    decode_page_token,
    page_of,
)

INDEXING_POLICY = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": "/updates/*"}, {"path": '/"_etag"/?'}],
    "compositeIndexes": [
        [{"path": "/started_at", "order": "ascending"}, {"path": "/id", "order": "ascending"}],
        [{"path": "/started_at", "order": "descending"}, {"path": "/id", "order": "descending"}],
    ],
}

_BY_STATUS: dict[int, type[Exception]] = {
    404: NotFound,
    409: AlreadyExists,
    412: EtagMismatch,
    413: IncidentTooLarge,  # a document is capped at 2 MB
    408: StoreUnavailable,
    429: StoreUnavailable,  # only after the SDK's own retries
}


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    try:
        yield
    except exceptions.CosmosHttpResponseError as exc:
        status = exc.status_code or 0
        error = _BY_STATUS.get(status) or (StoreUnavailable if status >= 500 else None)
        if error is None:
            raise
        raise error(f"{what}: Cosmos DB answered {exc.status_code}") from exc
    except (exceptions.CosmosClientTimeoutError, ServiceRequestError, ServiceResponseError) as exc:
        raise StoreUnavailable(f"{what}: Cosmos DB is unreachable: {exc}") from exc


def _stored(doc: Mapping[str, Any]) -> Stored:
    # System properties all start with "_" and no incident field does.
    return Stored(Incident.model_validate({k: v for k, v in doc.items() if not k.startswith("_")}), doc["_etag"])


class CosmosStore:
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
        if credential is None and key is None:
            from azure.identity import DefaultAzureCredential  # only deployments without a key pay for this import

            credential = DefaultAzureCredential()
        with _mapped(f"open {database}/{container}"):
            self._client = CosmosClient(endpoint, credential=credential or key, connection_verify=verify_tls)
            if create_if_missing:
                db = self._client.create_database_if_not_exists(database)
                self._container = db.create_container_if_not_exists(
                    container, partition_key=PartitionKey(path="/id"), indexing_policy=INDEXING_POLICY
                )
            else:
                self._container = self._client.get_database_client(database).get_container_client(container)

    def add(self, incident: Incident) -> Stored:
        with _mapped(f"add {incident.id}"):
            return _stored(self._container.create_item(incident.model_dump(mode="json")))

    def get(self, incident_id: str) -> Stored:
        with _mapped(f"get {incident_id}"):
            return _stored(self._container.read_item(item=incident_id, partition_key=incident_id))

    def append(self, incident_id: str, if_match: str, fields: Mapping[str, Any], update: Mapping[str, Any]) -> Stored:
        check_fields(fields)  # also keeps the patch within Cosmos's 10 operations: 9 fields + the entry
        operations = [{"op": "set", "path": f"/{name}", "value": value} for name, value in fields.items()]
        operations.append({"op": "add", "path": "/updates/-", "value": dict(update)})
        with _mapped(f"append to {incident_id}"):
            doc = self._container.patch_item(
                item=incident_id,
                partition_key=incident_id,
                patch_operations=operations,
                etag=if_match,
                match_condition=MatchConditions.IfNotModified,
            )
        return _stored(doc)

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
            where.append("(c.updated_at >= @active_since OR c.status != 'resolved')")
            params.append({"name": "@active_since", "value": format_utc(query.active_since)})
        direction, after = ("ASC", ">") if query.oldest_first else ("DESC", "<")
        if query.page_token is not None:
            started_at, incident_id = decode_page_token(query.page_token)
            where.append(f"(c.started_at {after} @start OR (c.started_at = @start AND c.id {after} @after_id))")
            params += [{"name": "@start", "value": started_at}, {"name": "@after_id", "value": incident_id}]
        sql = (
            f"SELECT TOP {int(query.limit) + 1} * FROM c WHERE {' AND '.join(where) or 'true'}"
            f" ORDER BY c.started_at {direction}, c.id {direction}"
        )
        with _mapped("find incidents"):
            items = [
                _stored(doc)
                for doc in self._container.query_items(sql, parameters=params, enable_cross_partition_query=True)
            ]
        return page_of(items, query.limit)

    def close(self) -> None:
        self._client.close()
