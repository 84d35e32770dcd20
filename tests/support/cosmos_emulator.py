"""Pytest plugin: the Cosmos DB emulator (@vercel/cosmosdb-server via tests/support/cosmos_server.js), one per session.

Started only when a test asks for `cosmos_emulator`. Without node_modules the Cosmos tests are skipped locally, with a
hint to run `make test`, and FAIL in CI (CI=true): there the Cosmos suite must never be silently skipped.
"""

from __future__ import annotations

import contextlib
import os
import queue
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
LAUNCHER = ROOT / "tests" / "support" / "cosmos_server.js"
PACKAGE = ROOT / "node_modules" / "@vercel" / "cosmosdb-server"
# The well-known key of the Azure Cosmos DB emulator; @vercel/cosmosdb-server accepts any key.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nZuz2IQeb+6g1U5CZb8ABNRo7fNZ6SAYbWrRBbtA=="
START_TIMEOUT_S = 20


@dataclass(frozen=True)
class CosmosEmulator:
    endpoint: str
    key: str = EMULATOR_KEY
    verify_tls: bool = False  # self-signed certificate


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason}; in CI the Cosmos suite must run: run `npm ci` before pytest", pytrace=False)
    pytest.skip(f"{reason}; run `make test` (it runs `npm ci` first) to include the Cosmos tests")


def _ready_line(process: subprocess.Popen[str]) -> str:
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=START_TIMEOUT_S)
    except queue.Empty:
        return ""


class EmulatorUnavailable(RuntimeError):
    pass


@contextlib.contextmanager
def run_emulator(log: Path) -> Iterator[CosmosEmulator]:
    """Start the emulator on a free loopback port, yield where it listens, stop it on exit; its stderr goes to log.
    Raises EmulatorUnavailable when Node or the package is missing, RuntimeError when it does not start."""
    node = shutil.which("node")
    if node is None:
        raise EmulatorUnavailable("Node.js (`node`) is not on PATH")
    if not PACKAGE.is_dir():
        raise EmulatorUnavailable(f"{PACKAGE} is missing")
    with log.open("w") as stderr:
        # Port 0: the server picks a free loopback port and tells us which in its ready line (no race).
        process = subprocess.Popen(
            [node, str(LAUNCHER), "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    try:
        line = _ready_line(process)
        if "ready" not in line:
            raise RuntimeError(f"the Cosmos emulator did not start: {line!r}\n{log.read_text()}")
        endpoint = line.split()[-1]
        requests.get(endpoint + "/", verify=False, timeout=5).raise_for_status()  # answers, not just listens
        yield CosmosEmulator(endpoint)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def cosmos_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosEmulator]:
    try:
        with run_emulator(tmp_path_factory.mktemp("cosmos") / "cosmos_server.log") as emulator:
            yield emulator
    except EmulatorUnavailable as exc:
        _unavailable(str(exc))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
