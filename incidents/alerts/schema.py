"""An Azure Monitor alert, read from an action group's webhook call (common alert schema).

Strict about the few essentials an incident needs (id, rule, severity, condition, fired time); lenient about the
rest: `alertContext` varies by `monitoringService` and is only mined, best effort, for a short `details` summary.
Shapes: MicrosoftDocs/azure-monitor-docs, alerts-common-schema.md and alerts-payload-samples.md.
Nothing here knows about Azure SDKs, HTTP or storage.
"""

from __future__ import annotations

import json
import reprlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..domain.models import in_range, printable

SCHEMA_ID = "azureMonitorCommonAlertSchema"
SEVERITIES = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")
CONDITIONS = ("Fired", "Resolved")
ALERT_ID_MAX = 1024
RULE_MAX = 512
TEXT_MAX = 500  # each value of `details` and `custom_properties`
DESCRIPTION_MAX = 2000
MAX_ITEMS = 50  # target ids, configuration items, custom properties
LINK_MAX = 4096


class AlertRejected(ValueError):
    """The payload is not a usable common-schema alert. `field` is the JSON path at fault ("$" is the whole body)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class Alert:
    alert_id: str
    rule: str
    azure_severity: str
    condition: str
    fired_at: datetime
    resolved_at: datetime | None
    signal_type: str | None
    monitoring_service: str | None
    target_ids: tuple[str, ...]
    configuration_items: tuple[str, ...]
    description: str | None
    custom_properties: dict[str, str]
    details: dict[str, str]
    portal_link: str | None


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def _show(value: Any) -> str:
    """A short, safe echo of an offending value in error messages."""
    try:
        return _REPR.repr(value)
    except ValueError:  # e.g. an int too long to print
        return f"<{type(value).__name__}>"


def _line(text: str, limit: int) -> str:
    """One line of outside text: control characters (new lines, ANSI escapes) written out, e.g. as \\n."""
    return printable(text, limit * 2)[:limit]


def _text(value: Any, limit: int = TEXT_MAX, *, multiline: bool = False) -> str:
    """Any JSON value as a short string: strings as they are, everything else as compact JSON; no control
    characters but new lines (when `multiline`)."""
    if isinstance(value, str):
        text = "\n".join(_line(line, limit) for line in value.split("\n")) if multiline else _line(value, limit)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        except (ValueError, TypeError, RecursionError):
            text = "<unreadable>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dig(node: Any, *path: str | int) -> Any:
    """node[path[0]][path[1]]..., or None as soon as a step does not fit."""
    for step in path:
        if isinstance(step, int) and isinstance(node, list) and -len(node) <= step < len(node):
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict):
            node = node.get(step)
        else:
            return None
    return node


def _time(essentials: dict[str, Any], key: str) -> datetime:
    """ISO 8601 to an aware UTC datetime; a naive time is UTC (Azure sometimes drops the Z)."""
    value = _required(essentials, key, 64)
    try:
        parsed = datetime.fromisoformat(value) if value.isascii() else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise AlertRejected(f"data.essentials.{key}", f"must be an ISO 8601 time, got {_show(value)}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return in_range(parsed)
    except ValueError as exc:
        raise AlertRejected(f"data.essentials.{key}", f"{exc}, got {_show(value)}") from None


def _required(essentials: dict[str, Any], key: str, limit: int, allowed: tuple[str, ...] = ()) -> str:
    field, value = f"data.essentials.{key}", essentials.get(key)
    if value is None:
        raise AlertRejected(field, "is required" + (" (got null)" if key in essentials else ""))
    if not isinstance(value, str) or not value.strip():
        raise AlertRejected(field, f"must be a non-empty string, got {_show(value)}")
    if len(value) > limit:
        raise AlertRejected(field, f"must be at most {limit} characters, got {len(value)}")
    if allowed and value not in allowed:
        raise AlertRejected(field, f"must be one of {', '.join(allowed)}, got {_show(value)}")
    return _line(value.strip(), limit)


def _strings(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else []
    return tuple(item for item in items if isinstance(item, str) and item)[:MAX_ITEMS]


def _optional(value: Any, limit: int = TEXT_MAX, *, multiline: bool = False) -> str | None:
    return _text(value, limit, multiline=multiline) if isinstance(value, str) else None


# ---- details: per monitoringService, a table of {detail key: path into alertContext} ----
# A path is a tuple of keys/indexes; a list of paths means "the first one present".
Path = tuple[str | int, ...]
Spec = dict[str, Path | list[Path]]


def _keys(prefix: Path, **names: str) -> Spec:
    return {detail: (*prefix, key) for detail, key in names.items()}


_FIRST: Path = ("condition", "allOf", 0)
CRITERIA: Spec = {  # metric (static, dynamic, availability), Log Alerts V2 and simple log alerts: condition.allOf[0]
    **_keys(_FIRST, metric="metricName", query="searchQuery", web_test="webTestName", value="metricValue",
            operator="operator", threshold="threshold", aggregation="timeAggregation",
            sensitivity="alertSensitivity", dimensions="dimensions"),
    "window": ("condition", "windowSize"), "condition_type": ("conditionType",),
}
LOG_SEARCH_V1 = _keys(  # Log Analytics and Application Insights log alerts of the older API: flat PascalCase keys
    (), query="SearchQuery", result_count="ResultCount", operator="Operator", threshold="Threshold",
    alert_type="AlertType", window_start="SearchIntervalStartTimeUtc", window_end="SearchIntervalEndtimeUtc",
    dimensions="Dimensions")
ACTIVITY_LOG: Spec = {
    **_keys((), operation="operationName", status="status", level="level", caller="caller"),
    "scope": ("authorization", "scope"), "summary": [("properties", "description"), ("properties", "message")],
}
SERVICE_HEALTH = _keys(("properties",), tracking_id="trackingId", title="title", stage="stage",
                       incident_type="incidentType", service="service", region="region",
                       impact_start="impactStartTime")
RESOURCE_HEALTH = _keys(("properties",), title="title", current_health="currentHealthStatus",
                        previous_health="previousHealthStatus", type="type", cause="cause")
SMART_DETECTOR = _keys((), detector="SmartDetectorName", summary="DetectionSummary", detected_value="DetectedValue",
                       normal_value="NormalValue", occurred_at="FormattedOccurrenceTime")
PROMETHEUS: Spec = {
    **_keys((), expression="expression", value="expressionValue", interval="interval", rule_group="ruleGroup",
            labels="labels"),
    "for": ("for",), "summary": [("annotations", "summary"), ("annotations", "description")],
}
EXTRACTORS: dict[str, Spec] = {
    "Platform": CRITERIA, "Log Alerts V2": CRITERIA, "Simple Log Alert": CRITERIA,
    "Log Analytics": LOG_SEARCH_V1, "Application Insights": LOG_SEARCH_V1,
    "Activity Log - Administrative": ACTIVITY_LOG, "Activity Log - Policy": ACTIVITY_LOG,
    "Activity Log - Autoscale": ACTIVITY_LOG, "Activity Log - Security": ACTIVITY_LOG,
    "ServiceHealth": SERVICE_HEALTH, "Resource Health": RESOURCE_HEALTH, "ResourceHealth": RESOURCE_HEALTH,
    "SmartDetector": SMART_DETECTOR, "Prometheus": PROMETHEUS,
}
# An unknown (or mislabelled) monitoringService is read by the shape of its alertContext.
BY_SHAPE: tuple[tuple[str, Spec], ...] = (
    ("condition", CRITERIA), ("SearchQuery", LOG_SEARCH_V1), ("expression", PROMETHEUS),
    ("SmartDetectorName", SMART_DETECTOR), ("operationName", ACTIVITY_LOG),
)


def _readable(value: Any) -> str:
    """Dimensions [{name, value}] and label maps as "k=v, k=v"; anything else as _text."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v, 100)}" for k, v in value.items())
    if isinstance(value, list) and value and all(isinstance(i, dict) and "name" in i for i in value):
        return ", ".join(f"{_text(i['name'], 100)}={_text(i.get('value'), 100)}" for i in value)
    return _text(value)


def _extract(spec: Spec, ctx: Any) -> dict[str, str]:
    found = {}
    for key, paths in spec.items():
        values = [_dig(ctx, *path) for path in (paths if isinstance(paths, list) else [paths])]
        value = next((v for v in values if v not in (None, "", [], {})), None)
        if value is not None:
            found[key] = _text(_readable(value))
    return found


def _details(service: str | None, ctx: Any) -> dict[str, str]:
    specs = [EXTRACTORS[service]] if service in EXTRACTORS else []
    specs += [spec for key, spec in BY_SHAPE if isinstance(ctx, dict) and key in ctx]
    for spec in specs:
        try:
            found = _extract(spec, ctx)
        except Exception:  # best effort: an odd alertContext must never cost us the alert
            continue
        if found:
            return found
    return {}


def _portal_link(essentials: dict[str, Any], ctx: Any) -> str | None:
    first = _dig(ctx, "condition", "allOf", 0)
    for link in (_dig(first, "linkToFilteredSearchResultsUI"), _dig(first, "linkToSearchResultsUI"),
                 _dig(ctx, "LinkToFilteredSearchResultsUI"), _dig(ctx, "LinkToSearchResults"),
                 essentials.get("investigationLink")):
        if isinstance(link, str) and link.startswith("https://") and len(link) <= LINK_MAX:
            return link
    return None


def parse_alert(payload: object) -> Alert:
    """A decoded webhook body (json.loads output) as an Alert, or AlertRejected saying what to fix."""
    if not isinstance(payload, dict):
        raise AlertRejected("$", f"the body must be a JSON object, got {type(payload).__name__}")
    if payload.get("schemaId") != SCHEMA_ID:
        raise AlertRejected(
            "schemaId", f"must be {SCHEMA_ID!r}, got {_show(payload.get('schemaId'))}: set useCommonAlertSchema: true "
            "on this action group's webhook receiver")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise AlertRejected("data", f"must be an object holding essentials and alertContext, got {_show(data)}")
    essentials = data.get("essentials")
    if not isinstance(essentials, dict):
        raise AlertRejected("data.essentials", f"must be an object, got {_show(essentials)}")

    alert_id = _required(essentials, "alertId", ALERT_ID_MAX)
    rule = _required(essentials, "alertRule", RULE_MAX)
    severity = _required(essentials, "severity", 8, SEVERITIES)
    condition = _required(essentials, "monitorCondition", 16, CONDITIONS)
    fired_at = _time(essentials, "firedDateTime")
    resolved = condition == "Resolved" and essentials.get("resolvedDateTime") is not None

    service = _optional(essentials.get("monitoringService"), 100)
    ctx = data.get("alertContext")
    custom = data.get("customProperties")
    return Alert(
        alert_id=alert_id,
        rule=rule,
        azure_severity=severity,
        condition=condition,
        fired_at=fired_at,
        resolved_at=_time(essentials, "resolvedDateTime") if resolved else None,
        signal_type=_optional(essentials.get("signalType"), 100),
        monitoring_service=service,
        target_ids=_strings(essentials.get("alertTargetIDs")),
        configuration_items=_strings(essentials.get("configurationItems")),
        description=_optional(essentials.get("description"), DESCRIPTION_MAX, multiline=True),
        custom_properties={_text(k, 100): "" if v is None else _text(v) for k, v in list(custom.items())[:MAX_ITEMS]}
        if isinstance(custom, dict) else {},
        details=_details(service, ctx),
        portal_link=_portal_link(essentials, ctx),
    )
