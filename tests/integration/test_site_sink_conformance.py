"""What every site sink must do: each test runs on the directory sink and on Blob Storage (Azurite), through the
port and the publisher only, and reads the result as a visitor would."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from incidents.domain.models import Incident, Severity, Status, format_utc
from incidents.domain.store import IncidentQuery, find_all
from incidents.site.publisher import HISTORY, KIND_ORDER, STATUS_DOCUMENTS, publish
from incidents.site.sink import SinkBusy, SiteFile, content_hash

NOW = datetime(2026, 11, 26, 21, 43, tzinfo=timezone.utc)


def an_incident(n: int, **overrides) -> Incident:
    at = NOW - timedelta(hours=n)
    fields = {
        "id": f"inc-20261126-{n:06d}", "title": {"en": f"Scores are late {n}", "fr": f"Scores en retard {n}"},
        "severity": "sev2", "status": "investigating", "state": "published",
        "public_message": {"en": "We are looking into it."}, "components": ["Scores"], "started_at": at,
        "updated_at": at,
        "updates": [{"id": "u0", "at": at, "status": "investigating", "severity": "sev2",
                     "message": {"en": "We are looking into it."}, "author": "oncall@example.com",
                     "visibility": "public"}],
    }
    return Incident.model_validate(fields | overrides)


@pytest.fixture
def store(store_factory):
    store = store_factory("sqlite")
    for n in (1, 2, 30):
        store.add(an_incident(n, status="resolved" if n == 30 else "investigating",
                              resolved_at=NOW - timedelta(hours=29) if n == 30 else None))
    return store


class Recorder:
    """A sink wrapper that records every put, optionally slowly (to widen races)."""

    def __init__(self, sink, delay: float = 0.0):
        self.sink, self.delay, self.puts = sink, delay, []

    def current_hashes(self):
        return self.sink.current_hashes()

    def put(self, file, content_hash):
        time.sleep(self.delay)
        self.sink.put(file, content_hash)
        self.puts.append(file)

    def read(self, path):
        return self.sink.read(path)

    def lock(self, timeout=30.0):
        return self.sink.lock(timeout)

    def read_state(self):
        return self.sink.read_state()

    def write_state(self, state):
        self.sink.write_state(state)


def a_file(path: str = "status/en.json", content: bytes = b'{"ok": true}', kind: str = "data",
           content_type: str = "application/json", cache_control: str = "public, max-age=30") -> SiteFile:
    return SiteFile(path=path, content=content, content_type=content_type, cache_control=cache_control, kind=kind)


def page_statuses(html: bytes) -> tuple[str, dict[str, str]]:
    """The overall status a page shows, and the workflow status of each incident card, as codes."""
    text = html.decode()
    overall = re.search(r'class="banner s-([a-z_]+)"', text).group(1)
    cards = re.findall(r'<article class="incident" id="([^"]+)">.*?class="badge b-([a-z_]+)" data-b="status"', text,
                       re.DOTALL)
    return overall, dict(cards)


# The port


def test_put_then_read_round_trips_and_remembers_the_hash(site_sink):
    sink = site_sink.sink
    assert sink.current_hashes() == {} and sink.read("status/en.json") is None
    first, second = a_file(content=b'{"n": 1}'), a_file(content=b'{"n": 2}')
    sink.put(first, content_hash(first))
    assert sink.read("status/en.json") == b'{"n": 1}'
    sink.put(second, content_hash(second))
    sink.put(a_file("fr/index.html", "<p>é</p>".encode(), "page", "text/html; charset=utf-8"), "h-page")
    assert sink.read("status/en.json") == b'{"n": 2}' and sink.read("fr/index.html") == "<p>é</p>".encode()
    assert sink.current_hashes() == {"status/en.json": content_hash(second), "fr/index.html": "h-page"}
    assert site_sink.another().current_hashes() == sink.current_hashes()  # kept by the target, not the object


def test_the_publishers_note_round_trips_and_stays_out_of_the_site(site_sink):
    sink = site_sink.sink
    assert sink.read_state() is None
    sink.write_state('{"key": "a"}')
    sink.write_state('{"key": "b", "é": 1}')
    assert sink.read_state() == site_sink.another().read_state() == '{"key": "b", "é": 1}'
    assert sink.current_hashes() == {}


@pytest.mark.parametrize("path", ["../escape.html", "/index.html", "a//b.json", "a/./b.json", "", "a\\b.json"])
def test_a_path_outside_the_site_is_refused(site_sink, path):
    with pytest.raises(ValueError, match="not a site path"):
        site_sink.sink.put(a_file(path), "h")
    assert site_sink.sink.current_hashes() == {}


def test_a_visitor_gets_every_file_with_its_content_type_and_cache_control(site_sink, store):
    report = publish(store, site_sink.sink, now=NOW)
    files = {f.path: f for f in _render(store)}
    assert set(report.uploaded) == set(files) and report.unchanged == 0
    for path, file in files.items():
        got = site_sink.fetch(path)
        assert got.status_code == 200 and got.content == file.content, path
        assert got.headers["Content-Type"].replace(" ", "") == _served_type(site_sink.kind, file), path
        if site_sink.kind == "blob":  # a directory keeps no headers; Blob Storage serves the ones set on upload
            assert got.headers["Cache-Control"] == file.cache_control, path
    kinds = {f.kind for f in files.values()}
    assert kinds <= set(KIND_ORDER) and {"data", "page"} <= kinds


# Only what changed


def test_publishing_again_uploads_nothing(site_sink, store):
    first = publish(store, site_sink.sink, now=NOW)
    again = publish(store, site_sink.another(), now=NOW)
    assert first.uploaded and again.uploaded == [] and again.unchanged == len(first.uploaded)
    assert again.bytes_uploaded == 0


def test_a_change_uploads_only_the_files_that_changed(site_sink, store):
    publish(store, site_sink.sink, now=NOW)
    before = {f.path: f for f in _render(store)}
    stored = store.get("inc-20261126-000001")
    store.append(stored.incident.id, stored.etag, {"status": "identified", "updated_at": format_utc(NOW)},
                 {"id": "u1", "at": format_utc(NOW), "status": "identified", "severity": "sev2",
                  "message": {"en": "Found it."}, "author": "oncall@example.com", "visibility": "public"})
    after = {f.path: f for f in _render(store)}
    changed = {p for p, f in after.items() if p not in before or content_hash(before[p]) != content_hash(f)}
    assert changed and len(changed) < len(after)

    recorder = Recorder(site_sink.sink)
    report = publish(store, recorder, now=NOW)
    assert set(report.uploaded) == changed and report.unchanged == len(after) - len(changed)
    assert not any(before[p].kind == "asset" for p in report.uploaded)
    for path, file in after.items():
        assert site_sink.sink.read(path) == file.content, path


def test_files_go_up_assets_then_data_then_pages(site_sink, store):
    recorder = Recorder(site_sink.sink)
    report = publish(store, recorder, now=NOW)
    kinds = [f.kind for f in recorder.puts]  # in the order the puts finished
    assert kinds == sorted(kinds, key=KIND_ORDER.index) and set(kinds) == {"asset", "data", "page"}
    kind_of = {f.path: f.kind for f in recorder.puts}
    reported = [kind_of[p] for p in report.uploaded]
    assert reported == sorted(reported, key=KIND_ORDER.index)


# Publishing only what changed: a publish with nothing new moves generated_at and renders nothing


def _as_rendered(sink, store, now) -> None:
    """Every file in the sink is what a full render of the store at `now` makes."""
    files = {f.path: f for f in _render_at(store, now)}
    assert set(sink.current_hashes()) == set(files)
    for path, file in files.items():
        assert sink.read(path) == file.content, path


def test_a_publish_with_nothing_new_renders_nothing_and_only_moves_generated_at(site_sink, store, monkeypatch):
    publish(store, site_sink.sink, now=NOW)
    import incidents.site.render as render

    rendered = render.render_site
    monkeypatch.setattr(render, "render_site", lambda *a, **k: pytest.fail("rendered with nothing new"))
    later = NOW + timedelta(seconds=20)  # within the minute: open incidents' uptime moves with each minute
    report = publish(store, site_sink.another(), now=later)
    assert sorted(report.uploaded) == sorted(STATUS_DOCUMENTS) and report.unchanged > 10
    monkeypatch.setattr(render, "render_site", rendered)
    _as_rendered(site_sink.sink, store, later)


def test_a_public_write_or_the_window_passing_an_incident_renders_in_full(site_sink, store):
    publish(store, site_sink.sink, now=NOW)
    stored = store.get("inc-20261126-000002")
    store.append(stored.incident.id, stored.etag, {"status": "resolved", "resolved_at": format_utc(NOW),
                                                   "updated_at": format_utc(NOW)},
                 {"id": "u1", "at": format_utc(NOW), "status": "resolved", "severity": "sev2",
                  "message": {"en": "Fixed."}, "author": "oncall@example.com", "visibility": "public"})
    later = NOW + timedelta(minutes=1)
    assert publish(store, site_sink.sink, now=later).uploaded != sorted(STATUS_DOCUMENTS)
    _as_rendered(site_sink.sink, store, later)
    for days in (30, 90):  # off the front page, then out of the history
        after = NOW + timedelta(days=days, minutes=1)
        publish(store, site_sink.sink, now=after)
        _as_rendered(site_sink.sink, store, after)


# The lock


def test_the_lock_is_held_by_one_publisher_at_a_time(site_sink):
    other = site_sink.another()
    with site_sink.sink.lock():
        started = time.monotonic()
        with pytest.raises(SinkBusy), other.lock(timeout=0.3):
            pass
        assert time.monotonic() - started >= 0.3
    with other.lock(timeout=5):  # free again once released
        pass


def test_the_public_target_holds_only_published_files_never_the_lock_or_the_manifest(site_sink, store):
    sink = site_sink.sink
    publish(store, sink, now=NOW)
    with sink.lock():  # the lock exists (at least) while it is held
        for path in (".publish.lock", ".publish-manifest.json"):
            assert site_sink.fetch(path).status_code == 404, path
        if site_sink.kind == "directory":
            public = {p.relative_to(sink.root).as_posix() for p in sink.root.rglob("*") if p.is_file()}
        else:
            public = {blob.name for blob in sink.container.list_blobs()}
            lock = sink.lock_container.get_blob_client(sink.lock_blob)
            assert lock.exists() and sink.lock_container.get_container_properties().public_access is None
            assert requests.get(lock.url, timeout=10).status_code in (403, 404)  # no anonymous read
        assert public == set(sink.current_hashes())


@pytest.fixture
def newer_store(store_factory, store):
    """The same incidents one step later: incident 1 identified and sev1 (a major outage)."""
    newer = store_factory("sqlite")
    for n in (1, 2, 30):
        incident = store.get(f"inc-20261126-{n:06d}").incident
        if n == 1:
            incident = incident.model_copy(update={"status": Status.identified, "severity": Severity.sev1})
        newer.add(incident)
    return newer


def test_a_publisher_waits_for_the_one_publishing_then_publishes_over_it_whole(site_sink, store, newer_store):
    slow = Recorder(site_sink.sink, delay=0.05)
    first_put, put = threading.Event(), slow.put
    slow.put = lambda file, h: (first_put.set(), put(file, h))
    first = threading.Thread(target=publish, args=(store, slow), kwargs={"now": NOW})
    first.start()
    assert first_put.wait(10)
    report = publish(newer_store, site_sink.another(), now=NOW + timedelta(seconds=1))  # waits for the first
    first.join(10)
    assert not first.is_alive() and report.uploaded
    assert _assert_consistent(site_sink.sink) == ("major_outage", format_utc(NOW + timedelta(seconds=1)))


def test_concurrent_publishes_of_different_states_leave_one_whole_site(site_sink, store, newer_store):
    errors: list[BaseException] = []

    def publisher(n: int) -> None:
        try:
            publish(newer_store if n % 2 else store, Recorder(site_sink.another(), delay=0.01),
                    now=NOW + timedelta(seconds=n))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publisher, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    _assert_consistent(site_sink.sink)


# Helpers


def _render(store):
    return _render_at(store, NOW)


def _render_at(store, now):
    from incidents.site.render import render_site

    everything = IncidentQuery(state="published", active_since=now - HISTORY, public_only=True)
    return render_site([s.incident for s in find_all(store, everything)], now=now)


def _served_type(kind: str, file: SiteFile) -> str:
    if kind == "blob":
        return file.content_type.replace(" ", "")
    # the local host derives the type from the extension and adds a charset to text types: it must agree
    bare = file.content_type.split(";")[0]
    textual = bare.startswith("text/") or bare.endswith(("json", "xml", "javascript"))
    return bare + (";charset=utf-8" if textual else "")


def _assert_consistent(sink) -> tuple[str, str]:
    """Every page shows what its locale's status JSON says, and every locale comes from the same publish: no page
    of one publish beside data of another. Returns the overall status and generated_at."""
    published = sink.current_hashes()
    seen = set()
    for locale in ("en", "fr", "es", "sv"):
        data = json.loads(sink.read(f"status/{locale}.json"))
        cards = {i["id"]: i["status"]["code"] for i in data["active"] + data["recent"]}
        for page in ("index.html", "history.html"):
            path = page if locale == "en" else f"{locale}/{page}"
            assert path in published
            overall, shown = page_statuses(sink.read(path))
            assert overall == data["overall"]["code"], path
            assert {i: shown.get(i) for i in cards} == cards, path
        seen.add((data["overall"]["code"], data["generated_at"]))
    statuspage = json.loads(sink.read("api/v2/summary.json"))
    assert {c["status"] for c in statuspage["components"]} >= {s for s, _ in seen} - {"operational"}
    assert len(seen) == 1, seen
    return seen.pop()

