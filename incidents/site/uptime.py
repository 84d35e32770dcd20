"""Each component's uptime over the last 90 UTC days, from when it was in which status: pure functions, no clock.

Input: spans, each "these components were at this status from start to end" (view.py makes them from the published
incidents' timelines, and from maintenance windows as `under_maintenance`). Output: per component and UTC day, the
minutes at each status, and the uptime over the period.

    uptime = 1 - (major_outage + 0.3 × partial_outage) / (90 × 1440)      (minutes over the 90 UTC days to today)

as Atlassian Statuspage and Instatus count it (docs/status-site.md): a major outage counts fully, a partial outage
30 %, degraded performance and maintenance not at all. Times are taken to the minute (seconds dropped). When spans
overlap on a component, the worst status counts at each moment (WORST_FIRST), never two at once. The percentage is
rounded to two decimals, half to even, but never up to 100.00 when there was any downtime.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from operator import itemgetter

from ..domain.models import PublicIncident, Severity, Status

UPTIME_DAYS = 90
DAY_MINUTES = 24 * 60
_ONE_MINUTE = timedelta(minutes=1)
WORST_FIRST = ("major_outage", "partial_outage", "degraded_performance", "under_maintenance")
DOWNTIME_WEIGHT = {"major_outage": Decimal(1), "partial_outage": Decimal("0.3"),
                   "degraded_performance": Decimal(0), "under_maintenance": Decimal(0)}
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Span:
    components: tuple[str, ...]  # one span for all of them: its minutes are worked out once
    start: datetime
    end: datetime
    status: str  # one of WORST_FIRST: a Statuspage component status other than operational


@dataclass(frozen=True)
class Day:
    date: date  # a UTC day
    minutes: dict[str, int]  # status -> minutes at it that day, only the statuses it had

    @property
    def worst(self) -> str:
        return next((s for s in WORST_FIRST if self.minutes.get(s)), "operational")


@dataclass(frozen=True)
class ComponentUptime:
    component: str
    days: tuple[Day, ...]  # the UPTIME_DAYS days, oldest first
    minutes: dict[str, int]  # every status of WORST_FIRST -> minutes over the period
    percentage: Decimal  # 99.98


def severity_timeline(incident: PublicIncident, now: datetime) -> list[tuple[datetime, datetime, Severity]]:
    """When the incident was open and at which severity: from started_at, each public entry sets the severity and
    status from its time on; resolved entries close it (a reopening opens it again); still open, it lasts until
    now. Before its first entry it has that entry's severity."""
    if not incident.updates:
        return [(incident.started_at, incident.resolved_at or now, incident.severity)]
    stretches = []
    since, severity, is_open = incident.started_at, incident.updates[0].severity, True
    for entry in incident.updates:
        if entry.at > since:
            if is_open:
                stretches.append((since, entry.at, severity))
            since = entry.at
        severity, is_open = entry.severity, entry.status is not Status.resolved
    if is_open and now > since:
        stretches.append((since, now, severity))
    return stretches


def period_start(now: datetime) -> datetime:
    """00:00 UTC of the first of the UPTIME_DAYS days that end with today."""
    today = now.astimezone(timezone.utc).date()
    return datetime.combine(today - timedelta(days=UPTIME_DAYS - 1), time(), timezone.utc)


OPEN_REFRESH = timedelta(minutes=15)  # about what moves a two-decimal 90-day percentage (0.01 % = 13 min down)


def next_change(now: datetime, *, any_open: bool) -> datetime:
    """When the uptime, as of the last full render, is next worth rendering again for the clock alone: every
    OPEN_REFRESH while an incident is open (its minutes grow; a re-render every minute would cost a full publish a
    minute), else the next 00:00 UTC (the 90 days move on). Any public change renders it at once anyway."""
    midnight = period_start(now) + timedelta(days=UPTIME_DAYS)
    if any_open:
        return min(_minute(now) + OPEN_REFRESH, midnight)
    return midnight


def component_uptimes(components: Iterable[str], spans: Iterable[Span], *, now: datetime) -> list[ComponentUptime]:
    """Every component's uptime over the UPTIME_DAYS days that end today (UTC), in the order given."""
    components = list(components)
    start = period_start(now)
    end = (now - start) // _ONE_MINUTE
    # The span edges of each component, as (minute, +1 or -1, rank in WORST_FIRST). Times are whole minutes since
    # `start` (00:00 UTC), floored as _minute floors them; `end` is now's.
    edges: dict[str, list[tuple[int, int, int]]] = {name: [] for name in components}
    for s in spans:
        a, b = max((s.start - start) // _ONE_MINUTE, 0), min((s.end - start) // _ONE_MINUTE, end)
        if a < b:
            rank = _RANK[s.status]
            for name in s.components:
                if (found := edges.get(name)) is not None:
                    found += ((a, 1, rank), (b, -1, rank))
    return [_uptime(name, edges[name], start) for name in components]


def _minute(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(second=0, microsecond=0)


_RANK = {status: n for n, status in enumerate(WORST_FIRST)}


def _uptime(name: str, edges: list[tuple[int, int, int]], start: datetime) -> ComponentUptime:
    # A sweep over the span edges: between two edges the worst status with any span open counts.
    edges.sort(key=itemgetter(0))
    per_day = [[0] * len(WORST_FIRST) for _ in range(UPTIME_DAYS)]
    open_count = [0] * len(WORST_FIRST)
    since = 0
    for at, step, rank in edges:
        if at > since:
            for worst, count in enumerate(open_count):
                if count:
                    _add(per_day, since, at, worst)
                    break
            since = at
        open_count[rank] += step
    days = tuple(Day(start.date() + timedelta(days=n), {WORST_FIRST[r]: m for r, m in enumerate(minutes) if m})
                 for n, minutes in enumerate(per_day))
    totals = {s: sum(minutes[r] for minutes in per_day) for r, s in enumerate(WORST_FIRST)}
    return ComponentUptime(name, days, totals, uptime_percentage(totals))


def _add(per_day: list[list[int]], a: int, b: int, rank: int) -> None:
    """Adds the minutes from a to b (minutes since the period's start) at WORST_FIRST[rank] to the days they fall on."""
    while a < b:
        day = a // DAY_MINUTES
        cut = min(b, (day + 1) * DAY_MINUTES)
        per_day[day][rank] += cut - a
        a = cut


def uptime_percentage(minutes: dict[str, int]) -> Decimal:
    """100 × (1 - weighted downtime / the period's minutes), to two decimals (module docstring)."""
    down = sum(DOWNTIME_WEIGHT[s] * minutes.get(s, 0) for s in WORST_FIRST)
    value = (100 * (1 - down / (UPTIME_DAYS * DAY_MINUTES))).quantize(_CENT, ROUND_HALF_EVEN)
    return min(value, Decimal("99.99")) if down else value
