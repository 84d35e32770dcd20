"""The site's machine-readable outputs, from the view model: status/{locale}.json, status/uptime.json, the Atom feed's
context, and the Atlassian Statuspage-compatible api/v2 documents, so that existing widgets and clients read us
unchanged.

Statuspage mappings (docs/status-site.md): severity -> impact sev3 minor, sev2 major, sev1 critical; overall status
-> indicator operational none, degraded_performance minor, partial_outage major, major_outage critical, described by
scope as the banner is (DESCRIPTION). Component statuses and incident statuses already use Statuspage's values.
A maintenance window is a Statuspage scheduled maintenance (impact `maintenance`, status scheduled / in_progress /
completed as the clock makes it; a cancelled window is left out, as Statuspage deletes one), and overall
`under_maintenance` is indicator `maintenance`, "Service Under Maintenance". Statuspage content is English.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from .uptime import DOWNTIME_WEIGHT, UPTIME_DAYS
from .view import ComponentView, IncidentView, MaintenanceView, SiteView, component_id

SCHEMA_VERSION = 1
UPTIME_PATH = "status/uptime.json"  # next to status/<locale>.json: numbers only, the same for every locale
PAGE_ID, PAGE_NAME = "petanque-life", "Petanque Life"
MAX_INCIDENTS = 50  # incidents.json: the 50 most recent, as Statuspage serves it
MAX_MAINTENANCES = 50  # scheduled-maintenances.json: likewise
IMPACT = {"sev3": "minor", "sev2": "major", "sev1": "critical"}
INDICATOR = {"operational": "none", "degraded_performance": "minor", "partial_outage": "major",
             "major_outage": "critical", "under_maintenance": "maintenance"}
# (overall status, only some components at it) -> status.description, in Statuspage's words
DESCRIPTION = {
    ("operational", False): "All Systems Operational",
    ("degraded_performance", True): "Partially Degraded Service",
    ("degraded_performance", False): "Degraded System Service",
    ("partial_outage", True): "Minor Service Outage",
    ("partial_outage", False): "Partial System Outage",
    ("major_outage", True): "Partial System Outage",
    ("major_outage", False): "Major Service Outage",
    ("under_maintenance", True): "Service Under Maintenance",
    ("under_maintenance", False): "Service Under Maintenance",
}
# An entry that only changed the status or severity has no words of its own; Statuspage bodies are never empty.
DEFAULT_BODY = {
    "investigating": "We are investigating this issue.",
    "identified": "The issue has been identified and a fix is being worked on.",
    "monitoring": "A fix has been implemented and we are monitoring the results.",
    "resolved": "This incident has been resolved.",
}
MAINTENANCE_BODY = {  # Statuspage's own sentences for a scheduled maintenance
    "scheduled": "We will be undergoing scheduled maintenance during this time.",
    "in_progress": "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
    "completed": "The scheduled maintenance has been completed.",
    "cancelled": "This scheduled maintenance has been cancelled.",
}


def page_path(locale: str, page: str) -> str:
    return page if locale == "en" else f"{locale}/{page}"


class Urls:
    """Links between our own files are relative, so the site works under any host or path; they are absolute (for
    hreflang alternates, feed links and API links) only when a base_url is configured."""

    def __init__(self, base_url: str, here: str) -> None:
        self.base, self.up = base_url.rstrip("/"), "../" * here.count("/")

    def rel(self, path: str) -> str:
        return self.up + path

    def absolute(self, path: str) -> str:
        return f"{self.base}/{path}" if self.base else self.rel(path)


def status_document(view: SiteView) -> dict[str, Any]:
    """status/{locale}.json, which the page's script refreshes from: the view model itself, minus the 90 days of
    incidents, plus each component's uptime over them (uptime.json without the days, to keep this file light)."""
    return {
        "schema_version": SCHEMA_VERSION, "locale": view.locale, "generated_at": view.generated_at.iso,
        "updated_at": view.updated_at.iso if view.updated_at else None, "overall": asdict(view.overall),
        "components": [asdict(c) for c in view.components],
        "active": [asdict(i) for i in view.active], "recent": [asdict(i) for i in view.recent],
        "uptime": _uptime(view, days=False),
    }


def uptime_document(view: SiteView) -> dict[str, Any]:
    """status/uptime.json: each component's minutes per status per UTC day and its uptime over the period. No render
    time in it, so that it changes only when the numbers do."""
    return {"schema_version": SCHEMA_VERSION, **_uptime(view, days=True)}


def _uptime(view: SiteView, *, days: bool) -> dict[str, Any]:
    first, last = view.uptime_period
    components = []
    for u in view.uptime:
        component = {"id": component_id(u.name), "name": u.name, "uptime_percentage": float(u.numbers.percentage),
                     "minutes": u.numbers.minutes}
        if days:  # only the days with any minutes: the others had none
            component["days"] = [{"date": d.date.isoformat(), "minutes": d.minutes} for d in u.numbers.days
                                 if d.minutes]
        components.append(component)
    return {
        "period": {"first_day": first.isoformat(), "last_day": last.isoformat(), "days": UPTIME_DAYS},
        "weights": {status: float(weight) for status, weight in DOWNTIME_WEIGHT.items()},
        "components": components,
    }


def _urn(name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"petanque-life-status/{name}").urn


def feed_context(view: SiteView, base_url: str) -> dict[str, Any]:
    """What templates/feed.atom renders: one entry per recent incident (the 50 newest of 90 days) and one per
    maintenance window the pages show (in progress, within 14 days, or in the history), stable ids."""
    locale = view.locale
    urls = Urls(base_url, f"feed/{locale}.atom")
    history = urls.absolute(page_path(locale, "history.html"))
    home = urls.absolute(page_path(locale, "index.html"))
    windows = [(m, home) for m in (*view.maintenance_active, *view.maintenance_upcoming)]
    windows += [(m, history) for m in view.maintenance_past]
    return {
        "view": view, "id": _urn(f"feed/{locale}"), "updated": (view.updated_at or view.generated_at).iso,
        # rel="self" names the feed's own address: left out when it is not known (no base_url, a local preview)
        "self_href": urls.absolute(f"feed/{locale}.atom") if urls.base else None,
        "alternate": urls.absolute(page_path(locale, "index.html")),
        "entries": [(_urn(f"{locale}/{i.id}"), f"{history}#{i.id}", i)
                    for m in view.history for i in m.incidents][:MAX_INCIDENTS],  # feed readers want the latest
        "maintenance_entries": [(_urn(f"{locale}/{m.id}"), f"{page}#{m.id}", m)
                                for m, page in windows][:MAX_MAINTENANCES],
    }


def statuspage_documents(view: SiteView, base_url: str) -> dict[str, dict[str, Any]]:
    """api/v2/{summary,status,components,incidents,incidents/unresolved}.json and
    api/v2/scheduled-maintenances{,/upcoming,/active}.json from the English view."""
    base = base_url.rstrip("/")
    updated = (view.updated_at or view.generated_at).iso
    page = {"id": PAGE_ID, "name": PAGE_NAME, "url": f"{base}/", "time_zone": "Etc/UTC", "updated_at": updated}
    status = {"indicator": INDICATOR[view.overall.code],
              "description": DESCRIPTION[view.overall.code, view.partial]}
    everything = [i for month in view.history for i in month.incidents]
    components = [_component(c, n, everything, updated) for n, c in enumerate(view.components)]
    by_name = {c["name"]: c for c in components}
    unresolved = [_incident(i, by_name, base) for i in view.active]
    active = [_maintenance(m, by_name, base, "index.html") for m in view.maintenance_active]
    upcoming = [_maintenance(m, by_name, base, "index.html") for m in view.maintenance_scheduled]
    past = [_maintenance(m, by_name, base, "history.html") for m in view.maintenance_past
            if m.state.code != "cancelled"]
    recent = sorted([*active, *upcoming, *past], key=lambda m: (m["scheduled_for"], m["id"]), reverse=True)
    return {
        "api/v2/summary.json": {"page": page, "components": components, "incidents": unresolved,
                                "scheduled_maintenances": [*active, *upcoming], "status": status},
        "api/v2/status.json": {"page": page, "status": status},
        "api/v2/components.json": {"page": page, "components": components},
        "api/v2/incidents.json": {"page": page,
                                  "incidents": [_incident(i, by_name, base) for i in everything[:MAX_INCIDENTS]]},
        "api/v2/incidents/unresolved.json": {"page": page, "incidents": unresolved},
        "api/v2/scheduled-maintenances.json": {"page": page, "scheduled_maintenances": recent[:MAX_MAINTENANCES]},
        "api/v2/scheduled-maintenances/upcoming.json": {"page": page, "scheduled_maintenances": upcoming},
        "api/v2/scheduled-maintenances/active.json": {"page": page, "scheduled_maintenances": active},
    }


def _component(c: ComponentView, position: int, incidents: list[IncidentView], page_updated: str) -> dict[str, Any]:
    touched = [i.updated.iso for i in incidents if c.name in (t.value for t in i.components)]
    updated = max(touched, default=page_updated)
    return {
        "id": component_id(c.name), "name": c.name, "status": c.status.code,
        "created_at": updated, "updated_at": updated, "position": position + 1, "description": None,
        "showcase": False, "start_date": None, "group_id": None, "page_id": PAGE_ID, "group": False,
        "only_show_if_degraded": False,
    }


def _incident(i: IncidentView, components: dict[str, dict[str, Any]], base: str) -> dict[str, Any]:
    chronological = list(reversed(i.updates))
    monitoring_at, previous = None, None
    for u in chronological:  # the latest move into monitoring
        if u.status.code == "monitoring" and previous != "monitoring":
            monitoring_at = u.at.iso
        previous = u.status.code
    return {
        "id": i.id, "name": i.title.value, "status": i.status.code,
        "created_at": chronological[0].at.iso if chronological else i.started.iso, "updated_at": i.updated.iso,
        "monitoring_at": monitoring_at, "resolved_at": i.resolved.iso if i.resolved else None,
        "impact": IMPACT[i.severity.code], "shortlink": f"{base}/history.html#{i.id}".lstrip("/"),
        "started_at": i.started.iso, "page_id": PAGE_ID,
        "incident_updates": [_update(i.id, u, DEFAULT_BODY) for u in i.updates],
        "components": [components[t.value] for t in i.components if t.value in components],
    }


def _update(owner_id: str, u, default_body: dict[str, str]) -> dict[str, Any]:
    """One entry of an incident's or a maintenance's public timeline, as a Statuspage `incident_update`."""
    return {
        "id": f"{owner_id}-{u.id}", "status": u.status.code,
        "body": u.message.value if u.message else default_body[u.status.code],
        "incident_id": owner_id, "created_at": u.at.iso, "updated_at": u.at.iso, "display_at": u.at.iso,
        "affected_components": None, "deliver_notifications": True, "custom_tweet": None, "tweet_id": None,
    }


def _maintenance(m: MaintenanceView, components: dict[str, dict[str, Any]], base: str, where: str) -> dict[str, Any]:
    """A window as a Statuspage scheduled maintenance: its public timeline as `incident_updates`, newest first."""
    return {
        "id": m.id, "name": m.title.value, "status": m.state.code,
        "created_at": m.announced.iso, "updated_at": m.updated.iso, "monitoring_at": None,
        "resolved_at": m.ends.iso if m.state.code == "completed" else None,
        "impact": "maintenance", "shortlink": f"{base}/{where}#{m.id}".lstrip("/"),
        "started_at": m.announced.iso, "page_id": PAGE_ID,
        "incident_updates": [_update(m.id, u, MAINTENANCE_BODY) for u in m.updates],
        "components": [components[t.value] for t in m.components if t.value in components],
        "scheduled_for": m.starts.iso, "scheduled_until": m.ends.iso,
    }
