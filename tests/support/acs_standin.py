"""Pytest plugin: a stand-in for Azure Communication Services (ACS), Email and SMS.

ACS (https://<resource>.communication.azure.com) cannot be reached from here, and sending a real email or SMS from a
test would page a real person. So `acs_standin` is a REAL HTTP server (stdlib ThreadingHTTPServer in a thread,
127.0.0.1, a free port) that speaks the REST shapes the two SDKs use, as read in their sources
(azure-communication-email 1.1.0, azure-communication-sms 1.1.0):

  POST /emails:send?api-version=2025-09-01   202, an Operation-Location header and {"id", "status": "Running"}
  GET  /emails/operations/<id>?api-version=  200 {"id", "status": "Succeeded"} (only a client that polls asks)
  POST /sms?api-version=2021-03-07           202 {"value": [{"to", "messageId", "httpStatusCode", "successful", ...}]}

Every request must carry the access key's HMAC-SHA256 signature, checked as ACS checks it
(azure/communication/*/_shared/policy.py): `VERB\\n<path and query>\\n<x-ms-date>;<host>;<x-ms-content-sha256>`, the
content hash must be the body's, the date within 15 minutes. A request signed with another key gets ACS's 401. The
stand-in records every request (decoded JSON) and answers as ACS does, or with a scripted sequence of replies:
statuses, Retry-After, a stall longer than the client's timeout, a per-recipient SMS failure. Error bodies quote the
recipient, as the worst case of ACS's own error texts, so that a test sees an adapter that repeats them.

Fixtures:
  acs_standin                   function  a fresh AcsStandIn: .connection_string, .endpoint, .access_key, .requests,
                                          .script(), .emails(), .texts(), .stop()
  closed_acs_connection_string  function  a connection string whose endpoint is a port nothing listens on

    acs_standin.script([429, Reply(503, retry_after="2"), 202])  # then ACS's usual 202 for every later request
    acs_standin.script([Reply(202, stall=10)])
    acs_standin.script([Reply(202, recipient_status=400)])        # SMS: accepted, but refused for that number
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.support.processes import closed_port, send_answer

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
CLOCK_SKEW = timedelta(minutes=15)
ERROR_CODES = {400: "BadRequest", 401: "Denied", 403: "Forbidden", 404: "NotFound", 408: "RequestTimeout",
               429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}


@dataclass(frozen=True)
class Reply:
    status: int = 202
    retry_after: str | None = None
    stall: float = 0.0  # seconds to wait before answering (cut short when the stand-in stops)
    recipient_status: int = 202  # SMS: the per-recipient httpStatusCode inside a 202


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # the decoded JSON, the raw text if it was not JSON, None if empty
    signed: bool  # the HMAC signature was valid
    status: int  # what the stand-in answered (or was about to, for a stalled reply)
    recipient_status: int | None = None  # SMS only


class AcsStandIn:
    def __init__(self) -> None:
        self.access_key = base64.b64encode(os.urandom(32)).decode()
        self.requests: list[Recorded] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="acs-standin", daemon=True
        )
        self._thread.start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.connection_string = f"endpoint={self.endpoint}/;accesskey={self.access_key}"

    def script(self, replies: Iterable[int | Reply]) -> None:
        """Answer the next email and SMS requests with these replies, in order; ACS's usual 202 once used up."""
        with self._lock:
            self._replies = deque(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def emails(self) -> list[dict]:
        """The email messages ACS accepted (the JSON each POST /emails:send carried)."""
        return [r.body for r in self.requests if r.path == "/emails:send" and r.status == 202]

    def texts(self) -> list[dict]:
        """The SMS requests ACS accepted for their recipient ({"from", "smsRecipients", "message", ...})."""
        return [r.body for r in self.requests if r.path == "/sms" and r.status == 202
                and 200 <= (r.recipient_status or 0) < 300]

    def stop(self) -> None:
        self._stopping.set()  # releases stalled handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _next(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else Reply()

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def signed(self, method: str, path_and_query: str, headers: Mapping[str, str], raw: bytes) -> bool:
        """Whether the request carries a valid HMAC-SHA256 signature of our access key, as ACS requires."""
        authorization = headers.get("Authorization", "")
        prefix = f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature="
        date, host, content_hash = headers.get("x-ms-date"), headers.get("Host"), headers.get("x-ms-content-sha256")
        if not authorization.startswith(prefix) or not (date and host and content_hash):
            return False
        if content_hash != base64.b64encode(hashlib.sha256(raw).digest()).decode():
            return False
        try:
            if abs(datetime.now(timezone.utc) - parsedate_to_datetime(date)) > CLOCK_SKEW:
                return False
        except (TypeError, ValueError):
            return False
        to_sign = f"{method}\n{path_and_query}\n{date};{host};{content_hash}"
        expected = hmac.new(base64.b64decode(self.access_key), to_sign.encode(), hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(expected).decode(), authorization.removeprefix(prefix))


def _error(status: int, about: str) -> dict:
    return {"error": {"code": ERROR_CODES.get(status, "Error"), "message": f"Request for {about} failed."}}


def _recipients(body: Any) -> str:
    """Who a request was for, as an ACS error text might say it."""
    if not isinstance(body, dict):
        return "unknown recipients"
    if "smsRecipients" in body:
        return ", ".join(r.get("to", "?") for r in body["smsRecipients"])
    return ", ".join(r.get("address", "?") for r in body.get("recipients", {}).get("to", []))


def _handler(standin: AcsStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._handle("POST")

        def do_GET(self) -> None:
            self._handle("GET")

        def _handle(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            url = urlsplit(self.path)
            query = dict(parse_qsl(url.query))
            headers = dict(self.headers.items())
            signed = standin.signed(method, self.path, self.headers, raw)
            route = {("POST", "/emails:send"): "email", ("POST", "/sms"): "sms"}.get((method, url.path))
            if method == "GET" and url.path.startswith("/emails/operations/"):
                route = "operation"

            def record(status: int, recipient_status: int | None = None) -> None:
                standin._record(Recorded(method, url.path, query, headers, body, signed, status, recipient_status))

            if route is None:
                record(404)
                return self._answer(404, _error(404, url.path))
            if "api-version" not in query:
                record(400)
                return self._answer(400, _error(400, "a request without api-version"))
            if not signed:
                record(401)
                return self._answer(401, {"error": {"code": "Denied", "message": "Denied by the resource provider."}})
            if route == "operation":
                record(200)
                return self._answer(200, {"id": url.path.rsplit("/", 1)[-1], "status": "Succeeded"})

            reply = standin._next()
            record(reply.status, reply.recipient_status if route == "sms" else None)
            if reply.stall:
                standin._stopping.wait(reply.stall)
            headers_out = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
            if not 200 <= reply.status < 300:
                return self._answer(reply.status, _error(reply.status, _recipients(body)), headers_out)
            if route == "email":
                operation = str(uuid.uuid4())
                location = f"{standin.endpoint}/emails/operations/{operation}?api-version={query['api-version']}"
                return self._answer(202, {"id": operation, "status": "Running", "error": None},
                                    {"Operation-Location": location, "Retry-After": "30", **headers_out})
            ok = 200 <= reply.recipient_status < 300
            results = [{"to": r.get("to"), "messageId": f"Outgoing_{uuid.uuid4().hex}_noam" if ok else None,
                        "httpStatusCode": reply.recipient_status, "repeatabilityResult": "accepted",
                        "successful": ok, "errorMessage": None if ok else f"Invalid To phone number {r.get('to')}."}
                       for r in body.get("smsRecipients", [])]
            return self._answer(202, {"value": results}, headers_out)

        def _answer(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
            send_answer(self, status, json.dumps(payload).encode(), "application/json; charset=utf-8",
                        (headers or {}).items())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def acs_standin() -> Iterator[AcsStandIn]:
    standin = AcsStandIn()
    yield standin
    standin.stop()


@pytest.fixture
def closed_acs_connection_string() -> str:
    return f"endpoint=http://127.0.0.1:{closed_port()}/;accesskey={base64.b64encode(b'k' * 32).decode()}"
