"""The postmortem draft of a seeded incident: drafted from an alert, confirmed, identified, monitored, resolved."""

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from incidents.domain.models import (
    AlertEvent,
    AlertSource,
    Confirmation,
    Incident,
    IncidentChange,
    NewIncident,
    State,
    Status,
    Visibility,
)
from incidents.domain.postmortem import identified_at, render_postmortem, response_times
from incidents.domain.workflow import apply_change, confirm, next_entry, open_incident

TEMPLATE = Path(__file__).parents[2] / "docs/engineering/operations/postmortem-template.md"
FIRED = datetime(2026, 11, 26, 21, 40, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


def minutes(n: float) -> datetime:
    return FIRED + timedelta(minutes=n)


def alert_entry(incident: Incident, at: datetime, condition: str, note: str, **fields) -> Incident:
    """An alert delivery received at `at`, for an alert that fired (or resolved) a minute earlier."""
    event = AlertEvent(delivery=f"d-{condition}-{at:%H%M}", alert_id="alert-7f3a", condition=condition,
                       at=at - timedelta(minutes=1), azure_severity="Sev1")
    entry = next_entry(incident, at, "Azure Monitor", Visibility.internal, note=note, alert=event, **fields)
    return incident.model_copy(update={"updated_at": at, "updates": [*incident.updates, entry]})


def change(incident: Incident, at: datetime, author: str = "oncall-primary", **fields) -> Incident:
    after, _ = apply_change(incident, IncidentChange(**fields), author=author, now=at)
    return after


def seeded_incident() -> Incident:
    """The life of one Sev1, as the alert intake and the admin API would have written it."""
    source = AlertSource(alert_id="alert-7f3a", alert_rule="petanque-http-5xx-rate", rule_key="http-5xx-rate",
                         fingerprint="ab12cd34ef56", target_ids=["/subscriptions/x/ca-petanque-api"], fired_at=FIRED)
    draft = Incident(id="inc-ab12cd34ef56-1", title="Elevated error rates", severity="sev1",
                     status=Status.investigating, state=State.draft, public_message="We are investigating.",
                     components=["Website", "Mobile app"], source=source, started_at=FIRED, updated_at=minutes(1))
    incident = alert_entry(draft, minutes(1), "Fired",
                           "Azure Monitor alert fired: petanque-http-5xx-rate (Sev1)\n"
                           "Runbook: docs/engineering/operations/runbooks/http-5xx-rate.md", changes=["opened"])
    incident = alert_entry(incident, minutes(4), "Fired", "Azure Monitor alert fired again")
    incident, _ = confirm(incident, Confirmation(note="Runbook step 2: revision 42 went out at 21:38."),
                          author="oncall-primary", now=minutes(9))
    incident = change(incident, minutes(20), status="identified",
                      public_message="A faulty update is being rolled back.\nPages should load again soon.",
                      note="Traffic shifted back to revision 41.")
    incident = change(incident, minutes(25), author="oncall-secondary", note="Error rate 0.4 % and falling")
    incident = alert_entry(incident, minutes(32), "Resolved", "Azure Monitor alert resolved")
    incident = change(incident, minutes(35), status="monitoring", public_message="Errors are back to normal.")
    return change(incident, minutes(70), status="resolved", public_message="Fixed: all pages load again.")


@pytest.fixture
def seeded() -> Incident:
    return seeded_incident()


def test_the_timeline_holds_every_entry_in_order_public_and_internal(seeded):
    text = render_postmortem(seeded, now=NOW)
    positions = [text.index(f"`{u.id}` **{u.at:%Y-%m-%d %H:%M:%S} UTC**") for u in seeded.updates]
    assert len(seeded.updates) == 8 and positions == sorted(positions)
    timeline = text.split("## Timeline")[1].split("## Root cause")[0]
    for update in seeded.updates:
        line = next(line for line in timeline.splitlines() if f"`{update.id}`" in line)
        assert f"· {update.author} · {update.status.value} · Sev1 · {update.visibility.value}" in line
    assert "internal" in timeline and "public" in timeline
    assert "> Traffic shifted back to revision 41." in timeline  # internal notes
    assert "> Error rate 0.4 % and falling" in timeline
    assert "Message (en): Fixed: all pages load again." in timeline
    assert "· internal · opened" in timeline and "· public · confirmed" in timeline and "· internal · note" in timeline


def test_alert_events_are_on_the_timeline_and_in_the_detection_section(seeded):
    text = render_postmortem(seeded, now=NOW)
    timeline, detection = text.split("## Timeline")[1], text.split("## Detection")[1].split("## Response")[0]
    assert timeline.count("- Alert: Fired `alert-7f3a` (Sev1)") == 2
    assert "- Alert: Resolved `alert-7f3a` (Sev1) at 2026-11-26 22:11:00 UTC" in timeline
    assert "- Alert rule: `petanque-http-5xx-rate` (policy rule `http-5xx-rate`, runbook " \
           "`docs/engineering/operations/runbooks/http-5xx-rate.md`)" in detection
    assert "- Alert id: `alert-7f3a`" in detection
    assert "- Fired at: 2026-11-26 21:40:00 UTC" in detection
    assert "- Target: `/subscriptions/x/ca-petanque-api`" in detection
    assert "- Deliveries recorded: 2 fired, 1 resolved; first fired 2026-11-26 21:40:00 UTC; " \
           "last resolved 2026-11-26 22:11:00 UTC" in detection


def test_the_three_response_times(seeded):
    assert response_times(seeded) == {"acknowledge": timedelta(minutes=9), "identify": timedelta(minutes=20),
                                      "resolve": timedelta(minutes=70)}
    text = render_postmortem(seeded, now=NOW)
    assert "| Time to acknowledge | 9 min (target: 15 min, met) |" in text
    assert "| Time to identify | 20 min |" in text
    assert "| Time to resolve | 1 h 10 min |" in text
    assert "| Started | 2026-11-26 21:40:00 UTC |" in text
    assert "| Severity | Sev1 (Critical) |" in text
    assert "| Components | Website, Mobile app |" in text


def test_the_draft_has_the_template_sections_and_prompts_for_the_human_parts(seeded):
    text = render_postmortem(seeded, now=NOW)
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings == re.findall(r"^## (.+)$", TEMPLATE.read_text(), flags=re.M)
    assert text.startswith("# Postmortem: Elevated error rates\n")
    assert "Blameless" in text and "2026-11-28 09:00:00 UTC" in text
    for section in ("Summary", "Impact", "Timeline", "Root cause", "Contributing factors", "Detection", "Response",
                    "What went well", "Action items"):
        body = text.split(f"## {section}\n")[1].split("\n## ")[0]
        assert "_TODO: " in body or "_TODO_" in body, section
    assert "| _TODO_ | _TODO_ | _TODO_ | _TODO_ | _TODO_ |" in text


def test_single_line_fields_lose_their_line_breaks(seeded):
    text = render_postmortem(seeded, now=NOW)
    assert "Message (en): A faulty update is being rolled back. Pages should load again soon." in text
    odd = seeded.model_copy(update={"title": {"en": "Payments\nfailing"}, "components": ["Pay|ments"]})
    text = render_postmortem(odd, now=NOW)
    assert text.startswith("# Postmortem: Payments failing\n")
    assert "| Components | Pay\\|ments |" in text


def test_an_open_manual_incident_says_what_is_missing():
    body = NewIncident(title="Login is slow", severity="sev2", public_message="We are looking into it.")
    incident = open_incident(body, incident_id="inc-1", author="oncall-primary", now=FIRED)
    late = change(incident, minutes(45), status="monitoring")  # skips identified: still counts as identified
    text = render_postmortem(late.model_copy(update={"acknowledged_at": None}), now=minutes(90))
    assert identified_at(late) == minutes(45)
    assert "| Time to acknowledge | not acknowledged (target: 30 min) |" in text
    assert "| Time to identify | 45 min |" in text
    assert "| Time to resolve | not resolved; open for 1 h 30 min when this draft was made |" in text
    assert "- Source: opened by hand, not from an alert." in text


def test_a_late_acknowledgement_is_marked_as_missing_the_target(seeded):
    late = seeded.model_copy(update={"acknowledged_at": minutes(16)})
    assert "| Time to acknowledge | 16 min (target: 15 min, missed) |" in render_postmortem(late, now=NOW)
