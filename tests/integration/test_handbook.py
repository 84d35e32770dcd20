"""docs/engineering/operations/ against incidents/domain/policy.toml: the severity matrix, the acknowledgement
targets, the promise to players, and one runbook per alert rule that links back. Change the policy and these tests
name the lines of the handbook that must follow."""

import re
from pathlib import Path

import pytest

from incidents.domain.policy import AlertRule, Policy, load_policy

ROOT = Path(__file__).parents[2]
OPERATIONS = ROOT / "docs/engineering/operations"
INCIDENT_RESPONSE = OPERATIONS / "incident-response.md"
ON_CALL = OPERATIONS / "on-call-rotation.md"
TEMPLATE = OPERATIONS / "postmortem-template.md"
RUNBOOK_SECTIONS = ["What it means", "First checks", "Likely causes", "Mitigation", "When to escalate"]
OPERATORS = {"GreaterThan": ">", "GreaterThanOrEqual": ">=", "LessThan": "<", "LessThanOrEqual": "<="}
UNITS = {"percent": " %", "milliseconds": " ms", "count": ""}


def duration(minutes: int) -> str:
    """How the handbook writes a number of minutes: 15 minutes, 1 hour, 24 hours."""
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def iso_duration(value: str) -> str:
    number, unit = int(value[2:-1]), value[-1]
    return duration(number * 60 if unit == "H" else number)


def condition(rule: AlertRule) -> str:
    return (f"{OPERATORS[rule.operator]} {rule.threshold}{UNITS[rule.unit]} over {iso_duration(rule.window)}, "
            f"evaluated every {iso_duration(rule.frequency)}")


def table_after(text: str, marker: str) -> list[list[str]]:
    """The cells of the Markdown table that follows `marker`, header first, separator row dropped."""
    lines = text.split(marker, 1)[1].splitlines()[1:]
    rows = lines[: next(i for i, line in enumerate(lines) if not line.startswith("|"))]
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
    return [cells[0], *cells[2:]]


def matrix_mismatches(policy: Policy, table: list[list[str]]) -> list[str]:
    """What the severity matrix says differently from the policy; empty when they agree."""
    header, rows = table[0], {row[0]: row[1:] for row in table[1:]}
    expected_header = [f"{key.value.capitalize()} ({level.name})" for key, level in policy.severities.items()]
    problems = [] if header[1:] == expected_header else [f"columns are {header[1:]}, expected {expected_header}"]
    for column, level in enumerate(policy.severities.values()):
        expected = {
            "Definition": level.definition,
            "Examples": "; ".join(level.examples),
            "Response target": duration(level.respond_within_minutes),
            "First public update": duration(level.first_public_update_minutes),
            "Update cadence": duration(level.update_every_minutes),
            "Escalation": " → ".join(level.escalation),
            "Azure Monitor severity": str(level.azure_severity),
        }
        for label, want in expected.items():
            got = rows.get(label, [None] * len(policy.severities))[column]
            if got != want:
                problems.append(f"{header[column + 1]} {label}: the handbook says {got!r}, the policy {want!r}")
    return problems


def slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# The severity matrix


def test_the_severity_matrix_matches_the_policy():
    table = table_after(INCIDENT_RESPONSE.read_text(), "<!-- severity-matrix")
    assert matrix_mismatches(load_policy(), table) == []


def test_a_response_target_changed_in_the_policy_only_is_reported():
    policy = load_policy()
    sev1 = policy.severities["sev1"].model_copy(update={"respond_within_minutes": 10})
    drifted = policy.model_copy(update={"severities": {**policy.severities, "sev1": sev1}})
    table = table_after(INCIDENT_RESPONSE.read_text(), "<!-- severity-matrix")
    assert matrix_mismatches(drifted, table) == [
        "Sev1 (Critical) Response target: the handbook says '15 minutes', the policy '10 minutes'"]


def test_the_promise_to_players_quotes_the_sev1_and_sev2_targets():
    text = INCIDENT_RESPONSE.read_text()
    promise = " ".join(line.lstrip("> ") for line in text.split("## What we promise players")[1].split("\n## ")[0]
                       .splitlines() if line.startswith(">"))
    sev1, sev2 = load_policy().severities["sev1"], load_policy().severities["sev2"]
    sev1_part, sev2_part = promise.split("For problems that")
    for level, part in ((sev1, sev1_part), (sev2, sev2_part)):
        every = "every hour" if level.update_every_minutes == 60 else f"every {duration(level.update_every_minutes)}"
        assert f"within {duration(level.respond_within_minutes)}" in part
        assert f"within {duration(level.first_public_update_minutes)}" in part
        assert f"at least {every}" in part


def test_the_incident_flow_names_the_routes_of_each_step():
    text = INCIDENT_RESPONSE.read_text()
    flow = text.split("## How an incident flows through the incident app")[1].split("\n## ")[0]
    steps = ["POST /api/v1/alerts/azure-monitor", "POST /api/v1/admin/incidents/{id}/confirm",
             "PATCH /api/v1/admin/incidents/{id}", '"status": "resolved"',
             "GET /api/v1/admin/incidents/{id}/postmortem"]
    positions = [flow.index(step) for step in steps]
    assert positions == sorted(positions)
    for role in ("Incident commander (IC)", "Communications lead"):
        assert f"**{role}**" in text


# On call


def test_the_on_call_page_states_each_acknowledgement_target_and_what_follows():
    table = table_after(ON_CALL.read_text(), "<!-- acknowledgement-targets")
    assert table[0] == ["Severity", "Acknowledge within", "If nobody has"]
    expected = [[key.value.capitalize(), duration(level.respond_within_minutes), level.escalation[1]]
                for key, level in load_policy().severities.items()]
    assert table[1:] == expected


CHANNELS = {"slack": "Slack", "sms": "SMS", "email": "email"}


def paging_rows(policy: Policy) -> list[list[str]]:
    """The on-call page's paging table as the policy's data writes it."""
    rows = []
    for key, level in policy.severities.items():
        paging = level.paging
        for number, step in enumerate(paging.levels, start=1):
            last = number == len(paging.levels) and paging.repeat_every_minutes
            rows.append([key.value.capitalize(),
                         "around the clock" if paging.when == "always" else "working hours only",
                         str(number), step.label, duration(step.after_minutes) if step.after_minutes else "at once",
                         ", ".join(CHANNELS[c] for c in step.channels),
                         f"every {duration(paging.repeat_every_minutes)}" if last else ""])
    return rows


def test_the_on_call_page_states_the_paging_levels_of_the_policy():
    table = table_after(ON_CALL.read_text(), "<!-- paging-levels")
    assert table[0] == ["Severity", "Pages", "Level", "Who", "After", "By", "Repeated"]
    assert table[1:] == paging_rows(load_policy())


def test_a_paging_level_changed_in_the_policy_only_is_reported():
    policy = load_policy()
    sev1 = policy.severities["sev1"]
    levels = [sev1.paging.levels[0], sev1.paging.levels[1].model_copy(update={"after_minutes": 10}),
              sev1.paging.levels[2]]
    drifted = policy.model_copy(update={"severities": {**policy.severities, "sev1": sev1.model_copy(
        update={"paging": sev1.paging.model_copy(update={"levels": levels})})}})
    assert table_after(ON_CALL.read_text(), "<!-- paging-levels")[1:] != paging_rows(drifted)


@pytest.mark.parametrize("key", ["sev1", "sev2", "sev3"])
def test_the_escalation_prose_says_what_the_paging_data_does(key):
    """The severity matrix's words name each paging level's who and minute, in order."""
    level = load_policy().severities[key]
    for number, (step, words) in enumerate(zip(level.paging.levels, level.escalation, strict=False)):
        assert words.startswith(step.label), (words, step.label)
        if number:
            assert f"after {duration(step.after_minutes)}" in words, words
    if level.paging.when == "working-hours":
        assert "during working hours" in level.escalation[0]


def test_the_on_call_page_states_the_working_hours_of_the_policy():
    hours = load_policy().working_hours
    days = f"{hours.days[0].value.capitalize()} to {hours.days[-1].value.capitalize()}"
    assert [d.number for d in hours.days] == list(range(hours.days[0].number, hours.days[-1].number + 1))
    expected = f"Sev3 during working hours ({days}, {hours.start:%H:%M}-{hours.end:%H:%M} {hours.time_zone})"
    assert expected in " ".join(ON_CALL.read_text().split())


def test_the_on_call_page_says_what_acknowledged_means_and_holds_no_personal_data():
    text = ON_CALL.read_text()
    assert '## What "acknowledged" means' in text and "POST /api/v1/admin/incidents/{id}/confirm" in text
    for topic in ("## Schedule", "## Hand-over checklist", "## Contact channels", "## Vacations and swaps"):
        assert topic in text
    assert not re.search(r"[\w.+-]+@[\w-]+\.\w+", text) and not re.search(r"\+?\d[\d ]{8,}\d", text)


# Runbooks


@pytest.mark.parametrize("rule", load_policy().rules, ids=lambda r: r.key)
def test_each_rule_has_a_runbook_that_states_the_rule_and_links_back(rule):
    path = ROOT / rule.runbook
    assert path.is_file(), rule.runbook
    text = path.read_text()
    header = (f"**Alert rule** `{rule.alert_rule}` · **Severity** {rule.severity.value.capitalize()} · "
              f"**Fires when** {condition(rule)}")
    assert header in text
    assert "](../incident-response.md" in text
    assert re.findall(r"^## (.+)$", text, flags=re.M) == RUNBOOK_SECTIONS
    listed = f"| `{rule.alert_rule}` | {rule.severity.value.capitalize()} | "
    assert listed in INCIDENT_RESPONSE.read_text() and f"(runbooks/{rule.key}.md)" in INCIDENT_RESPONSE.read_text()


def test_every_runbook_belongs_to_a_rule():
    keys = {rule.key for rule in load_policy().rules}
    assert {p.stem for p in (OPERATIONS / "runbooks").glob("*.md")} == keys


def test_a_threshold_changed_in_the_policy_only_breaks_its_runbook_line():
    rule = next(r for r in load_policy().rules if r.key == "api-latency-p95")
    assert "> 2000 ms over 10 minutes, evaluated every 5 minutes" in (ROOT / rule.runbook).read_text()
    assert condition(rule.model_copy(update={"threshold": 1500})) not in (ROOT / rule.runbook).read_text()


# The postmortem template and the links


def test_the_postmortem_template_is_blameless_and_has_every_section():
    text = TEMPLATE.read_text()
    assert "Blameless" in text
    assert re.findall(r"^## (.+)$", text, flags=re.M) == [
        "Summary", "Impact", "Timeline", "Root cause", "Contributing factors", "Detection", "Response",
        "What went well", "Action items"]
    assert "| Action | Kind (prevent, detect, mitigate, process) | Owner | Due date | Issue |" in text


def test_every_relative_link_in_the_handbook_resolves():
    for page in sorted(OPERATIONS.rglob("*.md")):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            assert linked.exists(), f"{page.name}: {target}"
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.M)
                assert anchor in {slug(h) for h in headings}, f"{page.name}: {target}"


def test_the_restart_runbook_says_what_the_rule_counts():
    """The rule counts new restart events in the system logs, not the RestartCount metric (a running total per
    replica: https://learn.microsoft.com/azure/container-apps/metrics)."""
    rule = next(r for r in load_policy().rules if r.key == "container-app-restarts")
    meaning = (ROOT / rule.runbook).read_text().split("## What it means")[1].split("\n## ")[0]
    for words in ("ContainerAppSystemLogs", "ContainerTerminated", "ContainerBackOff", "container-app-restarts.kql",
                  "running total"):
        assert words in meaning, words
    assert rule.kind == "log"
