"""Every page the site publishes is valid HTML for the Nu HTML Checker (npm `vnu-jar`, run with Debian's Java).

`make test` installs both (default-jre-headless from Debian, vnu-jar by npm ci). Without them the test is skipped
locally and FAILS in CI (CI=true), as the browser test does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from tests.unit.test_site import BASE, NOW, make, render_site

VNU = Path(__file__).resolve().parents[2] / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def scenarios():
    """Quiet, busy (open incidents worst first, English fallbacks, a resolved one, an older month), with and without
    SITE_BASE_URL: together they exercise every branch of the templates."""
    busy = [
        make("inc-open-1", severity="sev1", components=["Payments"], title={"en": "Payments fail", "fr": "Échec"}),
        make("inc-open-2", severity="sev3", message={"en": "Slow", "sv": "Långsamt"}),
        make("inc-done", severity="sev2", components=["Website", "Mobile app"], opened=NOW - timedelta(days=3),
             resolved=NOW - timedelta(days=2)),
        make("inc-old", severity="sev2", opened=NOW - timedelta(days=60), resolved=NOW - timedelta(days=59)),
    ]
    return {"quiet": ([], ""), "busy": (busy, ""), "busy-base-url": (busy, BASE)}


def test_every_published_page_is_valid_for_the_nu_html_checker(tmp_path):
    java = shutil.which("java")
    if not (java and VNU.is_file()):
        missing = "Java (Debian default-jre-headless) or node_modules/vnu-jar is missing (`make test` installs both)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{missing}; in CI the HTML check must run", pytrace=False)
        pytest.skip(missing)
    pages = []
    for name, (incidents, base_url) in scenarios().items():
        for f in render_site(incidents, now=NOW, base_url=base_url):
            if f.content_type.startswith("text/html"):
                target = tmp_path / name / f.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(f.content)
                pages.append(target)
    # every locale's index and history, and the 404 page, in each scenario
    assert len(pages) == 3 * (4 * 2 + 1)
    done = subprocess.run([java, "-jar", str(VNU), "--format", "json", "--exit-zero-always", *map(str, pages)],
                          capture_output=True, text=True, timeout=300)
    messages = json.loads(done.stderr)["messages"]
    problems = [f"{m['url'].split(str(tmp_path))[-1]}:{m.get('lastLine')}: {m['type']}/{m.get('subType', '')}: "
                f"{m['message']}" for m in messages if m["type"] == "error"
                or (m["type"] == "info" and m.get("subType") == "warning")]
    assert problems == []
