"""Helpers for the services the test harness starts (the Cosmos emulator, Azurite), and a port where none runs."""

from __future__ import annotations

import socket
import subprocess


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
