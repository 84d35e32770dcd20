"""Pytest plugin: a stand-in for a Slack incoming webhook.

Slack (https://hooks.slack.com/services/...) cannot be reached from here. So `slack_sink` is a REAL HTTP server
(stdlib ThreadingHTTPServer in a thread, 127.0.0.1, a free port) that records every POST and answers like Slack
does (200 "ok"), or with a scripted sequence of replies: other statuses, a Retry-After header, or a stall longer
than the client's timeout.

Fixtures:
  slack_sink          function a fresh SlackSink; .url (with a secret-looking path), .requests, .script(), .stop()
  closed_webhook_url  function an http://127.0.0.1:<port>/... URL where nothing listens (connection refused)

    slack_sink.script([503, Reply(429, retry_after="1"), 200])  # then 200 for every later request
    slack_sink.script([Reply(200, stall=5.0)] * 3)
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.processes import closed_port, send_answer

SECRET_PATH = "/services/T000/B000/XXXXsecretXXXX"  # a webhook URL's path is its secret


@dataclass(frozen=True)
class Reply:
    status: int = 200
    retry_after: str | None = None  # the Retry-After header, as sent
    stall: float = 0.0  # seconds to wait before answering (cut short when the sink stops)
    body: str | None = None  # default: "ok" for 2xx, a Slack-like error otherwise


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON, or the raw text if it was not JSON


class SlackSink:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answers: list[Reply] = []  # the reply each request got, in the same order
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-sink", daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{SECRET_PATH}"

    def script(self, replies: Iterable[int | Reply]) -> None:
        """Answer the next requests with these replies, in order; 200 "ok" once they are used up."""
        with self._lock:
            self._replies = deque(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def _next(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            self.answers.append(self._replies.popleft() if self._replies else Reply())
            return self.answers[-1]

    def stop(self) -> None:
        self._stopping.set()  # releases stalled handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler(sink: SlackSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            reply = sink._next(Recorded(self.path, dict(self.headers.items()), body))
            if reply.stall:
                sink._stopping.wait(reply.stall)
            text = reply.body if reply.body is not None else ("ok" if reply.status < 300 else "invalid_payload")
            retry_after = [("Retry-After", reply.retry_after)] if reply.retry_after is not None else []
            send_answer(self, reply.status, text.encode(), "text/plain; charset=utf-8", retry_after)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def slack_sink() -> Iterator[SlackSink]:
    sink = SlackSink()
    yield sink
    sink.stop()


@pytest.fixture
def closed_webhook_url() -> str:
    return f"http://127.0.0.1:{closed_port()}{SECRET_PATH}"
