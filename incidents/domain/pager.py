"""The pager port: deliver one page (a person, a channel, an incident, an acknowledge link) to a person.

Nothing here knows about Azure, HTTP or Slack. Unlike a notice (notifier.py), a page must not fail silently: `send`
raises PageFailed, and the escalation runner retries, tries the level's next channel and records the failure on the
incident's timeline. Every adapter passes tests/integration/test_pager_conformance.py.

A page carries the person's contact details (that is what it is for): adapters use them to deliver and never log
them, never put them in an exception's message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .models import Severity
from .oncall import Person
from .policy import Channel


class PageFailed(Exception):
    """The channel did not take the page. `transient`: worth another attempt (429, 5xx, a timeout, no connection);
    otherwise (a refused address, a 4xx) retrying would not help. The message never holds contact details."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class OutgoingPage:
    key: str  # incident/level-N/attempt-N/person/channel: unique per page, an idempotency key where a channel has one
    channel: Channel
    person: Person = field(repr=False)
    incident_id: str
    title: str  # the incident's English title
    severity: Severity
    level: int
    attempt: int
    who: str  # why this person: "primary", "secondary" or a role such as "engineering-lead"
    acknowledge_url: str | None  # the signed one-use link; None when INCIDENTS_PUBLIC_BASE_URL is not set
    during_maintenance: bool = False

    @property
    def subject(self) -> str:
        """One line, short enough for an SMS: 'SEV1 inc-20261126-k7m2qx: Elevated error rates'."""
        return f"{self.severity.value.upper()} {self.incident_id}: {self.title}"

    @property
    def text(self) -> str:
        """The page's words, plain text, the same on every channel."""
        role = self.who.replace("-", " ")
        lines = [self.subject, f"You are paged as {role} (level {self.level}"
                 + (f", attempt {self.attempt})." if self.attempt > 1 else ").")]
        if self.acknowledge_url:
            lines.append(f"Acknowledge: {self.acknowledge_url}")
        else:
            lines.append(f"Acknowledge with the admin API: POST /api/v1/admin/incidents/{self.incident_id}/acknowledge")
        return "\n".join(lines)


class Pager(Protocol):
    channel: Channel

    def send(self, page: OutgoingPage) -> None:
        """Deliver the page, within a few seconds; PageFailed otherwise. The adapters' bounds (incidents/notify/):
        Slack 6 s with its own retries, ACS email and SMS 5 s for a single attempt, the outbox a local file write."""
