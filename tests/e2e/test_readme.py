"""The README's walkthrough, pasted as a newcomer would: its shell blocks, read from README.md itself (no second
copy), run in order by bash against `python -m incidents serve` in a fresh folder. Only the port is changed, so that
a developer's own `make run` on 7071 does not get in the way."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from tests.e2e.test_cli import ROOT, environment, found, serving

SECTIONS = ("## Try it", "## 21:43: an alert becomes an incident", "## Who gets paged")


def blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index(section + "\n")
    end = text.find("\n## ", start + len(section))
    return re.findall(r"```sh\n(.*?)```", text[start:end if end > 0 else None], flags=re.S)


@pytest.fixture
def newcomer(tmp_path: Path):
    """A fresh folder that looks like a clone after `make run`: the venv and the fixtures are the repository's."""
    for name in (".venv", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    with serving(tmp_path) as banner:
        yield tmp_path, found(r"on http://127\.0\.0\.1:(\d+)/api", banner), banner


def test_every_block_of_the_walkthrough_works_as_pasted(newcomer):
    folder, port, _ = newcomer
    script = "\n".join(block for section in SECTIONS for block in blocks(section))
    assert script.count("127.0.0.1:7071") == 1
    script = script.replace("127.0.0.1:7071", f"127.0.0.1:{port}")
    # -e: a failing command (curl --fail-with-body on a 4xx) stops the walkthrough, as a newcomer would notice.
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script + '\necho; echo "RESULT $ID $DRAFT"'],
                            cwd=folder, env=environment(PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    incident_id, draft_id = result.stdout.strip().splitlines()[-1].split()[1:]

    token = subprocess.run([sys.executable, "-m", "incidents", "token"], cwd=folder, env=environment(),
                           capture_output=True, text=True, timeout=60).stdout.strip()
    api = f"http://127.0.0.1:{port}/api/v1/admin/incidents"
    for found_id, words in ((incident_id, "Payments work again."), (draft_id, "Error rates are back to normal.")):
        incident = requests.get(f"{api}/{found_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        assert (incident["status"], incident["state"], incident["public_message"]["en"]) == \
            ("resolved", "published", words), json.dumps(incident)[:300]
    draft = requests.get(f"{api}/{draft_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    started = datetime.fromisoformat(draft["started_at"])
    assert abs(datetime.now(timezone.utc) - started) < timedelta(minutes=10)  # the sample alert fired now


def test_the_admin_token_command_in_the_banner_works_when_pasted(newcomer):
    """The banner's `TOKEN=$(<this venv's python> -m incidents token)` needs no activated venv."""
    folder, port, banner = newcomer
    [line] = [line for line in banner if "Admin token:" in line]
    command = line.split("Admin token:")[1].split("  (or")[0].strip()
    result = subprocess.run(["bash", "-c", f'{command} && echo "$TOKEN"'], cwd=folder,
                            env={**environment(PYTHONPATH=str(ROOT)), "PATH": "/usr/bin:/bin"}, capture_output=True,
                            text=True, timeout=60)
    token = result.stdout.strip()
    answer = requests.get(f"http://127.0.0.1:{port}/api/v1/admin/incidents",
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, result.stderr


def test_serve_help_describes_its_options():
    result = subprocess.run([sys.executable, "-m", "incidents", "serve", "--help"], cwd=ROOT, env=environment(),
                            capture_output=True, text=True, timeout=60)
    assert "address to listen on" in result.stdout and "default 7071" in result.stdout


def test_a_second_serve_on_a_busy_port_says_so_in_one_line(newcomer):
    folder, port, _ = newcomer
    result = subprocess.run([sys.executable, "-m", "incidents", "serve", "--port", port], cwd=folder,
                            env=environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use" in lines[0] and f"make run PORT={int(port) + 1}" in lines[0], result.stderr
