"""The Slack adapters, over stdlib urllib and one incoming webhook: of the notifier port (a Block Kit message per
notice, with the Slack app's buttons when it is set up) and of the pager port (a message that mentions the person
paged), with the same bounded retries; the same bounded POST answers a tap on a button through its response_url.

The webhook URL is a secret (whoever holds it can post to the channel), and so is a response_url: neither is ever
logged, put in an exception's message or shown by repr().
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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain.deadline import time_left
from ..domain.models import AlertSource
from ..domain.notifier import NoNotifier, Notice, NoticeKind, Notifier, RosterDigest
from ..domain.oncall import zone
from ..domain.pager import OutgoingPage, PageFailed
from ..domain.policy import Channel
from .slack_buttons import actions_block

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
    NoticeKind.nobody_to_page: (":sos:", "Nobody to page"),
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


def _edit_hint(notice: Notice) -> str:
    """With the buttons: what Confirm publishes, and where the words are edited (the admin API, not Slack)."""
    where = "the admin API"
    if notice.confirm_url and notice.confirm_url.endswith("/confirm"):
        incident_url = escape(notice.confirm_url.removesuffix("/confirm")).replace("|", "%7C")
        where = f"the admin API (<{incident_url}|{escape(notice.incident.id)}>, or the command below)"
    return ("*Confirm and publish* posts the drafted title and message as they are, in all four languages. To edit "
            f"the words first, confirm with {where}, sending `title` and `public_message`.")


def _details(notice: Notice, buttons: bool = False) -> list[str]:
    kind, incident = notice.kind, notice.incident
    if kind in (NoticeKind.draft_created, NoticeKind.draft_grew):
        hint = [_edit_hint(notice)] if buttons else []
        if not notice.confirm_url:
            return [*hint, "Confirm or dismiss it with the admin API."]
        confirm = notice.confirm_url  # shell-quoted: the command is meant to be pasted into a terminal
        lines = [f'Publish it:\n```curl -X POST {escape(shlex.quote(confirm))} -H "Authorization: Bearer $TOKEN"```']
        if confirm.endswith("/confirm"):
            dismiss = confirm.removesuffix("/confirm") + "/dismiss"
            lines.append(
                f'Or dismiss it:\n```curl -X POST {escape(shlex.quote(dismiss))} -H "Authorization: Bearer $TOKEN"'
                """ -H 'Content-Type: application/json' -d '{"reason": "..."}'```"""
            )
        return hint + lines
    if kind is NoticeKind.confirmed:
        return ["It is now public on the status page."]
    if kind is NoticeKind.dismissed:
        return [f"*Reason:* {_data(notice.reason)}" if notice.reason else "No reason given."]
    if kind is NoticeKind.nobody_to_page:
        return [f"{_data(notice.reason or 'An escalation level came due with nobody on the roster to page.')} "
                "*Page someone by hand*, then fix the roster (`GET /api/v1/admin/oncall/gaps`)."]
    # alert_cleared
    text = "The alert has cleared" + (f" ({_data(notice.reason)})." if notice.reason else ".")
    text += " A published incident is *NOT* resolved automatically: an admin must resolve it."
    if incident.state.value == "draft":
        text += " This draft stays open until an admin confirms or dismisses it."
    return [text]


def message(notice: Notice, *, buttons: bool = False) -> dict[str, Any]:
    """The webhook payload: Block Kit blocks, and a plain fallback `text` for notifications. With `buttons` (the Slack
    app is set up), the actions the incident offers follow (notify/slack_buttons.py); the text reads the same."""
    incident = notice.incident
    source = incident.source if isinstance(incident.source, AlertSource) else None
    fired_at = notice.fired_at or (source.fired_at if source else None)
    rule = notice.alert_rule or (source.alert_rule if source else None)
    emoji, label = _LABELS[notice.kind]
    if notice.maintenance:  # an alert on components under maintenance in progress: nobody is paged
        label += " during maintenance"
    severity, title, ident = incident.severity.value.upper(), _data(incident.title["en"]), escape(incident.id)
    fired = fired_ago(fired_at, notice.at) if fired_at else None
    facts = [f"State: {incident.state.value}", f"Status: {incident.status.value}", fired, f"ID: `{ident}`"]
    facts.append(f"Rule: `{_data(rule, 200)}`" if rule else None)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} *{label}*: *{severity}* {title}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(f for f in facts if f)}]},
    ]
    if notice.maintenance:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": (
            f"*During maintenance* {_data(notice.maintenance, 500)}: its escalation is stopped: nobody is paged.")}})
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in _details(notice, buttons)]
    if buttons and (actions := actions_block(incident)) is not None:
        blocks.append(actions)
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


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    status: int | None  # the last HTTP status; None when nothing answered (a timeout, no connection)
    problem: str  # what happened, never the URL
    attempts: int


class _Webhook:
    """One incoming webhook: a POST retried on 429, 5xx, a timeout or no connection, all of it bounded in time."""

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
        return f"{type(self).__name__}(<webhook URL hidden>, timeout={self._timeout}, attempts={self._attempts})"

    def _post_retrying(self, body: bytes) -> _Outcome:
        # Within a request (the webhook must answer Azure Monitor within 10 s), no longer than what is left of it,
        # but a second at least: the change is already stored, and this is the on-call's only word of it.
        left = time_left()
        deadline = self._clock() + (self._total if left is None else min(self._total, max(left, MIN_NOTICE_S)))
        attempt, status, problem = 0, None, "no attempt"
        while attempt < self._attempts:
            attempt += 1
            left = max(deadline - self._clock(), 0.05)  # > 0: urllib reads a timeout of 0 as non-blocking
            status, retry_after, problem = self._post(body, min(self._timeout, left))
            if status is not None and 200 <= status < 300:
                return _Outcome(True, status, problem, attempt)
            if status is not None and status != 429 and status < 500:
                break  # the request itself is wrong: sending it again will not help
            if attempt == self._attempts:
                break
            wait = min(retry_after, RETRY_AFTER_CAP) if retry_after is not None else self._backoff * 2 ** (attempt - 1)
            if deadline - self._clock() < wait + MIN_ATTEMPT:
                problem += "; no time left for another attempt"
                break
            self._sleep(wait)
        return _Outcome(False, status, problem, attempt)

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


class SlackNotifier(_Webhook):
    def __init__(self, webhook_url: str, *, buttons: bool = False, **options: Any) -> None:
        super().__init__(webhook_url, **options)
        self.buttons = buttons  # the Slack app's buttons on each notice (SLACK_SIGNING_SECRET is set)

    def send_digest(self, digest: RosterDigest) -> bool:
        outcome = self._post_retrying(json.dumps(digest_message(digest)).encode())
        if not outcome.delivered:
            log.warning("Slack on-call check was not delivered after %d attempt(s): %s", outcome.attempts,
                        outcome.problem)
        return outcome.delivered

    def send(self, notice: Notice) -> bool:
        try:
            what = f"{notice.kind} notice for incident {notice.incident.id}"
            body = json.dumps(message(notice, buttons=self.buttons)).encode()
        except Exception:
            log.exception("A Slack notice could not be built")  # the webhook URL plays no part here
            return False
        outcome = self._post_retrying(body)
        if not outcome.delivered:
            log.warning("Slack %s was not delivered after %d attempt(s): %s", what, outcome.attempts, outcome.problem)
        return outcome.delivered


def digest_message(digest: RosterDigest) -> dict[str, Any]:
    """The daily on-call check: the gaps first (someone must fix them), then a mention of whoever starts a shift."""
    def local(at: datetime, zone_name: str) -> str:
        return f"{at.astimezone(zone(zone_name)):%a %d %b %H:%M} ({escape(zone_name)})"

    zone_name = digest.time_zone
    if digest.gaps:
        lines = [f":warning: *Nobody is on call* for these times in the next {digest.days} days. Add an override, or "
                 "move an absence:"]
        lines += [f"• {gap.layer.value.capitalize()}: {local(gap.starts_at, zone_name)} to "
                  f"{local(gap.ends_at, zone_name)}" for gap in digest.gaps[:20]]
    else:
        lines = [f":white_check_mark: Someone is on call, primary and secondary, for the next {digest.days} days."]
    for shift, person in digest.starting:
        lines.append(f":pager: <@{person.slack_user_id}> your {shift.layer.value} shift starts "
                     f"{local(shift.starts_at, person.time_zone)} and ends {local(shift.ends_at, person.time_zone)}.")
    text = "\n".join(lines)
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": _data(text, 2900)}}]}


def page_message(page: OutgoingPage) -> dict[str, Any]:
    """A page as a webhook payload: it mentions the person (Slack notifies them), then the page's words and link."""
    mention = f"<@{page.person.slack_user_id}>"  # the id's pattern (Person) leaves nothing to escape
    subject = _data(page.subject, 300)
    role = page.who.replace("-", " ")
    facts = [f"Paged as {escape(role)}", f"level {page.level}", f"attempt {page.attempt}" if page.attempt > 1 else None,
             "during planned maintenance" if page.during_maintenance else None, f"ID: `{escape(page.incident_id)}`"]
    if page.acknowledge_url:  # in a <url|text> link, | would end the URL
        acknowledge = f"*<{escape(page.acknowledge_url).replace('|', '%7C')}|Acknowledge this page>*"
    else:
        route = f"/api/v1/admin/incidents/{escape(page.incident_id)}/acknowledge"
        acknowledge = f"Acknowledge with the admin API: `POST {route}`"
    return {
        "text": f"{mention} :rotating_light: {subject}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f":rotating_light: {mention} *{subject}*"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(f for f in facts if f)}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": acknowledge}},
        ],
    }


class SlackPager(_Webhook):
    """The pager port on a Slack incoming webhook (the same one notices use): a message that mentions the person.

    send() returns within TOTAL_TIMEOUT (6 s) with the default options, retries included; it raises PageFailed when
    the last attempt failed, transient for a 429, a 5xx, a timeout or no connection."""

    channel = Channel.slack

    def send(self, page: OutgoingPage) -> None:
        outcome = self._post_retrying(json.dumps(page_message(page)).encode())
        if outcome.delivered:
            log.info("Page %s delivered to Slack", page.key)
            return
        transient = outcome.status is None or outcome.status == 429 or outcome.status >= 500
        raise PageFailed(f"Slack did not take page {page.key} after {outcome.attempts} attempt(s): {outcome.problem}",
                         transient=transient)


class SlackResponse(_Webhook):
    """A tap's response_url: one message that replaces the one tapped, or that only its tapper sees (ephemeral).
    Slack waits 3 s for the tap's answer, so this is bounded tighter than a notice: 2 s and two attempts by default."""

    def __init__(self, response_url: str, **options: Any) -> None:
        super().__init__(response_url, **({"timeout": 1.5, "attempts": 2, "backoff": 0.25, "total_timeout": 2.0}
                                           | options))

    def post(self, payload: dict[str, Any]) -> bool:
        outcome = self._post_retrying(json.dumps(payload).encode())
        if not outcome.delivered:
            log.warning("Slack's response_url did not take the answer after %d attempt(s): %s", outcome.attempts,
                        outcome.problem)
        return outcome.delivered


def notifier_from_url(url: str | None, *, buttons: bool = False) -> Notifier:
    """The Slack notifier for a webhook URL, or NoNotifier when none is configured (None or empty); with `buttons`,
    its messages carry the Slack app's buttons. A URL that is not http(s) raises ValueError, whose message does not
    contain it."""
    if not url or not url.strip():
        return NoNotifier()
    return SlackNotifier(url.strip(), buttons=buttons)
