"""HTTP load from a process of its own, as real clients are: `python -m bench.load` reads a JSON job on stdin and
prints latency percentiles and throughput as JSON.

The job: {"url": "http://127.0.0.1:PORT", "concurrency": N, "warmup": W, "requests": [[method, path, headers, body]]}.
N keep-alive connections on one asyncio loop (no threads, so no client waits on another's lock) take the requests in
order, each connection sending its next one when the last answer is read: a closed loop, like N pollers. A request's
latency runs from its first byte sent to the last byte of the answer read. The first W requests warm the
connections and the host up and are not counted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import sys
import time
from urllib.parse import urlsplit


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the server closes the connection) of one HTTP/1.1 answer with Content-Length."""
    status = int((await reader.readline()).split()[1])
    length, closing = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
        elif name.strip().lower() == "connection" and value.strip().lower() == "close":
            closing = True
    return status, await reader.readexactly(length), closing


async def _run(job: dict) -> dict:
    url = urlsplit(job["url"])
    requests = [(m, p, h, (b or "").encode()) for m, p, h, b in job["requests"]]
    warmup = job.get("warmup", 0)
    counter, latencies, failures = itertools.count(), [], []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            while (i := next(counter)) < len(requests):
                method, path, headers, body = requests[i]
                head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": url.netloc, **headers}.items())
                message = f"{method} {path} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
                started = time.perf_counter()
                writer.write(message)
                status, answer, closing = await _answer(reader)
                if i >= warmup:
                    latencies.append((time.perf_counter() - started) * 1000)
                    if status >= 400:
                        failures.append(f"{status} {answer[:200].decode(errors='replace')}")
                if closing:
                    writer.close()
                    reader, writer = await asyncio.open_connection(url.hostname, url.port)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(job["concurrency"])))
    wall = time.perf_counter() - started
    n = len(latencies)
    p95 = statistics.quantiles(latencies, n=20)[18] if n > 1 else latencies[0]
    return {"n": n, "errors": len(failures), "first_error": failures[0] if failures else None,
            "p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(p95, 1),
            "max_ms": round(max(latencies), 1), "req_per_s": round(n / wall, 1)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_run(json.load(sys.stdin)))))
