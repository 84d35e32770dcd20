"""The status site's view model: what a visitor sees, decided in Python, one view per locale.

The overall status and each component's status is the worst open severity among the published incidents that
concern it: none -> operational, sev3 -> degraded_performance, sev2 -> partial_outage, sev1 -> major_outage
(docs/status-site.md). Time windows, language fallbacks and date labels are decided here too; render.py and the
templates only render, and feeds.py reshapes the same view for machines.
"""

from __future__ import annotations

import functools
import gettext
import io
import re
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from babel.dates import format_date, format_time, get_datetime_format, get_time_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from ..domain.models import Incident, PublicIncident, Severity, State, Status, format_utc
from ..domain.policy import Policy, load_policy

CATALOGS = Path(__file__).resolve().parents[2] / "locale"
FRONT_DAYS, HISTORY_DAYS = 30, 90
# Bounds that keep every page and the status JSON small however busy a quarter was: the front page lists at most
# RECENT_MAX past incidents, the history page at most HISTORY_MAX (open incidents always show).
RECENT_MAX, HISTORY_MAX = 10, 200
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # XML 1.0 cannot carry these, even escaped


def N_(message: str) -> str:
    """Marks a message for extraction (babel-mapping.ini); it is translated when the site is rendered."""
    return message


CONDITION_OF = {Severity.sev3: "degraded_performance", Severity.sev2: "partial_outage", Severity.sev1: "major_outage"}
OVERALL_LABELS = {
    "operational": N_("All systems operational"), "degraded_performance": N_("Degraded performance"),
    "partial_outage": N_("Partial outage"), "major_outage": N_("Major outage"),
}
CONDITION_LABELS = {**OVERALL_LABELS, "operational": N_("Operational")}
STATUS_LABELS = {
    Status.investigating: N_("Investigating"), Status.identified: N_("Identified"),
    Status.monitoring: N_("Monitoring"), Status.resolved: N_("Resolved"),
}


@dataclass(frozen=True)
class Text:
    value: str
    lang: str | None = None  # set only when it is not the page's language (an English fallback)


@dataclass(frozen=True)
class Label:
    code: str
    label: str


@dataclass(frozen=True)
class When:
    iso: str  # 2026-11-26T21:43:00.000Z, for <time datetime> and the script
    label: str  # 26 nov. 2026, 21:43 UTC


@dataclass(frozen=True)
class UpdateView:
    id: str
    at: When
    status: Label
    message: Text | None


@dataclass(frozen=True)
class IncidentView:
    id: str
    title: Text
    message: Text
    severity: Label
    status: Label
    components: tuple[Text, ...]  # in the English view, exactly the component names
    started: When
    updated: When  # the latest public entry
    resolved: When | None
    updates: tuple[UpdateView, ...]  # newest first


@dataclass(frozen=True)
class ComponentView:
    name: str  # English, as incidents name it
    display: Text
    status: Label


@dataclass(frozen=True)
class MonthView:
    label: str
    incidents: tuple[IncidentView, ...]


@dataclass(frozen=True)
class SiteView:
    locale: str
    generated_at: When
    updated_at: When | None  # the latest public change; None when nothing happened in the last 90 days
    overall: Label
    components: tuple[ComponentView, ...]
    active: tuple[IncidentView, ...]  # worst first
    recent: tuple[IncidentView, ...]  # resolved within FRONT_DAYS, newest first, without their timelines
    history: tuple[MonthView, ...]  # everything within HISTORY_DAYS, by month of start, newest first


def platform_components(policy: Policy) -> list[str]:
    return list(dict.fromkeys(name for rule in policy.rules for name in rule.components))


def extract_policy(fileobj, keywords, comment_tags, options):
    """Babel extractor for policy.toml: the severity and component names the site shows."""
    policy = Policy.model_validate(tomllib.load(fileobj))
    for name in [*(level.name for level in policy.severities.values()), *platform_components(policy)]:
        yield 1, None, name, []


@functools.cache
def translations(locale: str) -> gettext.NullTranslations:
    """The catalog compiled in memory from its .po, so no binary .mo is committed. English is the msgids."""
    if locale == "en":
        return gettext.NullTranslations()
    with (CATALOGS / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    mo = io.BytesIO()
    write_mo(mo, catalog)  # leaves fuzzy entries out
    mo.seek(0)
    return gettext.GNUTranslations(mo)


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


class _Words:
    """Everything locale-specific the view model needs: labels, texts with fallback, dates."""

    def __init__(self, locale: str, policy: Policy) -> None:
        self.locale, self.policy, self._ = locale, policy, translations(locale).gettext
        self.known = set(platform_components(policy))

    def text(self, texts: dict[str, str]) -> Text:
        if self.locale in texts:
            return Text(_clean(texts[self.locale]))
        return Text(_clean(texts["en"]), "en")

    def component(self, name: str) -> Text:
        if self.locale == "en" or name not in self.known:
            return Text(_clean(name), None if self.locale == "en" else "en")
        return Text(self._(name))

    def when(self, at: datetime) -> When:
        at = at.astimezone(timezone.utc)
        time = format_time(at, get_time_format("short", self.locale).pattern, locale=self.locale) + " UTC"
        date = format_date(at, "medium", locale=self.locale)
        return When(format_utc(at), get_datetime_format("medium", locale=self.locale).format(time, date))

    def month(self, at: datetime) -> str:
        label = format_date(at.astimezone(timezone.utc), "LLLL y", locale=self.locale)
        return label[:1].upper() + label[1:]

    def incident(self, i: PublicIncident) -> IncidentView:
        latest = max((u.at for u in i.updates), default=i.updated_at)
        return IncidentView(
            id=i.id, title=self.text(i.title), message=self.text(i.public_message),
            severity=Label(i.severity.value, self._(self.policy.severities[i.severity].name)),
            status=Label(i.status.value, self._(STATUS_LABELS[i.status])),
            components=tuple(self.component(name) for name in i.components),
            started=self.when(i.started_at), updated=self.when(latest),
            resolved=self.when(i.resolved_at) if i.status is Status.resolved and i.resolved_at else None,
            updates=tuple(UpdateView(u.id, self.when(u.at), Label(u.status.value, self._(STATUS_LABELS[u.status])),
                                     self.text(u.message) if u.message else None) for u in reversed(i.updates)),
        )


def _within(incident: PublicIncident, since: datetime) -> bool:
    return incident.status is not Status.resolved or (incident.resolved_at or incident.updated_at) >= since


def _worst(severities: list[Severity]) -> str:
    return CONDITION_OF[min(severities, key=list(Severity).index)] if severities else "operational"


def build_view(incidents: list[Incident], *, locale: str, now: datetime, policy: Policy | None = None) -> SiteView:
    policy = policy or load_policy()
    words = _Words(locale, policy)
    public = [PublicIncident.of(i) for i in incidents if i.state is State.published]
    shown = sorted((i for i in public if _within(i, now - timedelta(days=HISTORY_DAYS))),
                   key=lambda i: i.started_at, reverse=True)
    shown = [i for n, i in enumerate(shown) if n < HISTORY_MAX or i.status is not Status.resolved]
    open_ = [i for i in shown if i.status is not Status.resolved]
    names = dict.fromkeys([*platform_components(policy), *(name for i in shown for name in i.components)])
    components = []
    for name in names:
        condition = _worst([i.severity for i in open_ if name in i.components])
        components.append(ComponentView(_clean(name), words.component(name),
                                        Label(condition, words._(CONDITION_LABELS[condition]))))
    overall = _worst([i.severity for i in open_])
    views = {i.id: words.incident(i) for i in shown}
    months: dict[str, list[IncidentView]] = {}
    for i in shown:
        months.setdefault(words.month(i.started_at), []).append(views[i.id])
    latest = max(views.values(), key=lambda v: v.updated.iso, default=None)
    return SiteView(
        locale=locale, generated_at=words.when(now),
        updated_at=latest.updated if latest else None,
        overall=Label(overall, words._(OVERALL_LABELS[overall])), components=tuple(components),
        active=tuple(views[i.id] for i in sorted(open_, key=lambda i: list(Severity).index(i.severity))),
        recent=tuple(replace(views[i.id], updates=()) for i in shown  # the front page keeps past incidents short
                     if i.status is Status.resolved and _within(i, now - timedelta(days=FRONT_DAYS)))[:RECENT_MAX],
        history=tuple(MonthView(label, tuple(items)) for label, items in months.items()),
    )


