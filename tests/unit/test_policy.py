"""The severity policy as a table: which severity, components and words an alert gets, and what a bad policy file
is refused for when it is loaded."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import ValidationError

from incidents.domain.models import LOCALES
from incidents.domain.policy import POLICY_FILE, Policy, load_policy

POLICY = load_policy()


@pytest.mark.parametrize(("rule", "azure", "custom", "expected"), [
    ("petanque-http-5xx-rate", "Sev3", {}, "sev1"),
    ("PETANQUE-COSMOS-RU-THROTTLING", "Sev4", {}, "sev1"),
    ("petanque-acs-email-bounce-rate", "Sev2", {}, "sev1"),
    ("petanque-container-app-restarts", "Sev0", {}, "sev2"),
    ("petanque-api-latency-p95", "Sev1", {}, "sev2"),
    ("petanque-stripe-webhook-error-rate", "Sev3", {}, "sev2"),
    ("petanque-http-5xx-rate", "Sev1", {"incidentSeverity": "sev3"}, "sev3"),  # our rules' own property wins
    ("petanque-http-5xx-rate", "Sev1", {"incidentSeverity": "SEV2 "}, "sev2"),
    ("petanque-http-5xx-rate", "Sev1", {"incidentSeverity": "critical"}, "sev1"),  # not ours: ignored
    ("renamed-in-the-portal", "Sev4", {"ruleKey": "api-latency-p95"}, "sev2"),
    ("unknown", "Sev0", {}, "sev1"),
    ("unknown", "Sev1", {}, "sev1"),
    ("unknown", "Sev2", {}, "sev2"),
    ("unknown", "Sev3", {}, "sev3"),
    ("unknown", "Sev4", {}, "sev3"),
    ("unknown", "sev2", {}, "sev2"),
    ("unknown", "Sev9", {}, "sev3"),
])
def test_severity_for_an_alert(rule, azure, custom, expected):
    assert POLICY.severity_for(rule, azure, custom).value == expected


def test_the_six_platform_rules_and_their_tiers():
    tiers = {rule.key: rule.severity.value for rule in POLICY.rules}
    assert tiers == {
        "http-5xx-rate": "sev1", "cosmos-ru-throttling": "sev1", "acs-email-bounce-rate": "sev1",
        "container-app-restarts": "sev2", "api-latency-p95": "sev2", "stripe-webhook-error-rate": "sev2",
    }


def test_every_rule_speaks_four_languages_without_internal_words():
    for wording in [POLICY.wording_for(rule) for rule in POLICY.rules] + [POLICY.default_wording]:
        for texts in (wording.title, wording.message):
            assert list(texts) == list(LOCALES)
            for text in texts.values():
                assert "petanque-" not in text and "/subscriptions/" not in text and "%" not in text


@pytest.mark.parametrize(("change", "complaint"), [
    (lambda p: p["rules"][0]["title"].pop("sv"), "missing the sv text"),
    (lambda p: p["rules"][1].update(key=p["rules"][0]["key"]), "share a key"),
    (lambda p: p["rules"][0].update(window="5 minutes"), "window"),
    (lambda p: p["severities"].pop("sev3"), "every severity"),
    (lambda p: p["rules"][0].update(severity="sev0"), "severity"),
    (lambda p: p["rules"][0].update(threshold_percent=1), "threshold_percent"),
])
def test_a_bad_policy_is_refused_when_loaded(change, complaint):
    raw = tomllib.loads(POLICY_FILE.read_text())
    change(raw)
    with pytest.raises(ValidationError, match=complaint):
        Policy.model_validate(raw)
