"""The site sink port: where the published status site goes, one whole file at a time.

A sink remembers a content hash per file, so the publisher uploads only what changed, and offers one exclusive
publishing lock, so two publishers (two threads, processes or Function App instances) never interleave their
uploads; it also keeps one small note for the publisher (what it last rendered) out of the public site. Adapters:
sink_directory.py (a local folder, the embedded default) and sink_blob.py (Azure Blob Storage, usually the static
website's `$web` container). Every adapter passes tests/integration/test_site_sink_conformance.py.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

LOCK_TIMEOUT_S = 30.0  # a whole publish takes about a second; waiting longer means the holder is stuck


@dataclass(frozen=True)
class SiteFile:
    path: str
    content: bytes
    content_type: str
    cache_control: str
    kind: str  # "asset" | "data" | "page": upload in that order


class SinkBusy(Exception):
    """Another publisher held the lock for longer than we were willing to wait."""


class SiteSink(Protocol):
    def current_hashes(self) -> dict[str, str]:
        """The content hash of every file this sink holds that was written through `put`, by site path."""

    def put(self, file: SiteFile, content_hash: str) -> None:
        """Write one file with its Content-Type and Cache-Control; readers see the old or the new file, never half."""

    def read(self, path: str) -> bytes | None:
        """A file's bytes as a visitor would get them; None when there is no such file."""

    def lock(self, timeout: float = LOCK_TIMEOUT_S) -> AbstractContextManager[None]:
        """Hold the single publishing lock for the `with` block; SinkBusy when not had within `timeout` seconds."""

    def read_state(self) -> str | None:
        """What the publisher last noted with `write_state`; None before the first note."""

    def write_state(self, state: str) -> None:
        """Keep the publisher's note of what it published (a small JSON text) beside the site, never in it."""


def content_hash(file: SiteFile) -> str:
    """What makes a published file different: its bytes and the headers it is served with."""
    digest = hashlib.sha256(f"{file.content_type}\n{file.cache_control}\n".encode())
    digest.update(file.content)
    return digest.hexdigest()


def check_path(path: str) -> str:
    """A site path is relative, with `/` separators and no `.`/`..` segments: anything else is a bug upstream."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a site path: {path!r}")
    return path
