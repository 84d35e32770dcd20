"""The embedded site sink: a local directory, served at the site root by the local host (`static_root`).

Each file is written to a temporary file beside it and renamed over the old one, so a reader never sees half a file.
Content hashes live in a manifest, written after the file: a crash between the two leaves an old hash, which only
makes the next publish upload that file again. The publishing lock is an `fcntl` lock on a lock file, which holds
across threads and processes on this machine. Both, and the publisher's note (`write_state`), sit in a state folder
beside the site (`.<name>.publish/` next to `<name>/`), so the site folder holds only the site, whoever serves or
copies it.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .sink import LOCK_TIMEOUT_S, SinkBusy, SiteFile, check_path

MANIFEST = "manifest.json"
LOCK_FILE = "lock"
STATE_FILE = "state.json"


class DirectorySink:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        resolved = self.root.resolve()
        self.state = resolved.parent / f".{resolved.name}.publish"
        self.state.mkdir(exist_ok=True)
        self._manifest_lock = threading.Lock()  # puts of one publish may run in parallel threads

    def __repr__(self) -> str:
        return f"DirectorySink({str(self.root)!r})"

    def current_hashes(self) -> dict[str, str]:
        return {path: h for path, h in self._manifest().items() if (self.root / path).is_file()}

    def put(self, file: SiteFile, content_hash: str) -> None:
        target = self.root / check_path(file.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, file.content)
        with self._manifest_lock:
            manifest = self._manifest()
            manifest[file.path] = content_hash
            _write_atomically(self.state / MANIFEST, json.dumps(manifest, indent=0, sort_keys=True).encode())

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / check_path(path)).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def read_state(self) -> str | None:
        try:
            return (self.state / STATE_FILE).read_text()
        except FileNotFoundError:
            return None

    def write_state(self, state: str) -> None:
        _write_atomically(self.state / STATE_FILE, state.encode())

    @contextmanager
    def lock(self, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        with open(self.state / LOCK_FILE, "a+b") as handle:  # one open file per holder: flock excludes threads too
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise SinkBusy(f"{self.state / LOCK_FILE} is held by another publisher") from None
                    time.sleep(0.02)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _manifest(self) -> dict[str, str]:
        try:
            data = json.loads((self.state / MANIFEST).read_bytes())
        except (FileNotFoundError, ValueError):
            return {}  # missing or damaged: every file counts as changed once
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_atomically(target: Path, content: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.chmod(temp, 0o644)  # mkstemp makes 0600; a web server in front may run as another user
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
