"""The notifier port: tell the on-call channel that an incident draft appeared, grew, was confirmed or dismissed,
or that its alert cleared.

Nothing here knows about Azure, HTTP or Slack. A notice is best effort: `send` never raises, so a channel that is
down cannot fail alert intake or an admin's confirm. Every adapter passes
tests/integration/test_notifier_conformance.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from .models import Incident
from .oncall import Gap, Person, Shift


class NoticeKind(StrEnum):
    draft_created = "draft_created"  # an alert drafted a new incident, waiting for an admin
    draft_grew = "draft_grew"  # another alert joined an existing draft
    confirmed = "confirmed"  # an admin published the draft
    dismissed = "dismissed"  # an admin dismissed the draft
    alert_cleared = "alert_cleared"  # Azure Monitor resolved the alert; the incident itself is unchanged
    nobody_to_page = "nobody_to_page"  # an escalation level came due and the roster has nobody for it


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    incident: Incident  # the incident after the change
    at: datetime  # when it happened (UTC)
    fired_at: datetime | None = None  # when the alert first fired (for "fired 7 min ago")
    alert_rule: str | None = None
    reason: str | None = None  # the dismiss reason, or context for "alert cleared"
    confirm_url: str | None = None  # e.g. https://func-x.azurewebsites.net/api/v1/admin/incidents/<id>/confirm
    maintenance: str | None = None  # the maintenance in progress on the alert's components: nobody is paged


@dataclass(frozen=True)
class RosterDigest:
    """The daily on-call check: where the roster has nobody in the next `days` days, and who starts a shift within
    the next 24 hours (mentioned, so that they hear of it)."""

    at: datetime
    days: int
    gaps: list[Gap]
    starting: list[tuple[Shift, Person]]
    time_zone: str = "UTC"  # the rotation's: gaps are told in it


class Notifier(Protocol):
    def send(self, notice: Notice) -> bool:
        """Deliver the notice; True if delivered. Never raises: a failure is logged and returns False."""

    def send_digest(self, digest: RosterDigest) -> bool:
        """Deliver the daily on-call check, as `send` does."""


class NoNotifier:
    """The notifier when no channel is configured: accepts every notice and drops it."""

    def send(self, notice: Notice) -> bool:
        return True

    def send_digest(self, digest: RosterDigest) -> bool:
        return True

    def __repr__(self) -> str:
        return "NoNotifier()"
