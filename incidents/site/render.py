"""The public status site rendered: every page, JSON document and feed of every locale, as SiteFiles.

The view model (view.py) decides what a visitor sees; this module turns it into files through the templates in
templates/ and the machine-readable shapes of feeds.py, with fingerprinted assets from www/.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ..domain.maintenance import Maintenance
from ..domain.models import LOCALES, Incident, KeptByObject
from ..domain.policy import Policy
from .feeds import UPTIME_PATH, Urls, feed_context, page_path, status_document, statuspage_documents, uptime_document
from .sink import SiteFile
from .view import (
    FRONT_DAYS,
    HISTORY_DAYS,
    ComponentView,
    IncidentView,
    Label,
    SiteView,
    Text,
    UpdateView,
    When,
    localized_view,
    site_facts,
    translations,
)

ROOT = Path(__file__).resolve().parents[2]  # the repository: templates/, www/, locale/
TEMPLATES, WWW = ROOT / "templates", ROOT / "www"
STALE_MINUTES = 5
SHORT_CACHE, IMMUTABLE = "public, max-age=30", "public, max-age=31536000, immutable"
HTML, JSON, ATOM = "text/html; charset=utf-8", "application/json", "application/atom+xml"
ASSET_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "es": "Español", "sv": "Svenska"}
PAGES = ("index.html", "history.html")
NOT_FOUND = "404.html"  # the static website's error document: deploy-main.sh sets --404-document to it


@functools.cache
def environment(locale: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(locale), newstyle=True)
    # An incident's card, rendered once per view of it: views are kept for incidents that did not change (view.py
    # _words), so a publish after a change renders only the changed cards.
    card = env.get_template("_incident.html")
    env.globals["incident_card"] = KeptByObject(lambda i: Markup(card.render(i=i)), 4096)
    return env


@dataclass(frozen=True)
class Link:
    lang: str
    name: str
    href: str
    current: bool = False


def _page_context(view: SiteView, page: str, base_url: str, assets: dict[str, SiteFile]) -> dict:
    urls, locale = Urls(base_url, page_path(view.locale, page)), view.locale
    return {
        "view": view, "front_days": FRONT_DAYS, "history_days": HISTORY_DAYS, "stale_minutes": STALE_MINUTES,
        "assets": {name: urls.rel(f.path) for name, f in assets.items()},
        "status_json": urls.rel(f"status/{locale}.json"), "feed": urls.rel(f"feed/{locale}.atom"),
        "home": urls.rel(page_path(locale, "index.html")), "history": urls.rel(page_path(locale, "history.html")),
        "languages": [Link(lang, LANGUAGE_NAMES[lang], urls.rel(page_path(lang, page)), lang == locale)
                      for lang in LOCALES],
        "alternates": [Link(lang, LANGUAGE_NAMES[lang], urls.absolute(page_path(lang, page))) for lang in LOCALES]
        + [Link("x-default", "", urls.absolute(page))] if base_url else [],  # hreflang URLs must be absolute
        "blank": _BLANK, "blank_component": ComponentView("", Text(""), Label("operational", "")),
    }


_NEVER = When("1970-01-01T00:00:00.000Z", "")  # the card template's placeholder: the script sets every time
_BLANK = IncidentView("", Text(""), Text(""), Label("sev3", ""), Label("investigating", ""), (), _NEVER, _NEVER, None,
                      (UpdateView("", _NEVER, Label("investigating", ""), None),))  # the script's card template


def json_bytes(document: dict) -> bytes:
    """A published JSON file's bytes: compact UTF-8 (the publisher's fast path writes the same)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def not_found_page(assets: dict[str, SiteFile], base_url: str) -> SiteFile:
    """One 404 page for every unknown path in every language: the storage static website serves a single error
    document at the address that was asked for, so links start at the site root (or at base_url), never relative."""
    root = f"{base_url.rstrip('/')}/" if base_url else "/"
    homes = {lang: root + ("" if lang == "en" else f"{lang}/") for lang in LOCALES}
    sections = [Markup(environment(lang).get_template("_not_found.html").render(
        lang=lang, level=1 if lang == "en" else 2, home=homes[lang])) for lang in LOCALES]
    html = environment("en").get_template(NOT_FOUND).render(
        sections=sections, home=homes["en"], assets={name: root + f.path for name, f in assets.items()})
    return SiteFile(NOT_FOUND, html.encode(), HTML, SHORT_CACHE, "page")


def fingerprinted_assets() -> dict[str, SiteFile]:
    assets = {}
    for path in sorted(WWW.iterdir()):
        if path.suffix in ASSET_TYPES and path.is_file():
            content = path.read_bytes()
            digest = hashlib.sha256(content).hexdigest()[:8]
            assets[path.name] = SiteFile(f"assets/{path.stem}.{digest}{path.suffix}", content,
                                         ASSET_TYPES[path.suffix], IMMUTABLE, "asset")
    return assets


def render_site(incidents: list[Incident], *, now: datetime, policy: Policy | None = None,
                base_url: str = "", maintenances: list[Maintenance] = ()) -> list[SiteFile]:
    """The whole site from the published incidents of the last 90 days (anything not published is left out) and
    the maintenance windows (their public parts only)."""
    assets = fingerprinted_assets()
    data: list[SiteFile] = []
    pages: list[SiteFile] = []
    facts = site_facts(incidents, now=now, policy=policy, maintenances=maintenances)
    for locale in LOCALES:
        view = localized_view(facts, locale)
        env = environment(locale)
        data.append(SiteFile(f"status/{locale}.json", json_bytes(status_document(view)), JSON, SHORT_CACHE, "data"))
        feed = env.get_template("feed.atom").render(feed_context(view, base_url))
        data.append(SiteFile(f"feed/{locale}.atom", feed.encode(), ATOM, SHORT_CACHE, "data"))
        if locale == "en":
            for path, document in statuspage_documents(view, base_url).items():
                data.append(SiteFile(path, json_bytes(document), JSON, SHORT_CACHE, "data"))
            data.append(SiteFile(UPTIME_PATH, json_bytes(uptime_document(view)), JSON, SHORT_CACHE, "data"))
        for page in PAGES:
            html = env.get_template(page).render(_page_context(view, page, base_url, assets))
            pages.append(SiteFile(page_path(locale, page), html.encode(), HTML, SHORT_CACHE, "page"))
    pages.append(not_found_page(assets, base_url))
    return [*assets.values(), *data, *pages]

