"""A title, message or component name with markup renders as inert text in every file: HTML, JSON and Atom."""

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from incidents.domain.models import IncidentChange, NewIncident
from incidents.domain.workflow import apply_change, open_incident
from incidents.site.render import render_site

NOW = datetime(2026, 11, 26, 21, 43, tzinfo=timezone.utc)
ATOM = "{http://www.w3.org/2005/Atom}"
PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "' onmouseover='alert(1)",
    "</script><script>alert(1)</script>",
    "]]><x>cdata</x><![CDATA[",
    "<!--",
    "{{ 7*7 }} {% if 1 %}jinja{% endif %} %(days)s",
    "&lt;b&gt; &amp; &#x3C;",
    "javascript:alert(1)",
]
TAGS = {"html", "head", "meta", "title", "link", "script", "body", "a", "header", "p", "nav", "ul", "li", "main",
        "h1", "h2", "h3", "h4", "section", "div", "article", "span", "time", "ol", "strong", "footer", "template",
        "img"}
ATTRIBUTES = {"lang", "data-status", "data-stale-minutes", "charset", "name", "content", "rel", "href", "type",
              "hreflang", "title", "src", "defer", "class", "id", "aria-label", "aria-current", "aria-live",
              "aria-labelledby", "role", "hidden", "data-f", "data-b", "data-list", "datetime", "alt"}
ATOM_TAGS = {f"{ATOM}{t}" for t in ("feed", "id", "title", "updated", "link", "author", "name", "entry", "published",
                                    "category", "content")}


def hostile(payload):
    body = NewIncident(title={"en": f"EN {payload}", "fr": f"FR {payload}"}, severity="sev1",
                       public_message=f"MSG {payload}", components=["Payments", f"CMP {payload}"])
    incident = open_incident(body, incident_id="inc-1", author="oncall", now=NOW - timedelta(hours=1))
    incident, _ = apply_change(incident, IncidentChange(status="identified", public_message=f"UPD {payload}"),
                               author="oncall", now=NOW - timedelta(minutes=30))
    return {f.path: f.content for f in render_site([incident], now=NOW, base_url="https://status.petanque.example")}


class Page(HTMLParser):
    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self.script_bodies, self._in_script = [], [], [], False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.script_bodies if self._in_script else self.text).append(data)

    def handle_comment(self, data):
        raise AssertionError(f"a comment opened in the page: {data[:40]!r}")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markup_is_inert_text_in_every_html_page(payload):
    files = hostile(payload)
    for path in [p for p in files if p.endswith(".html")]:
        page = Page(files[path].decode())
        assert {tag for tag, _ in page.tags} <= TAGS, path
        assert {name for _, attrs in page.tags for name in attrs} <= ATTRIBUTES, path
        assert all(attrs["src"].startswith(("assets/", "../assets/")) for tag, attrs in page.tags if tag == "script")
        assert all(attrs["src"].startswith("data:image/png;base64,") for tag, attrs in page.tags if tag == "img")
        assert all(not body.strip() for body in page.script_bodies), path
        assert not [v for _, attrs in page.tags for v in attrs.values() if v and "javascript:" in v]
        if path == "404.html":  # the error page shows no incident; its tags and attributes are checked above
            continue
        text = "".join(page.text)
        lang = "FR" if path.startswith("fr/") else "EN"
        assert f"{lang} {payload}" in text and f"CMP {payload}" in text, path
        if path.endswith("index.html"):
            assert f"MSG {payload}" in text and f"UPD {payload}" in text, path


@pytest.mark.parametrize("payload", PAYLOADS)
def test_json_consumers_get_the_markup_back_as_the_same_plain_string(payload):
    files = hostile(payload)
    status = json.loads(files["status/fr.json"])
    incident = status["active"][0]
    assert incident["title"] == {"value": f"FR {payload}", "lang": None}
    assert incident["message"] == {"value": f"UPD {payload}", "lang": "en"}  # the latest public message
    assert [u["message"]["value"] for u in incident["updates"]] == [f"UPD {payload}", f"MSG {payload}"]
    summary = json.loads(files["api/v2/summary.json"])
    assert summary["incidents"][0]["name"] == f"EN {payload}"
    assert summary["incidents"][0]["incident_updates"][0]["body"] == f"UPD {payload}"
    assert f"CMP {payload}" in [c["name"] for c in summary["components"]]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_atom_feeds_parse_and_carry_the_markup_as_escaped_text(payload):
    files = hostile(payload)
    for locale in ("en", "fr"):
        feed = ET.fromstring(files[f"feed/{locale}.atom"])
        assert {element.tag for element in feed.iter()} <= ATOM_TAGS
        [entry] = feed.findall(f"{ATOM}entry")
        assert entry.findtext(f"{ATOM}title") == f"{locale.upper()} {payload}"
        content = entry.find(f"{ATOM}content")
        assert content.get("type") == "text" and f"UPD {payload}" in content.text and len(content) == 0


def test_no_page_inlines_json_or_script():
    files = hostile("</script>")
    for path in [p for p in files if p.endswith(".html")]:
        assert b"<script>" not in files[path] and b'type="application/json"' not in files[path]


def test_characters_xml_cannot_carry_are_dropped_so_the_feed_still_parses():
    # The models refuse control characters now (test_models); an incident stored before that still renders.
    dirty = "bell\x07 escape\x1b null\x00 end"
    body = NewIncident(title={"en": "EN clean", "fr": "FR clean"}, severity="sev1", public_message="MSG clean",
                       components=["Payments"])
    incident = open_incident(body, incident_id="inc-1", author="oncall", now=NOW - timedelta(hours=1))
    incident = incident.model_copy(update={"title": {"en": f"EN {dirty}", "fr": f"FR {dirty}"},
                                           "public_message": {"en": f"MSG {dirty}"}})
    files = {f.path: f.content for f in render_site([incident], now=NOW, base_url="https://status.petanque.example")}
    feed = ET.fromstring(files["feed/en.atom"])
    assert feed.find(f"{ATOM}entry").findtext(f"{ATOM}title") == "EN bell escape null end"
    assert b"\x1b" not in files["index.html"] and b"\x00" not in files["status/en.json"]
