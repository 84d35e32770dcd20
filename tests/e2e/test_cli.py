"""`python -m incidents serve` and `token` as a newcomer runs them: real processes, real HTTP, a fresh folder."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENTS_", "COSMOS_", "AUTH_"))}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **extra}


def cli(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "incidents", *args], cwd=workdir, env=environment(**env),
                          capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def serving(workdir: Path) -> Iterator[list[str]]:
    """`python -m incidents serve --port 0` in `workdir`; yields its banner lines (up to "Status site:")."""
    (workdir / "host.json").write_text((ROOT / "host.json").read_text())
    process = subprocess.Popen([sys.executable, "-m", "incidents", "serve", "--port", "0"], cwd=workdir,
                               env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner: list[str] = []  # among log lines
        while not (banner and banner[-1].strip().startswith("Status site:")) and len(banner) < 50:
            banner.append(process.stdout.readline())
        threading.Thread(target=process.stdout.read, daemon=True).start()  # keep draining: a full pipe blocks it
        yield banner
    finally:
        process.terminate()
        process.wait(timeout=10)


def found(pattern: str, lines: list[str]) -> str:
    return next(m.group(1) for line in lines if (m := re.search(pattern, line)))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    (tmp_path / "local.settings.json").write_text(json.dumps(
        {"IsEncrypted": False, "Values": {"INCIDENTS_SQLITE_PATH": "data/log.sqlite3"}}))
    with serving(tmp_path) as banner:
        yield found(r"on (http://\S+)/api", banner), found(r"function key .*: (\S+)", banner), tmp_path


def test_serve_runs_the_registered_functions_with_local_defaults(served):
    url, key, workdir = served
    assert (workdir / ".local" / "function-key").read_text() == key
    assert (workdir / "data" / "log.sqlite3").is_file(), "local.settings.json Values were not applied"

    admin = cli(workdir, "token", "--role", "platform-admin").stdout.strip()
    viewer = cli(workdir, "token", "--role", "viewer").stdout.strip()
    created = requests.post(f"{url}/api/v1/admin/incidents", headers={"Authorization": f"Bearer {admin}"},
                            json={"title": "Tournament results delayed", "severity": "sev3",
                                  "public_message": "Results are delayed; matches are not affected."}, timeout=10)
    assert created.status_code == 201, created.text
    public = requests.get(f"{url}/api/v1/public/incidents", timeout=10).json()
    assert [i["title"]["en"] for i in public["incidents"]] == ["Tournament results delayed"]
    refused = requests.get(f"{url}/api/v1/admin/incidents", headers={"Authorization": f"Bearer {viewer}"}, timeout=10)
    assert refused.status_code == 403


@pytest.mark.parametrize(("env", "named"), [
    ({"INCIDENTS_STORE": "mysql"}, "INCIDENTS_STORE"),
    ({"INCIDENTS_STORE": "cosmos"}, "COSMOS_ENDPOINT"),
    ({"INCIDENTS_STORE": "cosmos", "COSMOS_ENDPOINT": "localhost:8081"}, "COSMOS_ENDPOINT"),
    ({"AUTH_TENANT_ID": "contoso"}, "AUTH_AUDIENCE"),
    ({"INCIDENTS_DEV_SIGNING_KEY": "missing.pem"}, "INCIDENTS_DEV_SIGNING_KEY"),
    ({"INCIDENTS_SQLITE_PATH": "/proc/no-such-dir/log.sqlite3"}, "INCIDENTS_SQLITE_PATH"),
    ({"INCIDENTS_SQLITE_PATH": "."}, "INCIDENTS_SQLITE_PATH"),
])
def test_a_wrong_setting_stops_the_start_with_one_line_that_names_it(tmp_path, env, named):
    result = cli(tmp_path, "serve", "--port", "0", **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr


def test_token_refuses_when_entra_id_is_configured(tmp_path):
    result = cli(tmp_path, "token", AUTH_TENANT_ID="contoso", AUTH_AUDIENCE="api://incidents")
    assert result.returncode == 2 and "az account get-access-token" in result.stderr
