"""Publishing the status site: read the public incidents, render every file, upload only what changed.

Two publishers at once (the timer and a change, two threads, two Function App instances) WAIT for each other: a
publish holds the sink's lock (an fcntl lock for a directory, a blob lease for Blob Storage) from before it reads the
store until its last upload. Publishes therefore never interleave, and one that had to wait reads the store after the
one before it finished, so the site never goes back to an older state. A publish that cannot get the lock within
LOCK_TIMEOUT_S fails with SinkBusy and the next timer run catches up. (Skipping and marking the site "dirty" would
save a publish, but needs a dirty flag shared between instances; waiting about a second costs less.)

Within one publish, files go up in the order assets, data, pages, so that nothing refers to a file not there yet.
PublishQueue coalesces the bursts of requests that changes make. The process's one Publisher is built by the
composition root (bootstrap.publisher_for).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..domain.models import Incident, State
from ..domain.store import IncidentQuery, IncidentStore, find_all
from .sink import LOCK_TIMEOUT_S, SiteSink, content_hash

log = logging.getLogger(__name__)
HISTORY = timedelta(days=90)
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
    """Published incidents resolved since `since` or still open, every page of them, public entries only."""
    query = IncidentQuery(state=State.published, active_since=since, public_only=True, limit=100)
    return [stored.incident for stored in find_all(store, query)]


def publish(store: IncidentStore, sink: SiteSink, *, now: datetime, policy=None, base_url: str = "",
            lock_timeout: float = LOCK_TIMEOUT_S) -> PublishReport:
    """Render the whole site as of `now` and upload the files whose content hash changed (see the module doc)."""
    from .render import render_site  # Jinja2 and Babel: only when a publish runs

    started = time.perf_counter()
    with sink.lock(lock_timeout):
        files = render_site(public_incidents(store, now - HISTORY), now=now, policy=policy, base_url=base_url)
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
    return PublishReport(uploaded, len(files) - len(changed), now, sum(len(f.content) for f, _ in changed),
                         time.perf_counter() - started)


class PublishQueue:
    """Runs `publish_once` on one worker thread when asked, coalescing bursts of requests.

    The worker waits `debounce` seconds after the first request, then publishes once for every request made until
    then; a request made while a publish runs causes exactly one more publish afterwards, so the last publish always
    starts after the last request. A failed publish is logged; the timer is the safety net.
    """

    def __init__(self, publish_once: Callable[[], object], *, debounce: float = 0.5):
        self._publish_once, self._debounce = publish_once, debounce
        self._cond = threading.Condition()
        self._dirty = self._busy = self._closed = False
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.last_error: BaseException | None = None

    def request(self) -> None:
        """Ask for a publish soon; returns at once."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the publish queue is closed")
            self._dirty = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="site-publisher", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every request made so far has been published; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._dirty and not self._busy, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Publish what was requested, then stop the worker."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._dirty or self._closed)
                if not self._dirty:
                    return
                self._busy = True
            time.sleep(self._debounce)  # let the rest of the burst arrive
            with self._cond:
                self._dirty = False
            try:
                self._publish_once()
                self.last_error = None
            except Exception as exc:
                self.last_error = exc
                log.exception("publishing the status site failed")
            finally:
                with self._cond:
                    self._busy = False
                    self.runs += 1
                    self._cond.notify_all()


class Publisher:
    """One store, one sink, one queue: what the timer, the CLI and the change handlers use."""

    def __init__(self, store: IncidentStore, sink: SiteSink, *, clock: Callable[[], datetime] | None = None,
                 policy=None, base_url: str = "", debounce: float = 0.5):
        self.store, self.sink, self.policy, self.base_url = store, sink, policy, base_url
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.queue = PublishQueue(self.publish, debounce=debounce)

    def publish(self) -> PublishReport:
        """Publish now, in this thread."""
        report = publish(self.store, self.sink, now=self.clock(), policy=self.policy, base_url=self.base_url)
        log.info("status site published to %r: %d uploaded (%d bytes), %d unchanged, %.0f ms", self.sink,
                 len(report.uploaded), report.bytes_uploaded, report.unchanged, report.seconds * 1000)
        return report

    def request_publish(self) -> None:
        """Call after any change that alters the public view: publishes within about a second, coalesced."""
        self.queue.request()

    def flush(self, timeout: float = 30.0) -> bool:
        return self.queue.flush(timeout)
