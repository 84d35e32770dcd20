"""Publishing the status site: read the public incidents, render every file, upload only what changed.

Two publishers at once (the timer and a change, two threads, two Function App instances) WAIT for each other: a
publish holds the sink's lock (an fcntl lock for a directory, a blob lease for Blob Storage) from before it reads the
store until its last upload. Publishes therefore never interleave, and one that had to wait reads the store after the
one before it finished, so the site never goes back to an older state. A publish that cannot get the lock within
LOCK_TIMEOUT_S fails with SinkBusy and the next timer run catches up. (Skipping and marking the site "dirty" would
save a publish, but needs a dirty flag shared between instances; waiting about a second costs less.)

Within one publish, files go up in the order assets, data, pages, so that nothing refers to a file not there yet.

Publishing only what changed: a full publish leaves a note in the sink (`write_state`, kept out of the site) with a
key (the store's public_version, and a digest of the code, templates, catalogs, policy and base URL that render the
site) and the time until which the same incidents render the same site (the first time an incident leaves the
90-day history or the 30-day front page, at most FULL_CHECK_EVERY away). A publish that finds the same key before
that time changes only what moves with the clock, `generated_at` in status/<locale>.json: it reads those four files
back, sets it, and uploads them, without reading incidents or rendering a page. Those bytes are the ones a full
render would make at that time, but for the uptime of an incident still open, which is refreshed every 15 minutes
(uptime.next_change).
Maintenance windows are read at every publish (a small query: those ending within the history or later) and their
content is part of the key; the time until which the site holds also stops at the next time the clock moves a window
(it enters the 14 days of upcoming windows, starts, ends), so the site changes at 02:00 sharp with nobody touching
it. Windows that cannot be read are logged and left out: the incidents' status is published anyway.
PublishQueue coalesces the bursts of requests that changes make. The process's one Publisher is built by the
composition root (bootstrap.publisher_for).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from ..domain.maintenance import Maintenance, MaintenanceState
from ..domain.models import LOCALES, Incident, State, Status, format_utc
from ..domain.soon import SoonQueue
from ..domain.store import IncidentQuery, IncidentStore, MaintenanceQuery, MaintenanceStore, find_all
from .sink import LOCK_TIMEOUT_S, SiteFile, SiteSink, content_hash

log = logging.getLogger(__name__)
HISTORY = timedelta(days=90)  # view.HISTORY_DAYS; view.py (Babel) is imported only when a publish runs
FULL_CHECK_EVERY = timedelta(hours=1)  # a full publish at least this often also repairs a file changed by hand
STATUS_DOCUMENTS = tuple(f"status/{locale}.json" for locale in LOCALES)  # the files that carry generated_at
ROOT = Path(__file__).resolve().parents[2]
KIND_ORDER = ("asset", "data", "page")
UPLOAD_THREADS = 8  # files of one kind go up in parallel; kinds one after the other


@dataclass(frozen=True)
class PublishReport:
    uploaded: list[str]  # site paths, in upload order
    unchanged: int
    generated_at: datetime
    bytes_uploaded: int = 0
    seconds: float = 0.0


def public_incidents(store: IncidentStore, since: datetime) -> list[Incident]:
    """Published incidents resolved since `since` or still open, every page of them, public entries only (the
    uptime counts every one of them, not only those the pages list)."""
    query = IncidentQuery(state=State.published, active_since=since, public_only=True, limit=100)
    return [stored.incident for stored in find_all(store, query)]


def public_maintenances(store: MaintenanceStore | None, now: datetime) -> list[Maintenance]:
    """The windows the site shows or will: those ending within the 90-day history, or later."""
    if store is None:
        return []
    try:
        return [s.maintenance for s in store.find(MaintenanceQuery(ends_after=now - HISTORY))]
    except Exception as exc:  # noqa: BLE001 - a store error or a misconfigured container: publish the incidents anyway
        log.error("maintenance windows could not be read; the site is published without them: %s", exc)
        return []


def publish(store: IncidentStore, sink: SiteSink, *, now: datetime, policy=None, base_url: str = "",
            lock_timeout: float = LOCK_TIMEOUT_S, maintenance: MaintenanceStore | None = None) -> PublishReport:
    """Upload the files of the site as of `now` whose content hash changed; render it whole only when the public
    view, the code that renders it or the windows changed since the last full publish (see the module doc)."""
    started = time.perf_counter()
    with sink.lock(lock_timeout):
        windows = public_maintenances(maintenance, now)
        digest = hashlib.sha256("\n".join(w.model_dump_json() for w in windows).encode()).hexdigest()
        key = _render_key(f"{store.public_version()}\n{digest}", policy, base_url)  # before the incidents are read
        files = _status_documents_at(sink, now, key)
        full = files is None
        if full:
            from .render import render_site  # Jinja2 and Babel: only when a full publish runs

            incidents = public_incidents(store, now - HISTORY)
            files = render_site(incidents, now=now, policy=policy, base_url=base_url, maintenances=windows)
        current = sink.current_hashes()
        changed = [(f, h) for f in files if current.get(f.path) != (h := content_hash(f))]
        unknown = {f.kind for f, _ in changed} - set(KIND_ORDER)
        if unknown:
            raise ValueError(f"render_site made files of unknown kind {sorted(unknown)}")
        uploaded: list[str] = []
        with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="site-upload") as pool:
            for kind in KIND_ORDER:
                batch = [(f, h) for f, h in changed if f.kind == kind]
                list(pool.map(lambda item: sink.put(*item), batch))  # all of a kind before the next kind
                uploaded += [f.path for f, _ in batch]
        if full:
            changes = _window_changes(incidents, now, windows)
            until = min(changes, now + FULL_CHECK_EVERY) if incidents or windows else now
            sink.write_state(json.dumps({"key": key, "rendered_at": format_utc(now), "until": format_utc(until)}))
        unchanged = len(files) - len(changed) if full else len(set(current) - {f.path for f, _ in changed})
    return PublishReport(uploaded, unchanged, now, sum(len(f.content) for f, _ in changed),
                         time.perf_counter() - started)


def _status_documents_at(sink: SiteSink, now: datetime, key: str) -> list[SiteFile] | None:
    """The status documents as a full render would make them at `now`, from the published ones; None when the last
    full publish does not hold at `now` (another key, past its time, or a file missing)."""
    from .render import JSON, SHORT_CACHE, json_bytes

    try:
        state = json.loads(sink.read_state() or "null")
        holds = (state["key"] == key
                 and datetime.fromisoformat(state["rendered_at"]) <= now < datetime.fromisoformat(state["until"]))
    except (ValueError, TypeError, KeyError):
        return None  # no state, or one this code cannot read: publish in full
    if not holds:
        return None
    files = []
    for path in STATUS_DOCUMENTS:
        published = sink.read(path)
        if published is None:
            return None
        document = json.loads(published)
        document["generated_at"] = format_utc(now)
        files.append(SiteFile(path, json_bytes(document), JSON, SHORT_CACHE, "data"))
    return files


def _window_changes(incidents: list[Incident], now: datetime, windows: list[Maintenance] = ()) -> datetime:
    """The first time after `now` at which the clock alone changes the site: one of these incidents leaves the front
    page's or the history's window, by its resolution or, without one, its last change (the earlier of the two: a
    spare full publish costs less than a stale one); a maintenance window enters the upcoming list, starts, ends or
    leaves the history; or the uptime moves (uptime.next_change: every 15 minutes while an incident is open or a
    window is in progress)."""
    from .uptime import next_change
    from .view import FRONT_DAYS

    running = any(w.state_at(now) is MaintenanceState.in_progress for w in windows)
    times = [next_change(now, any_open=running or any(i.status is not Status.resolved for i in incidents))]
    times += [t for w in windows for t in (*w.changes_at(now), w.ends_at + HISTORY)]
    for i in incidents:
        if i.status is Status.resolved:
            left = min(t for t in (i.resolved_at, i.updated_at, i.updates[-1].at if i.updates else None) if t)
            times += [left + timedelta(days=FRONT_DAYS), left + HISTORY]
    return min((t for t in times if t > now), default=now + FULL_CHECK_EVERY)


@functools.cache
def _code_digest() -> str:
    """What renders the site besides the incidents: this package, the models, templates, catalogs, assets, policy."""
    digest = hashlib.sha256()
    sources = [*(ROOT / "incidents" / "site").glob("*.py"), ROOT / "incidents" / "domain" / "models.py",
               ROOT / "incidents" / "domain" / "policy.toml",
               *(p for folder in ("templates", "www", "locale") for p in (ROOT / folder).rglob("*") if p.is_file())]
    for path in sorted(sources):
        digest.update(f"{path.relative_to(ROOT)}\n".encode() + path.read_bytes())
    return digest.hexdigest()


def _render_key(public_version: str, policy, base_url: str) -> str:
    explicit_policy = policy.model_dump_json() if policy is not None else ""
    return hashlib.sha256(f"{public_version}\n{_code_digest()}\n{explicit_policy}\n{base_url}".encode()).hexdigest()


class Elsewhere(Protocol):
    """Where publishes run when not in this process (bootstrap.PublishingProcess)."""

    def __call__(self, now: datetime) -> PublishReport: ...

    def close(self) -> None: ...


class Publisher:
    """One store, one sink, one queue: what the timer, the CLI and the change handlers use. With `elsewhere`, a
    publish runs there, at the time this publisher's clock says, from the same store into the same sink."""

    def __init__(self, store: IncidentStore, sink: SiteSink, *, clock: Callable[[], datetime] | None = None,
                 policy=None, base_url: str = "", debounce: float = 0.5, maintenance: MaintenanceStore | None = None,
                 elsewhere: Elsewhere | None = None):
        self.store, self.sink, self.policy, self.base_url = store, sink, policy, base_url
        self.maintenance = maintenance  # None: a site without maintenance windows
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.elsewhere = elsewhere
        self.queue = SoonQueue(self.publish, name="site-publisher", what="publishing the status site",
                               debounce=debounce)

    def publish(self, now: datetime | None = None) -> PublishReport:
        """Publish as of `now` (by default, the clock's), in this thread or waiting for the process elsewhere."""
        now = now or self.clock()
        report = self.elsewhere(now) if self.elsewhere else publish(
            self.store, self.sink, now=now, policy=self.policy, base_url=self.base_url, maintenance=self.maintenance)
        log.info("status site published to %r: %d uploaded (%d bytes), %d unchanged, %.0f ms", self.sink,
                 len(report.uploaded), report.bytes_uploaded, report.unchanged, report.seconds * 1000)
        return report

    def request_publish(self) -> None:
        """Call after any change that alters the public view: publishes within about a second, coalesced."""
        self.queue.request()

    def flush(self, timeout: float = 30.0) -> bool:
        return self.queue.flush(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Publish what was asked for (within `timeout`), then stop the queue's worker and the process elsewhere."""
        self.queue.close(timeout)
        if self.elsewhere is not None:
            self.elsewhere.close()
