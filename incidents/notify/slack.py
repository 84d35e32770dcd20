"""The Slack adapter of the notifier port: one incoming-webhook message (Block Kit) per notice, over stdlib urllib.

The webhook URL is a secret (whoever holds it can post to the channel): it is never logged, never put in an
exception's message and not shown by repr().
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ..domain.deadline import time_left
from ..domain.models import AlertSource
from ..domain.notifier import NoNotifier, Notice, NoticeKind, Notifier

log = logging.getLogger(__name__)
MIN_NOTICE_S = 1.0

# The bound: send() returns within TOTAL_TIMEOUT (6 s) whatever Slack does, well under the 10 s Azure Monitor gives
# the webhook call that produced the notice. Every attempt and every wait is clipped to what is left of it, and an
# attempt still running at its deadline is abandoned (urlopen's timeout bounds each socket read, not a whole
# request). With the defaults the worst case is 3 s (timeout) + 0.5 s (backoff) + 2.5 s (clipped 2nd attempt).
TOTAL_TIMEOUT = 6.0
RETRY_AFTER_CAP = 5.0  # the longest a 429's Retry-After may make us wait
MIN_ATTEMPT = 0.5  # no retry with less time than this left after the wait
TEXT_MAX = 1500  # keeps every section under Block Kit's 3000 characters

_LABELS = {
    NoticeKind.draft_created: (":rotating_light:", "New draft incident"),
    NoticeKind.draft_grew: (":heavy_plus_sign:", "Draft incident grew"),
    NoticeKind.confirmed: (":white_check_mark:", "Incident confirmed and published"),
    NoticeKind.dismissed: (":no_entry_sign:", "Draft incident dismissed"),
    NoticeKind.alert_cleared: (":large_green_circle:", "Alert cleared"),
}


def escape(text: str) -> str:
    """Slack mrkdwn's control characters, so that data cannot make a link or a mention such as <!channel>."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _data(text: str, limit: int = TEXT_MAX) -> str:
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def fired_ago(fired_at: datetime, at: datetime) -> str:
    minutes = int((at - fired_at).total_seconds() // 60)
    if minutes < 1:
        return "fired just now"
    if minutes < 60:
        return f"fired {minutes} min ago"
    hours, minutes = divmod(minutes, 60)
    return f"fired {hours} h {minutes} min ago" if minutes else f"fired {hours} h ago"


def _details(notice: Notice) -> list[str]:
    kind, incident = notice.kind, notice.incident
    if kind in (NoticeKind.draft_created, NoticeKind.draft_grew):
        if not notice.confirm_url:
            return ["Confirm or dismiss it with the admin API."]
        confirm = notice.confirm_url  # shell-quoted: the command is meant to be pasted into a terminal
        lines = [f'Publish it:\n```curl -X POST {escape(shlex.quote(confirm))} -H "Authorization: Bearer $TOKEN"```']
        if confirm.endswith("/confirm"):
            dismiss = confirm.removesuffix("/confirm") + "/dismiss"
            lines.append(
                f'Or dismiss it:\n```curl -X POST {escape(shlex.quote(dismiss))} -H "Authorization: Bearer $TOKEN"'
                """ -H 'Content-Type: application/json' -d '{"reason": "..."}'```"""
            )
        return lines
    if kind is NoticeKind.confirmed:
        return ["It is now public on the status page."]
    if kind is NoticeKind.dismissed:
        return [f"*Reason:* {_data(notice.reason)}" if notice.reason else "No reason given."]
    # alert_cleared
    text = "The alert has cleared" + (f" ({_data(notice.reason)})." if notice.reason else ".")
    text += " A published incident is *NOT* resolved automatically: an admin must resolve it."
    if incident.state.value == "draft":
        text += " This draft stays open until an admin confirms or dismisses it."
    return [text]


def message(notice: Notice) -> dict[str, Any]:
    """The webhook payload: Block Kit blocks, and a plain fallback `text` for notifications."""
    incident = notice.incident
    source = incident.source if isinstance(incident.source, AlertSource) else None
    fired_at = notice.fired_at or (source.fired_at if source else None)
    rule = notice.alert_rule or (source.alert_rule if source else None)
    emoji, label = _LABELS[notice.kind]
    severity, title, ident = incident.severity.value.upper(), _data(incident.title["en"]), escape(incident.id)
    fired = fired_ago(fired_at, notice.at) if fired_at else None
    facts = [f"State: {incident.state.value}", f"Status: {incident.status.value}", fired, f"ID: `{ident}`"]
    facts.append(f"Rule: `{_data(rule, 200)}`" if rule else None)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} *{label}*: *{severity}* {title}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(f for f in facts if f)}]},
    ]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in _details(notice)]
    fallback = f"{emoji} {label}: {severity} {title} ({ident})" + (f", {fired}" if fired else "")
    return {"text": fallback, "blocks": blocks}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a webhook POST that is redirected was not delivered (urllib would re-send it as a GET)


_opener = urllib.request.build_opener(_NoRedirect)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    try:
        return max(0.0, float(headers.get("Retry-After")))  # type: ignore[union-attr, arg-type]
    except (AttributeError, TypeError, ValueError):
        return None  # absent, or an HTTP date: plain backoff


class SlackNotifier:
    def __init__(
        self,
        webhook_url: str,
        *,
        timeout: float = 3.0,
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        total_timeout: float = TOTAL_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            parts = urllib.parse.urlsplit(webhook_url)
            urllib.request.Request(webhook_url)
            valid = parts.scheme in ("https", "http") and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid:  # never say which URL: it is a secret
            raise ValueError("the Slack webhook URL must be an https:// URL") from None
        if attempts < 1 or timeout <= 0 or total_timeout <= 0:
            raise ValueError("attempts, timeout and total_timeout must be positive")
        self._url = webhook_url
        self._timeout, self._attempts, self._backoff = timeout, attempts, backoff
        self._sleep, self._total, self._clock = sleep, total_timeout, clock

    def __repr__(self) -> str:
        return f"SlackNotifier(<webhook URL hidden>, timeout={self._timeout}, attempts={self._attempts})"

    def send(self, notice: Notice) -> bool:
        try:
            what = f"{notice.kind} notice for incident {notice.incident.id}"
            body = json.dumps(message(notice)).encode()
        except Exception:
            log.exception("A Slack notice could not be built")  # the webhook URL plays no part here
            return False
        return self._deliver(body, what)

    def _deliver(self, body: bytes, what: str) -> bool:
        # Within a request (the webhook must answer Azure Monitor within 10 s), no longer than what is left of it,
        # but a second at least: the change is already stored, and this is the on-call's only word of it.
        left = time_left()
        deadline = self._clock() + (self._total if left is None else min(self._total, max(left, MIN_NOTICE_S)))
        attempt, problem = 0, "no attempt"
        while attempt < self._attempts:
            attempt += 1
            left = max(deadline - self._clock(), 0.05)  # > 0: urllib reads a timeout of 0 as non-blocking
            status, retry_after, problem = self._post(body, min(self._timeout, left))
            if status is not None and 200 <= status < 300:
                return True
            if status is not None and status != 429 and status < 500:
                break  # the request itself is wrong: sending it again will not help
            if attempt == self._attempts:
                break
            wait = min(retry_after, RETRY_AFTER_CAP) if retry_after is not None else self._backoff * 2 ** (attempt - 1)
            if deadline - self._clock() < wait + MIN_ATTEMPT:
                problem += "; no time left for another attempt"
                break
            self._sleep(wait)
        log.warning("Slack %s was not delivered after %d attempt(s): %s", what, attempt, problem)
        return False

    def _post(self, body: bytes, timeout: float) -> tuple[int | None, float | None, str]:
        """One attempt, abandoned at `timeout`: (HTTP status or None, Retry-After seconds, what happened)."""
        outcome: list[tuple[int | None, float | None, str]] = []
        worker = threading.Thread(target=lambda: outcome.append(self._request(body, timeout)), daemon=True)
        worker.start()
        worker.join(timeout)
        return outcome[0] if outcome else (None, None, "timed out")

    def _request(self, body: bytes, timeout: float) -> tuple[int | None, float | None, str]:
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "petanque-incidents"}
        request = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        try:
            with _opener.open(request, timeout=timeout) as response:
                response.read(4096)
                return response.status, None, f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            error.close()
            return error.code, _retry_after(error.headers), f"HTTP {error.code}"
        # Only type names from here on: an error's text may name the host or the URL.
        except urllib.error.URLError as error:
            reason = error.reason
            return None, None, type(reason).__name__ if isinstance(reason, BaseException) else "URLError"
        except Exception as error:
            return None, None, type(error).__name__


def notifier_from_url(url: str | None) -> Notifier:
    """The Slack notifier for a webhook URL, or NoNotifier when none is configured (None or empty).
    A URL that is not http(s) raises ValueError, whose message does not contain it."""
    if not url or not url.strip():
        return NoNotifier()
    return SlackNotifier(url.strip())
