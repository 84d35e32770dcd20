"""SoonQueue coalesces bursts of publish requests; publisher_for keeps one Publisher per process."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from incidents.bootstrap import publisher_for
from incidents.domain.soon import SoonQueue
from incidents.settings import load_settings


class Counting:
    def __init__(self, seconds: float = 0.0, fail_first: bool = False):
        self.seconds, self.fail_first, self.starts = seconds, fail_first, []

    def __call__(self) -> None:
        self.starts.append(time.monotonic())
        time.sleep(self.seconds)
        if self.fail_first and len(self.starts) == 1:
            raise RuntimeError("storage is down")


def test_a_burst_from_many_threads_becomes_one_publish_that_starts_after_the_last_request():
    publish = Counting()
    queue = SoonQueue(publish, name="test", what="publishing", debounce=0.2)
    last_request = []

    def burst() -> None:
        for _ in range(10):
            queue.request()
            last_request.append(time.monotonic())
            time.sleep(0.005)

    threads = [threading.Thread(target=burst) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert queue.flush(5)
    assert 1 <= len(publish.starts) <= 2  # 80 requests
    assert publish.starts[-1] >= max(last_request)


def test_a_request_during_a_publish_makes_exactly_one_more():
    publish = Counting(seconds=0.3)
    queue = SoonQueue(publish, name="test", what="publishing", debounce=0.01)
    queue.request()
    time.sleep(0.1)  # the first publish is running
    requested = time.monotonic()
    for _ in range(5):
        queue.request()
    assert queue.flush(5)
    assert len(publish.starts) == 2 and publish.starts[1] >= requested


def test_flush_returns_at_once_when_nothing_was_asked_and_false_on_timeout():
    queue = SoonQueue(Counting(seconds=0.5), name="test", what="publishing", debounce=0.0)
    assert queue.flush(0.01)
    queue.request()
    assert not queue.flush(0.1)
    assert queue.flush(5)


def test_a_failed_publish_is_logged_and_the_next_request_still_publishes(caplog):
    publish = Counting(fail_first=True)
    queue = SoonQueue(publish, name="test", what="publishing", debounce=0.0)
    with caplog.at_level(logging.ERROR, logger="incidents.site.publisher"):
        queue.request()
        assert queue.flush(5)
    assert isinstance(queue.last_error, RuntimeError) and "failed" in caplog.text
    queue.request()
    assert queue.flush(5) and len(publish.starts) == 2 and queue.last_error is None


def test_close_publishes_what_was_asked_then_refuses_more():
    publish = Counting()
    queue = SoonQueue(publish, name="test", what="publishing", debounce=0.05)
    queue.request()
    queue.close()
    assert len(publish.starts) == 1
    with pytest.raises(RuntimeError, match="closed"):
        queue.request()


def test_publisher_for_keeps_one_publisher_per_settings_and_store(tmp_path, dev_key):
    settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key), "SITE_DIRECTORY": str(tmp_path / "site"),
                              "INCIDENTS_SQLITE_PATH": str(tmp_path / "db.sqlite3")})
    first = publisher_for(settings)
    assert publisher_for(settings) is first and publisher_for(settings, store=first.store) is first
    assert (tmp_path / "site").is_dir() and repr(first.sink).startswith("DirectorySink(")
    other = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key), "SITE_DIRECTORY": str(tmp_path / "other"),
                           "INCIDENTS_SQLITE_PATH": str(tmp_path / "db.sqlite3")})
    assert publisher_for(other) is not first
    first.store.close()
    publisher_for(other).store.close()
