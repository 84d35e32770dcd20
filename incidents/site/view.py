"""The status site's view model: what a visitor sees, decided in Python, one view per locale.

The overall status and each component's status is the worst open severity among the published incidents that
concern it: none -> operational, sev3 -> degraded_performance, sev2 -> partial_outage, sev1 -> major_outage
(docs/status-site.md). An incident that names no component concerns every component (`concerns`), for the statuses
as for the uptime. The banner's words also say whether that worst status is platform-wide or hits only some
components, as Statuspage words its page status ("Partial system outage" for one component down). Each component's
90-day uptime comes from uptime.py, its words from here. Time windows, language fallbacks and date labels are
decided here too; render.py and the templates only render, and feeds.py reshapes the same view for machines.

Maintenance windows (domain/maintenance.py) come in beside the incidents, their state taken from the clock at `now`:
a component in a window in progress, with no open incident on it, is `under_maintenance` (Statuspage's status), and
so is the overall status when every component is operational but some are under maintenance. The windows in
progress and those starting within 14 days show on every page, the completed and cancelled ones of the last 90 days
on the history page; their minutes count as maintenance in the uptime (not downtime).
"""

from __future__ import annotations

import base64
import functools
import gettext
import hashlib
import io
import re
import struct
import tomllib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_interval, format_time, get_datetime_format, get_time_format
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_percent
from babel.units import format_unit

from ..domain.maintenance import UPCOMING, Maintenance, MaintenanceState, public_timeline
from ..domain.models import Incident, KeptByObject, PublicIncident, Severity, State, Status, format_utc
from ..domain.policy import Policy, load_policy, platform_components
from .uptime import (
    UPTIME_DAYS,
    WORST_FIRST,
    ComponentUptime,
    Day,
    Span,
    component_uptimes,
    period_start,
    severity_timeline,
)

CATALOGS = Path(__file__).resolve().parents[2] / "locale"
FRONT_DAYS, HISTORY_DAYS = 30, 90
# Bounds that keep every page and the status JSON small however busy a quarter was: the front page lists at most
# RECENT_MAX past incidents, the history page at most HISTORY_MAX (open incidents always show).
RECENT_MAX, HISTORY_MAX = 10, 200
PAST_MAINTENANCE_MAX = 50
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # XML 1.0 cannot carry these, even escaped


def N_(message: str) -> str:
    """Marks a message for extraction (babel-mapping.ini); it is translated when the site is rendered."""
    return message


CONDITION_OF = {Severity.sev3: "degraded_performance", Severity.sev2: "partial_outage", Severity.sev1: "major_outage"}
OVERALL_LABELS = {
    "operational": N_("All systems operational"), "degraded_performance": N_("Degraded performance"),
    "partial_outage": N_("Partial outage"), "major_outage": N_("Major outage"),
}
# When only some components are at the worst open status (see SiteView.partial).
PARTIAL_LABELS = {
    "degraded_performance": N_("Partially degraded service"), "partial_outage": N_("Minor service outage"),
    "major_outage": N_("Partial system outage"),
}
# Every component operational, some under maintenance: the same words whatever the scope.
OVERALL_LABELS["under_maintenance"] = PARTIAL_LABELS["under_maintenance"] = N_("Service under maintenance")
CONDITION_LABELS = {**OVERALL_LABELS, "operational": N_("Operational"), "under_maintenance": N_("Under maintenance")}
# The uptime bars' colours: those of the statuses in www/site.css (.s-*), which tests/unit/test_site.py holds equal.
BAR_COLOURS = {"operational": "#116329", "degraded_performance": "#7d4e00", "partial_outage": "#a33d00",
               "major_outage": "#b42318", "under_maintenance": "#0b57d0"}
MAINTENANCE_LABELS = {
    MaintenanceState.scheduled: N_("Scheduled"), MaintenanceState.in_progress: N_("In progress"),
    MaintenanceState.completed: N_("Completed"), MaintenanceState.cancelled: N_("Cancelled"),
}
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
class UptimeView:
    name: str  # English, as incidents name it
    display: Text
    anchor: str  # the id of its day-by-day record on the history page
    percentage: str  # "99,98 % de disponibilité"
    bars: str  # the row of daily bars, oldest first, as a data: URI (bars_image)
    record: tuple[str, ...]  # the days with downtime, oldest first, alike days in a row as one line
    quiet: str  # what the other days had: nothing
    numbers: ComponentUptime


@dataclass(frozen=True)
class MonthView:
    label: str
    incidents: tuple[IncidentView, ...]


@dataclass(frozen=True)
class MaintenanceView:
    id: str
    title: Text
    message: Text
    state: Label  # code: scheduled, in_progress, completed or cancelled, as the clock makes it at `now`
    components: tuple[Text, ...]  # in the English view, exactly the component names
    starts: When
    ends: When
    announced: When
    updated: When  # the latest public entry, or the clock's start or end
    updates: tuple[UpdateView, ...]  # the public timeline, newest first; status: the state after each entry


@dataclass(frozen=True)
class SiteView:
    locale: str
    generated_at: When
    updated_at: When | None  # the latest public change; None when nothing happened in the last 90 days
    overall: Label  # code: the worst open status; label: its words, by scope (partial)
    partial: bool  # only some components are at the worst open status
    components: tuple[ComponentView, ...]
    active: tuple[IncidentView, ...]  # worst first
    recent: tuple[IncidentView, ...]  # resolved within FRONT_DAYS, newest first, without their timelines
    history: tuple[MonthView, ...]  # everything within HISTORY_DAYS, by month of start, newest first
    uptime: tuple[UptimeView, ...]  # per component, in the components' order
    uptime_period: tuple[date, date]  # its first and last UTC day (today)
    uptime_days: int = UPTIME_DAYS
    maintenance_active: tuple[MaintenanceView, ...] = ()  # in progress, ending soonest first
    maintenance_upcoming: tuple[MaintenanceView, ...] = ()  # scheduled to start within 14 days, soonest first
    maintenance_scheduled: tuple[MaintenanceView, ...] = ()  # every scheduled one, soonest first
    maintenance_past: tuple[MaintenanceView, ...] = ()  # completed or cancelled within 90 days, newest first


def bars_image(statuses: list[str]) -> str:
    """One pixel per day in the colour of its status (BAR_COLOURS), as a PNG data: URI that the page stretches into
    a row of bars (site.css draws the gaps). About 250 bytes however busy the quarter was, where an element per day
    or per run of days would take the front page past its 30 KB on a busy quarter; and no request."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    palette = [s for s in BAR_COLOURS if s != "under_maintenance" or s in statuses]  # the same bytes as before it
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", len(statuses), 1, 8, 3, 0, 0, 0))
           + chunk(b"PLTE", b"".join(bytes.fromhex(BAR_COLOURS[s][1:]) for s in palette))
           + chunk(b"IDAT", zlib.compress(bytes([0, *(palette.index(s) for s in statuses)]), 9))
           + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def component_id(name: str) -> str:
    """Stable and safe in a URL fragment: the Statuspage API's component id, and the uptime record's anchor."""
    return hashlib.sha256(name.encode()).hexdigest()[:12]


def concerned(incident: PublicIncident, platform: tuple[str, ...]) -> tuple[str, ...]:
    """The one rule: an incident that names no component concerns the whole platform, so every component."""
    return tuple(incident.components) or platform


def concerns(incident: PublicIncident, component: str) -> bool:
    return component in concerned(incident, (component,))


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
        self.babel = Locale.parse(locale)  # parsed once: Babel parses a locale name on every call otherwise
        self.time_pattern = get_time_format("short", self.babel).pattern
        self.datetime_format = get_datetime_format("medium", locale=self.babel)
        self.known = set(platform_components(policy))
        # Babel's labels, kept: Babel formats slowly, and the same days and times recur across a page
        self._dates: dict[date, str] = {}
        self._times: dict[time, str] = {}
        self._day_lines: dict[tuple, str] = {}  # the uptime record's lines: 90 days x every component, each render
        self.incident = KeptByObject(self._incident, 4096)  # an incident's words, across renders (see _words)

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
        return When(format_utc(at), self.datetime_format.format(self.time_label(at) + " UTC",
                                                                self.date_label(at.date())))

    def date_label(self, day: date) -> str:
        return _kept(self._dates, day, lambda: format_date(day, "medium", locale=self.babel))

    def time_label(self, at: datetime) -> str:
        """`at` a UTC datetime: its time of day is all that a time format reads of it."""
        return _kept(self._times, at.time(), lambda: format_time(at, self.time_pattern, locale=self.babel))

    def month(self, at: datetime) -> str:
        label = format_date(at.astimezone(timezone.utc), "LLLL y", locale=self.babel)
        return label[:1].upper() + label[1:]

    def percentage(self, value: Decimal) -> str:
        pattern = self.babel.percent_formats[None].pattern.replace("0", "0.00", 1)  # 99.98 %
        return self._("%(percentage)s uptime") % {"percentage": format_percent(value / 100, pattern,
                                                                               locale=self.babel)}

    def duration(self, minutes: int) -> str:
        return _duration(minutes, self.locale)

    def day_line(self, first: date, last: date, minutes: dict[str, int]) -> str:
        return _kept(self._day_lines, (first, last, *minutes.items()), lambda: self._day_line(first, last, minutes),
                     8192)

    def _day_line(self, first: date, last: date, minutes: dict[str, int]) -> str:
        what = format_list([self._("%(status)s for %(duration)s") % {
            "status": self._(CONDITION_LABELS[s]), "duration": self.duration(minutes[s])}
            for s in WORST_FIRST if minutes.get(s)], locale=self.babel)
        if first == last:
            return self._("%(date)s: %(what)s") % {"date": self.date_label(first), "what": what}
        dates = format_interval(first, last, "yMMMd", locale=self.babel)
        return self._("%(dates)s, each day: %(what)s") % {"dates": dates, "what": what}

    def uptime(self, numbers: ComponentUptime) -> UptimeView:
        alike: list[list[Day]] = []  # consecutive days with the same minutes
        for day in numbers.days:
            if alike and alike[-1][-1].minutes == day.minutes:
                alike[-1].append(day)
            else:
                alike.append([day])
        record = tuple(self.day_line(run[0].date, run[-1].date, run[0].minutes) for run in alike if run[0].minutes)
        quiet = (self._("No downtime on the other days.") if record else
                 self._("No downtime in the last %(days)s days.") % {"days": UPTIME_DAYS})
        name = numbers.component
        bars = bars_image([d.worst for d in numbers.days])
        return UptimeView(_clean(name), self.component(name), f"uptime-{component_id(name)}",
                          self.percentage(numbers.percentage), bars, record, quiet, numbers)

    def maintenance(self, m: Maintenance, now: datetime) -> MaintenanceView:
        timeline = public_timeline(m, now)
        state = m.state_at(now)
        return MaintenanceView(
            id=m.id, title=self.text(m.title), message=self.text(m.message),
            state=Label(state.value, self._(MAINTENANCE_LABELS[state])),
            components=tuple(self.component(name) for name in m.components),
            starts=self.when(m.starts_at), ends=self.when(m.ends_at), announced=self.when(m.created_at),
            updated=self.when(max((e.at for e in timeline), default=m.created_at)),
            updates=tuple(UpdateView(e.id, self.when(e.at), Label(e.state.value, self._(MAINTENANCE_LABELS[e.state])),
                                     self.text(e.message) if e.message else None) for e in reversed(timeline)),
        )

    def _incident(self, i: PublicIncident) -> IncidentView:
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


_LABELS_KEPT = 20_000


def _kept(cache: dict, key, make: Callable[[], str], limit: int = _LABELS_KEPT) -> str:
    """cache[key], made when missing; the cache is emptied when it holds `limit` labels."""
    if (label := cache.get(key)) is None:
        if len(cache) >= limit:
            cache.clear()
        label = cache[key] = make()
    return label


_WORDS: dict[tuple[str, int], _Words] = {}


def _words(locale: str, policy: Policy) -> _Words:
    """The words of `locale` under `policy`, kept across renders with the labels and incident views they made: a
    publish after a change formats only what changed."""
    words = _WORDS.get((locale, id(policy)))
    if words is None or words.policy is not policy:  # _Words keeps its policy alive, so its id() is not reused
        if len(_WORDS) >= 16:
            _WORDS.clear()
        words = _WORDS[(locale, id(policy))] = _Words(locale, policy)
    return words


def _duration(minutes: int, locale: str) -> str:
    """"1 hr 5 min"."""
    hours, minutes = divmod(minutes, 60)
    return " ".join(_unit(n, unit, locale) for n, unit in ((hours, "duration-hour"), (minutes, "duration-minute"))
                    if n)


@functools.lru_cache(maxsize=4096)
def _unit(n: int, unit: str, locale: str) -> str:
    """Babel's unit formatting is slow; a day's record has at most 24 hours and 59 minutes of each."""
    return format_unit(n, unit, length="short", locale=locale)


def _within(incident: PublicIncident, since: datetime) -> bool:
    return incident.status is not Status.resolved or (incident.resolved_at or incident.updated_at) >= since


def _worst(severities: list[Severity]) -> str:
    return CONDITION_OF[min(severities, key=list(Severity).index)] if severities else "operational"


def public_only(incidents: list[Incident | PublicIncident]) -> list[PublicIncident]:
    """What the public may see of the published incidents (done once for all the locales of a render)."""
    return [i if isinstance(i, PublicIncident) else PublicIncident.of(i) for i in incidents
            if isinstance(i, PublicIncident) or i.state is State.published]


@dataclass(frozen=True)
class Facts:
    """What every locale's view shares, worked out once per render (site_facts); localized_view puts it in words."""
    now: datetime
    policy: Policy
    windows: list[tuple[Maintenance, MaintenanceState]]  # every maintenance window, with its state at `now`
    shown: list[PublicIncident]  # within HISTORY_DAYS, newest first, at most HISTORY_MAX resolved
    open_: list[PublicIncident]  # those of `shown` not resolved
    conditions: dict[str, str]  # component -> its status code, in the components' order
    overall: str
    partial: bool  # only some components are at the worst open status
    uptimes: list[ComponentUptime]


def site_facts(incidents: list[Incident | PublicIncident], *, now: datetime, policy: Policy | None = None,
               maintenances: list[Maintenance] = ()) -> Facts:
    policy = policy or load_policy()
    windows = [(m, m.state_at(now)) for m in maintenances]
    maintained = {name for m, state in windows if state is MaintenanceState.in_progress for name in m.components}
    public = public_only(incidents)
    shown = sorted((i for i in public if _within(i, now - timedelta(days=HISTORY_DAYS))),
                   key=lambda i: i.started_at, reverse=True)
    shown = [i for n, i in enumerate(shown) if n < HISTORY_MAX or i.status is not Status.resolved]
    open_ = [i for i in shown if i.status is not Status.resolved]
    names = dict.fromkeys([*platform_components(policy), *(name for i in shown for name in i.components)])
    conditions = {}
    for name in names:
        condition = _worst([i.severity for i in open_ if concerns(i, name)])
        conditions[name] = "under_maintenance" if condition == "operational" and name in maintained else condition
    overall = _worst([i.severity for i in open_])
    if overall == "operational" and maintained:
        overall = "under_maintenance"
    partial = any(c != overall for c in conditions.values())  # with no open incident, none differs
    platform = tuple(names)
    spans = [Span(concerned(i, platform), start, end, CONDITION_OF[severity])
             for i in public for start, end, severity in severity_timeline(i, now)]
    spans += [Span(tuple(m.components), *span, "under_maintenance") for m, _ in windows if (span := m.span(now))]
    uptimes = component_uptimes(names, spans, now=now)
    return Facts(now, policy, windows, shown, open_, conditions, overall, partial, uptimes)


def build_view(incidents: list[Incident | PublicIncident], *, locale: str, now: datetime,
               policy: Policy | None = None, maintenances: list[Maintenance] = ()) -> SiteView:
    return localized_view(site_facts(incidents, now=now, policy=policy, maintenances=maintenances), locale)


def localized_view(facts: Facts, locale: str) -> SiteView:
    """The facts in the words of `locale`: what render_site does per locale, the facts worked out once."""
    words, now = _words(locale, facts.policy), facts.now
    windows, shown, open_, overall, partial = facts.windows, facts.shown, facts.open_, facts.overall, facts.partial
    components = [ComponentView(_clean(name), words.component(name), Label(code, words._(CONDITION_LABELS[code])))
                  for name, code in facts.conditions.items()]
    labels = PARTIAL_LABELS if partial else OVERALL_LABELS
    views = {i.id: words.incident(i) for i in shown}
    months: dict[str, list[IncidentView]] = {}
    for i in shown:
        months.setdefault(words.month(i.started_at), []).append(views[i.id])
    shown_windows = {m.id: words.maintenance(m, now) for m, _ in windows  # those that ended within the history
                     if min(m.ends_at, m.cancelled_at or m.ends_at) >= now - timedelta(days=HISTORY_DAYS)}
    latest = max([*views.values(), *shown_windows.values()], key=lambda v: v.updated.iso, default=None)

    def listed(states, key, *, reverse=False, until=None):
        chosen = sorted((m for m, state in windows if state in states and (until is None or m.starts_at <= until)),
                        key=key, reverse=reverse)
        return tuple(shown_windows[m.id] for m in chosen if m.id in shown_windows)

    return SiteView(
        locale=locale, generated_at=words.when(now),
        updated_at=latest.updated if latest else None,
        overall=Label(overall, words._(labels[overall])), partial=partial, components=tuple(components),
        active=tuple(views[i.id] for i in sorted(open_, key=lambda i: list(Severity).index(i.severity))),
        recent=tuple(replace(views[i.id], updates=()) for i in shown  # the front page keeps past incidents short
                     if i.status is Status.resolved and _within(i, now - timedelta(days=FRONT_DAYS)))[:RECENT_MAX],
        history=tuple(MonthView(label, tuple(items)) for label, items in months.items()),
        uptime=tuple(words.uptime(u) for u in facts.uptimes),
        uptime_period=(period_start(now).date(), now.astimezone(timezone.utc).date()),
        maintenance_active=listed({MaintenanceState.in_progress}, lambda m: (m.ends_at, m.id)),
        maintenance_upcoming=listed({MaintenanceState.scheduled}, lambda m: (m.starts_at, m.id), until=now + UPCOMING),
        maintenance_scheduled=listed({MaintenanceState.scheduled}, lambda m: (m.starts_at, m.id)),
        maintenance_past=listed({MaintenanceState.completed, MaintenanceState.cancelled},
                                lambda m: (min(m.ends_at, m.cancelled_at or m.ends_at), m.id),
                                reverse=True)[:PAST_MAINTENANCE_MAX],
    )


