"""Every catalog translates every message the site shows, as extracted with babel-mapping.ini."""

import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from incidents.site.render import ROOT, render_site
from incidents.site.view import translations

LOCALES = ["fr", "es", "sv"]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
SAME_IN_TRANSLATION = {("sv", "Status:"), ("es", "%(date)s: %(what)s"), ("sv", "%(date)s: %(what)s")}  # really the same


def extracted() -> set[str]:
    with (ROOT / "babel-mapping.ini").open() as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)

    def ours(directory: str) -> bool:
        relative = os.path.relpath(directory, ROOT)
        return relative == "." or relative.split(os.sep)[0] in ("incidents", "templates")

    return {message for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map,
                                                                directory_filter=ours)}


def catalog(locale):
    with (ROOT / "locale" / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def entries(locale):
    return [m for m in catalog(locale) if m.id]


def test_extraction_finds_the_templates_the_python_labels_and_the_policy_names():
    messages = extracted()
    assert {"Skip to content", "Active incidents", "All systems operational", "Investigating", "Critical",
            "Tournaments & results", "No incidents in the last %(days)s days."} <= messages
    assert len(messages) > 30


@pytest.mark.parametrize("locale", LOCALES)
def test_every_catalog_translates_exactly_the_extracted_messages(locale):
    ids = {m.id for m in entries(locale)}
    assert sorted(extracted() - ids) == [], "missing translations"
    assert sorted(ids - extracted()) == [], "obsolete entries: run pybabel update"
    for message in entries(locale):
        assert isinstance(message.string, str) and message.string.strip(), message.id
        if (locale, message.id) not in SAME_IN_TRANSLATION:
            assert message.string != message.id, message.id


@pytest.mark.parametrize("locale", LOCALES)
def test_no_fuzzy_entries_and_a_complete_header(locale):
    po = catalog(locale)
    assert not po.fuzzy and [m.id for m in entries(locale) if m.fuzzy] == []
    assert str(po.locale) == locale and po.plural_forms and po.charset.lower() == "utf-8"


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_are_preserved(locale):
    for message in entries(locale):
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(PLACEHOLDER.findall(message.id)), message.id
        assert ("python-format" in message.flags) == bool(PLACEHOLDER.search(message.id)), message.id
        assert message.string.count("%") == message.id.count("%"), message.id


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compiled_catalog_is_what_the_site_uses(locale):
    gettext = translations(locale).gettext
    for message in entries(locale):
        assert gettext(message.id) == message.string


@pytest.mark.parametrize("locale", LOCALES)
def test_translated_pages_show_no_english_interface_text(locale):
    files = {f.path: f.content.decode() for f in render_site([], now=datetime(2026, 11, 26, tzinfo=timezone.utc))}
    english = [m for m in extracted() if len(m) > 12 and (locale, m) not in SAME_IN_TRANSLATION]
    for page in (f"{locale}/index.html", f"{locale}/history.html"):
        leaked = [m for m in english for days in ("30", "90") if m.replace("%(days)s", days) in files[page]]
        assert leaked == [], page


def test_no_compiled_catalogs_are_committed():
    assert list(Path(ROOT, "locale").rglob("*.mo")) == []
