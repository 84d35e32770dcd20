"""incidents.alerts.schema: documented common-schema payloads parse; unusable ones are rejected with a precise field;
nothing, however odd, escapes as anything but an Alert or an AlertRejected."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.alerts.schema import SCHEMA_ID, Alert, AlertRejected, parse_alert

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
NAMES = sorted(p.name for p in FIXTURES.glob("*.json"))
REQUIRED = ("alertId", "alertRule", "severity", "monitorCondition", "firedDateTime")
UTC = timezone.utc


@cache
def _raw(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    return json.loads(_raw(name))


def essentials(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["data"]["essentials"]


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# What each fixture must give: rule, condition, monitoring service, fired_at, a subset of details, a portal link?
EXPECTED: dict[str, dict[str, Any]] = {
    "metric-static.json": dict(
        rule="status-prod-vm-cpu-high", condition="Fired", service="Platform", severity="Sev3",
        fired=at(2019, 3, 22, 13, 58, 24, 371321),
        details={"metric": "Percentage CPU", "value": "31.1105", "operator": "GreaterThan", "threshold": "25",
                 "window": "PT5M", "dimensions": "ResourceId=b1b1b1b1-cccc-dddd-eeee-f2f2f2f2f2f2"},
        link=False),
    "metric-static-resolved.json": dict(
        rule="status-prod-vm-cpu-high", condition="Resolved", service="Platform", severity="Sev3",
        fired=at(2019, 3, 22, 13, 58, 24, 371321), details={"metric": "Percentage CPU", "value": "7.727"}, link=False),
    "metric-dynamic.json": dict(
        rule="test-dynamicMetricAlertRule", condition="Fired", service="Platform", severity="Sev4",
        fired=at(2025, 4, 15, 18, 15, 16, 104000),
        details={"metric": "Transactions", "value": "78.09", "threshold": "0.3", "sensitivity": "Low",
                 "condition_type": "DynamicThresholdCriteria", "window": "PT15M"},
        link=False),
    "availability-test.json": dict(
        rule="test-availabilityTest-test-applicationInsights", condition="Fired", service="Platform", severity="Sev4",
        fired=at(2025, 4, 15, 17, 42, 34, 824000),
        details={"metric": "FailedLocation", "web_test": "test-availabilityTest-test-applicationInsights",
                 "value": "5.0", "threshold": "2"},
        link=False),
    "custom-properties.json": dict(
        rule="status-prod-func-http5xx", condition="Fired", service="Platform", severity="Sev2",
        fired=at(2025, 4, 15, 18, 17, 12, 851000),
        details={"metric": "Http5xx", "value": "3.4", "operator": "GreaterThan", "threshold": "1", "window": "PT5M"},
        link=False),
    "null-alert-context.json": dict(
        rule="status-prod-vm-cpu-high", condition="Fired", service="Platform", severity="Sev3",
        fired=at(2019, 3, 22, 13, 58, 24, 371321), details={}, link=False),
    "log-alert-v2.json": dict(
        rule="test-logAlertRule-v2", condition="Fired", service="Log Alerts V2", severity="Sev4",
        fired=at(2025, 4, 15, 18, 8, 3, 626000),
        details={"query": "Heartbeat", "value": "3.0", "operator": "GreaterThan", "threshold": "0",
                 "dimensions": "Computer=test-computer", "window": "PT1H"},
        link=True),
    "simple-log-alert.json": dict(
        rule="status-prod-api-exceptions", condition="Fired", service="Simple Log Alert", severity="Sev3",
        fired=at(2020, 7, 9, 13, 54, 41, 531234),
        details={"query": "exceptions | where timestamp > ago(5m) | project timestamp, operation_Name, problemId, "
                          "type, outerMessage"},
        link=True),
    "log-analytics-v1.json": dict(
        rule="test-logAlertRule-v1-metricMeasurement", condition="Fired", service="Log Analytics", severity="Sev4",
        fired=at(2025, 4, 15, 17, 57, 27, 967000),
        details={"query": "Heartbeat | summarize AggregatedValue=count() by bin(TimeGenerated, 5m)",
                 "result_count": "2", "operator": "Greater Than", "threshold": "0",
                 "window_start": "2025-04-15T17:57:27.967Z"},
        link=True),
    "log-analytics-v1-number-of-results.json": dict(
        rule="test-logAlertRule-v1-numResults", condition="Fired", service="Log Analytics", severity="Sev4",
        fired=at(2025, 4, 15, 18, 4, 40, 852000),
        details={"query": "Heartbeat", "result_count": "1", "alert_type": "Number of results"}, link=True),
    "application-insights-v1.json": dict(
        rule="status-prod-appi-http500", condition="Fired", service="Application Insights", severity="Sev2",
        fired=at(2019, 3, 22, 13, 51, 33, 214531),
        details={"result_count": "2", "operator": "Less Than", "threshold": "10000.0",
                 "window_start": "3/22/2019 1:36:33 PM", "dimensions": "IP=1.1.1.1"},
        link=True),
    "activity-log-administrative.json": dict(
        rule="test-activityLogAlertRule", condition="Fired", service="Activity Log - Administrative", severity="Sev4",
        fired=at(2025, 4, 15, 11, 26, 21, 386000),
        details={"operation": "Microsoft.Compute/virtualMachines/restart/action", "status": "Succeeded",
                 "caller": "user@contoso.com"},
        link=False),
    "activity-log-policy.json": dict(
        rule="status-prod-policy-audit", condition="Fired", service="Activity Log - Policy", severity="Sev4",
        fired=at(2019, 8, 25, 11, 13, 1, 531234),
        details={"operation": "Microsoft.Authorization/policies/audit/action", "level": "Warning"}, link=False),
    "activity-log-autoscale.json": dict(
        rule="status-prod-autoscale", condition="Fired", service="Activity Log - Autoscale", severity="Sev4",
        fired=at(2019, 8, 21, 16, 18, 2, 731234),
        details={"operation": "Microsoft.Insights/AutoscaleSettings/Scaleup/Action"}, link=False),
    "activity-log-security.json": dict(
        rule="status-prod-defender", condition="Fired", service="Activity Log - Security", severity="Sev1",
        fired=at(2019, 8, 26, 9, 29, 12, 131234),
        details={"operation": "Microsoft.Security/locations/alerts/activate/action", "status": "Active"}, link=False),
    "service-health.json": dict(
        rule="status-prod-service-health", condition="Fired", service="ServiceHealth", severity="Sev4",
        fired=at(2019, 6, 24, 11, 31, 45, 631234),
        details={"tracking_id": "8T9K-P8Z", "title": "Azure Synapse Analytics Scheduled Maintenance Pending",
                 "stage": "Planned", "incident_type": "Maintenance", "region": "East US"},
        link=False),
    "service-health-test-action.json": dict(
        rule="test-ServiceHealthAlertRule", condition="Fired", service="ServiceHealth", severity="Sev4",
        fired=at(2025, 4, 15, 18, 20, 36, 256000),
        details={"tracking_id": "TEST-TTT", "title": "TestActionGroup-TestServiceHealthAlert", "stage": "Resolved"},
        link=False),
    "resource-health.json": dict(
        rule="test-ResourceHealthAlertRule", condition="Fired", service="Resource Health", severity="Sev4",
        fired=at(2025, 4, 15, 18, 19, 45, 304000),
        details={"title": "Rebooted by user", "current_health": "Unavailable", "previous_health": "Available",
                 "cause": "UserInitiated"},
        link=False),
    "smart-detector.json": dict(
        rule="test-SmartAlertRule", condition="Fired", service="SmartDetector", severity="Sev4",
        fired=at(2021, 10, 28, 19, 9, 9, 111508),
        details={"detector": "Dependency Performance Degradation Detector", "detected_value": "0.45 sec",
                 "normal_value": "0.27 sec (over the last 7 days)"},
        link=False),
    "prometheus.json": dict(
        rule="myRuleGroup/SqlDown", condition="Fired", service="Prometheus", severity="Sev1",
        fired=at(2022, 11, 8, 8, 1, 2, 392982),
        details={"expression": "sql_up > 0", "value": "0", "for": "PT2M", "summary": "alert on SQL availability",
                 "labels": "Environment=Prod, cluster=myCluster1"},
        link=False),
}


def test_every_fixture_has_expectations() -> None:
    assert sorted(EXPECTED) == NAMES, "add the new fixture to EXPECTED (or remove the stale entry)"


@pytest.mark.parametrize("name", NAMES)
def test_documented_payload_parses(name: str) -> None:
    payload, expected = load(name), EXPECTED[name]
    raw = essentials(payload)

    alert = parse_alert(payload)

    assert alert.alert_id == raw["alertId"]
    assert alert.rule == expected["rule"] == raw["alertRule"]
    assert alert.azure_severity == expected["severity"]
    assert alert.condition == expected["condition"]
    assert alert.monitoring_service == expected["service"]
    assert alert.fired_at == expected["fired"]
    assert alert.fired_at.utcoffset() == timedelta(0)
    assert alert.target_ids == tuple(raw["alertTargetIDs"])  # as given, case kept
    assert alert.configuration_items == tuple(raw.get("configurationItems") or ())
    assert alert.signal_type == raw["signalType"]
    assert alert.description == raw["description"]
    assert expected["details"].items() <= alert.details.items()
    assert all(isinstance(v, str) and len(v) <= 500 for v in alert.details.values())
    if name != "null-alert-context.json":
        assert alert.details, "every documented alertContext carries something worth showing"
    assert (alert.portal_link is not None) == expected["link"]
    if alert.portal_link:
        assert alert.portal_link.startswith("https://portal.azure.com")
    with pytest.raises(dataclasses.FrozenInstanceError):
        alert.rule = "changed"  # type: ignore[misc]


def test_portal_link_prefers_the_filtered_search_results() -> None:
    v2 = load("log-alert-v2.json")
    assert parse_alert(v2).portal_link == v2["data"]["alertContext"]["condition"]["allOf"][0][
        "linkToFilteredSearchResultsUI"]
    v1 = load("log-analytics-v1.json")
    assert parse_alert(v1).portal_link == v1["data"]["alertContext"]["LinkToFilteredSearchResultsUI"]
    del v1["data"]["alertContext"]["LinkToFilteredSearchResultsUI"]
    assert parse_alert(v1).portal_link == v1["data"]["alertContext"]["LinkToSearchResults"]


def test_investigation_link_and_only_https_links() -> None:
    payload = load("metric-static.json")
    essentials(payload)["investigationLink"] = "https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/x"
    assert parse_alert(payload).portal_link == essentials(payload)["investigationLink"]
    essentials(payload)["investigationLink"] = "javascript:alert(1)"
    assert parse_alert(payload).portal_link is None


def test_resolved_metric_alert_reuses_the_alert_id() -> None:
    fired, resolved = parse_alert(load("metric-static.json")), parse_alert(load("metric-static-resolved.json"))
    assert fired.alert_id == resolved.alert_id
    assert (fired.condition, resolved.condition) == ("Fired", "Resolved")
    assert fired.resolved_at is None
    assert resolved.resolved_at == at(2019, 3, 22, 14, 3, 16, 224631)


def test_resolved_without_resolved_time_is_still_accepted() -> None:
    payload = load("metric-static-resolved.json")
    del essentials(payload)["resolvedDateTime"]
    alert = parse_alert(payload)
    assert (alert.condition, alert.resolved_at) == ("Resolved", None)
    essentials(payload)["resolvedDateTime"] = None
    assert parse_alert(payload).resolved_at is None


@pytest.mark.parametrize("key", ["firedDateTime", "resolvedDateTime"])
@pytest.mark.parametrize("value", ["not a time", "0999-06-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
                                   "9999-12-31T23:59:59-01:00", "2100-01-01T00:00:00Z", "２０２６-11-26T21:43:00Z"])
def test_a_time_out_of_range_or_unreadable_is_refused_and_named(key, value) -> None:
    """A year before 1000 would be stored as a string of another width and poison every later read."""
    payload = load("metric-static-resolved.json")
    essentials(payload)[key] = value
    with pytest.raises(AlertRejected) as refused:
        parse_alert(payload)
    assert refused.value.field == f"data.essentials.{key}"


def test_control_characters_in_alert_text_are_written_out_so_no_log_line_can_be_forged() -> None:
    payload = load("metric-static-resolved.json")
    essentials(payload)["alertRule"] = "cpu\n2026-12-03 INFO forged line\x1b[31m"
    essentials(payload)["description"] = "first line\nsecond line\r\x07"
    alert = parse_alert(payload)
    assert alert.rule == "cpu\\n2026-12-03 INFO forged line\\x1b[31m"
    assert alert.description == "first line\nsecond line\\r\\x07"


def test_custom_properties_are_read() -> None:
    alert = parse_alert(load("custom-properties.json"))
    assert alert.custom_properties == {"incidentSeverity": "sev2", "ruleKey": "status-api-5xx"}


def test_custom_property_values_are_stringified_and_truncated() -> None:
    payload = load("custom-properties.json")
    payload["data"]["customProperties"] = {
        "count": 3, "ratio": 0.5, "page": True, "none": None, "nested": {"a": [1, "b"]}, "long": "x" * 5000}
    props = parse_alert(payload).custom_properties
    assert props["count"] == "3" and props["ratio"] == "0.5" and props["page"] == "true" and props["none"] == ""
    assert props["nested"] == '{"a":[1,"b"]}'
    assert len(props["long"]) == 500


@pytest.mark.parametrize("custom", [None, [], "text", 7], ids=repr)
def test_custom_properties_that_are_not_an_object_give_nothing(custom: Any) -> None:
    payload = load("custom-properties.json")
    payload["data"]["customProperties"] = custom
    assert parse_alert(payload).custom_properties == {}
    del payload["data"]["customProperties"]
    assert parse_alert(payload).custom_properties == {}


def test_null_alert_context_is_accepted() -> None:
    alert = parse_alert(load("null-alert-context.json"))
    assert (alert.details, alert.custom_properties, alert.portal_link) == ({}, {}, None)
    assert alert.target_ids and alert.rule == "status-prod-vm-cpu-high"


@pytest.mark.parametrize("context", [None, [], "text", 0, {}, {"condition": "odd"}, {"condition": {"allOf": "x"}},
                                     {"condition": {"allOf": [None, 3]}}, {"properties": [1, 2]}], ids=repr)
def test_odd_alert_context_is_accepted(context: Any) -> None:
    for name in ("metric-static.json", "log-analytics-v1.json", "service-health.json", "prometheus.json"):
        payload = load(name)
        payload["data"]["alertContext"] = context
        alert = parse_alert(payload)
        assert alert.alert_id == essentials(payload)["alertId"]
        assert all(isinstance(v, str) for v in alert.details.values())


def test_unknown_or_missing_monitoring_service_is_read_by_shape() -> None:
    for service in ("Some Future Service", None, 42):
        payload = load("metric-static.json")
        essentials(payload)["monitoringService"] = service
        alert = parse_alert(payload)
        assert alert.monitoring_service == (service if isinstance(service, str) else None)
        assert alert.details["metric"] == "Percentage CPU"
    # The payload-samples page labels its Log Analytics sample "monitoringService = Platform".
    payload = load("log-analytics-v1.json")
    essentials(payload)["monitoringService"] = "Platform"
    assert parse_alert(payload).details["result_count"] == "2"


def test_both_spellings_of_resource_health() -> None:
    payload = load("resource-health.json")
    essentials(payload)["monitoringService"] = "ResourceHealth"
    assert parse_alert(payload).details["current_health"] == "Unavailable"


def test_long_detail_values_are_truncated() -> None:
    payload = load("log-alert-v2.json")
    payload["data"]["alertContext"]["condition"]["allOf"][0]["searchQuery"] = "Heartbeat | " + "where 1 == 1 | " * 200
    assert len(parse_alert(payload).details["query"]) == 500


@pytest.mark.parametrize(("value", "expected"), [
    ("2021-10-27T06:23:53.123456Z", at(2021, 10, 27, 6, 23, 53, 123456)),
    ("2021-10-27T06:23:53.123456", at(2021, 10, 27, 6, 23, 53, 123456)),  # naive: UTC
    ("2019-03-22T13:58:24.3713213Z", at(2019, 3, 22, 13, 58, 24, 371321)),  # 7 digits, as Azure sends
    ("2019-03-22T15:58:24+02:00", at(2019, 3, 22, 13, 58, 24)),
    ("2025-04-15T17:55:39.04Z", at(2025, 4, 15, 17, 55, 39, 40000)),
])
def test_fired_time_is_utc(value: str, expected: datetime) -> None:
    payload = load("metric-static.json")
    essentials(payload)["firedDateTime"] = value
    fired_at = parse_alert(payload).fired_at
    assert fired_at == expected and fired_at.tzinfo is not None and fired_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("targets", [None, "one-id", {"a": 1}, 3])
def test_target_ids_that_are_not_a_list_give_an_empty_tuple(targets: Any) -> None:
    payload = load("metric-static.json")
    essentials(payload)["alertTargetIDs"] = targets
    assert parse_alert(payload).target_ids == ()


def test_target_ids_keep_their_case_and_drop_non_strings() -> None:
    payload = load("metric-static.json")
    essentials(payload)["alertTargetIDs"] = ["/subscriptions/X/resourceGroups/RG/providers/A/B/C", None, 3, ""]
    assert parse_alert(payload).target_ids == ("/subscriptions/X/resourceGroups/RG/providers/A/B/C",)


# ---- rejections ----


def rejected(payload: Any) -> AlertRejected:
    with pytest.raises(AlertRejected) as caught:
        parse_alert(payload)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(caught.value.field + ": ")
    return caught.value


@pytest.mark.parametrize("payload", [None, [], "text", 3, 1.5, True, [{"schemaId": SCHEMA_ID}]], ids=repr)
def test_rejects_a_body_that_is_not_an_object(payload: Any) -> None:
    assert rejected(payload).field == "$"


@pytest.mark.parametrize("schema_id", ["Microsoft.Insights/activityLogs", "AzureMonitorMetricAlert",
                                       "azuremonitorcommonalertschema", None, 1])
def test_rejects_another_schema_and_says_how_to_fix_it(schema_id: Any) -> None:
    payload = load("metric-static.json")
    payload["schemaId"] = schema_id
    error = rejected(payload)
    assert error.field == "schemaId"
    assert "useCommonAlertSchema: true" in str(error)
    del payload["schemaId"]  # e.g. the older log-alert webhook schema has none
    assert rejected(payload).field == "schemaId"


@pytest.mark.parametrize("data", [None, [], "x", 0])
def test_rejects_missing_or_odd_data(data: Any) -> None:
    payload = load("metric-static.json")
    payload["data"] = data
    assert rejected(payload).field == "data"
    del payload["data"]
    assert rejected(payload).field == "data"


@pytest.mark.parametrize("value", [None, [], "x", 0])
def test_rejects_missing_or_odd_essentials(value: Any) -> None:
    payload = load("metric-static.json")
    payload["data"]["essentials"] = value
    assert rejected(payload).field == "data.essentials"
    del payload["data"]["essentials"]
    assert rejected(payload).field == "data.essentials"


@pytest.mark.parametrize("key", REQUIRED)
def test_rejects_each_missing_required_essential(key: str) -> None:
    payload = load("metric-static.json")
    del essentials(payload)[key]
    error = rejected(payload)
    assert error.field == f"data.essentials.{key}"
    assert "is required" in str(error)
    essentials(payload)[key] = None
    assert "(got null)" in str(rejected(payload))


@pytest.mark.parametrize("key", REQUIRED)
@pytest.mark.parametrize("value", ["", "   ", 7, ["x"], {"a": "b"}, True], ids=repr)
def test_rejects_required_essentials_that_are_not_text(key: str, value: Any) -> None:
    payload = load("metric-static.json")
    essentials(payload)[key] = value
    assert rejected(payload).field == f"data.essentials.{key}"


@pytest.mark.parametrize(("key", "limit"), [("alertId", 1024), ("alertRule", 512)])
def test_rejects_overlong_ids_and_rules(key: str, limit: int) -> None:
    payload = load("metric-static.json")
    essentials(payload)[key] = "x" * limit
    parse_alert(payload)
    essentials(payload)[key] = "x" * (limit + 1)
    error = rejected(payload)
    assert error.field == f"data.essentials.{key}" and f"at most {limit}" in str(error)


@pytest.mark.parametrize("severity", ["Sev9", "sev3", "Sev-1", "Critical", "3"])
def test_rejects_bad_severity(severity: str) -> None:
    payload = load("metric-static.json")
    essentials(payload)["severity"] = severity
    error = rejected(payload)
    assert error.field == "data.essentials.severity"
    assert "Sev0, Sev1, Sev2, Sev3, Sev4" in str(error) and repr(severity) in str(error)


@pytest.mark.parametrize("condition", ["Active", "fired", "Closed", "New"])
def test_rejects_bad_monitor_condition(condition: str) -> None:
    payload = load("metric-static.json")
    essentials(payload)["monitorCondition"] = condition
    error = rejected(payload)
    assert error.field == "data.essentials.monitorCondition" and "Fired, Resolved" in str(error)


@pytest.mark.parametrize("fired", ["yesterday", "3/22/2019 1:36:31 PM", "2019-13-01T00:00:00Z",
                                   "2019-03-22T25:00:00Z", "0001-01-01T00:00:00+01:00", "x" * 65])
def test_rejects_bad_fired_time(fired: str) -> None:
    payload = load("metric-static.json")
    essentials(payload)["firedDateTime"] = fired
    assert rejected(payload).field == "data.essentials.firedDateTime"


def test_budget_test_action_is_rejected_for_its_null_rule() -> None:
    """Documented ("Sample test action `Budget alert`") but alertRule and severity are null: not an alert we take."""
    payload = json.loads((FIXTURES / "rejected" / "cost-budget-test-action.json").read_text(encoding="utf-8"))
    error = rejected(payload)
    assert error.field == "data.essentials.alertRule" and "(got null)" in str(error)


# ---- properties ----

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=16,
)
plausible = st.sampled_from([SCHEMA_ID, "Sev0", "Sev4", "Sev9", "Fired", "Resolved", "Platform", "Prometheus",
                             "2021-10-27T06:23:53.123456Z", "2021-10-27T06:23:53", "", " ", "x"])
essentials_like = st.dictionaries(
    st.sampled_from([*REQUIRED, "resolvedDateTime", "monitoringService", "alertTargetIDs", "configurationItems",
                     "description", "signalType", "investigationLink"]),
    plausible | json_values)
near_alerts = st.fixed_dictionaries({
    "schemaId": st.just(SCHEMA_ID) | json_values,
    "data": json_values | st.fixed_dictionaries({
        "essentials": essentials_like | json_values,
        "alertContext": json_values,
        "customProperties": json_values,
    }),
})


def outcome(payload: Any) -> Alert | AlertRejected:
    try:
        alert = parse_alert(payload)
    except AlertRejected as error:
        assert error.field and str(error)
        return error
    assert isinstance(alert, Alert)
    assert alert.fired_at.utcoffset() == timedelta(0)
    assert all(isinstance(v, str) for v in (*alert.details.values(), *alert.custom_properties.values()))
    return alert


@settings(max_examples=300, deadline=None)
@given(json_values | near_alerts)
def test_any_json_gives_an_alert_or_a_rejection(payload: Any) -> None:
    outcome(payload)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found += paths(child, (*prefix, key))
    return found


def mutate(payload: Any, path: tuple[Any, ...], delete: bool, value: Any) -> Any:
    if not path:
        return value
    parent = payload
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return payload


def mutated(data: st.DataObject, payload: Any, where: Any) -> Any:
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        candidates = [p for p in paths(payload) if where(p)]
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates), label="path")
        payload = mutate(payload, path, data.draw(st.booleans(), label="delete") and bool(path),
                         data.draw(json_values, label="value"))
    return payload


MUTATION_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@MUTATION_SETTINGS
@given(st.sampled_from(NAMES), st.data())
def test_fixtures_mutated_anywhere_give_an_alert_or_a_rejection(name: str, data: st.DataObject) -> None:
    outcome(mutated(data, load(name), lambda path: True))


def _context_or_custom(path: tuple[Any, ...]) -> bool:
    return path[:2] in (("data", "alertContext"), ("data", "customProperties"))


def _optional_essential(path: tuple[Any, ...]) -> bool:
    # resolvedDateTime may be missing, but when given it must be a time in range (it becomes the resolution time)
    return len(path) > 2 and path[:2] == ("data", "essentials") and path[2] not in (*REQUIRED, "resolvedDateTime")


@MUTATION_SETTINGS
@given(st.sampled_from(NAMES), st.data())
def test_mutating_only_context_custom_or_optional_essentials_keeps_the_alert(name: str, data: st.DataObject) -> None:
    original = parse_alert(load(name))
    where = data.draw(st.sampled_from([_context_or_custom, _optional_essential]), label="where")
    result = outcome(mutated(data, copy.deepcopy(load(name)), where))
    assert isinstance(result, Alert), f"rejected: {result}"
    assert (result.alert_id, result.rule, result.azure_severity, result.condition, result.fired_at) == (
        original.alert_id, original.rule, original.azure_severity, original.condition, original.fired_at)
