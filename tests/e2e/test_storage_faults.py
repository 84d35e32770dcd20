"""A failing disk, over real HTTP: a full or read-only SQLite database answers 503 with Retry-After on every write
route (Azure Monitor retries 503, not 500), stores nothing half-written, and everything comes back when the fault
ends. A kill -9 in the middle of writing loses no write that was answered.

The faults are real SQLite states, made without root: `PRAGMA max_page_count` fills the database, `PRAGMA
query_only` makes it refuse writes exactly as a read-only file does (SQLITE_READONLY)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from incidents.domain.store import IncidentQuery
from incidents.stores.sqlite import SqliteStore
from tests.e2e.test_alert_intake import alert

ROOT = Path(__file__).resolve().parents[2]


class FaultySqliteStore(SqliteStore):
    """The real SQLite store, with a fault switched on for every connection it opens from then on."""

    fault: str | None = None

    def _db(self) -> sqlite3.Connection:
        fresh = getattr(self._local, "db", None) is None
        db = super()._db()
        if fresh and self.fault == "full":
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages}")
        elif fresh and self.fault == "read-only":
            db.execute("PRAGMA query_only = ON")
        return db

    def set_fault(self, fault: str | None) -> None:
        self.fault = fault
        self.close()  # connections are opened again, with the fault


@pytest.fixture
def store(tmp_path: Path):
    faulty = FaultySqliteStore(tmp_path / "log.sqlite3")
    yield faulty
    faulty.close()


def bulky(n: int) -> dict:
    return {"title": f"Checkout fails {n}", "severity": "sev2", "public_message": "We are investigating. " * 80,
            "note": "x" * 1900}


def write_requests(api, incident_id: str, etag: str, n: int) -> dict[str, tuple]:
    """One request per write route, each enough to need new database pages."""
    return {
        "create": ("POST", "v1/admin/incidents", {"json": bulky(n)}),
        "change": ("PATCH", f"v1/admin/incidents/{incident_id}",
                   {"json": {"note": "y" * 1900, "public_message": "Still on it. " * 100},
                    "headers": {"If-Match": etag}}),
        "confirm": ("POST", f"v1/admin/incidents/{incident_id}/confirm", {"json": {"note": "z" * 1900}}),
        "dismiss": ("POST", f"v1/admin/incidents/{incident_id}/dismiss", {"json": {"reason": "w" * 1900}}),
    }


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_or_read_only_database_answers_503_with_retry_after_and_changes_nothing(api, store, fault):
    draft = api.create(**bulky(0), state="draft")
    before = api.request("GET", f"v1/admin/incidents/{draft['id']}")
    store.set_fault(fault)

    for route, (method, path, kwargs) in write_requests(api, draft["id"], before.headers["ETag"], 1).items():
        response = api.request(method, path, **kwargs)
        assert response.status_code == 503, (route, response.status_code, response.text)
        assert response.headers["Retry-After"].isdigit()
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert "Traceback" not in response.text and "sqlite" not in response.text.lower()
    for n in range(3):  # a new draft, an alert joining it, and its resolution: all refused, all retryable
        response = api.post_alert(alert("metric-static", api.clock, alertRule=f"rule-{n}"))
        assert response.status_code == 503 and response.headers["Retry-After"].isdigit(), response.text

    store.set_fault(None)
    after = api.request("GET", f"v1/admin/incidents/{draft['id']}")
    assert after.json() == before.json() and after.headers["ETag"] == before.headers["ETag"]
    assert [s.incident.id for s in store.find(IncidentQuery()).items] == [draft["id"]]
    # Once the disk has room again, the same requests go through: Azure's retry would now land.
    assert api.post_alert(alert("metric-static", api.clock, alertRule="rule-0")).status_code == 202
    assert api.request("POST", "v1/admin/incidents", json=bulky(1)).status_code == 201


def test_reads_still_answer_while_the_database_is_full(api, store):
    created = api.create(title="Payments are slow")
    store.set_fault("full")
    assert api.request("GET", f"v1/admin/incidents/{created['id']}").status_code == 200
    assert api.request("GET", "v1/public/incidents", role=None).json()["incidents"][0]["id"] == created["id"]


def test_every_connection_writes_with_synchronous_full(store):
    """In WAL mode, synchronous=NORMAL may lose the last writes on power loss; an answered write must survive."""
    assert store._db().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


WRITER = """
import sys
from datetime import datetime, timezone
from incidents.domain.models import NewIncident
from incidents.domain.service import IncidentService
from incidents.stores.sqlite import SqliteStore

service = IncidentService(SqliteStore(sys.argv[1]))
for n in range(100000):
    stored = service.create(NewIncident(title=f"Write {n}", severity="sev3", public_message="m" * 500),
                            author="writer")
    print(stored.incident.id, flush=True)  # acknowledged: the store's add returned
"""


def test_kill_9_while_writing_loses_no_acknowledged_write(tmp_path):
    path = tmp_path / "killed.sqlite3"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    acknowledged = []
    deadline = time.monotonic() + 30
    while len(acknowledged) < 200 and time.monotonic() < deadline:
        acknowledged.append(writer.stdout.readline().strip())
    writer.kill()  # SIGKILL: no clean-up, mid-transaction as likely as not
    writer.wait(timeout=10)
    acknowledged += [line.strip() for line in writer.stdout.read().splitlines() if line.strip()]
    assert len(acknowledged) >= 200

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in db.execute("SELECT id FROM incidents")}
    db.close()
    assert set(acknowledged) <= stored
    reopened = SqliteStore(path)  # and the store opens it and reads every one back
    assert reopened.get(acknowledged[-1]).incident.title == {"en": f"Write {len(acknowledged) - 1}"}
    reopened.close()
