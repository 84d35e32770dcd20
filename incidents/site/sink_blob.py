"""The Azure Blob Storage site sink, usually the storage account's static website container `$web`.

Each file is one blob uploaded whole (a reader gets the old or the new blob), with Content-Type and Cache-Control
set, and the publisher's content hash kept in the blob's metadata: listing the container with metadata tells what
changed without downloading anything. The publishing lock is a 60 s lease on an empty lock blob, renewed while held,
so a publisher that dies frees the lock within a minute. The lock blob (`<site container>.lock`) lives in a private
container of the same account (`publish-locks`, created if missing; provisioned by status-site.bicep), never in the
public site container, which holds only published files. The publisher's note (`write_state`) is a blob beside it,
`<site container>.state.json`.

Only this module imports azure.storage (about 0.7 s), and it is itself imported only when a blob sink is built.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings

from .sink import LOCK_TIMEOUT_S, SinkBusy, SiteFile, check_path

log = logging.getLogger(__name__)
HASH_KEY = "contentsha256"  # metadata names must be C# identifiers
LOCK_CONTAINER = "publish-locks"
LEASE_SECONDS = 60  # the longest finite lease Blob Storage grants


class BlobSink:
    def __init__(self, container: ContainerClient, lock_container: ContainerClient):
        """`lock_container`: private, in the same account (see `for_service`)."""
        self.container = container
        self.lock_container = lock_container
        self.lock_blob = f"{container.container_name}.lock"
        self.state_blob = f"{container.container_name}.state.json"

    @classmethod
    def for_service(cls, service: BlobServiceClient, container: str) -> BlobSink:
        return cls(service.get_container_client(container), service.get_container_client(LOCK_CONTAINER))

    def __repr__(self) -> str:
        return f"BlobSink({self.container.url!r})"

    def current_hashes(self) -> dict[str, str]:
        return {
            blob.name: blob.metadata[HASH_KEY]
            for blob in self.container.list_blobs(include=["metadata"])
            if blob.metadata and HASH_KEY in blob.metadata
        }

    def put(self, file: SiteFile, content_hash: str) -> None:
        self.container.upload_blob(
            check_path(file.path), file.content, overwrite=True,
            content_settings=ContentSettings(content_type=file.content_type, cache_control=file.cache_control),
            metadata={HASH_KEY: content_hash},
        )

    def read(self, path: str) -> bytes | None:
        try:
            return self.container.download_blob(check_path(path)).readall()
        except ResourceNotFoundError:
            return None

    def read_state(self) -> str | None:
        try:
            return self.lock_container.download_blob(self.state_blob).readall().decode()
        except ResourceNotFoundError:  # no note yet, or no private container yet
            return None

    def write_state(self, state: str) -> None:
        try:
            self.lock_container.upload_blob(self.state_blob, state.encode(), overwrite=True)
        except ResourceNotFoundError as exc:
            if exc.error_code != "ContainerNotFound":
                raise
            with suppress(ResourceExistsError):
                self.lock_container.create_container()  # private: no public access
            self.lock_container.upload_blob(self.state_blob, state.encode(), overwrite=True)

    @contextmanager
    def lock(self, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        blob = self.lock_container.get_blob_client(self.lock_blob)
        deadline = time.monotonic() + timeout
        while True:
            try:
                lease = blob.acquire_lease(lease_duration=LEASE_SECONDS)
                break
            except ResourceNotFoundError as exc:
                if exc.error_code == "ContainerNotFound":
                    with suppress(ResourceExistsError):
                        self.lock_container.create_container()  # private: no public access
                try:
                    blob.upload_blob(b"", overwrite=False)
                except HttpResponseError as err:
                    if err.status_code not in (409, 412):  # 409/412: another publisher made it (and may hold it)
                        raise
            except HttpResponseError as exc:
                if exc.status_code != 409:  # 409 LeaseAlreadyPresent: someone else is publishing
                    raise
                if time.monotonic() >= deadline:
                    raise SinkBusy(f"{blob.url} is leased by another publisher") from None
                time.sleep(0.1)
        released = threading.Event()

        def renew() -> None:
            while not released.wait(LEASE_SECONDS / 3):
                try:
                    lease.renew()
                except HttpResponseError:
                    log.exception("could not renew the lease on %s", blob.url)

        threading.Thread(target=renew, name="site-lock-lease", daemon=True).start()
        try:
            yield
        finally:
            released.set()
            lease.release()


def open_blob_sink(*, connection_string: str | None = None, account_url: str | None = None,
                   container: str = "$web", credential=None) -> BlobSink:
    """A sink on `container`, by connection string (the container is created if missing) or by account URL with
    `credential`, by default DefaultAzureCredential (managed identity on Azure; needs *Storage Blob Data
    Contributor*; the static website must already be enabled, which creates `$web`)."""
    if connection_string:
        sink = BlobSink.for_service(BlobServiceClient.from_connection_string(connection_string), container)
        with suppress(ResourceExistsError):
            sink.container.create_container()
        return sink
    if not account_url:
        raise ValueError("a blob sink needs a connection string or an account URL")
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return BlobSink.for_service(BlobServiceClient(account_url, credential=credential), container)
