"""The local host lets other sites' scripts read the status JSON (Statuspage widgets), and nothing else."""

from __future__ import annotations

import azure.functions as func
import pytest
import requests

from incidents.localhost import LocalHost
from tests.unit.test_site import NOW, make, render_site


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    for f in render_site([make()], now=NOW):
        (root / f.path).parent.mkdir(parents=True, exist_ok=True)
        (root / f.path).write_bytes(f.content)
    with LocalHost(func.FunctionApp(), port=0, static_root=root, run_timers=False) as running:
        yield running.url


@pytest.mark.parametrize("path", ["api/v2/summary.json", "api/v2/status.json", "api/v2/components.json",
                                  "api/v2/incidents/unresolved.json", "status/en.json", "status/sv.json"])
def test_the_status_json_may_be_read_from_any_origin(host, path):
    got = requests.get(f"{host}/{path}", headers={"Origin": "https://club.example"}, timeout=10)
    assert got.status_code == 200 and got.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["index.html", "fr/history.html", "feed/en.atom", "no-such-page"])
def test_pages_and_feeds_are_not_shared_with_other_origins(host, path):
    got = requests.get(f"{host}/{path}", headers={"Origin": "https://club.example"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in got.headers
