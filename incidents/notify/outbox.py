"""The pager port's local default: each page becomes a text file in a directory (PAGER_OUTBOX_DIRECTORY,
.local/outbox, which .gitignore keeps out of the repository), for a channel that has no service configured.

A developer reads the pages there as they would arrive: channel, to whom (the contact detail itself: this file is the
delivery, on the developer's own disk), subject and the text with its acknowledge link. Files are named
`<UTC time>-<page key>.txt`, so that `ls` lists them in order. A page whose key already has a file is not written
again, as a channel with an idempotency key would not deliver it twice. Each file is written whole or not at all
(a temporary file, then os.replace).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from ..domain.pager import OutgoingPage, PageFailed
from ..domain.policy import Channel

log = logging.getLogger(__name__)


def file_key(key: str) -> str:
    """The page key as part of a file name: / becomes _, and anything but letters, digits, . _ - becomes -."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", key.replace("/", "_"))


def _contact(page: OutgoingPage, channel: Channel) -> str:
    person = page.person
    detail = {Channel.email: person.email, Channel.sms: person.mobile, Channel.slack: f"<@{person.slack_user_id}>"}
    return f"{person.display_name} ({person.id}) {detail[channel]}"


class OutboxPager:
    """The pager port for one channel, into files: the local stand-in for a service that is not configured."""

    def __init__(self, directory: Path | str, channel: Channel, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.directory, self.channel, self._clock = Path(directory), Channel(channel), clock

    def __repr__(self) -> str:
        return f"OutboxPager({str(self.directory)!r}, {self.channel.value})"

    def path_of(self, key: str) -> Path | None:
        """The file of the page with this key, if it was written."""
        return next(iter(sorted(self.directory.glob(f"*-{file_key(key)}.txt"))), None)

    def send(self, page: OutgoingPage) -> None:
        if self.path_of(page.key) is not None:
            log.info("Page %s is already in the outbox", page.key)
            return
        now = self._clock().astimezone(timezone.utc)
        text = "\n".join([
            f"Channel: {self.channel.value}",
            f"To: {_contact(page, self.channel)}",
            f"Subject: {page.subject}",
            f"Key: {page.key}",
            f"Written: {now:%Y-%m-%dT%H:%M:%SZ}" + (" (during planned maintenance)" if page.during_maintenance else ""),
            "",
            page.text,
            "",
        ])
        path = self.directory / f"{now:%Y%m%dT%H%M%S%fZ}-{file_key(page.key)}.txt"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:  # the directory cannot be written: another attempt would not help
            raise PageFailed(f"page {page.key} could not be written to the outbox {self.directory}: "
                             f"{type(error).__name__} {error.strerror or ''}".rstrip(), transient=False) from None
        log.info("Page %s written to %s", page.key, path)
