"""Helpers for the services the test harness starts (the Cosmos emulator, Azurite, the loopback stand-ins), and a
port where none runs."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler


def closed_port() -> int:
    """A loopback port that was free a moment ago and that nothing listens on now (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """End a service the harness started: politely, then for good."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()


def send_answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
                headers: Iterable[tuple[str, str]] = ()) -> None:
    """A loopback stand-in's whole answer; a client that gave up (timed out) before it is not an error."""
    try:
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:
        pass
