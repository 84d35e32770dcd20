"""Alert intake: an Azure Monitor alert becomes a draft incident, a note on an open one, or nothing new.

Azure delivers at least once, retries, and some rules raise a new alertId at every evaluation. So:
- a delivery's key (alert id, condition, time) is recorded on the timeline entry it produced; a delivery whose key
  is already there changes nothing;
- alerts with the same fingerprint (rule + targets) join the fingerprint's open incident while it is open and its
  last alert is within the grouping window;
- a new incident for a fingerprint gets a deterministic id (fingerprint + generation), so concurrent deliveries that
  all decide to create one collide on `add`, and all but one re-read and find the first.
- an alert whose rule's components are all under maintenance in progress (domain/maintenance.py) still drafts, but
  its escalation starts stopped ("maintenance"), the draft's note and the Slack notice say so, and nobody is paged,
  as Alertmanager's silences do; a repeat that fires once the maintenance is over starts the escalation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ..domain.escalation import start_escalation
from ..domain.maintenance import Maintenance
from ..domain.maintenance_service import MaintenanceService
from ..domain.models import MAX_UPDATES, AlertEvent, AlertSource, Dismissal, Incident, State, Status, Update, Visibility
from ..domain.notifier import NoticeKind
from ..domain.policy import AlertRule, Policy
from ..domain.service import IncidentService
from ..domain.store import AlreadyExists, IncidentQuery, IncidentTooLarge, Stored, StoreUnavailable, find_all
from ..domain.workflow import CLOCK_SKEW, dismiss, next_entry, stop_escalation
from .schema import Alert

AUTHOR = "Azure Monitor"
DELIVERY_ROOM = MAX_UPDATES - 100  # repeats stop being recorded here, leaving room for people
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    kind: Literal["created", "attached", "cleared", "duplicate", "ignored"]
    incident_id: str | None = None


def fingerprint(alert: Alert) -> str:
    targets = "|".join(sorted(t.lower() for t in alert.target_ids))
    return hashlib.sha256(f"{alert.rule.lower()}\n{targets}".encode()).hexdigest()[:12]


def delivery_key(alert: Alert) -> str:
    moment = alert.resolved_at if alert.condition == "Resolved" else alert.fired_at
    return hashlib.sha256(f"{alert.alert_id}\n{alert.condition}\n{moment}".encode()).hexdigest()[:24]


def alert_events(incident: Incident) -> Iterator[AlertEvent]:
    return (u.alert for u in incident.updates if u.alert is not None)


def last_alert_received(incident: Incident) -> datetime:
    """When we last heard of an alert for it: our clock, not Azure's, so late or retried deliveries count as now."""
    return max((u.at for u in incident.updates if u.alert is not None), default=incident.started_at)


def delivered(incident: Incident, key: str) -> bool:
    """Whether this delivery (see delivery_key) is already on the incident's timeline."""
    return any(e.delivery == key for e in alert_events(incident))


def open_alert_ids(incident: Incident) -> set[str]:
    fired, resolved = set(), set()
    for event in alert_events(incident):
        (fired if event.condition == "Fired" else resolved).add(event.alert_id)
    return fired - resolved


class AlertIntake:
    def __init__(self, incidents: IncidentService, policy: Policy, *,
                 grouping_window: timedelta = timedelta(minutes=60), quiet_period: timedelta = timedelta(minutes=15),
                 public_base_url: str | None = None, maintenance: MaintenanceService | None = None) -> None:
        self.incidents, self.store, self.clock = incidents, incidents.store, incidents.clock
        self.maintenance = maintenance  # None: no window ever holds paging back
        self.policy = policy
        self.grouping_window, self.quiet_period = grouping_window, quiet_period
        self.public_base_url = public_base_url

    def receive(self, alert: Alert) -> Outcome:
        """Record one delivery. Safe to call again with the same delivery, concurrently or later."""
        fp, key = fingerprint(alert), delivery_key(alert)
        for _ in range(20):
            candidates = self.store.find(IncidentQuery(fingerprint=fp, limit=5)).items
            if alert.condition == "Resolved":
                return self._clear(alert, key, candidates)
            latest = max(candidates, key=lambda s: s.incident.source.generation, default=None)
            if latest is not None and self._groups(latest.incident):
                outcome = self._attach(alert, key, latest.incident.id)
                if outcome is not None:
                    return outcome
                continue  # the incident closed meanwhile: decide again
            generation = latest.incident.source.generation + 1 if latest else 1
            windows = self._maintenance_for(alert)
            try:
                created = self.store.add(self._draft(alert, fp, key, generation, windows))
            except AlreadyExists:
                continue  # a concurrent delivery created it: go and find it
            self._tell(NoticeKind.draft_created, created.incident, alert, maintenance=during(windows) or None)
            self.incidents.page_soon(created)
            return Outcome("created", created.incident.id)
        raise StoreUnavailable(f"could not settle alert {alert.alert_id}")

    def dismiss_quiet_drafts(self) -> list[str]:
        """Dismiss drafts whose alerts all cleared a quiet period ago and that no person has touched."""
        dismissed = []
        drafts = [s.incident for s in find_all(self.store, IncidentQuery(state=State.draft, limit=100))]
        for draft in drafts:
            if self._quiet(draft, self.clock()):
                after = self.incidents.update(draft.id, self._dismiss_if_quiet)
                if after.incident.state is State.dismissed:
                    dismissed.append(after.incident.id)
                    self._tell(NoticeKind.dismissed, after.incident, None, reason=after.incident.updates[-1].note)
        return dismissed

    # Deciding

    def _groups(self, incident: Incident) -> bool:
        if incident.state is State.dismissed or incident.status is Status.resolved:
            return False
        return self.clock() - last_alert_received(incident) <= self.grouping_window

    def _maintenance_for(self, alert: Alert) -> list[Maintenance]:
        """The windows in progress that hold every component of the alert's rule (none for an unknown rule)."""
        rule = self.policy.rule_for(alert.rule, alert.custom_properties)
        return self.maintenance.covering(rule.components) if self.maintenance and rule else []

    def _attach(self, alert: Alert, key: str, incident_id: str) -> Outcome | None:
        outcome: Outcome | None = None  # None: the incident stopped grouping before we could attach

        def decide(incident: Incident, now: datetime):
            nonlocal outcome
            outcome = None
            if delivered(incident, key):
                outcome = Outcome("duplicate", incident.id)
                return None
            if not self._groups(incident):
                return None
            outcome = Outcome("attached", incident.id)
            if len(incident.updates) >= DELIVERY_ROOM:
                return None  # counted, not recorded: the timeline keeps room for people
            return self._record(incident, alert, key, now)

        try:
            after = self.incidents.update(incident_id, decide)
        except IncidentTooLarge:  # counted, not recorded: the incident's last bytes are kept for resolving it
            return Outcome("attached", incident_id)
        if outcome and outcome.kind == "attached" and _resumed(after.incident):
            self.incidents.page_soon(after)
        if outcome and outcome.kind == "attached" and after.incident.state is State.draft:
            fired = sum(1 for e in alert_events(after.incident) if e.condition == "Fired")
            if fired == 2 or fired % 10 == 0:  # say that it grows, without a message per evaluation
                self._tell(NoticeKind.draft_grew, after.incident, alert)
        return outcome

    def _clear(self, alert: Alert, key: str, candidates: list[Stored]) -> Outcome:
        holder = next((s.incident for s in candidates
                       if any(e.alert_id == alert.alert_id for e in alert_events(s.incident))), None)
        if holder is None or holder.state is State.dismissed:
            return Outcome("ignored", holder.id if holder else None)
        duplicate = False

        def decide(incident: Incident, now: datetime):
            nonlocal duplicate
            duplicate = delivered(incident, key) or len(incident.updates) >= DELIVERY_ROOM
            return None if duplicate else self._record(incident, alert, key, now)

        try:
            after = self.incidents.update(holder.id, decide)
        except IncidentTooLarge:  # as a repeat past DELIVERY_ROOM: the incident's last bytes are for people
            return Outcome("duplicate", holder.id)
        if duplicate:
            return Outcome("duplicate", holder.id)
        if not open_alert_ids(after.incident):
            self._tell(NoticeKind.alert_cleared, after.incident, alert)
        return Outcome("cleared", holder.id)

    def _quiet(self, incident: Incident, now: datetime) -> bool:
        events = list(alert_events(incident))
        return (
            isinstance(incident.source, AlertSource)
            and incident.state is State.draft
            and all(u.author == AUTHOR for u in incident.updates)
            and any(e.condition == "Resolved" for e in events)
            and not open_alert_ids(incident)
            and now - last_alert_received(incident) >= self.quiet_period
        )

    def _dismiss_if_quiet(self, incident: Incident, now: datetime):
        if not self._quiet(incident, now):
            return None
        minutes = int(self.quiet_period.total_seconds() // 60)
        reason = f"Dismissed automatically: every alert cleared and stayed quiet for {minutes} minutes."
        return dismiss(incident, Dismissal(reason=reason), author=AUTHOR, now=now)

    # Writing

    def _draft(self, alert: Alert, fp: str, key: str, generation: int, windows: list[Maintenance] = ()) -> Incident:
        now = self.clock()
        rule = self.policy.rule_for(alert.rule, alert.custom_properties)
        wording = self.policy.wording_for(rule)
        severity = self.policy.severity_for(alert.rule, alert.azure_severity, alert.custom_properties)
        started = alert.fired_at if alert.fired_at <= now + CLOCK_SKEW else now
        escalation, note = start_escalation(self.policy.paging_snapshot(severity), now), describe(alert, rule)
        if windows:  # the escalation starts stopped: nobody is paged for what the maintenance explains
            escalation = stop_escalation(escalation, now, "maintenance")
            note = f"During maintenance {during(windows)}: its escalation is stopped, nobody is paged.\n{note}"
        source = AlertSource(alert_id=alert.alert_id, alert_rule=alert.rule, rule_key=rule.key if rule else None,
                             fingerprint=fp, generation=generation, target_ids=list(alert.target_ids),
                             fired_at=alert.fired_at)
        draft = Incident(
            id=f"inc-{fp}-{generation}", title=wording.title, severity=severity, status=Status.investigating,
            state=State.draft, public_message=wording.message, components=rule.components if rule else [],
            source=source, started_at=started, updated_at=now, escalation=escalation,
        )
        entry = _entry(draft, now, changes=["opened"], note=note[:2000], alert=_event(alert, key))
        return draft.model_copy(update={"updates": [entry]})

    def _record(self, incident: Incident, alert: Alert, key: str, now: datetime) -> tuple[Incident, Update]:
        fields, note = {"updated_at": now}, describe(alert, self.policy.rule_for(alert.rule, alert.custom_properties))
        escalation = incident.escalation
        if (escalation is not None and escalation.stopped_because == "maintenance" and incident.state is State.draft
                and alert.condition == "Fired" and not self._maintenance_for(alert)):
            fields["escalation"] = start_escalation(self.policy.paging_snapshot(incident.severity), now)
            note = f"The maintenance is over and the alert still fires: its escalation starts.\n{note}"[:2000]
        after = incident.model_copy(update=fields)
        entry = _entry(after, now, note=note, alert=_event(alert, key),
                       changes=["escalation"] if "escalation" in fields else [])
        return after.model_copy(update={"updates": [*incident.updates, entry]}), entry

    def _tell(self, kind: NoticeKind, incident: Incident, alert: Alert | None, *, reason: str | None = None,
              maintenance: str | None = None) -> None:
        # Links only from the configured base URL, never from a request's Host header: a forged Host would
        # otherwise send the on-call's token elsewhere.
        base = (self.public_base_url or "").rstrip("/")
        self.incidents.announce(
            kind, incident, alert_rule=alert.rule if alert else None, reason=reason,
            confirm_url=f"{base}/api/v1/admin/incidents/{incident.id}/confirm" if base else None,
            maintenance=maintenance,
        )


def during(windows: list[Maintenance]) -> str:
    """The windows, as the note and Slack name them: mnt-20261129-k7m2qx (Payments upgrade, until 02:30 UTC)."""
    return ", ".join(f"{m.id} ({m.title['en']}, until {m.ends_at:%Y-%m-%d %H:%M} UTC)" for m in windows)


def _resumed(incident: Incident) -> bool:
    """Whether the latest entry started the escalation again after a maintenance (see AlertIntake._record)."""
    return bool(incident.updates) and "escalation" in incident.updates[-1].changes


def _event(alert: Alert, key: str) -> AlertEvent:
    at = alert.resolved_at if alert.condition == "Resolved" and alert.resolved_at else alert.fired_at
    return AlertEvent(delivery=key, alert_id=alert.alert_id, condition=alert.condition, at=at,
                      azure_severity=alert.azure_severity)


def _entry(incident: Incident, now: datetime, **fields) -> Update:
    return next_entry(incident, now, AUTHOR, Visibility.internal, **fields)


def describe(alert: Alert, rule: AlertRule | None) -> str:
    """The alert's own details, for the on-call: internal only, never shown publicly."""
    lines = [
        f"Azure Monitor alert {alert.condition.lower()}: {alert.rule} ({alert.azure_severity})",
        f"Fired: {alert.fired_at:%Y-%m-%d %H:%M:%S} UTC"
        + (f", resolved: {alert.resolved_at:%Y-%m-%d %H:%M:%S} UTC" if alert.resolved_at else ""),
        *(f"Target: {target}" for target in alert.target_ids[:5]),
        *(f"{name.replace('_', ' ').capitalize()}: {value}" for name, value in alert.details.items()),
        f"Description: {alert.description}" if alert.description else "",
        f"Investigate: {alert.portal_link}" if alert.portal_link else "",
        f"Runbook: {rule.runbook}" if rule else "No runbook: this alert rule is not in the policy table.",
    ]
    return "\n".join(line for line in lines if line)[:2000]
