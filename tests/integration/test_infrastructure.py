"""infrastructure/ against the policy and the documented Azure schemas, without Azure and without the Bicep compiler.

Every .bicep file is parsed with pycep-parser (syntax only: the compiler cannot be had here). The alert rules are
compared with incidents/domain/policy.toml by `rule_mismatches`, so a threshold changed in one place only fails a test.
Resource types, api versions and property names are the ones documented in shared/FIELD-NOTES.md ("Bicep / ARM")
and the published ARM templates reference.
"""

import ast
import copy
import functools
import re
import shutil
import subprocess
import typing
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pycep import BicepParser
from pydantic import SecretStr

from incidents.domain.policy import Policy, load_policy
from incidents.settings import Settings
from incidents.stores.cosmos import INDEXING_POLICY

ROOT = Path(__file__).parents[2]
INFRA = ROOT / "infrastructure"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
SCRIPTS = sorted(INFRA.glob("*.sh"))
FAKE_AZ = ROOT / "tests/fixtures/infrastructure/fake-az"

API_VERSIONS = {
    # shared/FIELD-NOTES.md, "Bicep / ARM"
    "Microsoft.Insights/actionGroups": "2023-01-01",
    "Microsoft.Insights/metricAlerts": "2018-03-01",
    "Microsoft.Insights/scheduledQueryRules": "2023-12-01",
    # main.bicep: current GA versions of the ARM templates reference
    "Microsoft.Insights/components": "2020-02-02",
    "Microsoft.OperationalInsights/workspaces": "2023-09-01",
    "Microsoft.Web/serverfarms": "2024-04-01",
    "Microsoft.Web/sites": "2024-04-01",
    "Microsoft.Web/sites/config": "2024-04-01",
    "Microsoft.Storage/storageAccounts": "2023-05-01",
    "Microsoft.Storage/storageAccounts/blobServices": "2023-05-01",
    "Microsoft.Storage/storageAccounts/blobServices/containers": "2023-05-01",
    "Microsoft.DocumentDB/databaseAccounts": "2024-11-15",
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases": "2024-11-15",
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers": "2024-11-15",
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments": "2024-11-15",
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
    "Microsoft.KeyVault/vaults": "2023-07-01",
    "Microsoft.KeyVault/vaults/secrets": "2023-07-01",
    # modules/communication.bicep: a GA version whose published types (Azure/bicep-types-az, generated/communication/
    # microsoft.communication/2023-04-01/types.md) have every property used, hostName and mailFromSenderDomain included
    "Microsoft.Communication/communicationServices": "2023-04-01",
    "Microsoft.Communication/emailServices": "2023-04-01",
    "Microsoft.Communication/emailServices/domains": "2023-04-01",
}
ACTION_GROUP_PROPERTIES = {"groupShortName", "enabled", "emailReceivers", "smsReceivers", "webhookReceivers",
                           "itsmReceivers", "azureAppPushReceivers", "automationRunbookReceivers", "voiceReceivers",
                           "logicAppReceivers", "azureFunctionReceivers", "armRoleReceivers", "eventHubReceivers"}
EMAIL_RECEIVER = {"name", "emailAddress", "useCommonAlertSchema"}
WEBHOOK_RECEIVER = {"name", "serviceUri", "useCommonAlertSchema", "useAadAuth", "objectId", "identifierUri", "tenantId"}
LOG_ALERT_PROPERTIES = {"actions", "autoMitigate", "checkWorkspaceAlertsStorageConfigured", "criteria", "description",
                        "displayName", "enabled", "evaluationFrequency", "muteActionsDuration",
                        "overrideQueryTimeRange", "scopes", "severity", "skipQueryValidation", "targetResourceTypes",
                        "windowSize"}
LOG_CONDITION = {"query", "timeAggregation", "metricMeasureColumn", "operator", "threshold", "failingPeriods",
                 "dimensions", "resourceIdColumn", "metricName"}
METRIC_ALERT_PROPERTIES = {"actions", "autoMitigate", "criteria", "description", "enabled", "evaluationFrequency",
                           "scopes", "severity", "targetResourceRegion", "targetResourceType", "windowSize"}
METRIC_CRITERIA_TYPES = {"Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                         "Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria"}
# Built-in role definitions have the same id in every tenant; any other GUID would be tenant-specific.
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles (storage, monitor, security pages)
BUILT_IN_ROLES = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "00000000-0000-0000-0000-000000000002": "Cosmos DB Built-in Data Contributor",
    "09976791-48a7-449e-bb21-39d1a415f350": "Communication and Email Service Owner",
}
GLOBAL_IDS = {**BUILT_IN_ROLES, "461e8683-5575-4561-ac7f-899cc907d62a": "AzNS AAD Webhook (first-party app id)"}
HOST_SETTINGS = {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential",
                 "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"}


@functools.cache
def bicep(relative: str) -> dict:
    return BicepParser().parse(file_path=INFRA / relative)


def resource(relative: str, symbol: str) -> dict:
    return bicep(relative)["resources"][symbol]


def object_keys(value) -> set[str]:
    """Keys of every object literal in an expression (through union(), conditionals and the like)."""
    if isinstance(value, dict):
        node = value.get("function") or value.get("operator")
        if isinstance(node, dict):
            inner = node.get("parameters") or node.get("operands") or {}
            return set().union(*(object_keys(v) for v in inner.values()))
        return set(value)
    return set()


def rule_mismatches(policy: Policy, monitoring: dict) -> list[str]:
    """What monitoring.bicep says differently from policy.toml about the alert rules; empty when they agree."""
    declared = {m["config"]["params"]["customProperties"]["ruleKey"]: m for m in monitoring["modules"].values()}
    problems = []
    for rule in policy.rules:
        module = declared.pop(rule.key, None)
        if module is None:
            problems.append(f"{rule.key}: no alert rule in monitoring.bicep")
            continue
        params = module["config"]["params"]
        expected = {
            "module": f"modules/{rule.kind}-alert.bicep",
            "name": rule.alert_rule,
            "operator": rule.operator,
            "threshold": rule.threshold,
            "windowSize": rule.window,
            "evaluationFrequency": rule.frequency,
            "severity": policy.severities[rule.severity].azure_severity,
            "incidentSeverity": rule.severity.value,
            "runbook": f"${{runbookBaseUrl}}/{rule.runbook}",
        }
        actual = {**params, **params["customProperties"], "module": module["detail"]["path"]}
        problems += [f"{rule.key}: {field} is {actual.get(field)!r} in monitoring.bicep, {want!r} in policy.toml"
                     for field, want in expected.items() if actual.get(field) != want]
        if not str(params.get("alertDescription", "")).startswith(rule.signal):
            problems.append(f"{rule.key}: the description should start with the policy's signal: {rule.signal!r}")
    problems += [f"{key}: in monitoring.bicep but not in policy.toml" for key in declared]
    return problems


# Parsing and shapes


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses_and_its_modules_exist(path):
    parsed = BicepParser().parse(file_path=path)
    for module in parsed.get("modules", {}).values():
        assert (path.parent / module["detail"]["path"]).is_file(), module["detail"]["path"]


def test_the_expected_bicep_files_are_there():
    names = {str(p.relative_to(INFRA)) for p in BICEP_FILES}
    assert {"main.bicep", "monitoring.bicep", "modules/log-alert.bicep", "modules/metric-alert.bicep"} <= names


def test_resource_types_and_api_versions_are_the_documented_ones():
    used = {(r["type"], r["api_version"]) for p in BICEP_FILES for r in bicep(str(p.relative_to(INFRA)))
            .get("resources", {}).values()}
    assert {(t, v) for t, v in used if API_VERSIONS.get(t) != v} == set()
    assert {"Microsoft.Insights/actionGroups", "Microsoft.Insights/metricAlerts",
            "Microsoft.Insights/scheduledQueryRules"} <= {t for t, _ in used}


def test_the_action_group_uses_the_common_schema_and_a_secret_webhook():
    group = resource("monitoring.bicep", "actionGroup")
    params = bicep("monitoring.bicep")["parameters"]
    config, props = group["config"], group["config"]["properties"]
    assert (group["type"], config["name"], config["location"]) == (
        "Microsoft.Insights/actionGroups", "ag-petanque-primary", "Global")
    assert set(props) <= ACTION_GROUP_PROPERTIES and "secureWebhookReceivers" not in props
    short = props["groupShortName"]
    assert 1 <= len(params[short]["default"] if short in params else short) <= 12

    email = props["emailReceivers"]["config"]  # a loop over the emailReceivers parameter
    assert set(email) == EMAIL_RECEIVER and email["useCommonAlertSchema"] is True
    [webhook] = props["webhookReceivers"]
    assert set(webhook) == WEBHOOK_RECEIVER and webhook["useCommonAlertSchema"] is True
    uri = params[webhook["serviceUri"]]
    assert {"type": "secure"} in uri["decorators"] and uri["default"] is None  # the function key never in a file
    for name in ("useAadAuth", "webhookObjectId", "webhookIdentifierUri", "webhookTenantId"):
        assert name in params, name


def test_the_log_alert_module_has_the_documented_shape():
    rule = resource("modules/log-alert.bicep", "rule")
    config, props = rule["config"], rule["config"]["properties"]
    assert rule["type"] == "Microsoft.Insights/scheduledQueryRules" and config["kind"] == "LogAlert"
    assert set(props) <= LOG_ALERT_PROPERTIES
    [condition] = props["criteria"]["allOf"]
    assert set(condition) <= LOG_CONDITION
    assert set(condition["failingPeriods"]) == {"numberOfEvaluationPeriods", "minFailingPeriodsToAlert"}
    assert props["actions"] == {"actionGroups": ["actionGroupId"], "customProperties": "customProperties"}  # OBJECT
    wired = {"severity": props["severity"], "windowSize": props["windowSize"],
             "evaluationFrequency": props["evaluationFrequency"], "threshold": condition["threshold"],
             "operator": condition["operator"]}
    assert wired == {name: name for name in wired}  # straight from the parameters the tests compare
    assert bicep("modules/log-alert.bicep")["parameters"]["threshold"]["type"] == "int"  # published type is int


def test_the_metric_alert_module_has_the_documented_shape():
    rule = resource("modules/metric-alert.bicep", "rule")
    config, props = rule["config"], rule["config"]["properties"]
    assert rule["type"] == "Microsoft.Insights/metricAlerts" and config["location"] == "global"
    assert set(props) <= METRIC_ALERT_PROPERTIES
    assert props["criteria"]["'odata.type'"] in METRIC_CRITERIA_TYPES
    assert props["actions"] == [{"actionGroupId": "actionGroupId", "webHookProperties": "customProperties"}]  # ARRAY
    [condition] = props["criteria"]["allOf"]
    assert (condition["threshold"], condition["operator"]) == ("threshold", "operator")
    assert (props["severity"], props["windowSize"], props["evaluationFrequency"]) == (
        "severity", "windowSize", "evaluationFrequency")


# The rules against the policy


def test_the_six_rules_match_the_policy():
    policy = load_policy()
    assert len(policy.rules) == 6
    assert rule_mismatches(policy, bicep("monitoring.bicep")) == []


def test_a_threshold_changed_in_the_policy_only_is_reported():
    policy = load_policy()
    drifted = policy.model_copy(update={"rules": [
        r.model_copy(update={"threshold": 2}) if r.key == "http-5xx-rate" else r for r in policy.rules]})
    assert rule_mismatches(drifted, bicep("monitoring.bicep")) == [
        "http-5xx-rate: threshold is 1 in monitoring.bicep, 2 in policy.toml"]


def test_a_window_changed_in_the_bicep_only_is_reported():
    monitoring = copy.deepcopy(bicep("monitoring.bicep"))
    monitoring["modules"]["apiLatency"]["config"]["params"]["windowSize"] = "PT15M"
    assert rule_mismatches(load_policy(), monitoring) == [
        "api-latency-p95: windowSize is 'PT15M' in monitoring.bicep, 'PT10M' in policy.toml"]


def test_a_tier_whose_azure_severity_changes_reports_each_of_its_rules():
    policy = load_policy()
    sev2 = policy.severities["sev2"].model_copy(update={"azure_severity": 3})
    drifted = policy.model_copy(update={"severities": {**policy.severities, "sev2": sev2}})
    problems = rule_mismatches(drifted, bicep("monitoring.bicep"))
    assert sorted(p.split(":")[0] for p in problems) == sorted(r.key for r in policy.rules if r.severity == "sev2")


def test_a_rule_missing_on_either_side_is_reported():
    monitoring = copy.deepcopy(bicep("monitoring.bicep"))
    del monitoring["modules"]["cosmosThrottling"]
    assert rule_mismatches(load_policy(), monitoring) == ["cosmos-ru-throttling: no alert rule in monitoring.bicep"]
    policy = load_policy()
    fewer = policy.model_copy(update={"rules": [r for r in policy.rules if r.key != "stripe-webhook-error-rate"]})
    assert rule_mismatches(fewer, bicep("monitoring.bicep")) == [
        "stripe-webhook-error-rate: in monitoring.bicep but not in policy.toml"]


LOG_TABLES = {
    "container-app-restarts": "union isfuzzy=true ContainerAppSystemLogs, ContainerAppSystemLogs_CL",
    "http-5xx-rate": "requests",
    "api-latency-p95": "requests",
    "stripe-webhook-error-rate": "requests",
    "cosmos-ru-throttling": ("CDBDataPlaneRequests", "AzureDiagnostics"),
    "acs-email-bounce-rate": "ACSEmailStatusUpdateOperational",
}


def test_each_log_rule_query_exists_reads_its_table_and_yields_its_measure_column():
    for module in bicep("monitoring.bicep")["modules"].values():
        params = module["config"]["params"]
        if module["detail"]["path"] != "modules/log-alert.bicep":
            continue
        key, query = params["customProperties"]["ruleKey"], params["query"]["function"]
        replaced = set()
        while query["type"] == "replace":  # replace(loadTextContent(...), '{placeholder}', parameter)
            replaced.add(query["parameters"]["old_string"])
            monitoring = bicep("monitoring.bicep")
            assert query["parameters"]["new_string"] in monitoring["parameters"] | monitoring["variables"]
            query = query["parameters"]["original_string"]["function"]
        assert query["type"] == "load_text_content"
        kql = (INFRA / query["parameters"]["file_path"]).read_text()
        code = "\n".join(line for line in kql.splitlines() if not line.lstrip().startswith("//"))
        assert code.lstrip().startswith(LOG_TABLES[key]), key
        assert re.search(rf"\b{params['measureColumn']}\s*=", code), key
        assert set(re.findall(r"\{\w+\}", code)) == replaced, key


def test_the_restart_rule_counts_new_restarts_in_the_system_logs_not_the_restart_count_metric():
    """RestartCount is each replica's running total, not new restarts (https://learn.microsoft.com/azure/container-apps/
    metrics, note under the table; microsoft/azure-container-apps#467): summed over an hour, one old restart on a
    long-lived replica crosses the threshold every hour. The rule counts restart events in the environment's system
    logs instead: ContainerTerminated and ContainerBackOff (https://azureossd.github.io/2024/01/19/
    Container-Apps-Backoff-restarts-and-container-exits/index.html)."""
    module = bicep("monitoring.bicep")["modules"]["containerRestarts"]
    params = module["config"]["params"]
    assert module["detail"]["path"] == "modules/log-alert.bicep"
    assert params["scope"] == "containerAppsWorkspaceId"  # the system logs are the environment's, in its workspace
    kql = (INFRA / "queries/container-app-restarts.kql").read_text()
    code = "\n".join(line for line in kql.splitlines() if not line.lstrip().startswith("//"))
    assert '"ContainerTerminated", "ContainerBackOff"' in code and "summarize Restarts = count()" in code
    assert all(m["config"]["params"].get("metricName") != "RestartCount"
               for m in bicep("monitoring.bicep")["modules"].values())


# Nothing tenant-specific


def test_no_guid_subscription_or_address_is_hard_coded():
    for path in sorted(p for p in INFRA.rglob("*") if p.is_file()):
        text = path.read_text()
        guids = set(re.findall(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", text))
        assert guids <= set(GLOBAL_IDS), f"{path.name}: {guids - set(GLOBAL_IDS)}"
        if path.suffix in (".bicep", ".bicepparam", ".kql"):
            assert "/subscriptions/" not in text, path.name
            assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), f"{path.name}: an email address"
            assert ".azurewebsites.net" not in text and ".documents.azure.com" not in text, path.name


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("template", ["main", "monitoring"])
def test_each_parameter_file_sets_every_required_parameter_and_nothing_else(template, env):
    text = (INFRA / f"{template}.{env}.bicepparam").read_text()
    assert re.search(rf"^using '{template}.bicep'$", text, flags=re.M)
    declared = bicep(f"{template}.bicep")["parameters"]
    assigned = set(re.findall(r"^param (\w+) =", text, flags=re.M))
    assert assigned <= set(declared)
    required = {name for name, p in declared.items() if p["default"] is None}
    assert required <= assigned
    assert f"param environmentName = '{env}'" in text


# main.bicep: the app's resources


def test_the_cosmos_container_has_the_partition_key_and_indexes_the_store_needs():
    container = resource("modules/cosmos.bicep", "container")["config"]["properties"]["resource"]
    assert container["partitionKey"]["paths"] == ["/id"]
    policy = container["indexingPolicy"]
    assert policy["compositeIndexes"] == INDEXING_POLICY["compositeIndexes"]
    assert policy["excludedPaths"] == INDEXING_POLICY["excludedPaths"]
    assert policy["includedPaths"] == INDEXING_POLICY["includedPaths"]
    account = resource("modules/cosmos.bicep", "account")["config"]["properties"]
    assert account["capabilities"] == [{"name": "EnableServerless"}] and account["disableLocalAuth"] is True


def test_the_oncall_container_is_there_with_the_partition_key_the_roster_store_reads_by():
    cosmos = bicep("modules/cosmos.bicep")
    oncall = cosmos["resources"]["oncallContainer"]["config"]
    assert oncall["parent"] == "database" and oncall["name"] == "oncallContainerName"
    assert oncall["properties"]["resource"]["partitionKey"]["paths"] == ["/id"]
    assert cosmos["parameters"]["oncallContainerName"]["default"] == Settings.model_fields[
        "cosmos_oncall_container"].default
    main = bicep("main.bicep")
    assert main["modules"]["cosmos"]["config"]["params"]["oncallContainerName"] == "cosmosOncallContainer"
    assert main["variables"]["appSettings"]["value"]["COSMOS_ONCALL_CONTAINER"] == "cosmosOncallContainer"
    assert main["variables"]["cosmosOncallContainer"]["value"] == "oncall"


def test_the_maintenance_container_is_there_with_the_partition_key_the_maintenance_store_reads_by():
    cosmos = bicep("modules/cosmos.bicep")
    container = cosmos["resources"]["maintenanceContainer"]["config"]
    assert container["parent"] == "database" and container["name"] == "maintenanceContainerName"
    assert container["properties"]["resource"]["partitionKey"]["paths"] == ["/id"]
    assert cosmos["parameters"]["maintenanceContainerName"]["default"] == Settings.model_fields[
        "cosmos_maintenance_container"].default
    main = bicep("main.bicep")
    assert main["modules"]["cosmos"]["config"]["params"]["maintenanceContainerName"] == "cosmosMaintenanceContainer"
    assert main["variables"]["appSettings"]["value"]["COSMOS_MAINTENANCE_CONTAINER"] == "cosmosMaintenanceContainer"
    assert main["variables"]["cosmosMaintenanceContainer"]["value"] == "maintenance"


def test_the_identity_gets_data_contributor_on_the_one_database_only():
    cosmos = bicep("modules/cosmos.bicep")
    assignment = cosmos["resources"]["dataContributor"]["config"]["properties"]
    assert cosmos["variables"]["dataContributorRoleId"]["value"] == "00000000-0000-0000-0000-000000000002"
    assert assignment["roleDefinitionId"].endswith("/sqlRoleDefinitions/${dataContributorRoleId}")
    assert assignment["scope"].endswith("/dbs/${database.name}")


def test_the_identity_may_write_the_status_site_container_only():
    site = bicep("modules/status-site.bicep")
    web = site["resources"]["web"]["config"]
    writer = site["resources"]["webWriter"]["config"]
    assert web["name"] == "$web" and writer["scope"] == "web"
    assert BUILT_IN_ROLES[site["variables"]["blobDataContributorRoleId"]["value"]] == "Storage Blob Data Contributor"
    assert site["resources"]["account"]["config"]["properties"]["allowSharedKeyAccess"] is False


def test_the_function_app_is_python_3_11_on_linux_flex_consumption_with_its_own_identity():
    app = bicep("modules/function-app.bicep")["resources"]
    plan, site = app["plan"]["config"], app["site"]["config"]
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"} and plan["properties"]["reserved"] is True
    assert site["kind"] == "functionapp,linux" and site["identity"] == {"type": "SystemAssigned"}
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"] == {"type": "SystemAssignedIdentity"}


def test_app_settings_are_the_apps_own_and_carry_no_keys():
    main = bicep("main.bicep")
    names = (object_keys(main["variables"]["appSettings"]["value"])
             | object_keys(main["variables"]["optionalSettings"]["value"])
             | object_keys(main["variables"]["secretSettings"]["value"])
             | object_keys(bicep("modules/function-app.bicep")["outputs"]["hostSettings"]["value"]))
    known = {name.upper() for name in Settings.model_fields} | HOST_SETTINGS
    assert names - known == set()
    assert {"INCIDENTS_STORE", "COSMOS_ENDPOINT", "AUTH_TENANT_ID", "AUTH_AUDIENCE"} <= names
    assert not names & {"COSMOS_KEY", "SITE_STORAGE_CONNECTION_STRING", "INCIDENTS_DEV_SIGNING_KEY",
                        "INCIDENTS_FUNCTION_KEY", "FUNCTIONS_WORKER_RUNTIME"}
    settings = main["variables"]["appSettings"]["value"]
    assert (settings["INCIDENTS_STORE"], settings["SITE_SINK"], settings["SITE_CONTAINER"]) == (
        "cosmos", "blob", "$web")
    assert main["resources"]["siteSettings"]["config"]["name"] == "appsettings"
    for path in BICEP_FILES:
        assert not re.search(r"listKeys|listConnectionStrings|primaryMasterKey", path.read_text()), path.name


def timer_schedules() -> dict[str, str]:
    """The `schedule` of every timer trigger under incidents/, read from the source, so that a blueprint not registered
    yet counts too: "path::function" -> the schedule as written, a module-level constant resolved."""
    found = {}
    for path in sorted((ROOT / "incidents").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        constants = {target.id: node.value.value for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                     and isinstance(node.value, ast.Constant)
                     for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                     if isinstance(target, ast.Name)}
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for call in function.decorator_list:
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr in ("timer_trigger", "schedule")):
                    continue
                given = next((k.value for k in call.keywords if k.arg == "schedule"),
                             call.args[0] if call.args else None)
                value = given.value if isinstance(given, ast.Constant) else \
                    constants.get(given.id) if isinstance(given, ast.Name) else None
                where = f"{path.relative_to(ROOT)}::{function.name}"
                assert isinstance(value, str), f"{where}: a schedule this test cannot read; use a literal or a constant"
                found[where] = value
    return found


def test_every_timer_schedule_named_after_an_app_setting_is_set_on_azure():
    """A timer's schedule may be an app setting's name wrapped in % signs, which the host resolves from the app settings
    (https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer, `schedule`: "You can put the schedule
    expression in an app setting and set this property to the app setting name wrapped in % signs"). The deployment
    replaces every app setting, so each such name is in main.bicep's appSettings, always, with a schedule the app
    accepts (incidents/settings.py checks it too)."""
    from function_app import app
    from incidents.localhost import app_functions

    schedules = timer_schedules()
    named = {name for schedule in schedules.values() for name in re.findall(r"%(\w+)%", schedule)}
    assert {"SITE_PUBLISH_SCHEDULE", "ONCALL_SWEEP_SCHEDULE", "ONCALL_DAILY_SCHEDULE"} <= named
    registered = {f.get_trigger().get_dict_repr()["schedule"] for f in app_functions(app)
                  if f.get_trigger().get_binding_name() == "timerTrigger"}
    assert registered <= set(schedules.values()), "a timer the source reader above does not see"
    settings = bicep("main.bicep")["variables"]["appSettings"]["value"]
    for name in sorted(named):
        assert name.lower() in Settings.model_fields, f"{name}: add it to incidents/settings.py, which checks it"
        assert isinstance(settings.get(name), str), f"{name}: set it in main.bicep appSettings, or the timer never runs"
        checked = Settings(auth_tenant_id="tenant", auth_audience="audience", **{name.lower(): settings[name]})
        assert getattr(checked, name.lower()) == settings[name]


def test_links_in_pages_and_slack_start_with_the_function_apps_own_address():
    main = bicep("main.bicep")
    assert main["variables"]["appSettings"]["value"]["INCIDENTS_PUBLIC_BASE_URL"] == \
        "https://${functionApp.outputs.defaultHostName}"
    assert dotted(bicep("modules/function-app.bicep")["outputs"]["defaultHostName"]["value"]) == \
        "site.properties.defaultHostName"


# The deploy scripts


@pytest.fixture
def fake_az(tmp_path):
    """A PATH whose first `az` is the fake one; returns (environment, log file)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(FAKE_AZ, bin_dir / "az")
    (bin_dir / "az").chmod(0o755)
    log = tmp_path / "az.log"
    log.touch()
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_AZ_LOG": str(log), "HOME": str(tmp_path)}, log


def run_script(name, *args, env, stdin=subprocess.DEVNULL):
    return subprocess.run(["bash", str(INFRA / name), *args], env=env, stdin=stdin, capture_output=True, text=True,
                          timeout=30)


DEPLOY_ENV = {"ONCALL_EMAIL": "oncall@example.org", "RUNBOOK_BASE_URL": "https://example.org/repo/blob/main",
              "ALERT_WEBHOOK_URI": "https://example.org/api/v1/alerts/azure-monitor?code=k",
              "PLATFORM_APP_INSIGHTS_ID": "ai", "PLATFORM_COSMOS_ACCOUNT_ID": "cosmos", "PLATFORM_ACS_ID": "acs",
              "PLATFORM_CONTAINER_APP_ID": "ca", "PLATFORM_CONTAINER_APPS_WORKSPACE_ID": "law",
              "AUTH_AUDIENCE": "audience", "ALERTS_AAD_AUDIENCE": "api://incidents",
              "WEBHOOK_AAD_OBJECT_ID": "object", "WEBHOOK_AAD_IDENTIFIER_URI": "api://incidents",
              "ONCALL_LINK_SECRET": "kept-from-one-deployment-to-the-next-0123456789"}


def test_the_scripts_exist_and_pass_bash_n():
    assert {p.name for p in SCRIPTS} >= {"deploy-main.sh", "deploy-monitoring.sh"}
    for script in SCRIPTS:
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, script.name
        assert script.read_text().startswith("#!/usr/bin/env bash") or script.name == "deploy-lib.sh"
        assert "set -euo pipefail" in script.read_text() or script.name == "deploy-lib.sh"


def test_the_scripts_are_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: apt-get install shellcheck (make test installs it)"
    result = subprocess.run([shellcheck, "-x", *(p.name for p in SCRIPTS)], cwd=INFRA, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(("script", "template"), [("deploy-monitoring.sh", "monitoring"), ("deploy-main.sh", "main")])
def test_dry_run_prints_what_if_then_create_and_never_calls_az(script, template, fake_az):
    env, log = fake_az
    result = run_script(script, "--env", "prod", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    what_if = next(i for i, line in enumerate(lines) if line.startswith("az deployment group what-if "))
    create = next(i for i, line in enumerate(lines) if line.startswith("az deployment group create "))
    assert what_if < create
    for line in (lines[what_if], lines[create]):
        assert "--resource-group rg-petanque-incidents-prod" in line
        assert f"{template}.prod.bicepparam" in line and f"{template}.bicep" in line
    assert log.read_text() == ""  # printed, not run
    assert "not set" in result.stderr  # and it says which environment variables a real run needs


def test_dry_run_works_where_az_is_not_installed(tmp_path):
    if shutil.which("az", path="/usr/bin:/bin"):
        pytest.skip("az is installed in /usr/bin here")
    result = run_script("deploy-monitoring.sh", "-e", "dev", "--dry-run", "-g", "rg-x", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "az deployment group what-if --resource-group rg-x" in result.stdout


@pytest.mark.parametrize("script", ["deploy-monitoring.sh", "deploy-main.sh"])
def test_help_and_bad_arguments(script, fake_az):
    env, _ = fake_az
    result = run_script(script, "--help", env=env)
    assert result.returncode == 0 and result.stdout.startswith(f"Usage: {script}")
    assert "--dry-run" in result.stdout and "what-if" in result.stdout
    assert run_script(script, env=env).returncode != 0  # --env is required
    bad = run_script(script, "--env", "dev", "--frobnicate", "--dry-run", env=env)
    assert bad.returncode != 0 and "unknown option" in bad.stderr


def test_a_real_run_needs_az_and_a_sign_in(fake_az, tmp_path):
    env, log = fake_az
    if not shutil.which("az", path="/usr/bin:/bin"):
        missing = run_script("deploy-monitoring.sh", "-e", "dev", "--yes", env={**DEPLOY_ENV, "PATH": "/usr/bin:/bin"})
        assert missing.returncode != 0 and "Azure CLI (az) is not installed" in missing.stderr
    signed_out = run_script("deploy-monitoring.sh", "-e", "dev", "--yes",
                            env={**env, **DEPLOY_ENV, "FAKE_AZ_FAIL": "1"})
    assert signed_out.returncode != 0 and "az login" in signed_out.stderr
    assert "deployment" not in log.read_text()


def test_a_real_run_checks_the_environment_then_deploys_what_if_first(fake_az):
    env, log = fake_az
    unset = run_script("deploy-monitoring.sh", "-e", "dev", "--yes", env=env)
    assert unset.returncode != 0 and "ONCALL_EMAIL" in unset.stderr and "deployment" not in log.read_text()
    not_a_terminal = run_script("deploy-monitoring.sh", "-e", "dev", env={**env, **DEPLOY_ENV})
    assert not_a_terminal.returncode != 0 and "--yes" in not_a_terminal.stderr
    log.write_text("")
    for _ in range(2):  # re-running is the same deployment again
        result = run_script("deploy-main.sh", "-e", "dev", "--yes", env={**env, **DEPLOY_ENV})
        assert result.returncode == 0, result.stderr
    calls = [line.split(" --")[0] for line in log.read_text().splitlines()]
    once = ["az account show", "az group exists", "az deployment group what-if", "az deployment group create",
            "az deployment group show", "az storage blob service-properties update"]
    assert calls == once * 2
    assert "--account-name stpetwebdevabc12345" in log.read_text()


def test_the_webhook_uri_from_the_function_app_is_the_keyless_secure_route_by_default(fake_az):
    env, log = fake_az
    deploy_env = {k: v for k, v in {**env, **DEPLOY_ENV}.items() if k != "ALERT_WEBHOOK_URI"}
    result = run_script("deploy-monitoring.sh", "-e", "prod", "--yes", "--function-app", "func-x", env=deploy_env)
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    assert "function keys" not in text
    params = (log.parent / f"{log.name}.env").read_text()
    secure = "https://func-petanque-test.azurewebsites.net/api/v1/alerts/azure-monitor/secure"
    assert f"ALERT_WEBHOOK_URI={secure}\n" in params


def test_the_webhook_uri_fallback_takes_the_function_key_and_makes_it_once(fake_az):
    env, log = fake_az
    deploy_env = {k: v for k, v in {**env, **DEPLOY_ENV}.items() if k != "ALERT_WEBHOOK_URI"}
    deploy_env["WEBHOOK_USE_AAD"] = "false"
    result = run_script("deploy-monitoring.sh", "-e", "prod", "--yes", "--function-app", "func-x", env=deploy_env)
    assert result.returncode == 0, result.stderr
    text, params = log.read_text(), (log.parent / f"{log.name}.env").read_text()
    assert "/api/v1/alerts/azure-monitor?code=generated-key" in params
    assert "az functionapp function keys list --resource-group rg-petanque-incidents-prod --name func-x " \
           "--function-name azure_monitor_alert --query alerts" in text
    assert "--key-name alerts" in text and text.index("keys set") < text.index("deployment group what-if")
    assert "generated-key" not in result.stdout + result.stderr  # the key is never printed


MAKE_LINK_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


@pytest.mark.parametrize("secret", [None, "", "a" * 31])
def test_deploy_main_refuses_without_a_link_secret_and_says_in_one_line_how_to_make_one(secret, fake_az):
    """The script never makes ONCALL_LINK_SECRET: a new value on each deployment would revoke every calendar address."""
    env, log = fake_az
    run_env = {k: v for k, v in {**env, **DEPLOY_ENV}.items() if k != "ONCALL_LINK_SECRET"}
    if secret is not None:
        run_env["ONCALL_LINK_SECRET"] = secret
    result = run_script("deploy-main.sh", "-e", "prod", "--yes", env=run_env)
    assert result.returncode != 0 and "deployment" not in log.read_text()
    [line] = [line for line in result.stderr.splitlines() if "ONCALL_LINK_SECRET" in line]
    assert line.startswith("error: ONCALL_LINK_SECRET") and MAKE_LINK_SECRET in line
    assert not secret or secret not in result.stdout + result.stderr
    dry = run_script("deploy-main.sh", "-e", "prod", "--dry-run", env=run_env)
    assert dry.returncode == 0 and "ONCALL_LINK_SECRET" in dry.stderr


def test_the_link_secret_is_documented_where_deployers_look():
    usage = run_script("deploy-main.sh", "--help", env={"PATH": "/usr/bin:/bin"}).stdout
    assert "ONCALL_LINK_SECRET" in usage and MAKE_LINK_SECRET in usage and "revokes" in usage
    readme = (INFRA / "README.md").read_text()
    assert "export ONCALL_LINK_SECRET=" in readme and MAKE_LINK_SECRET in readme and "oncall-link-secret" in readme


# Issue 15: what Azure would refuse or get wrong, checked against its documentation without the compiler


# Every Bicep function and decorator, https://learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions
# and .../bicep/parameters#decorators (namespaces sys and az). A param, var or output named like one of them hides it
# for the whole file (https://learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-functions#namespaces-for-
# functions): `param description string` turns every `@description(...)` of the file into an error.
BICEP_FUNCTIONS = {
    "any", "array", "concat", "contains", "empty", "indexOf", "first", "flatten", "intersection", "last",
    "lastIndexOf", "length", "min", "max", "range", "skip", "take", "union", "parseCidr", "cidrSubnet", "cidrHost",
    "dateTimeAdd", "dateTimeFromEpoch", "dateTimeToEpoch", "utcNow", "deployer", "deployment", "environment",
    "loadFileAsBase64", "loadJsonContent", "loadYamlContent", "loadTextContent", "filter", "groupBy", "map",
    "mapValues", "reduce", "sort", "toObject", "bool", "int", "items", "json", "objectKeys", "shallowMerge",
    "extensionResourceId", "getSecret", "managementGroupResourceId", "pickZones", "providers", "reference",
    "resourceId", "subscriptionResourceId", "tenantResourceId", "toLogicalZone", "toPhysicalZone", "managementGroup",
    "resourceGroup", "subscription", "tenant", "base64", "base64ToJson", "base64ToString", "dataUri",
    "dataUriToString", "endsWith", "format", "guid", "join", "newGuid", "padLeft", "replace", "split", "startsWith",
    "string", "substring", "toLower", "toUpper", "trim", "uniqueString", "uri", "uriComponent", "uriComponentToString",
    "readEnvironmentVariable", "externalInput",
    # decorators
    "allowed", "batchSize", "description", "discriminator", "export", "maxLength", "maxValue", "metadata",
    "minLength", "minValue", "sealed", "secure",
}
BICEP_KEYWORDS = {"if", "for", "in"}


def bicep_code(text: str) -> str:
    """Bicep text without comments and string contents, keeping the expressions inside ${...} interpolations."""
    out, i, in_string, depths = [], 0, False, []  # depths: brace depth inside each open ${...}
    while i < len(text):
        if in_string:
            if text.startswith("\\", i):
                i += 2
            elif text.startswith("${", i):
                in_string, i = False, i + 2
                depths.append(0)
                out.append(" ")
            else:
                in_string = text[i] != "'"
                i += 1
            continue
        if text.startswith("'''", i):
            i = text.index("'''", i + 3) + 3
        elif text.startswith("//", i):
            i = text.find("\n", i) % (len(text) + 1)
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif text[i] == "'":
            in_string, i = True, i + 1
        else:
            if text[i] == "{" and depths:
                depths[-1] += 1
            elif text[i] == "}" and depths:
                if depths[-1] == 0:
                    depths.pop()
                    in_string, i = True, i + 1
                    continue
                depths[-1] -= 1
            out.append(text[i])
            i += 1
    return "".join(out)


def shadowed_functions(text: str) -> set[str]:
    """Names declared with param/var/output (or as a resource or module) that the same file also calls."""
    code = bicep_code(text)
    declared = set(re.findall(r"^\s*(?:param|var|output|resource|module)\s+(\w+)", code, flags=re.M))
    called = set(re.findall(r"(?<![\w.])@?([A-Za-z_]\w*)\s*\(", code)) - BICEP_KEYWORDS
    return declared & called


def test_the_function_check_sees_a_decorator_hidden_by_a_parameter():
    text = "@description('Shown in the portal (not a call).')\nparam description string\nparam range int\n" \
           "output r array = sys.range(1, range) // range(...) in a comment\nvar x = '${description}(y)'\n"
    assert shadowed_functions(text) == {"description"}  # sys.range is the namespaced call, the rest is text


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_no_parameter_variable_or_output_hides_a_function_the_file_uses(path):
    text = path.read_text()
    assert shadowed_functions(text) == set()
    code = bicep_code(text)
    called = set(re.findall(r"(?<![\w.])@?([A-Za-z_]\w*)\s*\(", code)) - BICEP_KEYWORDS
    unknown = {name for name in called if name not in BICEP_FUNCTIONS and not name.startswith("list")}
    assert unknown == set(), "not a Bicep function: add it to BICEP_FUNCTIONS from the docs, or fix the name"


# https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
# (the site properties and app settings Flex Consumption does not accept; same table in the plan's preview docs).
FLEX_CONSUMPTION_DEPRECATED = {
    "ftpsState", "use32BitWorkerProcess", "isReserved", "IsXenon", "windowsFxVersion", "alwaysOn",
    "preWarmedInstanceCount", "functionAppScaleLimit", "containerSize", "javaVersion", "powerShellVersion",
    "netFrameworkVersion", "linuxFxVersion",
    "WEBSITE_NODE_DEFAULT_VERSION", "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION", "FUNCTIONS_MAX_HTTP_CONCURRENCY", "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE",
}


def test_the_function_app_sets_nothing_flex_consumption_does_not_accept():
    site = resource("modules/function-app.bicep", "site")["config"]["properties"]
    main = bicep("main.bicep")
    used = set(site) | set(site["siteConfig"]) | object_keys(main["variables"]["appSettings"]["value"]) \
        | object_keys(main["variables"]["optionalSettings"]["value"]) \
        | object_keys(bicep("modules/function-app.bicep")["outputs"]["hostSettings"]["value"])
    refused = {name.lower() for name in FLEX_CONSUMPTION_DEPRECATED}
    assert {name for name in used if name.lower() in refused} == set()


def test_the_secure_webhook_is_the_default_and_the_function_key_alone_the_fallback(fake_az):
    """https://learn.microsoft.com/azure/azure-monitor/alerts/action-groups (secure webhook): useAadAuth with the
    app registration's objectId and identifierUri; the intake checks the token when ALERTS_AAD_AUDIENCE is set."""
    params = bicep("monitoring.bicep")["parameters"]
    assert params["useAadAuth"]["default"] is True
    for env in ("dev", "prod"):
        text = (INFRA / f"monitoring.{env}.bicepparam").read_text()
        assert "param useAadAuth = readEnvironmentVariable('WEBHOOK_USE_AAD', 'true') != 'false'" in text
    env, _ = fake_az
    secure = {k: v for k, v in DEPLOY_ENV.items() if not k.startswith(("WEBHOOK_", "ALERTS_AAD"))}
    needs = {"deploy-monitoring.sh": "WEBHOOK_AAD_OBJECT_ID", "deploy-main.sh": "ALERTS_AAD_AUDIENCE"}
    for script, needed in needs.items():
        default = run_script(script, "-e", "prod", "--dry-run", env={**env, **secure})
        assert needed in default.stderr, script
        fallback = run_script(script, "-e", "prod", "--dry-run", env={**env, **secure, "WEBHOOK_USE_AAD": "false"})
        assert fallback.returncode == 0 and needed not in fallback.stderr, script


def role_assignments():
    for path in BICEP_FILES:
        relative = str(path.relative_to(INFRA))
        for symbol, res in bicep(relative).get("resources", {}).items():
            if res["type"].lower().endswith("roleassignments"):
                yield relative, symbol, res["config"]


def dotted(value) -> str:
    """`a.b.c` for a property-access expression as pycep parses it."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        return f"{dotted(operands['operand_1'])}.{dotted(operands['operand_2'])}"
    return value


def leaves(value) -> set[str]:
    """Every plain string in an expression tree (symbols, parameters, literals)."""
    if isinstance(value, dict):
        return set().union(*(leaves(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(leaves(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def test_role_assignment_names_come_from_scope_principal_and_role():
    """guid(scope id, principal id, role id): https://learn.microsoft.com/azure/azure-resource-manager/bicep/
    scenarios-rbac#name. Not the site's id: a re-created identity would collide with its predecessor's assignment."""
    seen = 0
    for relative, symbol, config in role_assignments():
        seen += 1
        name = config["name"]["function"]
        assert name["type"] == "guid", (relative, symbol)
        args = leaves(name["parameters"])
        principal = config["properties"]["principalId"]
        assert principal in bicep(relative)["parameters"], (relative, symbol, "principal id must be a parameter")
        assert principal in args, (relative, symbol)
        role = {v for v in bicep(relative).get("variables", {})
                if any(re.search(rf"\b{v}\b", s) for s in leaves(config["properties"]["roleDefinitionId"]))}
        assert role and role <= args, (relative, symbol)
        if "scope" in config:
            assert name["parameters"]["base_string"] == {
                "operator": {"type": "property_accessor", "operands": {"operand_1": config["scope"], "operand_2": "id"}}
            }, (relative, symbol)
    assert seen >= 6  # host storage (2), telemetry, $web, Key Vault, Cosmos DB


# Secrets the app reads that stay off Azure on purpose (the managed identity instead, or local development only).
NOT_ON_AZURE = {"COSMOS_KEY", "SITE_STORAGE_CONNECTION_STRING", "INCIDENTS_FUNCTION_KEY", "ACS_CONNECTION_STRING"}
KEY_VAULT_REFERENCE = re.compile(r"@Microsoft\.KeyVault\(VaultName=\$\{keyVault\.outputs\.name\};SecretName=([\w-]+)\)")


def secret_settings() -> set[str]:
    return {name.upper() for name, field in Settings.model_fields.items()
            if field.annotation is SecretStr or SecretStr in typing.get_args(field.annotation)}


def guarded_entries(value) -> dict[str, tuple[str | None, object]]:
    """Each key of the object literals in `union(empty(p) ? {} : {KEY: v}, ...)`, with the parameter whose emptiness
    leaves it out (None: always there) and its value. A shape this does not know fails, rather than hiding a key."""
    node = value.get("function") or value.get("operator") if isinstance(value, dict) else None
    if not isinstance(node, dict):
        assert isinstance(value, dict), value
        return {key: (None, v) for key, v in value.items()}
    if node["type"] == "union":
        return {k: v for arg in node["parameters"].values() for k, v in guarded_entries(arg).items()}
    operands = node["operands"]
    condition = operands["condition"].get("function", {}) if isinstance(operands["condition"], dict) else {}
    assert node["type"] == "conditional" and condition.get("type") == "empty" and operands["true_value"] == {}, node
    guard = condition["parameters"]["item_to_test"]
    return {key: (guard, v) for key, (_, v) in guarded_entries(operands["false_value"]).items()}


def test_every_secret_the_app_reads_is_a_key_vault_reference_its_identity_may_resolve():
    """Key Vault references (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references) resolve
    with the app's identity, which needs Key Vault Secrets User (4633458b-17de-408a-b874-0445c86b69e6) on the vault.
    secretSettings is a union of one conditional per secret: each reference is there exactly when the same secure
    parameter stores its vault secret, and each parameter comes from the environment variable of the setting's name."""
    main = bicep("main.bicep")
    assert secret_settings() >= {"SLACK_WEBHOOK_URL", "ONCALL_LINK_SECRET"}
    references = guarded_entries(main["variables"]["secretSettings"]["value"])
    assert set(references) == secret_settings() - NOT_ON_AZURE, "map each new secret setting to the vault here"
    stored = guarded_entries(main["modules"]["keyVault"]["config"]["params"]["secrets"])  # "'vault name'": (p, p)
    names = set()
    for setting, (param, value) in references.items():
        match = KEY_VAULT_REFERENCE.fullmatch(value)
        assert match and param in main["parameters"], setting
        assert stored.get(f"'{match[1]}'") == (param, param), f"{setting}: store {param} as {match[1]}, if not empty"
        names.add(match[1])
        declared = main["parameters"][param]
        assert {"type": "secure"} in declared["decorators"] and declared["default"] == "", param
        for env in ("dev", "prod"):
            text = (INFRA / f"main.{env}.bicepparam").read_text()
            assert f"param {param} = readEnvironmentVariable('{setting}', '')" in text, (env, setting)
    assert len(names) == len(references) and {f"'{n}'" for n in names} == set(stored)  # one vault secret each
    plain = object_keys(main["variables"]["appSettings"]["value"]) \
        | object_keys(main["variables"]["optionalSettings"]["value"])
    assert plain & secret_settings() == set()
    assert dotted(main["modules"]["keyVault"]["config"]["params"]["readerPrincipalId"]) == \
        "functionApp.outputs.principalId"
    vault = bicep("modules/key-vault.bicep")
    assert vault["resources"]["vault"]["config"]["properties"]["enableRbacAuthorization"] is True
    grant = vault["resources"]["secretsUser"]["config"]
    assert BUILT_IN_ROLES[vault["variables"]["secretsUserRoleId"]["value"]] == "Key Vault Secrets User"
    assert (grant["scope"], grant["properties"]["principalId"]) == ("vault", "readerPrincipalId")


def test_the_vault_is_one_flex_consumption_resolves_references_from():
    """Key Vault references work in Flex Consumption app settings, but not from a network-restricted vault, even with
    virtual network integration (https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations,
    "Key Vault and App Configuration References"). So the vault is reachable and guarded by Entra ID and RBAC alone,
    and references use the app's system-assigned identity, their default (app-service-key-vault-references above)."""
    vault = resource("modules/key-vault.bicep", "vault")["config"]["properties"]
    assert vault["publicNetworkAccess"] == "Enabled" and "networkAcls" not in vault
    site = resource("modules/function-app.bicep", "site")["config"]
    assert site["identity"] == {"type": "SystemAssigned"} and "keyVaultReferenceIdentity" not in site["properties"]
    assert bicep("modules/function-app.bicep")["resources"]["plan"]["config"]["sku"]["tier"] == "FlexConsumption"


# What the Functions host needs on AzureWebJobsStorage with an identity, by trigger:
# https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
HOST_ONLY = {"Storage Blob Data Owner", "Storage Table Data Contributor"}  # the latter for the host's diagnostic events
HOST_STORAGE_ROLES_BY_TRIGGER = {
    "httpTrigger": set(),
    "timerTrigger": {"Storage Blob Data Owner"},  # blob locks, one execution per tick
    "eventHubTrigger": {"Storage Blob Data Owner"},  # checkpoints
    "blobTrigger": {"Storage Account Contributor", "Storage Blob Data Owner", "Storage Queue Data Contributor"},
    # Durable Functions, if it is ever chosen
    "orchestrationTrigger": {"Storage Blob Data Contributor", "Storage Queue Data Contributor",
                             "Storage Table Data Contributor"},
    "activityTrigger": {"Storage Blob Data Contributor", "Storage Queue Data Contributor",
                        "Storage Table Data Contributor"},
    "entityTrigger": {"Storage Blob Data Contributor", "Storage Queue Data Contributor",
                      "Storage Table Data Contributor"},
}


def test_the_host_storage_roles_are_what_the_triggers_in_use_need_and_no_more():
    from function_app import app
    from incidents.localhost import app_functions  # get_functions() may be called once per app: the cached list

    triggers = {function.get_trigger().get_binding_name() for function in app_functions(app)}
    assert triggers <= set(HOST_STORAGE_ROLES_BY_TRIGGER), "a new trigger: add its roles from the doc above"
    needed = HOST_ONLY.union(*(HOST_STORAGE_ROLES_BY_TRIGGER[t] for t in triggers))
    roles = bicep("modules/function-app-roles.bicep")
    granted = {BUILT_IN_ROLES[roles["variables"][(leaves(r["config"]["properties"]["roleDefinitionId"])
                                                  & set(roles["variables"])).pop()]["value"]]
               for r in roles["resources"].values() if r["config"].get("scope") == "hostStorage"}
    assert granted == needed
    assert dotted(bicep("main.bicep")["modules"]["functionAppRoles"]["config"]["params"]["principalId"]) == \
        "functionApp.outputs.principalId"


def test_the_static_website_documents_are_files_the_publisher_writes():
    from incidents.site.render import render_site

    script = (INFRA / "deploy-main.sh").read_text()
    documents = re.findall(r"--(?:index|404)-document (\S+)", script)
    assert len(documents) == 2
    published = {f.path for f in render_site([], now=datetime(2026, 11, 26, tzinfo=timezone.utc))}
    assert set(documents) <= published


# Pages by email and SMS: Azure Communication Services (modules/communication.bicep)

# https://learn.microsoft.com/azure/templates/microsoft.communication/communicationservices (and emailservices,
# emailservices/domains), API version 2023-04-01: the writable properties.
COMMUNICATION_PROPERTIES = {"dataLocation", "linkedDomains"}
EMAIL_SERVICE_PROPERTIES = {"dataLocation"}
DOMAIN_PROPERTIES = {"domainManagement", "userEngagementTracking"}


def test_the_communication_resources_are_global_share_a_data_location_and_are_linked():
    """Location 'global' for all three; a domain links only to a resource of the same data location
    (https://learn.microsoft.com/azure/communication-services/quickstarts/email/connect-email-communication-resource);
    an Azure-managed domain is named AzureManagedDomain with domainManagement AzureManaged
    (https://learn.microsoft.com/azure/communication-services/quickstarts/email/add-azure-managed-domains)."""
    module = bicep("modules/communication.bicep")
    acs, email, domain = (module["resources"][s]["config"] for s in ("communication", "emailService", "emailDomain"))
    assert {acs["location"], email["location"], domain["location"]} == {"global"}
    assert set(acs["properties"]) <= COMMUNICATION_PROPERTIES and set(email["properties"]) <= EMAIL_SERVICE_PROPERTIES
    assert set(domain["properties"]) <= DOMAIN_PROPERTIES
    assert acs["properties"]["dataLocation"] == email["properties"]["dataLocation"] == "dataLocation"
    assert module["parameters"]["dataLocation"]["default"] == "Europe"
    assert (domain["parent"], domain["name"], domain["properties"]["domainManagement"]) == (
        "emailService", "AzureManagedDomain", "AzureManaged")
    assert domain["properties"]["userEngagementTracking"] == "Disabled"  # links in pages are not rewritten
    assert [dotted(d) for d in acs["properties"]["linkedDomains"]] == ["emailDomain.id"]


def test_the_app_sends_with_its_identity_and_gets_the_endpoint_and_sender_address():
    module = bicep("modules/communication.bicep")
    outputs = {name: output["value"] for name, output in module["outputs"].items()}
    assert outputs["endpoint"] == "https://${communication.properties.hostName}"
    assert outputs["senderAddress"] == "DoNotReply@${emailDomain.properties.mailFromSenderDomain}"
    grant = module["resources"]["sender"]["config"]
    assert (grant["scope"], grant["properties"]["principalId"]) == ("communication", "senderPrincipalId")
    assert BUILT_IN_ROLES[module["variables"]["senderRoleId"]["value"]] == "Communication and Email Service Owner"
    main = bicep("main.bicep")
    params = main["modules"]["communication"]["config"]["params"]
    assert dotted(params["senderPrincipalId"]) == "functionApp.outputs.principalId"
    settings = main["variables"]["appSettings"]["value"]
    assert dotted(settings["ACS_ENDPOINT"]) == "communication.outputs.endpoint"
    assert dotted(settings["ACS_EMAIL_SENDER"]) == "communication.outputs.senderAddress"
    for path in BICEP_FILES:  # no access key: the identity signs in
        assert "ACS_CONNECTION_STRING" not in path.read_text(), path.name


def test_the_sms_number_is_bought_by_hand_and_passed_as_a_parameter():
    """ARM has no resource that buys a phone number: the README says how, and ACS_SMS_FROM comes from the
    environment at deployment, since the deployment replaces every app setting."""
    types = {r["type"] for p in BICEP_FILES for r in bicep(str(p.relative_to(INFRA))).get("resources", {}).values()}
    assert not any("phone" in t.lower() for t in types)
    main = bicep("main.bicep")
    assert main["parameters"]["acsSmsFrom"]["default"] == ""
    assert "ACS_SMS_FROM" in object_keys(main["variables"]["optionalSettings"]["value"])
    for env in ("dev", "prod"):
        text = (INFRA / f"main.{env}.bicepparam").read_text()
        assert "param acsSmsFrom = readEnvironmentVariable('ACS_SMS_FROM', '')" in text
    readme = (INFRA / "README.md").read_text()
    assert "Bicep cannot buy" in readme and "*Phone numbers*" in readme and "ACS_SMS_FROM=" in readme
    assert "Phone numbers cannot be bought with Bicep" in (INFRA / "modules/communication.bicep").read_text()
