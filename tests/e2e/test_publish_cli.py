"""`python -m incidents publish`, and `serve` showing the status site at its root, as a newcomer runs them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import requests

from tests.e2e.test_cli import ROOT, cli, environment


def test_publish_writes_the_site_once_then_only_what_changed(tmp_path):
    first = cli(tmp_path, "publish")
    assert first.returncode == 0, first.stderr
    listed = first.stdout.split()
    assert {"index.html", "fr/index.html", "status/en.json", "api/v2/summary.json"} <= set(listed)
    assert (tmp_path / ".local" / "site" / "index.html").is_file()
    assert re.search(rf"Published to \.local/site: {len(listed)} files uploaded \(\d+ bytes\), 0 unchanged",
                     first.stderr), first.stderr
    again = cli(tmp_path, "publish")  # a later `now`: data that carries a time changes, pages and assets do not
    assert again.returncode == 0 and "status/en.json" in again.stdout.split()
    assert not [p for p in again.stdout.split() if p.endswith(".html") or p.startswith("assets/")], again.stdout


def test_publish_names_a_wrong_setting(tmp_path):
    result = cli(tmp_path, "publish", SITE_SINK="blob")
    assert result.returncode == 2 and "SITE_STORAGE_CONNECTION_STRING" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_publishes_at_start_and_shows_the_site_beside_the_api(tmp_path: Path):
    (tmp_path / "host.json").write_text((ROOT / "host.json").read_text())
    process = subprocess.Popen([sys.executable, "-m", "incidents", "serve", "--port", "0"], cwd=tmp_path,
                               env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = [process.stdout.readline()]
        while "Status site:" not in lines[-1] and lines[-1]:
            lines.append(process.stdout.readline())
        url = next(m.group(1) for line in lines if (m := re.search(r"Incident service on (http://\S+)/api", line)))
        assert f"Status site: {url}/ (" in lines[-1], lines
        page = requests.get(f"{url}/", timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert '<html lang="en"' in page.text
        assert '<html lang="sv"' in requests.get(f"{url}/sv/", timeout=10).text
        summary = requests.get(f"{url}/api/v2/summary.json", timeout=10)  # the site's, under the API's prefix
        assert summary.json()["status"]["indicator"] == "none"
        assert requests.get(f"{url}/api/v1/public/incidents", timeout=10).json()["incidents"] == []
    finally:
        process.terminate()
        process.wait(timeout=10)
