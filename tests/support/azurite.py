"""Pytest plugin: Azurite's Blob service (npm `azurite`, pinned in package.json), one per session.

Started directly with node (not npx, so the process we stop is the server) on a port the server picks itself and
reports, with `--disableTelemetry` (without it Azurite hangs on SIGTERM) and its data in a temporary folder. Started
only when a test asks for `azurite`. Without node_modules the Blob tests are skipped locally, with a hint to run
`make test`, and FAIL in CI (CI=true).
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.processes import stop

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (documented by Microsoft; not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_TIMEOUT_S = 20


@dataclass(frozen=True)
class Azurite:
    account_url: str  # http://127.0.0.1:<port>/devstoreaccount1

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.account_url};")


class AzuriteUnavailable(RuntimeError):
    pass


def _listening_port(process: subprocess.Popen[str]) -> int | None:
    """Read stdout until "successfully listens on http://host:port" (or the timeout, or the end)."""
    found: queue.Queue[int | None] = queue.Queue()
    stdout = process.stdout
    assert stdout is not None

    def scan() -> None:
        for line in stdout:
            if m := re.search(r"listens on http://[^:]+:(\d+)", line):
                found.put(int(m.group(1)))
                break
        else:
            found.put(None)
        for _ in stdout:  # keep draining so a chatty server never blocks on a full pipe
            pass

    threading.Thread(target=scan, daemon=True).start()
    try:
        return found.get(timeout=START_TIMEOUT_S)
    except queue.Empty:
        return None


@contextlib.contextmanager
def run_azurite(location: Path) -> Iterator[Azurite]:
    node = shutil.which("node")
    if node is None:
        raise AzuriteUnavailable("Node.js (`node`) is not on PATH")
    if not MAIN.is_file():
        raise AzuriteUnavailable(f"{MAIN} is missing")
    location.mkdir(parents=True, exist_ok=True)
    command = [node, str(MAIN), "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", str(location),
               "--disableTelemetry", "--silent", "--loose", "--skipApiVersionCheck"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = _listening_port(process)
        if port is None:
            raise RuntimeError(f"Azurite did not start within {START_TIMEOUT_S} s (exit code {process.poll()})")
        url = f"http://127.0.0.1:{port}/{ACCOUNT}"
        requests.get(f"{url}?comp=list", timeout=5)  # answers (any status), not just listens
        yield Azurite(url)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    try:
        with run_azurite(tmp_path_factory.mktemp("azurite")) as server:
            yield server
    except AzuriteUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{exc}; in CI the Blob tests must run: run `npm ci` before pytest", pytrace=False)
        pytest.skip(f"{exc}; run `make test` (it runs `npm ci` first) to include the Blob tests")
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
