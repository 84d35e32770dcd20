"""The severity policy and alert-rule table, loaded from policy.toml and validated when loaded.

Rules as data: the alert intake asks this module which severity, components and public words an alert gets; the
escalation engine (escalation.py) who is paged, when and how; the tests check infrastructure/ and docs/ against the
same table.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from .models import LOCALES, MESSAGE_MAX, TITLE_MAX, Severity
from .oncall import LocalTime, RoleName, TimeZoneName, Weekday, local_instant, zone

POLICY_FILE = Path(__file__).with_name("policy.toml")
RUNBOOKS = "docs/engineering/operations/runbooks"
AzureSeverity = Literal["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"]


def _all_locales(max_length: int):
    def check(texts: dict[str, str]) -> dict[str, str]:
        missing = [locale for locale in LOCALES if not texts.get(locale, "").strip()]
        if missing:
            raise ValueError(f"missing the {', '.join(missing)} text")
        too_long = [locale for locale in LOCALES if len(texts[locale]) > max_length]
        if too_long:
            raise ValueError(f"the {', '.join(too_long)} text is longer than {max_length} characters")
        return {locale: texts[locale] for locale in LOCALES}

    return Annotated[dict[str, str], AfterValidator(check)]


Titles = _all_locales(TITLE_MAX)
Messages = _all_locales(MESSAGE_MAX)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Wording(_Frozen):
    title: Titles
    message: Messages


class Channel(StrEnum):
    slack = "slack"
    sms = "sms"
    email = "email"


class PagingLevel(_Frozen):
    """Who is paged, how long after escalation starts without an acknowledgement, and by which channels."""

    who: Literal["primary", "secondary"] | RoleName  # a layer of the rotation, or a named role of the roster
    after_minutes: int = Field(ge=0)
    channels: list[Channel] = Field(min_length=1)

    @model_validator(mode="after")
    def _channels_once(self) -> PagingLevel:
        if len(self.channels) != len(set(self.channels)):
            raise ValueError("a channel is listed twice")
        return self

    @property
    def label(self) -> str:
        """How the handbook names who: Primary on-call, Engineering lead."""
        if self.who in ("primary", "secondary"):
            return f"{self.who.capitalize()} on-call"
        return self.who.replace("-", " ").capitalize()


class Paging(_Frozen):
    """A severity's escalation as the code runs it. Levels count minutes from the start of the escalation."""

    when: Literal["always", "working-hours"]
    levels: list[PagingLevel] = Field(min_length=1)
    repeat_every_minutes: int | None = Field(default=None, gt=0)  # the last level, until acknowledged

    @model_validator(mode="after")
    def _levels_in_order(self) -> Paging:
        minutes = [level.after_minutes for level in self.levels]
        if minutes[0] != 0:
            raise ValueError("the first level pages at once (after_minutes = 0)")
        if any(b <= a for a, b in zip(minutes, minutes[1:], strict=False)):
            raise ValueError("levels must page later and later (after_minutes increasing)")
        return self


class WorkingHours(_Frozen):
    """When a severity that pages in working hours only may page."""

    days: list[Weekday] = Field(min_length=1)
    start: LocalTime
    end: LocalTime
    time_zone: TimeZoneName

    @model_validator(mode="after")
    def _start_before_end(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError("working hours must end after they start, on the same day")
        return self

    def next_open(self, at: datetime) -> datetime:
        """`at` when it falls in working hours, else the next time they begin."""
        local_day = at.astimezone(zone(self.time_zone)).date()
        working_days = {d.number for d in self.days}
        for offset in range(8):
            day = local_day + timedelta(days=offset)
            if day.weekday() not in working_days:
                continue
            opens = local_instant(day, self.start, self.time_zone)
            closes = local_instant(day, self.end, self.time_zone)
            if at < closes:
                return max(at, opens)
        raise AssertionError("unreachable: some day of any week is a working day")


class SeverityLevel(_Frozen):
    name: str
    definition: str
    examples: list[str] = Field(min_length=1)
    azure_severity: int = Field(ge=0, le=4)
    respond_within_minutes: int = Field(gt=0)
    first_public_update_minutes: int = Field(gt=0)
    update_every_minutes: int = Field(gt=0)
    escalation: list[str] = Field(min_length=1)  # the handbook's words; `paging` is what the code runs
    paging: Paging


class AlertRule(_Frozen):
    key: str = Field(pattern=r"^[a-z0-9-]+$")
    alert_rule: str
    severity: Severity
    kind: Literal["metric", "log"]
    signal: str
    operator: Literal["GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"]
    threshold: int
    unit: Literal["percent", "count", "milliseconds"]
    window: str = Field(pattern=r"^PT\d+[MH]$")
    frequency: str = Field(pattern=r"^PT\d+[MH]$")
    components: list[str] = Field(min_length=1)
    title: Titles
    message: Messages

    @property
    def runbook(self) -> str:
        return f"{RUNBOOKS}/{self.key}.md"


class PagingSnapshot(_Frozen):
    """A severity's escalation as it stood when an incident's escalation started."""

    policy_version: int
    severity: Severity
    paging: Paging
    working_hours: WorkingHours


class Policy(_Frozen):
    version: int = Field(ge=1)
    azure_severity_map: dict[AzureSeverity, Severity]
    severities: dict[Severity, SeverityLevel]
    working_hours: WorkingHours
    default_wording: Wording
    rules: list[AlertRule]

    @model_validator(mode="after")
    def _complete(self) -> Policy:
        if set(self.severities) != set(Severity):
            raise ValueError("every severity (sev1, sev2, sev3) needs a definition")
        if set(self.azure_severity_map) != {"Sev0", "Sev1", "Sev2", "Sev3", "Sev4"}:
            raise ValueError("azure_severity_map must map Sev0 to Sev4")
        for field in ("key", "alert_rule"):
            values = [getattr(rule, field).lower() for rule in self.rules]
            if len(values) != len(set(values)):
                raise ValueError(f"two rules share a {field}")
        return self

    def rule_for(self, alert_rule: str, custom_properties: Mapping[str, str] | None = None) -> AlertRule | None:
        """Our rule for an alert: by the `ruleKey` custom property our rules carry, else by the rule's name."""
        key = (custom_properties or {}).get("ruleKey", "").strip().lower()
        name = alert_rule.strip().lower()
        return next((r for r in self.rules if r.key == key), None) or next(
            (r for r in self.rules if r.alert_rule.lower() == name), None
        )

    def severity_for(self, alert_rule: str, azure_severity: str,
                     custom_properties: Mapping[str, str] | None = None) -> Severity:
        """customProperties.incidentSeverity wins, then the rule table, then Azure's own severity."""
        stated = (custom_properties or {}).get("incidentSeverity", "").strip().lower()
        if stated in Severity.__members__:
            return Severity(stated)
        rule = self.rule_for(alert_rule, custom_properties)
        if rule is not None:
            return rule.severity
        return self.azure_severity_map.get(azure_severity.strip().capitalize(), Severity.sev3)

    def wording_for(self, rule: AlertRule | None) -> Wording:
        return Wording(title=rule.title, message=rule.message) if rule else self.default_wording

    def paging_snapshot(self, severity: Severity) -> PagingSnapshot:
        """What is copied onto an incident when its escalation starts, so that editing the policy later never
        changes a running escalation."""
        return PagingSnapshot(policy_version=self.version, severity=severity,
                              paging=self.severities[severity].paging, working_hours=self.working_hours)


@functools.cache
def load_policy(path: Path = POLICY_FILE) -> Policy:
    with path.open("rb") as f:
        return Policy.model_validate(tomllib.load(f))


def platform_components(policy: Policy) -> list[str]:
    """The platform's components: the names in the policy's rules, in order of first appearance. The status site
    shows them; a maintenance window may name only these."""
    return list(dict.fromkeys(name for rule in policy.rules for name in rule.components))
