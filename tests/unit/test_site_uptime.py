"""Each component's 90-day uptime, with a fixed clock: the minutes per status per UTC day, the percentage, the bars
and their text on the pages, and the JSON.

The formula (incidents/site/uptime.py, docs/status-site.md), as Atlassian Statuspage and Instatus count it:

    uptime = 1 - (major_outage + 0.3 × partial_outage) / (90 × 1440)   minutes over the 90 UTC days to today
"""

import base64
import json
import re
import struct
import zlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from jsonschema import Draft202012Validator

from incidents.domain.models import IncidentChange
from incidents.domain.workflow import apply_change
from incidents.site.render import WWW
from incidents.site.uptime import Span, component_uptimes, next_change, uptime_percentage
from incidents.site.view import BAR_COLOURS, build_view
from tests.unit.test_site import NOW, Tags, make, page, site

UTC = timezone.utc
TODAY = NOW.replace(hour=0, minute=0)  # 2026-11-26 00:00 UTC; NOW is 21:43
PERIOD_MINUTES = 90 * 1440


def at(hour, minute=0, days_ago=0):
    return TODAY - timedelta(days=days_ago) + timedelta(hours=hour, minutes=minute)


def uptime_of(incidents, component="Payments", *, now=NOW, locale="en"):
    view = build_view(incidents, locale=locale, now=now)
    return next(u for u in view.uptime if u.name == component)


def today(u):
    return u.numbers.days[-1].minutes


def change(incident, when, **fields):
    changed, _ = apply_change(incident, IncidentChange(**fields), author="oncall-bo", now=when)
    return changed


# ---- the numbers ---------------------------------------------------------------------------------------------------

def test_a_sev1_from_10_00_to_10_30_on_payments_is_30_minutes_of_major_outage_and_99_98_percent():
    u = uptime_of([make(severity="sev1", components=["Payments"], opened=at(10), resolved=at(10, 30))])
    assert today(u) == {"major_outage": 30}
    assert u.numbers.minutes == {"major_outage": 30, "partial_outage": 0, "degraded_performance": 0,
                                 "under_maintenance": 0}
    # 1 - 30 / (90 × 1440) = 1 - 30 / 129600 = 0.99976852 -> 99.98 %
    assert 100 * (1 - Decimal(30) / PERIOD_MINUTES) == Decimal("99.97685185185185185185185185")
    assert u.numbers.percentage == Decimal("99.98") and u.percentage == "99.98% uptime"
    assert uptime_of([make(severity="sev1", components=["Payments"], opened=at(10), resolved=at(10, 30))],
                     locale="fr").percentage == "99,98\xa0% de disponibilité"
    assert uptime_of([], "Website").numbers.percentage == Decimal("100.00")
    website = uptime_of([make(severity="sev1", components=["Payments"], opened=at(10), resolved=at(10, 30))],
                        "Website")
    assert website.numbers.minutes["major_outage"] == 0 and website.numbers.percentage == Decimal("100.00")


@pytest.mark.parametrize(("severity", "status", "weight"), [
    ("sev1", "major_outage", Decimal(1)), ("sev2", "partial_outage", Decimal("0.3")),
    ("sev3", "degraded_performance", Decimal(0)),
])
def test_each_severity_counts_as_its_component_status_with_its_weight(severity, status, weight):
    u = uptime_of([make(severity=severity, components=["Payments"], opened=at(0), resolved=at(12))])
    assert today(u) == {status: 720}
    expected = (100 * (1 - weight * 720 / PERIOD_MINUTES)).quantize(Decimal("0.01"))
    assert u.numbers.percentage == expected  # sev1 99.44, sev2 99.83, sev3 100.00


def test_overlapping_incidents_count_the_worst_status_at_each_moment_never_twice():
    incidents = [make("inc-slow", severity="sev3", components=["Payments"], opened=at(9), resolved=at(11)),
                 make("inc-down", severity="sev1", components=["Payments"], opened=at(10), resolved=at(10, 30)),
                 make("inc-again", severity="sev1", components=["Payments"], opened=at(10, 15), resolved=at(10, 45))]
    # 09:00-10:00 degraded, 10:00-10:45 major (two Sev1s, counted once), 10:45-11:00 degraded
    assert today(uptime_of(incidents)) == {"major_outage": 45, "degraded_performance": 75}


def test_an_open_incident_counts_until_now_and_grows_with_the_clock():
    incidents = [make(severity="sev2", components=["Payments"], opened=at(20))]
    assert today(uptime_of(incidents)) == {"partial_outage": 103}  # 20:00 to 21:43
    assert today(uptime_of(incidents, now=NOW + timedelta(minutes=10, seconds=59))) == {"partial_outage": 113}
    assert next_change(NOW + timedelta(seconds=30), any_open=True) == NOW + timedelta(minutes=15)
    assert next_change(TODAY + timedelta(hours=23, minutes=50), any_open=True) == TODAY + timedelta(days=1)
    assert next_change(NOW, any_open=False) == TODAY + timedelta(days=1)


def test_a_severity_change_mid_incident_counts_each_part_at_its_severity():
    incident = make(severity="sev3", components=["Payments"], opened=at(8))
    incident = change(incident, at(9), severity="sev1", public_message="Now failing.")
    incident = change(incident, at(9, 30), status="resolved", public_message="Fixed.")
    assert today(uptime_of([incident])) == {"major_outage": 30, "degraded_performance": 60}


def test_a_reopened_incident_does_not_count_while_it_was_resolved():
    incident = make(severity="sev1", components=["Payments"], opened=at(8), resolved=at(8, 10))
    incident = change(incident, at(9), reopen=True, status="investigating", public_message="It is back.")
    incident = change(incident, at(9, 20), status="resolved", public_message="Fixed again.")
    assert today(uptime_of([incident])) == {"major_outage": 30}


def test_days_are_utc_days_of_1440_minutes_even_across_a_dst_change_and_a_midnight():
    # Europe's clocks went back on 2026-10-25; a UTC day is still 1440 minutes. Times given at +02:00 count in UTC.
    paris_summer = timezone(timedelta(hours=2))
    whole_day = make("inc-day", severity="sev1", components=["Payments"],
                     opened=datetime(2026, 10, 25, 2, 0, tzinfo=paris_summer),  # 00:00 UTC
                     resolved=datetime(2026, 10, 26, 0, 0, tzinfo=UTC))
    overnight = make("inc-night", severity="sev2", components=["Website"], opened=at(23, 30, days_ago=3),
                     resolved=at(0, 45, days_ago=2))
    view = build_view([whole_day, overnight], locale="en", now=NOW)
    payments = next(u for u in view.uptime if u.name == "Payments").numbers.days
    assert {d.date.isoformat(): d.minutes for d in payments if d.minutes} == {"2026-10-25": {"major_outage": 1440}}
    website = next(u for u in view.uptime if u.name == "Website").numbers.days
    assert [(d.date.isoformat(), d.minutes) for d in website if d.minutes] == [
        ("2026-11-23", {"partial_outage": 30}), ("2026-11-24", {"partial_outage": 45})]


def test_the_period_is_the_90_utc_days_that_end_today_and_cuts_what_is_older():
    straddling = make(severity="sev1", components=["Payments"], opened=at(22, 0, days_ago=90), resolved=at(2, 0, 89))
    old = make("inc-old", severity="sev1", components=["Payments"], opened=at(1, 0, 95), resolved=at(2, 0, 95))
    u = uptime_of([straddling, old])
    assert len(u.numbers.days) == 90 and u.numbers.days[-1].date == NOW.date()
    assert u.numbers.days[0].date.isoformat() == "2026-08-29" and u.numbers.days[0].minutes == {"major_outage": 120}
    assert u.numbers.minutes["major_outage"] == 120


def test_an_incident_naming_no_component_counts_for_every_component_as_in_the_statuses():
    view = build_view([make(severity="sev1", opened=at(10))], locale="en", now=NOW)
    assert {c.status.code for c in view.components} == {"major_outage"}
    assert {u.name: today(u) for u in view.uptime} == {c.name: {"major_outage": 703} for c in view.components}


def test_the_percentage_rounds_to_two_decimals_but_never_up_to_100_with_downtime():
    assert uptime_percentage({"major_outage": 5}) == Decimal("99.99")  # 99.996 would round to 100.00
    assert uptime_percentage({"degraded_performance": 600}) == Decimal("100.00")  # degraded is not down
    assert uptime_percentage({"partial_outage": 100}) == Decimal("99.98")  # 30 weighted minutes, as above


def test_maintenance_is_one_more_input_that_counts_as_up_and_below_any_outage():
    spans = [Span(("Payments",), at(2), at(3), "under_maintenance"),
             Span(("Payments", "Login"), at(2, 30), at(2, 40), "major_outage")]
    payments, login, search = component_uptimes(["Payments", "Login", "Search"], spans, now=NOW)
    assert payments.days[-1].minutes == {"major_outage": 10, "under_maintenance": 50}
    assert payments.percentage == Decimal("99.99")
    assert login.days[-1].minutes == {"major_outage": 10} and search.minutes["major_outage"] == 0


# ---- the pages -----------------------------------------------------------------------------------------------------

def _pixels(data_uri):
    """The palette indices of a one-row PNG made by view.bars_image, and its palette as #rrggbb."""
    png = base64.b64decode(data_uri.removeprefix("data:image/png;base64,"))
    chunks, offset = {}, 8
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        chunks[kind] = png[offset + 8:offset + 8 + length]
        offset += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (height, depth, colour_type) == (1, 8, 3)
    palette = ["#" + chunks[b"PLTE"][n:n + 3].hex() for n in range(0, len(chunks[b"PLTE"]), 3)]
    row = zlib.decompress(chunks[b"IDAT"])
    assert row[0] == 0 and len(row) == width + 1
    return [palette[i] for i in row[1:]]


def test_every_front_page_shows_a_row_of_90_bars_the_percentage_and_a_link_to_the_day_by_day_text():
    incidents = [make(severity="sev1", components=["Payments"], opened=at(10), resolved=at(10, 30)),
                 make("inc-2", severity="sev2", components=["Payments"], opened=at(0, 0, 3), resolved=at(1, 0, 3))]
    files = site(incidents)
    # 1 - (30 + 0.3 × 60) / 129600 = 0.99963 -> 99.96 %
    for locale, path, percentage in (("en", "index.html", "99.96% uptime"),
                                     ("fr", "fr/index.html", "99,96\xa0% de disponibilité")):
        html = page(files, path)
        items = re.findall(r"<li><span[^>]*>([^<]+)</span> <span class=\"meta\">([^<]+)</span> "
                           r"<a href=\"([^\"]+)\">.*?<img src=\"([^\"]+)\" alt=\"\"></span></li>", html, re.S)
        assert len(items) == 5, path  # every component of the policy
        payments = next(i for i in items if i[0] in ("Payments", "Paiements"))
        assert payments[1] == percentage
        pixels = _pixels(payments[3])
        assert len(pixels) == 90 and pixels[-1] == BAR_COLOURS["major_outage"]
        assert pixels[-4] == BAR_COLOURS["partial_outage"] and set(pixels[:-4]) == {BAR_COLOURS["operational"]}
        history, anchor = payments[2].split("#")
        assert history == ("history.html" if locale == "en" else "../fr/history.html")
        target = page(files, "history.html" if locale == "en" else "fr/history.html")
        assert f'<h3 id="{anchor}">' in target


def test_the_history_page_has_the_text_of_every_bar_date_what_and_how_long():
    incident = make(severity="sev3", components=["Payments"], opened=at(8))
    incident = change(incident, at(9), severity="sev1", public_message="Now failing.")
    incident = change(incident, at(9, 30), status="resolved", public_message="Fixed.")
    whole_days = make("inc-days", severity="sev2", components=["Payments"], opened=at(0, 0, 10), resolved=at(0, 0, 7))
    files = site([incident, whole_days])
    text = " ".join(Tags(page(files, "history.html")).text)
    assert "Nov 16\u2009–\u200918, 2026, each day: Partial outage for 24 hr" in text
    assert "Nov 26, 2026: Major outage for 30 min and Degraded performance for 1 hr" in text
    assert "No downtime on the other days." in text and "No downtime in the last 90 days." in text  # Website
    fr = " ".join(Tags(page(files, "fr/history.html")).text)
    assert "26 nov. 2026 : Panne majeure pendant 30\xa0min et Performances dégradées pendant 1\u202fh" in fr


def test_bar_colours_are_the_status_colours_of_the_stylesheet():
    css = (WWW / "site.css").read_text()
    for status, colour in BAR_COLOURS.items():
        assert re.search(rf"\n[.\w,-]*\.s-{status}[,{{][^\n]*background:{colour}", css), status


def test_the_front_page_weighs_under_30_kb_with_8_components_and_a_busy_quarter():
    """300 one-hour incidents in 90 days on eight components, every severity, and a Sev1 open for 80 days on no
    component: a day-by-day row of bars costs the same however busy the quarter was."""
    names = ["Website", "Mobile app", "Tournaments & results", "Email notifications", "Payments", "Club reports",
             "Live scores", "Search"]
    busy = [make(f"inc-{n:03d}", severity=("sev1", "sev2", "sev3")[n % 3], components=[names[n % 8]],
                 message="y" * 300, opened=NOW - timedelta(hours=7 * n + 2), resolved=NOW - timedelta(hours=7 * n + 1))
            for n in range(300)]
    for with_open in (False, True):
        incidents = [*busy, make("inc-open", severity="sev1", opened=NOW - timedelta(days=80))] if with_open else busy
        files = site(incidents)
        assets = sum(len(f.content) for p, f in files.items() if p.startswith("assets/site."))
        for path in ("index.html", "fr/index.html", "es/index.html", "sv/index.html"):
            assert page(files, path).count('<img src="data:image/png') == 8
            weight = len(files[path].content) + assets
            assert weight < 30 * 1024, f"{path}: {weight} bytes"


# ---- the JSON ------------------------------------------------------------------------------------------------------

MINUTES = {"type": "object", "additionalProperties": False, "patternProperties": {
    "^(major_outage|partial_outage|degraded_performance|under_maintenance)$": {"type": "integer", "minimum": 1}}}
UPTIME_SCHEMA = {
    "type": "object", "required": ["period", "weights", "components"], "additionalProperties": False,
    "properties": {
        "schema_version": {"const": 1},
        "period": {"type": "object", "additionalProperties": False, "required": ["first_day", "last_day", "days"],
                   "properties": {"first_day": {"type": "string", "format": "date"},
                                  "last_day": {"type": "string", "format": "date"}, "days": {"const": 90}}},
        "weights": {"const": {"major_outage": 1.0, "partial_outage": 0.3, "degraded_performance": 0.0,
                              "under_maintenance": 0.0}},
        "components": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "name", "uptime_percentage", "minutes"],
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9a-f]{12}$"}, "name": {"type": "string"},
                "uptime_percentage": {"type": "number", "minimum": 0, "maximum": 100},
                "minutes": {"type": "object", "additionalProperties": False,
                            "required": ["major_outage", "partial_outage", "degraded_performance", "under_maintenance"],
                            "properties": {s: {"type": "integer", "minimum": 0} for s in
                                           ("major_outage", "partial_outage", "degraded_performance",
                                            "under_maintenance")}},
                "days": {"type": "array", "maxItems": 90, "items": {
                    "type": "object", "additionalProperties": False, "required": ["date", "minutes"],
                    "properties": {"date": {"type": "string", "format": "date"}, "minutes": MINUTES}}},
            }}},
    },
}


def test_uptime_json_and_the_status_json_carry_the_same_numbers_in_the_documented_shape():
    files = site([make(severity="sev1", components=["Payments"], opened=at(10), resolved=at(10, 30))])
    assert files["status/uptime.json"].content_type == "application/json"
    assert files["status/uptime.json"].cache_control == "public, max-age=30"
    uptime = json.loads(files["status/uptime.json"].content)
    validator = Draft202012Validator(UPTIME_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    validator.validate(uptime)
    assert uptime["schema_version"] == 1 and "generated_at" not in uptime  # changes only when the numbers do
    assert uptime["period"] == {"first_day": "2026-08-29", "last_day": "2026-11-26", "days": 90}
    payments = next(c for c in uptime["components"] if c["name"] == "Payments")
    summary = json.loads(files["api/v2/summary.json"].content)
    assert payments["id"] == next(c["id"] for c in summary["components"] if c["name"] == "Payments")
    assert payments["uptime_percentage"] == 99.98 and payments["minutes"]["major_outage"] == 30
    assert payments["days"] == [{"date": "2026-11-26", "minutes": {"major_outage": 30}}]
    for locale in ("en", "fr", "es", "sv"):
        status = json.loads(files[f"status/{locale}.json"].content)["uptime"]
        validator.validate(status)
        without_days = {**uptime, "components": [{k: v for k, v in c.items() if k != "days"}
                                                 for c in uptime["components"]]}
        assert status == {k: v for k, v in without_days.items() if k != "schema_version"}, locale


def test_the_pages_change_with_the_clock_only_while_an_incident_is_open_or_at_midnight():
    resolved = [make(severity="sev1", components=["Payments"], opened=at(10), resolved=at(10, 30))]
    before = site(resolved)
    until = next_change(NOW, any_open=False)
    same = site(resolved, now=until - timedelta(seconds=1))
    assert sorted(p for p in before if before[p].content != same[p].content) == [
        "status/en.json", "status/es.json", "status/fr.json", "status/sv.json"]
    moved = site(resolved, now=until)
    assert moved["index.html"].content != before["index.html"].content  # the 90 days moved on
    still_open = [make(severity="sev2", components=["Payments"], opened=at(20))]
    before, later = site(still_open), site(still_open, now=next_change(NOW, any_open=True))
    changed = {p for p in before if before[p].content != later[p].content}
    assert {"history.html", "status/uptime.json"} <= changed  # the front page too once its percentage moves
