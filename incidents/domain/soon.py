"""Work to do soon, off the request's thread: one worker per queue, requests coalesced."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class SoonQueue:
    """Runs `run_once` on one worker thread when asked, coalescing bursts of requests: the status site's publishes
    (site/publisher.py), the first pages of a new escalation (domain/paging.py).

    The worker waits `debounce` seconds after the first request, then publishes once for every request made until
    then; a request made while a run goes on causes exactly one more run afterwards, so the last run always
    starts after the last request. A failed run is logged; a timer is the safety net.
    """

    def __init__(self, run_once: Callable[[], object], *, name: str, what: str, debounce: float = 0.5):
        self._run_once, self._debounce, self._name, self._what = run_once, debounce, name, what
        self._cond = threading.Condition()
        self._dirty = self._busy = self._closed = False
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.last_error: BaseException | None = None

    def request(self) -> None:
        """Ask for a run soon; returns at once."""
        with self._cond:
            if self._closed:
                raise RuntimeError(f"the {self._name} queue is closed")
            self._dirty = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every request made so far has been run; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._dirty and not self._busy, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Run what was requested, then stop the worker."""
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
                self._run_once()
                self.last_error = None
            except Exception as exc:
                self.last_error = exc
                log.exception("%s failed", self._what)
            finally:
                with self._cond:
                    self._busy = False
                    self.runs += 1
                    self._cond.notify_all()
