"""Maintenance windows on the status site, with a fixed clock: a window announced on Thursday for Sunday 02:00-02:30
is upcoming in four languages, in progress at 02:00 and completed at 02:30 with nobody touching it; the
Statuspage-shaped api/v2 documents match Statuspage's shapes; the publisher renders the site anew at 02:00 and 02:30.
"""

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from incidents.domain.maintenance import MaintenanceAction, NewMaintenance, cancel, open_maintenance
from incidents.domain.models import NewIncident
from incidents.domain.policy import load_policy, platform_components
from incidents.domain.workflow import open_incident
from incidents.site.publisher import publish
from incidents.site.render import WWW, render_site
from incidents.site.sink_directory import DirectorySink
from incidents.site.view import BAR_COLOURS, build_view, translations
from incidents.stores.sqlite import SqliteMaintenanceStore, SqliteStore
from tests.unit.test_site_feeds import validator
from tests.unit.test_site_html import VNU

THURSDAY = datetime(2026, 11, 26, 21, 43, tzinfo=timezone.utc)
SUNDAY_2 = datetime(2026, 11, 29, 2, 0, tzinfo=timezone.utc)
SUNDAY_230 = SUNDAY_2 + timedelta(minutes=30)
BASE = "https://status.petanque.example"
TITLE = {"en": "Payments upgrade", "fr": "Mise à jour des paiements", "es": "Actualización de pagos",
         "sv": "Uppgradering av betalningar"}
MESSAGE = {"en": "Payments will be unavailable Sunday 02:00-02:30 UTC.",
           "fr": "Les paiements seront indisponibles dimanche de 02:00 à 02:30 UTC.",
           "es": "Los pagos no estarán disponibles el domingo de 02:00 a 02:30 UTC.",
           "sv": "Betalningar är otillgängliga söndag 02:00-02:30 UTC."}
PAGES = {"en": ("index.html", "history.html"), **{lang: (f"{lang}/index.html", f"{lang}/history.html")
                                                 for lang in ("fr", "es", "sv")}}
KNOWN = platform_components(load_policy())


def sunday(mid="mnt-20261129-payup2", *, starts=SUNDAY_2, ends=SUNDAY_230, components=("Payments",), title=TITLE,
           message=MESSAGE):
    body = NewMaintenance(title=title, message=message, components=list(components), starts_at=starts, ends_at=ends)
    return open_maintenance(body, maintenance_id=mid, author="ada", now=THURSDAY, known=KNOWN, others=[])


def site(maintenances, now, incidents=()):
    return {f.path: f.content for f in render_site(list(incidents), now=now, base_url=BASE,
                                                   maintenances=maintenances)}


def text(html: str) -> str:
    class Text(HTMLParser):
        parts: list[str] = []

        def handle_data(self, data):
            self.parts.append(data)

    parser = Text()
    parser.parts = []
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def said(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


@pytest.mark.parametrize("locale", PAGES)
def test_a_window_announced_for_sunday_shows_as_upcoming_on_every_page_in_its_language(locale):
    files = site([sunday()], THURSDAY)
    for path in PAGES[locale]:
        html = files[path].decode()
        shown = text(html)
        assert TITLE[locale] in shown and MESSAGE[locale] in shown, path
        assert said(locale, "Planned maintenance") in shown and said(locale, "Scheduled") in shown, path
        assert '<time data-f="m-starts" datetime="2026-11-29T02:00:00.000Z">' in html
        assert '<article class="mnt" id="mnt-20261129-payup2">' in html
    view = build_view([], locale=locale, now=THURSDAY, maintenances=[sunday()])
    assert view.overall.code == "operational"  # announced is not yet under maintenance
    assert {c.status.code for c in view.components} == {"operational"}


@pytest.mark.parametrize("locale", PAGES)
def test_at_02_00_it_is_in_progress_and_payments_is_under_maintenance_with_nobody_touching_it(locale):
    files = site([sunday()], SUNDAY_2)
    index = text(files[PAGES[locale][0]].decode())
    assert said(locale, "In progress") in index and TITLE[locale] in index
    view = build_view([], locale=locale, now=SUNDAY_2, maintenances=[sunday()])
    payments = next(c for c in view.components if c.name == "Payments")
    assert (payments.status.code, payments.status.label) == ("under_maintenance", said(locale, "Under maintenance"))
    assert {c.status.code for c in view.components if c.name != "Payments"} == {"operational"}
    assert view.overall.code == "under_maintenance"
    assert view.overall.label == said(locale, "Service under maintenance")
    assert (view.overall.label == "Service under maintenance") is (locale == "en")  # translated
    assert '<p class="banner s-under_maintenance" data-f="overall"' in files[PAGES[locale][0]].decode()


@pytest.mark.parametrize("locale", PAGES)
def test_at_02_30_it_is_completed_in_the_history_and_gone_from_the_banner(locale):
    files = site([sunday()], SUNDAY_230)
    index, history = (files[path].decode() for path in PAGES[locale])
    assert 'data-f="maintenance"' not in index and "mnt-20261129-payup2" not in index
    assert said(locale, "Completed") in text(history) and TITLE[locale] in text(history)
    assert said(locale, "Maintenance (last %(days)s days)") % {"days": 90} in text(history)
    view = build_view([], locale=locale, now=SUNDAY_230, maintenances=[sunday()])
    assert view.overall.code == "operational" and {c.status.code for c in view.components} == {"operational"}


def test_maintenance_minutes_count_as_maintenance_not_downtime():
    view = build_view([], locale="en", now=SUNDAY_2 + timedelta(hours=3), maintenances=[sunday()])
    payments = next(u for u in view.uptime if u.name == "Payments")
    assert payments.numbers.minutes["under_maintenance"] == 30 and payments.numbers.percentage == 100
    assert payments.numbers.days[-1].worst == "under_maintenance"
    assert payments.record == ("Nov 29, 2026: Under maintenance for 30 min",)
    uptime = json.loads(site([sunday()], SUNDAY_2 + timedelta(hours=3))["status/uptime.json"])
    assert next(c for c in uptime["components"] if c["name"] == "Payments")["days"] == [
        {"date": "2026-11-29", "minutes": {"under_maintenance": 30}}]


def test_an_incident_on_a_component_under_maintenance_shows_the_incident():
    body = NewIncident(title="Payments fail", severity="sev2", public_message="Looking.", components=["Payments"])
    incident = open_incident(body, incident_id="inc-1", author="bo", now=SUNDAY_2 + timedelta(minutes=5))
    view = build_view([incident], locale="en", now=SUNDAY_2 + timedelta(minutes=10), maintenances=[sunday()])
    assert next(c for c in view.components if c.name == "Payments").status.code == "partial_outage"
    assert view.overall.code == "partial_outage"
    assert [m.id for m in view.maintenance_active] == ["mnt-20261129-payup2"]


def test_only_the_next_14_days_show_on_the_pages_but_the_api_lists_every_scheduled_window():
    later = sunday("mnt-20261220-later1", starts=SUNDAY_2 + timedelta(days=20), ends=SUNDAY_230 + timedelta(days=20))
    without, with_later = site([], THURSDAY), site([later], THURSDAY)
    changed = {p for p in without if without[p] != with_later[p]}
    assert not {p for p in changed if p.endswith((".html", ".atom"))}  # the pages and feeds: the next 14 days only
    assert {"api/v2/scheduled-maintenances.json", "api/v2/scheduled-maintenances/upcoming.json",
            "api/v2/summary.json"} <= changed
    upcoming = json.loads(with_later["api/v2/scheduled-maintenances/upcoming.json"])["scheduled_maintenances"]
    assert [m["id"] for m in upcoming] == ["mnt-20261220-later1"]


def test_a_cancelled_window_shows_as_cancelled_in_the_history_but_leaves_the_statuspage_api():
    called_off, _ = cancel(sunday(), MaintenanceAction(message="No longer needed."), author="ada",
                           now=THURSDAY + timedelta(hours=1))
    files = site([called_off], THURSDAY + timedelta(hours=2))
    assert "Cancelled" in text(files["history.html"].decode()) and 'data-f="maintenance"' not in files[
        "index.html"].decode()
    assert json.loads(files["api/v2/scheduled-maintenances.json"])["scheduled_maintenances"] == []


SCENARIOS = {"none": ([], THURSDAY), "upcoming": ([sunday()], THURSDAY), "active": ([sunday()], SUNDAY_2),
             "completed": ([sunday()], SUNDAY_230)}
ENDPOINTS = [("api/v2/summary.json", "summary"), ("api/v2/status.json", "status"),
             ("api/v2/components.json", "components"),
             ("api/v2/scheduled-maintenances.json", "scheduled-maintenances"),
             ("api/v2/scheduled-maintenances/upcoming.json", "scheduled-maintenances-upcoming"),
             ("api/v2/scheduled-maintenances/active.json", "scheduled-maintenances-active")]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(("path", "schema"), ENDPOINTS)
def test_the_statuspage_documents_match_statuspages_shapes(scenario, path, schema):
    document = json.loads(site(*SCENARIOS[scenario])[path])
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(schema).iter_errors(document)]
    assert errors == []


def test_the_statuspage_documents_follow_the_window_through_its_day():
    def documents(now):
        files = site([sunday()], now)
        return {name: json.loads(files[f"api/v2/{name}.json"]) for name in (
            "summary", "status", "scheduled-maintenances", "scheduled-maintenances/upcoming",
            "scheduled-maintenances/active")}

    before, during, after = documents(THURSDAY), documents(SUNDAY_2), documents(SUNDAY_230)
    [announced] = before["scheduled-maintenances/upcoming"]["scheduled_maintenances"]
    assert (announced["status"], announced["impact"], announced["name"]) == ("scheduled", "maintenance", TITLE["en"])
    assert (announced["scheduled_for"], announced["scheduled_until"]) == ("2026-11-29T02:00:00.000Z",
                                                                          "2026-11-29T02:30:00.000Z")
    assert [c["name"] for c in announced["components"]] == ["Payments"]
    assert announced["incident_updates"][0]["body"] == MESSAGE["en"]
    assert before["summary"]["scheduled_maintenances"] == [announced] and before["status"]["status"]["indicator"] == \
        "none"
    [running] = during["scheduled-maintenances/active"]["scheduled_maintenances"]
    assert running["status"] == "in_progress" and running["components"][0]["status"] == "under_maintenance"
    assert [u["status"] for u in running["incident_updates"]] == ["in_progress", "scheduled"]
    assert during["status"]["status"] == {"indicator": "maintenance", "description": "Service Under Maintenance"}
    assert during["scheduled-maintenances/upcoming"]["scheduled_maintenances"] == []
    [done] = after["scheduled-maintenances"]["scheduled_maintenances"]
    assert (done["status"], done["resolved_at"]) == ("completed", "2026-11-29T02:30:00.000Z")
    assert done["incident_updates"][0]["body"] == "The scheduled maintenance has been completed."
    assert after["summary"]["scheduled_maintenances"] == [] and after["status"]["status"]["indicator"] == "none"


@pytest.mark.parametrize("locale", PAGES)
def test_each_atom_feed_has_an_entry_for_the_window_with_a_stable_id(locale):
    ids = []
    for now in (THURSDAY, SUNDAY_230):
        feed = ET.fromstring(site([sunday()], now)[f"feed/{locale}.atom"])
        [entry] = feed.findall("{http://www.w3.org/2005/Atom}entry")
        assert entry.find("{http://www.w3.org/2005/Atom}title").text == TITLE[locale]
        terms = [c.get("term") for c in entry.findall("{http://www.w3.org/2005/Atom}category")]
        assert terms[0] == "maintenance"
        ids.append((entry.find("{http://www.w3.org/2005/Atom}id").text, terms[1]))
    assert ids[0][0] == ids[1][0] and [state for _, state in ids] == ["scheduled", "completed"]


def test_the_publisher_renders_the_site_anew_when_the_window_starts_and_ends(tmp_path):
    store, windows = SqliteStore(tmp_path / "db.sqlite3"), SqliteMaintenanceStore(tmp_path / "db.sqlite3")
    windows.add(sunday())
    sink = DirectorySink(tmp_path / "site")

    def at(now):
        return publish(store, sink, now=now, maintenance=windows)

    at(SUNDAY_2 - timedelta(minutes=2))
    assert at(SUNDAY_2 - timedelta(minutes=1)).uploaded == [f"status/{lang}.json" for lang in PAGES]
    started = at(SUNDAY_2)
    assert "index.html" in started.uploaded and "api/v2/scheduled-maintenances/active.json" in started.uploaded
    assert "Under maintenance" in (tmp_path / "site" / "index.html").read_text()
    assert "index.html" not in at(SUNDAY_2 + timedelta(minutes=1)).uploaded  # maintenance is no downtime: no refresh
    ended = at(SUNDAY_230)
    assert "index.html" in ended.uploaded and "history.html" in ended.uploaded
    assert "Under maintenance" not in (tmp_path / "site" / "index.html").read_text()
    store.close()


def test_a_new_or_changed_window_is_published_in_full_at_once(tmp_path):
    store, windows = SqliteStore(tmp_path / "db.sqlite3"), SqliteMaintenanceStore(tmp_path / "db.sqlite3")
    sink = DirectorySink(tmp_path / "site")
    publish(store, sink, now=THURSDAY, maintenance=windows)
    windows.add(sunday())
    assert "index.html" in publish(store, sink, now=THURSDAY + timedelta(seconds=5), maintenance=windows).uploaded
    store.close()


def test_the_front_page_stays_within_30_kb_with_maintenance():
    windows = [sunday(f"mnt-2026112{n}-abcdef", starts=SUNDAY_2 + timedelta(days=n), ends=SUNDAY_230 +
                      timedelta(days=n), components=KNOWN, message={**MESSAGE, "en": "z" * 600}) for n in range(4)]
    files = site(windows, SUNDAY_2 + timedelta(minutes=5))
    assets = sum(len(c) for p, c in files.items() if p.startswith("assets/site."))
    for path in ("index.html", "fr/index.html", "es/index.html", "sv/index.html"):
        assert files[path].count(b'class="mnt"') == 4
        assert len(files[path]) + assets < 30 * 1024, path


def test_maintenance_colours_are_statuspages_blue_and_readable():
    css = (WWW / "site.css").read_text()
    assert BAR_COLOURS["under_maintenance"] == "#0b57d0"
    for selector in (".s-under_maintenance", ".b-in_progress", ".c-under_maintenance", ".b-scheduled",
                     ".b-completed", ".b-cancelled"):
        assert re.search(rf"[\n,]{re.escape(selector)}[,{{]", css), selector
    # .b-cancelled uses --muted (#4a5360): 7.5:1 on white; the others share lines test_site.py checks for 4.5:1
    assert "--muted:#4a5360" in css and ".b-cancelled{background:var(--muted)}" in css


def test_pages_with_maintenance_are_valid_for_the_nu_html_checker(tmp_path):
    java = shutil.which("java")
    if not (java and VNU.is_file()):
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("Java or node_modules/vnu-jar is missing; in CI the HTML check must run", pytrace=False)
        pytest.skip("Java (Debian default-jre-headless) or node_modules/vnu-jar is missing")
    called_off, _ = cancel(sunday("mnt-20261129-called"), MaintenanceAction(), author="ada", now=THURSDAY)
    later = sunday("mnt-20261130-later1", starts=SUNDAY_2 + timedelta(days=1), ends=SUNDAY_230 + timedelta(days=1),
                   components=["Website", "Mobile app"], title="Website move", message="The website moves.")
    pages = []
    for name, now in (("active", SUNDAY_2 + timedelta(minutes=5)), ("past", SUNDAY_230 + timedelta(days=2))):
        for path, content in site([sunday(), called_off, later], now).items():
            if path.endswith(".html"):
                target = tmp_path / name / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                pages.append(target)
    done = subprocess.run([java, "-jar", str(VNU), "--format", "json", "--exit-zero-always", *map(str, pages)],
                          capture_output=True, text=True, timeout=300)
    messages = json.loads(done.stderr)["messages"]
    problems = [f"{m['url'].split(str(tmp_path))[-1]}:{m.get('lastLine')}: {m['message']}" for m in messages
                if m["type"] == "error" or (m["type"] == "info" and m.get("subType") == "warning")]
    assert problems == []
