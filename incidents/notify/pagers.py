"""Which adapter pages on each channel, from the settings: the service when it is configured, else the local outbox.

Called by the composition root (incidents/bootstrap.py) when it builds the app, never at import. Building an adapter
opens no connection and imports no Azure SDK: that happens at the first page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..domain.pager import Pager
from ..domain.policy import Channel
from .acs import AcsEmailPager, AcsSmsPager
from .outbox import OutboxPager
from .slack import SlackPager


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class PagerSettings(Protocol):
    """What this reads of incidents.settings.Settings (adapters do not import the settings module)."""

    @property
    def slack_webhook_url(self) -> _Secret | None: ...
    @property
    def acs_connection_string(self) -> _Secret | None: ...
    @property
    def acs_endpoint(self) -> str | None: ...
    @property
    def acs_email_sender(self) -> str | None: ...
    @property
    def acs_sms_from(self) -> str | None: ...
    @property
    def pager_outbox_directory(self) -> Path | None: ...


def pagers_from_settings(settings: PagerSettings) -> dict[Channel, Pager]:
    """slack: SLACK_WEBHOOK_URL; email: ACS (ACS_CONNECTION_STRING, or ACS_ENDPOINT and the managed identity) and
    ACS_EMAIL_SENDER; sms: ACS and ACS_SMS_FROM. Without them, that channel's pages go to PAGER_OUTBOX_DIRECTORY, or
    the channel has no pager when that is unset either (the escalation runner records each page on it as failed)."""
    outbox = settings.pager_outbox_directory
    webhook = settings.slack_webhook_url.get_secret_value().strip() if settings.slack_webhook_url else ""
    acs: dict[str, str] | None = None
    if settings.acs_connection_string:
        acs = {"connection_string": settings.acs_connection_string.get_secret_value()}
    elif settings.acs_endpoint:
        acs = {"endpoint": settings.acs_endpoint}
    configured: dict[Channel, Pager | None] = {
        Channel.slack: SlackPager(webhook) if webhook else None,
        Channel.email: AcsEmailPager(settings.acs_email_sender, **acs) if acs and settings.acs_email_sender else None,
        Channel.sms: AcsSmsPager(settings.acs_sms_from, **acs) if acs and settings.acs_sms_from else None,
    }
    return {channel: pager or OutboxPager(outbox, channel) for channel, pager in configured.items()
            if pager is not None or outbox is not None}
