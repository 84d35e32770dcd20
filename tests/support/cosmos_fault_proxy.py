"""A loopback proxy in front of the Cosmos DB stand-in that answers like Cosmos DB in trouble, on demand.

The stand-in (@vercel/cosmosdb-server) never throttles, never fails and never loses a container, so the tests could
not see what our client does when Cosmos DB does. This proxy forwards every request to the stand-in unchanged,
except while a fault is set:

- `answer(429, retry_after_ms=...)`, `answer(503)`, `answer(404, substatus=1003)`, ...: data-plane requests
  (paths under /dbs) get that status with Cosmos DB's headers (`x-ms-substatus`, `x-ms-retry-after-ms`) and a
  Cosmos-style JSON body, without reaching the stand-in; `where="/docs"` limits it to item requests;
- `delay(seconds)`: each data-plane request waits that long before it is forwarded (a slow or hung gateway).

It speaks plain HTTP to the client and HTTPS to the stand-in. The account read (GET /) is always forwarded, with
the stand-in's own address in `writableLocations`/`readableLocations` replaced by the proxy's: the SDK sends every
later request to the location the account names, and would otherwise go around the proxy.

    with CosmosFaultProxy(emulator.endpoint) as proxy:
        store = CosmosStore(proxy.endpoint, ...)
        proxy.answer(429, retry_after_ms=5000)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

# Cosmos DB's error codes by status, as its gateway names them in the body's "code".
_CODES = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 408: "RequestTimeout", 410: "Gone",
          429: "TooManyRequests", 449: "RetryWith", 500: "InternalServerError", 503: "ServiceUnavailable"}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Fault:
    status: int | None = None
    substatus: int | None = None
    retry_after_ms: int | None = None
    delay_s: float = 0.0
    where: str = "/dbs"  # the requests it applies to: those whose path contains this


class CosmosFaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.fault = Fault()
        self.faulted = 0  # data-plane requests answered with a fault or delayed since the last set
        self._lock = threading.Lock()
        self._healed = threading.Event()
        self._local = threading.local()
        self._tls = ssl._create_unverified_context()  # the stand-in's certificate is self-signed
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # What the tests call

    def answer(self, status: int, *, substatus: int | None = None, retry_after_ms: int | None = None,
               where: str = "/dbs") -> None:
        self._set(Fault(status=status, substatus=substatus, retry_after_ms=retry_after_ms, where=where))

    def delay(self, seconds: float) -> None:
        self._set(Fault(delay_s=seconds))

    def heal(self) -> None:
        self._set(Fault())

    def __enter__(self) -> CosmosFaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.heal()
        self._server.shutdown()
        self._server.server_close()

    # Plumbing

    def _set(self, fault: Fault) -> None:
        with self._lock:
            self.fault, self.faulted = fault, 0
            self._healed.set()  # wakes requests held by an earlier delay
            self._healed = threading.Event()

    def _upstream(self) -> http.client.HTTPSConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPSConnection(self.upstream.hostname, self.upstream.port, context=self._tls,
                                                     timeout=60)
            self._local.connection = connection
        return connection

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes):
        for attempt in (1, 2):  # a kept-alive upstream connection may have been closed meanwhile
            connection = self._upstream()
            try:
                connection.request(method, path, body=body or None, headers=headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    self._answer()

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    fault, healed = proxy.fault, proxy._healed
                    data_plane = fault.where in self.path
                    if data_plane and (fault.status or fault.delay_s):
                        proxy.faulted += 1
                if data_plane and fault.delay_s:
                    healed.wait(fault.delay_s)
                if data_plane and fault.status:
                    return self._fail(fault)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
                status, response_headers, payload = proxy._forward(self.command, self.path, headers, body)
                if self.path == "/" and status == 200:
                    stand_in = f"https://{proxy.upstream.hostname}:{proxy.upstream.port}/"
                    payload = payload.replace(stand_in.encode(), proxy.endpoint.encode())
                self.send_response(status)
                for name, value in response_headers:
                    if name.lower() not in _HOP_BY_HOP | {"content-location"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _fail(self, fault: Fault) -> None:
                payload = json.dumps({"code": _CODES.get(fault.status, "Error"),
                                      "message": f"Injected by the fault proxy: {fault.status}/{fault.substatus}"})
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-ms-activity-id", "00000000-0000-0000-0000-000000000000")
                if fault.substatus is not None:
                    self.send_header("x-ms-substatus", str(fault.substatus))
                if fault.retry_after_ms is not None:
                    self.send_header("x-ms-retry-after-ms", str(fault.retry_after_ms))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload.encode())

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

        return Handler



@pytest.fixture
def faults(cosmos_emulator) -> Iterator[CosmosFaultProxy]:
    """The fault proxy in front of this session's Cosmos DB emulator, for one test."""
    with CosmosFaultProxy(cosmos_emulator.endpoint) as proxy:
        yield proxy
