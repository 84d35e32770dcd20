"""Benchmark: seed a fresh store, serve function_app.app through LocalHost on 127.0.0.1, measure over real HTTP.

Per store: seed N incidents through the store port (see make_incidents: a year of them, a few open, long internal
timelines on some), publish the status site (in full, then with nothing new), then time from `--concurrency`
clients `GET /api/v1/public/incidents` (plain and conditional) beside the same bytes served as a static file by the
same host, and `PATCH /api/v1/admin/incidents/{id}` (mostly internal notes, every tenth a public message, so that
publishes run meanwhile); then new alerts posted one after the other, each becoming a draft. The clients run in a
process of their own (bench/load.py), as real clients do; the feed, the static file and alert intake are each the
median of REPEATS interleaved runs. Then cold import, in fresh interpreters, of
`azure.functions` and of `function_app`. Each goal of issue 14 is printed with its figure and its ratio to the
reference measured in the same run; `--update-readme` writes the README's Speed table from the results.
"""

import argparse
import contextlib
import copy
import itertools
import json
import os
import random
import re
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


OPEN_PUBLISHED, OPEN_DRAFTS = 6, 4  # what is open at any time: a few incidents, not hundreds
LONG_TIMELINE = 300  # internal entries (alert firings, notes) on the long timelines


def make_incidents(n: int, now: datetime, rng: random.Random) -> tuple[list, list[str]]:
    """N incidents built by the workflow, and the ids of the open published ones: started over the last 365 days;
    OPEN_PUBLISHED published and OPEN_DRAFTS drafts still open (in the last week), ~2% dismissed, the rest published
    and resolved, with 1-5 entries; half of the open ones and ~1% of the others carry a long internal timeline."""
    from incidents.domain.models import IncidentChange, NewIncident, State, Status
    from incidents.domain.workflow import apply_change, open_incident

    incidents, open_ids, ids = [], [], set()
    kinds = ["open"] * OPEN_PUBLISHED + ["draft"] * OPEN_DRAFTS
    kinds += ["dismissed" if rng.random() < 0.02 else "resolved" for _ in range(n - len(kinds))]
    for kind in kinds:
        start = now - timedelta(days=rng.uniform(0, 7 if kind in ("open", "draft") else 365))
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
        long_timeline = (len(open_ids) < OPEN_PUBLISHED // 2) if kind == "open" else rng.random() < 0.01
        notes = LONG_TIMELINE if long_timeline else 0
        for step in range(2, entries + 1):
            at = min(at + timedelta(minutes=rng.uniform(5, 180)), now)
            if kind in ("draft", "dismissed"):
                change = IncidentChange(note=f"Alert still firing (check {step}).")
            elif kind == "resolved" and step == entries:
                change = IncidentChange(status="resolved", public_message="Resolved; everything works again.")
            else:
                status = list(Status)[min(incident.status.rank + 1, Status.monitoring.rank)]
                change = IncidentChange(status=status, public_message=f"Update {step}: we are on it.")
            if notes and step == entries:
                incident = with_internal_notes(incident, notes, at, rng)
            incident, _ = apply_change(incident, change, author="bench-seed", now=max(at, incident.updated_at))
        if notes and entries == 1:
            incident = with_internal_notes(incident, notes, at, rng)
        if kind == "dismissed":
            incident = incident.model_copy(update={"state": State.dismissed})
        incidents.append(incident)
        if kind == "open":
            open_ids.append(incident_id)
    return incidents, open_ids


def with_internal_notes(incident, count: int, after: datetime, rng: random.Random):
    """`count` internal entries appended (an alert re-firing, an engineer's notes), a few seconds apart."""
    from incidents.domain.models import IncidentChange
    from incidents.domain.workflow import apply_change

    _, entry = apply_change(incident, IncidentChange(note="x"), author="bench-seed", now=after)
    updates, at = list(incident.updates), after
    for k in range(count):
        at += timedelta(seconds=rng.uniform(1, 20))
        updates.append(entry.model_copy(update={"id": f"u{len(updates) + 1}", "at": at,
                                                "note": f"Alert fired again; checked dashboards ({k})."}))
    return incident.model_copy(update={"updates": updates, "updated_at": at})


REPEATS = 3  # the feed, the static file, alert intake and the new-process publish: the median of 3 interleaved runs


def median_of(runs: list[dict], key: str) -> dict:
    """The run whose `key` is the median (of an odd number), reported whole, with every run's `key` beside it."""
    chosen = sorted(runs, key=lambda r: r[key])[len(runs) // 2]
    return chosen | {f"runs_{key}": [r[key] for r in runs]}


def measure(url: str, requests_: list[list], concurrency: int, warmup: int = 0) -> dict:
    """The requests ([method, path, headers, body]) sent by `concurrency` clients in a process of their own
    (bench/load.py), the first `warmup` of them not counted: latency percentiles and throughput."""
    return run_job("bench.load", {"url": url, "concurrency": concurrency, "warmup": warmup, "requests": requests_})


def run_job(module: str, job: dict) -> dict:
    """`python -m module` in a process of its own, the JSON job on its stdin, its JSON answer from its stdout."""
    done = subprocess.run([sys.executable, "-m", module], cwd=ROOT, input=json.dumps(job), capture_output=True,
                          text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"{module} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


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
    """Where a new empty store is, made as the tests make theirs: SQLite in `tmp`, or a new container in the
    emulator (running until the block ends)."""
    from tests.support.stores import make_store

    with contextlib.ExitStack() as stack:
        emulator = stack.enter_context(cosmos_emulator(tmp)) if name == "cosmos" else None
        store = make_store(name, tmp_path=tmp, cosmos_emulator=emulator)
        store.close()
        yield ({"kind": "sqlite", "path": str(store.path)} if emulator is None else
               {"kind": "cosmos", "endpoint": emulator.endpoint, "key": emulator.key,
                "verify_tls": emulator.verify_tls, "database": store.database, "container": store.container})


def store_settings(spec: dict) -> dict[str, str]:
    if spec["kind"] == "sqlite":
        return {"INCIDENTS_SQLITE_PATH": spec["path"]}
    return {"INCIDENTS_STORE": "cosmos", "COSMOS_ENDPOINT": spec["endpoint"], "COSMOS_KEY": spec["key"],
            "COSMOS_VERIFY_TLS": str(spec["verify_tls"]).lower(), "COSMOS_DATABASE": spec["database"],
            "COSMOS_CONTAINER": spec["container"]}


def bench_store(name: str, args: argparse.Namespace, tmp: Path) -> dict:
    import function_app
    from incidents import bootstrap
    from incidents.http.auth import create_dev_key, mint_token
    from incidents.localhost import LocalHost
    from incidents.settings import load_settings
    from incidents.site.sink_directory import DirectorySink

    rng = random.Random(2026)
    started = time.perf_counter()
    incidents, open_ids = make_incidents(args.incidents, datetime.now(timezone.utc), rng)
    result = {"incidents": len(incidents), "open_incidents": len(open_ids),
              "entries": sum(len(i.updates) for i in incidents),
              "longest_timeline": max(len(i.updates) for i in incidents),
              "build_s": round(time.perf_counter() - started, 2)}
    dev_key = create_dev_key(tmp / "dev-signing-key.pem")
    with open_store(name, tmp) as store_spec:
        # The store from the settings, as the Function App opens it: so its publishes run in a process of their own
        settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key), "INCIDENTS_FUNCTION_KEY": "bench-key",
                                  "SITE_DIRECTORY": str(tmp / f"site-{name}"), **store_settings(store_spec)})
        token = mint_token(dev_key, issuer=settings.token_issuer, audience=settings.token_audience,
                           roles=[settings.auth_admin_role])
        store = bootstrap.build_store(settings)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(store.add, incidents))
        result["seed_s"] = round(time.perf_counter() - started, 2)
        result["seed_per_s"] = round(len(incidents) / result["seed_s"], 1)
        services = bootstrap.build(settings, store=store)
        bootstrap.use(services)
        try:
            # The whole status site (90 days of it): the first publish (the service's Publisher, in the process it
            # starts), full publishes into empty sinks in this process, now as warm as that one, then publishes with
            # nothing new into the first sink.
            site = bootstrap.publisher_for(settings, store=store, clock=services.incidents.clock,
                                          maintenance_store=services.maintenance.store)
            first = site.publish()
            publish_into(store, DirectorySink(tmp / "warm-up"))  # this process then as warm as the publishing one
            full = [publish_into(store, DirectorySink(tmp / f"full-{n}")) for n in range(3)]
            at = datetime.now(timezone.utc)
            again = [publish_into(store, site.sink, at + timedelta(seconds=n)) for n in range(5)]
            # The timer's next runs, a minute apart: the open incidents' uptime is rendered again every 15 minutes.
            timer = [publish_into(store, site.sink, at + timedelta(minutes=n + 1)) for n in range(3)]
            result["publish_first"] = report_of(first)
            result["publish_fresh_process"] = median_of(
                [fresh_publish(store_spec, tmp / f"fresh-{name}-{n}") for n in range(REPEATS)], "seconds")
            result["publish_full"] = median_of([report_of(r) for r in full], "seconds")
            result["publish_again"] = median_of([report_of(r) for r in again], "seconds")
            result["publish_next_minute"] = median_of([report_of(r) for r in timer], "seconds")
            static = tmp / f"static-{name}"
            static.mkdir()
            with LocalHost(function_app.app, port=0, function_key="bench-key", run_timers=False,
                           static_root=static) as host:
                result["operations"] = measure_http(host.url, static, args)
                for incident_id in open_ids:  # what admins work on, as a serving process has it: parsed once already
                    requests.get(f"{host.url}/api/v1/admin/incidents/{incident_id}",
                                 headers={"Authorization": f"Bearer {token}"}, timeout=30).raise_for_status()
                publishing = record_publishes(site)
                started = time.perf_counter()
                result["operations"]["patch"] = measure(
                    host.url, patches(token, open_ids, args, rng), args.concurrency, warmup=args.concurrency)
                ended = time.perf_counter()
                site.flush(60)
                result["operations"]["patch"]["publishes"] = sum(1 for a, b in publishing if a < ended and b > started)
                result["operations"]["patch"]["publishing_s"] = round(
                    sum(max(0.0, min(b, ended) - max(a, started)) for a, b in publishing), 2)
                result["operations"]["patch"]["run_s"] = round(ended - started, 2)
                drafts_before = count_drafts(store)
                result["operations"]["alert_intake"] = median_of(
                    [measure(host.url, alerts(args.alerts + 1, n), 1, warmup=1) for n in range(REPEATS)], "p95_ms")
                if (drafted := count_drafts(store) - drafts_before) != REPEATS * (args.alerts + 1):
                    raise SystemExit(f"{REPEATS * (args.alerts + 1)} new alerts drafted {drafted} incidents")
        finally:
            bootstrap.shutdown()  # PATCHes on published incidents queue a publish; let it finish before the store goes
            bootstrap.use(None)
            store.close()
    return result


def record_publishes(site) -> list[tuple[float, float]]:
    """The (start, end) of each publish the site's queue runs from now on (perf_counter times)."""
    spans: list[tuple[float, float]] = []
    run_once = site.queue._run_once  # the bench looks inside: the product has no use for publish timings

    def timed() -> None:
        started = time.perf_counter()
        try:
            run_once()
        finally:
            spans.append((started, time.perf_counter()))

    site.queue._run_once = timed
    return spans


def count_drafts(store) -> int:
    from incidents.domain.models import State
    from incidents.domain.store import IncidentQuery, find_all

    return sum(1 for _ in find_all(store, IncidentQuery(state=State.draft, limit=500)))


def fresh_publish(store_spec: dict, site: Path) -> dict:
    """A full publish in a new process, imports done but nothing read or formatted yet (bench/fresh_publish.py)."""
    return run_job("bench.fresh_publish", {"store": store_spec, "site": str(site)})


def report_of(report) -> dict:
    return {"seconds": round(report.seconds, 3), "files": len(report.uploaded), "bytes": report.bytes_uploaded}


def publish_into(store, sink, now: datetime | None = None):
    from incidents.site.publisher import publish

    return publish(store, sink, now=now or datetime.now(timezone.utc))


def measure_http(url: str, static: Path, args) -> dict:
    """The public feed, plain and conditional, beside the very same bytes served as a static file."""
    feed_path = "/api/v1/public/incidents"
    first = requests.get(url + feed_path, timeout=30)
    if first.status_code != 200:
        raise SystemExit(f"GET {feed_path} answered {first.status_code}: {first.text[:500]}")
    (static / "feed.json").write_bytes(first.content)
    etag = first.headers.get("ETag", "")
    operations = {
        "static_file": ["GET", "/feed.json", {}, None],
        "public_feed": ["GET", feed_path, {}, None],
        "public_feed_304": ["GET", feed_path, {"If-None-Match": etag}, None],
    }
    runs: dict[str, list[dict]] = {op: [] for op in operations}
    for _ in range(REPEATS):  # interleaved, so that a noisy moment of the machine hits every operation alike
        for op, request in operations.items():
            runs[op].append(measure(url, [request] * (args.requests + args.concurrency), args.concurrency,
                                    warmup=args.concurrency))
    results = {op: median_of(op_runs, "p95_ms") for op, op_runs in runs.items()}
    results["public_feed"] |= {"items": len(first.json()["incidents"]), "bytes": len(first.content)}
    results["public_feed_304"]["not_modified"] = requests.get(
        url + feed_path, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    return results


PATCH_ROUNDS = 3  # PATCH runs 3 x --requests: long enough (over a second) for publishes to run meanwhile


def patches(token: str, open_ids: list[str], args, rng: random.Random) -> list[list]:
    """Nine internal notes for one new public message, spread evenly over the open published incidents (half of them
    with a long internal timeline, which this leaves under MAX_UPDATES): every public message queues a publish, and
    the run lasts long enough for publishes to run during it (the bench reports how long they ran)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    n = PATCH_ROUNDS * args.requests + args.concurrency
    targets = (open_ids * (n // len(open_ids) + 1))[:n]
    rng.shuffle(targets)
    return [["PATCH", f"/api/v1/admin/incidents/{target}", headers,
             json.dumps({"public_message": f"Update {i}: still on it."} if i % 10 == 9 else {"note": f"note {i}"})]
            for i, target in enumerate(targets)]


def alerts(n: int, batch: int) -> list[list]:
    """New alerts (each its own alert id and target), so each one drafts a new incident."""
    template = json.loads((ROOT / "tests" / "fixtures" / "alerts" / "metric-static.json").read_text())
    essentials = template["data"]["essentials"]
    fired = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    posts = []
    for i in range(n):
        payload = copy.deepcopy(template)
        payload["data"]["essentials"].update(
            alertId=f"{essentials['alertId']}-bench-{batch}-{i}", firedDateTime=fired,
            alertTargetIDs=[f"{essentials['alertTargetIDs'][0]}-bench-{batch}-{i}"])
        posts.append(["POST", "/api/v1/alerts/azure-monitor?code=bench-key", {"Content-Type": "application/json"},
                      json.dumps(payload)])
    return posts


def cold_import(runs: int = 7) -> dict:
    """Each module imported in `runs` fresh interpreters, the two interleaved so that machine noise hits both."""
    samples: dict[str, list] = {"azure.functions": [], "function_app": []}
    for _, module in itertools.product(range(runs), samples):
        command = [sys.executable, "-c", IMPORT_SNIPPET.format(module=module, heavy=HEAVY)]
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
        samples[module].append(json.loads(out))
    return {module: {"median_ms": round(statistics.median(s[0] for s in runs_), 1), "modules": runs_[0][1],
                     "heavy_loaded": sorted(set().union(*(s[2] for s in runs_)))} for module, runs_ in samples.items()}


def goals(report: dict) -> list[dict]:
    """Issue 14's goals: each figure beside its target and the reference measured in the same run."""
    rows = []
    for name, r in report["stores"].items():
        ops = r["operations"]
        feed, static = ops["public_feed"], ops["static_file"]
        full, again = r["publish_full"]["seconds"], r["publish_again"]["seconds"]
        fresh = r["publish_fresh_process"]["seconds"]
        next_minute = r["publish_next_minute"]["seconds"]
        rows += [
            {"store": name, "goal": "public feed p95 (8 clients)", "figure": feed["p95_ms"], "unit": "ms",
             "target": 10, "reference": "10 ms", "ratio": feed["p95_ms"] / 10},
            {"store": name, "goal": "public feed p95 / static file p95", "figure": feed["p95_ms"], "unit": "ms",
             "target_ratio": 3, "reference": f"static file {static['p95_ms']} ms",
             "ratio": feed["p95_ms"] / static["p95_ms"]},
            {"store": name, "goal": "conditional feed (304) p95", "figure": ops["public_feed_304"]["p95_ms"],
             "unit": "ms", "target_ratio": 3, "reference": f"static file {static['p95_ms']} ms",
             "ratio": ops["public_feed_304"]["p95_ms"] / static["p95_ms"]},
            {"store": name, "goal": "publish with nothing new / full publish", "figure": again, "unit": "s",
             "target_ratio": 0.05, "reference": f"full publish {full} s", "ratio": again / full},
            {"store": name, "goal": "publish a minute later, incidents open / full", "figure": next_minute,
             "unit": "s", "target_ratio": 0.05, "reference": f"full publish {full} s",
             "ratio": next_minute / full},
            {"store": name, "goal": "full publish (90 days, 4 locales), new process", "figure": fresh, "unit": "s",
             "target": 1, "reference": "1 s", "ratio": fresh / 1},
            {"store": name, "goal": "full publish, warm process (after a change)", "figure": full, "unit": "s",
             "target": 1, "reference": "1 s", "ratio": full / 1},
            {"store": name, "goal": "PATCH p95 (8 clients, publishes running)", "figure": ops["patch"]["p95_ms"],
             "unit": "ms", "target": 20, "reference": "20 ms", "ratio": ops["patch"]["p95_ms"] / 20,
             "note": f"{ops['patch']['publishes']} publishes ran {ops['patch']['publishing_s']} s of the "
                     f"{ops['patch']['run_s']} s"},
            {"store": name, "goal": "alert intake p95 (sequential)", "figure": ops["alert_intake"]["p95_ms"],
             "unit": "ms", "target": 5, "reference": "5 ms", "ratio": ops["alert_intake"]["p95_ms"] / 5},
        ]
    imports = report["cold_import"]
    bare, ours = imports["azure.functions"]["median_ms"], imports["function_app"]["median_ms"]
    rows.append({"store": "", "goal": "cold import function_app / azure.functions", "figure": ours, "unit": "ms",
                 "target_ratio": 1.3, "reference": f"azure.functions {bare} ms", "ratio": ours / bare})
    for row in rows:  # judged on the exact ratio, shown rounded (1.003 s is not within 1 s)
        row["met"] = row["ratio"] <= row.get("target_ratio", 1)
        row["ratio"] = round(row["ratio"], 3 if row["ratio"] < 0.1 else 2)
    return rows


def print_table(report: dict) -> None:
    print(f"\n{'store':<8}{'operation':<17}{'n':>6}{'err':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'req/s':>9}")
    for name, r in report["stores"].items():
        print(f"{name:<8}{'seed':<17}{r['incidents']:>6}{'':>32}{r['seed_per_s']:>9}   ({r['seed_s']} s; "
              f"{r['open_incidents']} open; {r['entries']} entries, longest {r['longest_timeline']})")
        for run in ("publish_first", "publish_fresh_process", "publish_full", "publish_again", "publish_next_minute"):
            p = r[run]
            print(f"{name:<8}{run:<17}{p['files']:>6} files, {p['bytes']} bytes uploaded in {p['seconds']} s")
        for op, m in r["operations"].items():
            print(f"{name:<8}{op:<17}{m['n']:>6}{m['errors']:>5}{m['p50_ms']:>9}{m['p95_ms']:>9}{m['max_ms']:>9}"
                  f"{m['req_per_s']:>9}" + (f"   first error: {m['first_error'][:60]}" if m["errors"] else ""))
    print("\ncold import (median of 7 fresh interpreters)")
    for module, r in report["cold_import"].items():
        print(f"  import {module:<16}{r['median_ms']:>7} ms  {r['modules']:>4} modules; "
              f"heavy loaded: {', '.join(r['heavy_loaded']) or 'none'}")
    print("\ngoals (issue 14): figure, reference measured in this run, ratio (goal: ratio <= its limit)")
    for g in report["goals"]:
        limit = g.get("target_ratio", 1)
        print(f"  {'met ' if g['met'] else 'MISS'} {g['store']:<7}{g['goal']:<50}{g['figure']:>9} {g['unit']:<3}"
              f" vs {g['reference']:<26} ratio {g['ratio']:<6} (<= {limit})"
              + (f"; {g['note']}" if "note" in g else ""))
    print(f"\nwall time {report['wall_s']} s; JSON in {RESULTS.relative_to(ROOT)}")


README = ROOT / "README.md"
README_TABLE = re.compile(r"(<!-- bench-table: .*? -->\n)(.*?)(<!-- /bench-table -->)", re.DOTALL)


def readme_table(report: dict) -> str:
    """The README's Speed table, from a bench report (tests/unit/test_bench_readme.py keeps the two in step)."""
    lines = ["| goal | SQLite | Cosmos DB emulator | limit |", "|---|---|---|---|"]
    by_goal: dict[str, dict[str, dict]] = {}
    for g in report["goals"]:
        by_goal.setdefault(g["goal"], {})[g["store"] or "sqlite"] = g
    for goal, stores in by_goal.items():
        cells = []
        for name in ("sqlite", "cosmos"):
            g = stores.get(name)
            cells.append("" if g is None else f"{g['figure']:,} {g['unit']} (x{g['ratio']} of {g['reference']}"
                         + (f"; {g['note']}" if "note" in g else "") + ")" + ("" if g["met"] else " **missed**"))
        any_goal = next(iter(stores.values()))
        limit = (f"x{any_goal['target_ratio']}" if "target_ratio" in any_goal
                 else f"{any_goal['target']} {any_goal['unit']}")
        lines.append(f"| {goal} | {cells[0]} | {cells[1]} | {limit} |")
    return "\n".join(lines) + "\n"


def update_readme(report: dict) -> None:
    text = README.read_text()
    if not README_TABLE.search(text):
        raise SystemExit("README.md has no <!-- bench-table: ... --> ... <!-- /bench-table --> block")
    README.write_text(README_TABLE.sub(lambda m: m.group(1) + readme_table(report) + m.group(3), text, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,cosmos", help="comma-separated: sqlite,cosmos")
    parser.add_argument("--incidents", type=int, default=10_000, help="incidents to seed per store")
    parser.add_argument("--requests", type=int, default=300, help="requests per measured operation")
    parser.add_argument("--concurrency", type=int, default=8, help="clients (keep-alive connections)")
    parser.add_argument("--alerts", type=int, default=200, help="new alerts posted one after the other")
    parser.add_argument("--update-readme", action="store_true", help="write README.md's Speed table from the results")
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not stores or set(stores) - {"sqlite", "cosmos"}:
        parser.error("--stores takes sqlite, cosmos or sqlite,cosmos")
    if not (100 <= args.incidents <= 1_000_000 and 20 <= args.requests <= 100_000 and 1 <= args.concurrency <= 64
            and 20 <= args.alerts <= 100_000):
        parser.error("need 100 <= --incidents <= 1e6, 20 <= --requests and --alerts <= 1e5, 1 <= --concurrency <= 64")

    warnings.filterwarnings("ignore", message="Unverified HTTPS request")  # the emulator's self-signed certificate
    os.environ["PYTHONWARNINGS"] = "ignore:Unverified HTTPS request"  # and in the publishing process (a message
    # filter: a category would be imported at every interpreter's start, cold import included)
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    report = {"config": vars(args), "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "stores": {}}
    for name in stores:
        print(f"{name}: seeding {args.incidents} incidents, then {args.requests} requests per operation", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            report["stores"][name] = bench_store(name, args, Path(tmp))
    print("cold import ...", flush=True)
    report["cold_import"] = cold_import()
    report["goals"] = goals(report)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    if args.update_readme:
        update_readme(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
