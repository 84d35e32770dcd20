"""The status site's view model as tables of decisions, and the pages rendered from it."""

import json
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from posixpath import dirname, normpath

import pytest

from incidents.domain.models import Dismissal, IncidentChange, NewIncident
from incidents.domain.policy import load_policy
from incidents.domain.workflow import apply_change, dismiss, open_incident
from incidents.site.render import WWW, render_site
from incidents.site.view import build_view, platform_components, translations

NOW = datetime(2026, 11, 26, 21, 43, tzinfo=timezone.utc)
BASE = "https://status.petanque.example"


def make(incident_id="inc-1", *, severity="sev2", title="Login is failing", message="We are investigating.",
         components=(), state="published", opened=NOW - timedelta(hours=1), resolved=None):
    body = NewIncident(title=title, severity=severity, public_message=message, components=list(components),
                       state="published" if state == "published" else "draft")
    incident = open_incident(body, incident_id=incident_id, author="oncall-ada", now=opened)
    if state == "dismissed":
        incident, _ = dismiss(incident, Dismissal(reason="noise"), author="oncall-bo", now=opened)
    if resolved is not None:
        incident, _ = apply_change(incident, IncidentChange(status="resolved", public_message="Fixed."),
                                   author="oncall-bo", now=resolved)
    return incident


def site(incidents, **kwargs):
    return {f.path: f for f in render_site(incidents, now=kwargs.pop("now", NOW), base_url=BASE, **kwargs)}


def page(files, path):
    return files[path].content.decode()


class Tags(HTMLParser):
    def __init__(self, html):
        super().__init__()
        self.tags, self.text = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


# ---- decisions -----------------------------------------------------------------------------------------------------

OVERALL = [
    ([], "operational"),
    (["sev3"], "degraded_performance"),
    (["sev2"], "partial_outage"),
    (["sev1"], "major_outage"),
    (["sev3", "sev2"], "partial_outage"),
    (["sev3", "sev1", "sev2"], "major_outage"),
]


@pytest.mark.parametrize(("open_severities", "expected"), OVERALL)
def test_the_overall_status_is_the_worst_open_severity(open_severities, expected):
    incidents = [make(f"inc-{n}", severity=s) for n, s in enumerate(open_severities)]
    incidents.append(make("inc-old", severity="sev1", resolved=NOW - timedelta(minutes=5)))  # resolved: no weight
    assert build_view(incidents, locale="en", now=NOW).overall.code == expected


@pytest.mark.parametrize(("locale", "label"), [
    ("en", "All systems operational"), ("fr", "Tous les systèmes sont opérationnels"),
    ("es", "Todos los sistemas funcionan con normalidad"), ("sv", "Alla system fungerar normalt"),
])
def test_the_operational_banner_in_each_language(locale, label):
    assert build_view([], locale=locale, now=NOW).overall.label == label


EVERY_COMPONENT = platform_components(load_policy())


@pytest.mark.parametrize(("severity", "components", "code", "label"), [
    ("sev1", ["Payments"], "major_outage", "Partial system outage"),  # one Sev1 on one component of five
    ("sev1", EVERY_COMPONENT, "major_outage", "Major outage"),
    ("sev1", [], "major_outage", "Major outage"),  # an incident naming no component: the whole platform
    ("sev2", ["Payments", "Website"], "partial_outage", "Minor service outage"),
    ("sev2", EVERY_COMPONENT, "partial_outage", "Partial outage"),
    ("sev3", ["Website"], "degraded_performance", "Partially degraded service"),
    ("sev3", [], "degraded_performance", "Degraded performance"),
])
def test_the_banner_takes_the_worst_status_and_words_how_much_of_the_platform_it_hits(severity, components, code,
                                                                                     label):
    incidents = [make(severity=severity, components=components), make("inc-minor", severity="sev3",
                                                                      components=["Payments"])]
    assert len(EVERY_COMPONENT) == 5
    view = build_view(incidents, locale="en", now=NOW)
    assert (view.overall.code, view.overall.label) == (code, label)
    for locale in ("fr", "es", "sv"):  # the same words in every language, translated
        translated = build_view(incidents, locale=locale, now=NOW).overall
        assert translated.code == code and translated.label not in ("", label), locale
        assert translated.label == translations(locale).gettext(label)


def test_a_lesser_incident_on_the_other_components_keeps_the_worst_partial():
    incidents = [make("inc-1", severity="sev1", components=["Payments"]),
                 make("inc-2", severity="sev3", components=[])]
    assert build_view(incidents, locale="en", now=NOW).overall.label == "Partial system outage"


COMPONENTS = [
    # (incidents as (severity, components, resolved?), expected statuses of named components)
    ([], {"Payments": "operational", "Website": "operational"}),
    ([("sev2", ["Payments"], False)], {"Payments": "partial_outage", "Website": "operational"}),
    ([("sev3", ["Website"], False), ("sev1", ["Website"], False)], {"Website": "major_outage"}),
    ([("sev1", ["Website"], True), ("sev3", ["Website"], False)], {"Website": "degraded_performance"}),
    ([("sev1", [], False)], {"Website": "major_outage", "Payments": "major_outage"}),  # names none: every one
    ([("sev2", ["Club reports"], False)], {"Club reports": "partial_outage", "Payments": "operational"}),
]


@pytest.mark.parametrize(("specs", "expected"), COMPONENTS)
def test_each_component_shows_the_worst_open_severity_among_incidents_that_concern_it(specs, expected):
    incidents = [make(f"inc-{n}", severity=s, components=c, resolved=NOW - timedelta(minutes=1) if r else None)
                 for n, (s, c, r) in enumerate(specs)]
    statuses = {c.name: c.status.code for c in build_view(incidents, locale="en", now=NOW).components}
    assert {name: statuses[name] for name in expected} == expected


def test_components_are_the_policys_in_order_then_those_only_incidents_name():
    view = build_view([make(components=["Club reports", "Payments"])], locale="en", now=NOW)
    assert [c.name for c in view.components] == [*platform_components(load_policy()), "Club reports"]
    assert platform_components(load_policy())[:2] == ["Website", "Mobile app"]


def test_active_incidents_are_listed_worst_first():
    incidents = [make("inc-a", severity="sev3"), make("inc-b", severity="sev1"), make("inc-c", severity="sev2")]
    assert [i.id for i in build_view(incidents, locale="en", now=NOW).active] == ["inc-b", "inc-c", "inc-a"]


@pytest.mark.parametrize(("locale", "title", "lang"), [
    ("en", "Login is failing", None), ("fr", "La connexion échoue", None),
    ("es", "Login is failing", "en"), ("sv", "Login is failing", "en"),
])
def test_a_title_is_shown_in_the_page_language_when_present_else_in_english_marked_as_such(locale, title, lang):
    incident = make(title={"en": "Login is failing", "fr": "La connexion échoue"})
    shown = build_view([incident], locale=locale, now=NOW).active[0]
    assert (shown.title.value, shown.title.lang) == (title, lang)
    assert (shown.message.value, shown.message.lang) == ("We are investigating.", None if locale == "en" else "en")


def test_the_fallback_element_carries_lang_en_in_the_html():
    files = site([make(title={"en": "Login is failing", "fr": "La connexion échoue"})])
    headings = {p: [a for t, a in Tags(page(files, p)).tags if t == "h3" and a.get("data-f") == "title"]
                for p in ("index.html", "fr/index.html", "es/index.html")}
    assert "lang" not in headings["index.html"][0] and "lang" not in headings["fr/index.html"][0]
    assert headings["es/index.html"][0]["lang"] == "en"
    assert '<h3 data-f="title" lang="en">Login is failing</h3>' in page(files, "sv/index.html")


def test_drafts_dismissed_incidents_and_internal_notes_never_reach_any_file():
    published, _ = apply_change(make("inc-pub", title="Visible"), IncidentChange(note="SECRET-NOTE"),
                                author="oncall-bo", now=NOW)
    incidents = [make("inc-draft", title="DRAFT-TITLE", state="draft"),
                 make("inc-dismissed", title="DISMISSED-TITLE", message="DISMISSED-MESSAGE", state="dismissed"),
                 published]
    for f in site(incidents).values():
        for secret in (b"DRAFT-TITLE", b"DISMISSED-", b"inc-draft", b"inc-dismissed", b"SECRET-NOTE", b"oncall-"):
            assert secret not in f.content, (f.path, secret)
    assert b"Visible" in site(incidents)["index.html"].content


WINDOWS = [
    # (resolved how many days ago, or None for open; opened how many days ago) -> front page? history page?
    (None, 120, True, True),
    (29, 40, True, True),
    (31, 40, False, True),
    (89, 95, False, True),
    (91, 95, False, False),
]


@pytest.mark.parametrize(("resolved_days", "opened_days", "front", "history"), WINDOWS)
def test_the_front_page_shows_30_days_and_the_history_90(resolved_days, opened_days, front, history):
    incident = make(title="WINDOWED", opened=NOW - timedelta(days=opened_days),
                    resolved=None if resolved_days is None else NOW - timedelta(days=resolved_days))
    files = site([incident])
    assert ("WINDOWED" in page(files, "index.html")) is front
    assert ("WINDOWED" in page(files, "history.html")) is history
    assert ("WINDOWED" in page(files, "feed/en.atom")) is history


def test_the_history_groups_incidents_by_month_newest_first():
    incidents = [make("inc-oct", opened=datetime(2026, 10, 20, tzinfo=timezone.utc),
                      resolved=datetime(2026, 10, 21, tzinfo=timezone.utc)), make("inc-nov")]
    assert [m.label for m in build_view(incidents, locale="fr", now=NOW).history] == ["Novembre 2026", "Octobre 2026"]


DATES = [
    ("en", "Nov 26, 2026, 9:43\u202fPM UTC"),
    ("fr", "26 nov. 2026, 21:43 UTC"),
    ("es", "26 nov 2026, 21:43 UTC"),
    ("sv", "26 nov. 2026 21:43 UTC"),
]


@pytest.mark.parametrize(("locale", "label"), DATES)
def test_dates_are_formatted_per_locale_with_the_utc_offset(locale, label):
    files = site([make(opened=NOW)])
    html = page(files, "index.html" if locale == "en" else f"{locale}/index.html")
    assert f'<time data-f="started" datetime="2026-11-26T21:43:00.000Z">{label}</time>' in html


# ---- pages ---------------------------------------------------------------------------------------------------------

PAGES = ["index.html", "history.html", *(f"{lang}/{name}" for lang in ("fr", "es", "sv")
                                        for name in ("index.html", "history.html"))]


def test_every_page_has_its_lang_landmarks_and_headings_in_order():
    files = site([make("inc-a", severity="sev1"), make("inc-b", resolved=NOW - timedelta(days=2))])
    for path in PAGES:
        tags = Tags(page(files, path)).tags
        assert tags[0] == ("html", tags[0][1]) and tags[0][1]["lang"] == (path[:2] if "/" in path else "en")
        names = [t for t, _ in tags]
        for landmark in ("header", "nav", "main", "footer"):
            assert names.count(landmark) == 1, (path, landmark)
        levels = [int(t[1]) for t in names if re.fullmatch(r"h[1-6]", t)]
        assert levels[0] == 1 and levels.count(1) == 1, path
        assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), (path, levels)


def test_the_language_switcher_and_hreflang_alternates_cover_all_four_locales():
    html = page(site([]), "es/index.html")
    tags = Tags(html).tags
    alternates = {a["hreflang"]: a["href"] for t, a in tags if t == "link" and "hreflang" in a}
    assert alternates == {"en": f"{BASE}/index.html", "fr": f"{BASE}/fr/index.html", "es": f"{BASE}/es/index.html",
                          "sv": f"{BASE}/sv/index.html", "x-default": f"{BASE}/index.html"}
    switcher = [(a["hreflang"], a["href"], a.get("aria-current")) for t, a in tags if t == "a" and "hreflang" in a]
    assert switcher == [("en", "../index.html", None), ("fr", "../fr/index.html", None),
                        ("es", "../es/index.html", "page"), ("sv", "../sv/index.html", None)]


def test_without_a_base_url_there_are_no_hreflang_alternates_rather_than_relative_ones():
    files = {f.path: f for f in render_site([], now=NOW, base_url="")}
    for path in PAGES:
        assert not [a for t, a in Tags(page(files, path)).tags if t == "link" and "hreflang" in a], path


@pytest.mark.parametrize("locale", ["en", "fr", "es", "sv"])
def test_every_page_has_a_meta_description_in_its_language(locale):
    files = site([])
    expected = translations(locale).gettext(
        "The current status of Petanque Life and every incident of the last %(days)s days.") % {"days": 90}
    for path in ("index.html", "history.html"):
        path = path if locale == "en" else f"{locale}/{path}"
        descriptions = [a["content"] for t, a in Tags(page(files, path)).tags
                        if t == "meta" and a.get("name") == "description"]
        assert descriptions == [expected] and "Petanque Life" in expected, path


def test_every_link_and_asset_reference_resolves_to_a_published_file():
    files = site([make()])
    for path in PAGES:
        for tag, attrs in Tags(page(files, path)).tags:
            target = attrs.get("href") or attrs.get("src") or attrs.get("data-status")
            if tag == "html":
                target = attrs["data-status"]
            if not target or target.startswith(("#", BASE, "data:image/png;base64,")):  # data: the uptime bars
                continue
            resolved = normpath(f"{dirname(path)}/{target.split('#')[0]}".lstrip("/"))
            assert resolved in files, (path, target)


def test_badges_carry_text_and_a_colour_class():
    html = page(site([make(severity="sev1", title="Down")]), "index.html")
    assert '<span class="badge b-sev1" data-b="severity"><span class="vh">Severity: </span>' \
           '<span data-f="severity">Critical</span></span>' in html
    assert '<span class="badge b-investigating" data-b="status"><span class="vh">Status: </span>' \
           '<span data-f="status">Investigating</span></span>' in html


def test_assets_are_fingerprinted_immutable_and_referenced_by_their_fingerprinted_names():
    files = site([])
    assets = [f for f in files.values() if f.kind == "asset"]
    assert {re.sub(r"\.[0-9a-f]{8}\.", ".", f.path) for f in assets} == \
           {f"assets/{p.name}" for p in WWW.iterdir() if p.suffix in (".css", ".js", ".svg")}
    assert all(f.cache_control == "public, max-age=31536000, immutable" for f in assets)
    html = page(files, "index.html")
    for f in assets:
        assert f'"{f.path}"' in html


def test_each_file_has_its_kind_content_type_and_a_short_cache():
    files = site([])
    html = ("page", "text/html; charset=utf-8")
    expected = {"index.html": html, "sv/history.html": html, "status/fr.json": ("data", "application/json"),
                "api/v2/summary.json": ("data", "application/json"), "feed/es.atom": ("data", "application/atom+xml")}
    for path, (kind, content_type) in expected.items():
        assert (files[path].kind, files[path].content_type, files[path].cache_control) == \
               (kind, content_type, "public, max-age=30")
    kinds = [f.kind for f in render_site([], now=NOW)]
    assert kinds == sorted(kinds, key=["asset", "data", "page"].index)


def test_a_render_a_minute_later_changes_only_the_status_json():
    # With no incident open: an open one's uptime minutes grow with the clock (test_site_uptime.py).
    incidents = [make(severity="sev2", resolved=NOW - timedelta(minutes=5))]
    before, after = site(incidents), site(incidents, now=NOW + timedelta(minutes=1))
    changed = sorted(p for p in before if before[p].content != after[p].content)
    assert changed == ["status/en.json", "status/es.json", "status/fr.json", "status/sv.json"]


def test_the_status_json_is_what_the_script_needs():
    files = site([make(severity="sev2", components=["Payments"])])
    doc = json.loads(files["status/fr.json"].content)
    assert doc["schema_version"] == 1 and doc["locale"] == "fr" and doc["generated_at"] == "2026-11-26T21:43:00.000Z"
    assert doc["overall"] == {"code": "partial_outage", "label": "Panne mineure"}  # on one component of five
    payments = next(c for c in doc["components"] if c["name"] == "Payments")
    assert payments == {"name": "Payments", "display": {"value": "Paiements", "lang": None},
                        "status": {"code": "partial_outage", "label": "Panne partielle"}}
    active = doc["active"][0]
    assert active["severity"] == {"code": "sev2", "label": "Majeur"}
    assert active["status"] == {"code": "investigating", "label": "Enquête en cours"}
    assert active["title"] == {"value": "Login is failing", "lang": "en"} and doc["recent"] == []


def test_the_page_works_without_script_everything_is_in_the_html():
    html = page(site([make(severity="sev1", title="Payments down", components=["Payments"])]), "fr/index.html")
    for text in ("Panne majeure", "Payments down", "Critique", "Enquête en cours", "Paiements", "Services"):
        assert text in html


# ---- accessibility, weight, privacy ---------------------------------------------------------------------------------

def _luminance(hex_colour):
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a, b):
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_status_colours_meet_wcag_aa_contrast():
    css = (WWW / "site.css").read_text()
    backgrounds = re.findall(r"\n([.\w,-]+)\{background:(#[0-9a-f]{6})\}", css)
    texts = re.findall(r"\n(\.c-\w+)\{color:(#[0-9a-f]{6})\}", css)
    assert len(backgrounds) == 7 and len(texts) == 5
    covered = {name for selectors, _ in backgrounds for name in selectors.split(",")}
    assert covered >= {".s-operational", ".s-major_outage", ".b-sev1", ".b-sev2", ".b-sev3", ".b-investigating",
                       ".b-identified", ".b-monitoring", ".b-resolved"}
    for _, colour in backgrounds + texts:
        assert _contrast(colour, "#ffffff") >= 4.5, colour


def test_the_front_page_weighs_under_30_kb_with_html_css_and_js():
    incidents = [make(f"inc-a{n}", severity="sev1", components=["Website", "Payments"], message="x" * 300)
                 for n in range(3)]
    incidents += [make(f"inc-r{n}", opened=NOW - timedelta(days=n + 2), resolved=NOW - timedelta(days=n + 1),
                       message="y" * 300) for n in range(8)]
    files = site(incidents)
    assets = sum(len(f.content) for f in files.values() if f.path.endswith((".css", ".js")))
    for path in ("index.html", "fr/index.html", "es/index.html", "sv/index.html"):
        assert len(files[path].content) + assets < 30 * 1024, path


def test_no_request_leaves_for_another_host():
    files = site([make(message="See https://evil.example/x for details")])
    for f in files.values():
        if f.content_type.startswith(("text/html", "text/css", "text/javascript")):
            text = f.content.decode()
            if f.kind == "page":  # the one URL a visitor typed may appear, escaped, as text: only check attributes
                urls = [v for _, attrs in Tags(text).tags for v in attrs.values() if v and "://" in v]
            else:
                urls = re.findall(r"\w+://[^\s\"')]+", text)
            assert all(u.startswith(BASE + "/") for u in urls), (f.path, urls)
    assert "@import" not in (WWW / "site.css").read_text() and "url(" not in (WWW / "site.css").read_text()


def test_a_busy_quarter_keeps_every_file_small_and_the_open_incident_visible():
    """300 resolved incidents in 90 days (far more than a real quarter) and one old incident still open."""
    busy = [make(f"inc-{n:03d}", opened=NOW - timedelta(hours=7 * n + 2), resolved=NOW - timedelta(hours=7 * n + 1))
            for n in range(300)]
    still_open = make("inc-open", severity="sev1", opened=NOW - timedelta(days=80))
    files = site([*busy, still_open])
    view = build_view([*busy, still_open], locale="en", now=NOW)
    shown = [i.id for month in view.history for i in month.incidents]
    assert len(view.recent) == 10 and len(shown) == 201 and "inc-open" in shown
    assert [i.id for i in view.active] == ["inc-open"]
    assert "inc-299" not in shown and "inc-000" in shown  # the newest 200 of the resolved ones
    assert files["feed/en.atom"].content.count(b"<entry>") == 50
    assert len(files["status/en.json"].content) < 100_000
    assert len(files["history.html"].content) < 1_000_000
    front = sum(len(files[p].content) for p in files if p == "index.html" or p.startswith("assets/site."))
    assert front < 30 * 1024, f"front page HTML + CSS + JS is {front} bytes"


# ---- the 404 page --------------------------------------------------------------------------------------------------


def test_the_404_page_speaks_all_four_languages_in_one_valid_page():
    """The storage static website serves one error document (deploy-main.sh: --404-document 404.html) for every
    unknown path: https://learn.microsoft.com/azure/storage/blobs/storage-blob-static-website#setting-up-a-static-website
    So one page, every locale in its own section, each with its language's words from the catalogs."""
    files = site([make(severity="sev1")])
    not_found = files["404.html"]
    assert (not_found.kind, not_found.content_type, not_found.cache_control) == (
        "page", "text/html; charset=utf-8", "public, max-age=30")
    html = not_found.content.decode()
    assert html.startswith("<!doctype html>\n<html lang=\"en\">") and html.rstrip().endswith("</html>")
    tags = Tags(html).tags
    sections = [a["lang"] for t, a in tags if t == "section"]
    assert sections == ["en", "fr", "es", "sv"]
    levels = [t for t, _ in tags if re.fullmatch(r"h[1-6]", t)]
    assert levels == ["h1", "h2", "h2", "h2"]
    text = "".join(Tags(html).text)
    for words in ("Page not found", "Page introuvable", "Página no encontrada", "Sidan hittades inte"):
        assert words in text
    assert "Login is failing" not in text  # no incident, nothing that changes with the status


def test_the_404_page_links_from_the_site_root_so_it_works_at_any_depth():
    for base, root in ((BASE, f"{BASE}/"), ("", "/")):
        files = {f.path: f for f in render_site([], now=NOW, base_url=base)}
        tags = Tags(files["404.html"].content.decode()).tags
        homes = [(a["hreflang"], a["href"]) for t, a in tags if t == "a" and "hreflang" in a]
        assert homes == [("en", root), ("fr", f"{root}fr/"), ("es", f"{root}es/"), ("sv", f"{root}sv/")]
        for _, attrs in tags:
            target = attrs.get("href") or attrs.get("src")
            if target:
                assert target.startswith(root), target
                path = target.removeprefix(root)
                assert path in files or f"{path}index.html" in files, target


def test_the_404_page_escapes_what_it_is_given():
    files = {f.path: f for f in render_site([], now=NOW, base_url="https://status.example/a&b")}
    html = files["404.html"].content.decode()
    assert 'href="https://status.example/a&amp;b/fr/"' in html and "a&b/" not in html
