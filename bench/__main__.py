"""Benchmark: seed a fresh store, serve function_app.app through LocalHost on 127.0.0.1, measure over real HTTP.

Per store: seed N incidents through the store port (see make_incidents), then time `GET /api/v1/public/incidents`
and `PATCH /api/v1/admin/incidents/{id}` (a note on a random open incident) from `--concurrency` client threads.
The clients share the host's process (and GIL), so latencies include their cost. Then cold import, in fresh
interpreters, of `azure.functions` and of `function_app`.
"""

import argparse
import contextlib
import itertools
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
HEAVY = ("azure.cosmos", "azure.storage", "jinja2", "pydantic", "jwt")  # must not load with function_app
SEVERITIES = ["sev1", "sev2", "sev2", "sev3", "sev3"]
ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
COMPONENTS = ["API", "Portal", "Payments", "Login", "Search", "Notifications", "Storage", "Reports"]
IMPORT_SNIPPET = ("import json, sys, time; t = time.perf_counter(); import {module}; t = time.perf_counter() - t; "
                  "print(json.dumps([t * 1000, len(sys.modules), [h for h in {heavy!r} if h in sys.modules]]))")


def make_incidents(n: int, now: datetime, rng: random.Random) -> tuple[list, list[str]]:
    """N incidents built by the workflow, and the ids of the open ones: started over the last 365 days (the ~3% still
    open, published, in the last week), ~5% drafts, ~2% dismissed, the rest published and resolved; 1-5 entries."""
    from incidents.domain.models import IncidentChange, NewIncident, State, Status
    from incidents.domain.workflow import apply_change, open_incident

    incidents, open_ids, ids = [], [], set()
    for _ in range(n):
        roll = rng.random() if incidents else 0.0  # the first is open, so there is always one to PATCH
        kind = "open" if roll < 0.03 else "draft" if roll < 0.08 else "dismissed" if roll < 0.10 else "resolved"
        start = now - timedelta(days=rng.uniform(0, 7 if kind == "open" else 365))
        while (incident_id := f"inc-{start:%Y%m%d}-" + "".join(rng.choices(ID_ALPHABET, k=6))) in ids:
            pass  # drawn again: ids must be unique
        ids.add(incident_id)
        entries = rng.randint(1, 5)
        body = NewIncident(
            title=f"{rng.choice(COMPONENTS)} is degraded", public_message="We are investigating reports of errors.",
            severity=rng.choice(SEVERITIES), components=rng.sample(COMPONENTS, rng.randint(0, 3)), started_at=start,
            status="resolved" if kind == "resolved" and entries == 1 else "investigating",
            state="draft" if kind in ("draft", "dismissed") else "published",
        )
        incident, at = open_incident(body, incident_id=incident_id, author="bench-seed", now=start), start
        for step in range(2, entries + 1):
            at = min(at + timedelta(minutes=rng.uniform(5, 180)), now)
            if kind in ("draft", "dismissed"):
                change = IncidentChange(note=f"Alert still firing (check {step}).")
            elif kind == "resolved" and step == entries:
                change = IncidentChange(status="resolved", public_message="Resolved; everything works again.")
            else:
                status = list(Status)[min(incident.status.rank + 1, Status.monitoring.rank)]
                change = IncidentChange(status=status, public_message=f"Update {step}: we are on it.")
            incident, _ = apply_change(incident, change, author="bench-seed", now=at)
        if kind == "dismissed":
            incident = incident.model_copy(update={"state": State.dismissed})
        incidents.append(incident)
        if kind == "open":
            open_ids.append(incident_id)
    return incidents, open_ids


def measure(n: int, concurrency: int, call) -> dict:
    """call(session, i) for each i in range(n), from `concurrency` threads: latency percentiles and throughput."""
    latencies, failures, counter = [], [], itertools.count()

    def worker() -> None:
        with requests.Session() as session:
            while (i := next(counter)) < n:
                started = time.perf_counter()
                response = call(session, i)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 400:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: worker(), range(concurrency)))  # re-raises a worker's exception
    wall = time.perf_counter() - started
    p95 = statistics.quantiles(latencies, n=20)[18] if n > 1 else latencies[0]
    return {"n": n, "errors": len(failures), "first_error": failures[0] if failures else None,
            "p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(p95, 1),
            "max_ms": round(max(latencies), 1), "req_per_s": round(n / wall, 1)}


@contextlib.contextmanager
def cosmos_emulator(tmp: Path):
    """The tests' emulator, started the same way."""
    from tests.support.cosmos_emulator import EmulatorUnavailable, run_emulator

    try:
        with run_emulator(tmp / "cosmos_server.log") as emulator:
            yield emulator
    except EmulatorUnavailable as exc:
        raise SystemExit(f"{exc}: run `npm ci` (or `make bench`)") from None


@contextlib.contextmanager
def open_store(name: str, tmp: Path):
    """A new empty store, made as the tests make theirs: SQLite in `tmp`, or a new container in the emulator."""
    from tests.support.stores import make_store

    with contextlib.ExitStack() as stack:
        emulator = stack.enter_context(cosmos_emulator(tmp)) if name == "cosmos" else None
        store = make_store(name, tmp_path=tmp, cosmos_emulator=emulator)
        stack.callback(store.close)
        yield store


def bench_store(name: str, args: argparse.Namespace, tmp: Path) -> dict:
    import function_app
    from incidents import bootstrap
    from incidents.http.auth import create_dev_key, mint_token
    from incidents.localhost import LocalHost
    from incidents.settings import load_settings

    rng = random.Random(2026)
    started = time.perf_counter()
    incidents, open_ids = make_incidents(args.incidents, datetime.now(timezone.utc), rng)
    result = {"incidents": len(incidents), "open_incidents": len(open_ids),
              "build_s": round(time.perf_counter() - started, 2)}
    dev_key = create_dev_key(tmp / "dev-signing-key.pem")
    settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key), "INCIDENTS_FUNCTION_KEY": "bench-key",
                              "SITE_DIRECTORY": str(tmp / f"site-{name}")})
    token = mint_token(dev_key, issuer=settings.token_issuer, audience=settings.token_audience,
                       roles=[settings.auth_admin_role])
    with open_store(name, tmp) as store:
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(store.add, incidents))
        result["seed_s"] = round(time.perf_counter() - started, 2)
        result["seed_per_s"] = round(len(incidents) / result["seed_s"], 1)
        bootstrap.use(bootstrap.build(settings, store=store))
        try:
            # The whole status site from what was seeded (90 days of it), then again with nothing changed.
            site = bootstrap.publisher_for(settings, store=store)
            for run in ("publish_first", "publish_again"):
                report = site.publish()
                result[run] = {"seconds": round(report.seconds, 2), "files": len(report.uploaded),
                               "bytes": report.bytes_uploaded}
            with LocalHost(function_app.app, port=0, function_key="bench-key", run_timers=False) as host:
                feed_url, admin_url = f"{host.url}/api/v1/public/incidents", f"{host.url}/api/v1/admin/incidents/"
                first = requests.get(feed_url, timeout=30)
                if first.status_code != 200:
                    raise SystemExit(f"{name}: GET {feed_url} answered {first.status_code}: {first.text[:500]}")
                result["feed_items"] = len(first.json()["incidents"])
                targets = [rng.choice(open_ids) for _ in range(args.requests + args.concurrency)]
                auth = {"Authorization": f"Bearer {token}"}
                operations = {
                    "public_feed": lambda s, i: s.get(feed_url, timeout=30),
                    "patch_note": lambda s, i: s.patch(admin_url + targets[i], json={"note": f"bench note {i}"},
                                                       headers=auth, timeout=30),
                }
                result["operations"] = {}
                for op, call in operations.items():
                    measure(args.concurrency, args.concurrency, call)  # warm-up: connections, lazy imports
                    result["operations"][op] = measure(args.requests, args.concurrency, call)
        finally:
            bootstrap.shutdown()  # PATCHes on published incidents queue a publish; let it finish before the store goes
            bootstrap.use(None)
    return result


def cold_import(runs: int = 7) -> dict:
    """Each module imported in `runs` fresh interpreters, the two interleaved so that machine noise hits both."""
    samples: dict[str, list] = {"azure.functions": [], "function_app": []}
    for _, module in itertools.product(range(runs), samples):
        command = [sys.executable, "-c", IMPORT_SNIPPET.format(module=module, heavy=HEAVY)]
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
        samples[module].append(json.loads(out))
    return {module: {"median_ms": round(statistics.median(s[0] for s in runs_), 1), "modules": runs_[0][1],
                     "heavy_loaded": sorted(set().union(*(s[2] for s in runs_)))} for module, runs_ in samples.items()}


def print_table(report: dict) -> None:
    print(f"\n{'store':<8}{'operation':<13}{'n':>6}{'err':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'req/s':>9}")
    for name, r in report["stores"].items():
        print(f"{name:<8}{'seed':<13}{r['incidents']:>6}{'':>32}{r['seed_per_s']:>9}   ({r['seed_s']} s; "
              f"{r['open_incidents']} open; built in {r['build_s']} s)")
        for run in ("publish_first", "publish_again"):
            p = r[run]
            print(f"{name:<8}{run:<13}{p['files']:>6} files, {p['bytes']} bytes uploaded in {p['seconds']} s")
        for op, m in r["operations"].items():
            print(f"{name:<8}{op:<13}{m['n']:>6}{m['errors']:>5}{m['p50_ms']:>9}{m['p95_ms']:>9}{m['max_ms']:>9}"
                  f"{m['req_per_s']:>9}" + (f"   first error: {m['first_error'][:60]}" if m["errors"] else ""))
    print("\ncold import (median of 7 fresh interpreters)")
    for module, r in report["cold_import"].items():
        print(f"  import {module:<16}{r['median_ms']:>7} ms  {r['modules']:>4} modules; "
              f"heavy loaded: {', '.join(r['heavy_loaded']) or 'none'}")
    print(f"\nwall time {report['wall_s']} s; JSON in {RESULTS.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,cosmos", help="comma-separated: sqlite,cosmos")
    parser.add_argument("--incidents", type=int, default=10_000, help="incidents to seed per store")
    parser.add_argument("--requests", type=int, default=300, help="requests per measured operation")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not stores or set(stores) - {"sqlite", "cosmos"}:
        parser.error("--stores takes sqlite, cosmos or sqlite,cosmos")
    if not (100 <= args.incidents <= 1_000_000 and 20 <= args.requests <= 100_000 and 1 <= args.concurrency <= 64):
        parser.error("need 100 <= --incidents <= 1e6, 20 <= --requests <= 1e5 and 1 <= --concurrency <= 64")

    warnings.filterwarnings("ignore", message="Unverified HTTPS request")  # the emulator's self-signed certificate
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    report = {"config": vars(args), "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "stores": {}}
    for name in stores:
        print(f"{name}: seeding {args.incidents} incidents, then {args.requests} requests per operation", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            report["stores"][name] = bench_store(name, args, Path(tmp))
    print("cold import ...", flush=True)
    report["cold_import"] = cold_import()
    report["wall_s"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
