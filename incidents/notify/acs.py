"""The email and SMS adapters of the pager port, on Azure Communication Services (ACS) through its Python SDKs.

Each is built from a connection string (local development: `endpoint=https://<resource>.communication.azure.com/;
accesskey=<base64>`) or from the endpoint alone, then signing in with the app's managed identity
(DefaultAzureCredential). The SDKs and azure.identity are imported at the first page, not when this module is: the
Functions host imports the app on every cold start, and most cold starts send no page.

The bound: send() returns within `timeout` (SEND_TIMEOUT, 5 s, by default) whatever ACS does. The SDK gets no retries
of its own (retry_total=0: the escalation runner decides what to do next, and it knows the other channels), a
connection timeout of 2 s and a read timeout of `timeout`; the call runs in a worker thread abandoned at `timeout`,
which also bounds what the socket timeouts do not (signing in, a reply that trickles in).

Contact details are what a page is for, and never anything else: log lines and PageFailed messages name the page's
key, never the address or the number, and never repeat ACS's error text (which may quote them).
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..domain.pager import OutgoingPage, PageFailed
from ..domain.policy import Channel

log = logging.getLogger(__name__)
T = TypeVar("T")

SEND_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0
SMS_MAX = 459  # three concatenated GSM-7 segments (153 characters each)


def parse_connection_string(connection_string: str) -> tuple[str, str]:
    """(endpoint, access key) of an ACS connection string. The endpoint keeps its scheme (the SDKs' own parser turns
    every endpoint into https://, which a local stand-in cannot serve) and loses its trailing slash (the SDKs sign the
    host without it). ValueError names the part that is missing, never the string."""
    parts = {}
    for element in connection_string.split(";"):
        key, _, value = element.strip().partition("=")
        parts[key.lower()] = value.strip()
    endpoint, key = parts.get("endpoint", "").rstrip("/"), parts.get("accesskey", "")
    if not endpoint.startswith(("https://", "http://")) or not key:
        raise ValueError("ACS_CONNECTION_STRING must look like endpoint=https://<resource>.communication.azure.com/;"
                         "accesskey=<key>")
    return endpoint, key


class _AcsPager:
    channel: Channel
    _what: str  # "email" or "SMS", for messages

    def __init__(self, *, connection_string: str | None = None, endpoint: str | None = None, credential: Any = None,
                 timeout: float = SEND_TIMEOUT) -> None:
        if (connection_string is None) == (endpoint is None):
            raise ValueError("give either an ACS connection string or an ACS endpoint (with the managed identity)")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if connection_string is not None:
            self._endpoint, self._key = parse_connection_string(connection_string)
        else:
            assert endpoint is not None
            if not endpoint.startswith(("https://", "http://")):
                raise ValueError("ACS_ENDPOINT must be a URL such as https://<resource>.communication.azure.com")
            self._endpoint, self._key = endpoint.rstrip("/"), None
        self._credential, self.timeout = credential, timeout
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        auth = "access key" if self._key else "managed identity"
        return f"{type(self).__name__}({self._endpoint}, {auth}, timeout={self.timeout})"

    def _sdk_client(self) -> Any:
        with self._lock:
            if self._client is None:
                if self._key is not None:
                    from azure.core.credentials import AzureKeyCredential

                    credential: Any = AzureKeyCredential(self._key)
                else:
                    if self._credential is None:
                        from azure.identity import DefaultAzureCredential

                        self._credential = DefaultAzureCredential()
                    credential = self._credential
                options = {"retry_total": 0, "connection_timeout": min(CONNECT_TIMEOUT, self.timeout),
                           "read_timeout": self.timeout}
                self._client = self._make_client(self._endpoint, credential, options)
            return self._client

    def _make_client(self, endpoint: str, credential: Any, options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _bounded(self, page: OutgoingPage, call: Callable[[Any], T]) -> T:
        """call(client) in a worker thread abandoned at `timeout`; its errors as PageFailed."""
        outcome: list[tuple[bool, Any]] = []

        def run() -> None:
            try:
                outcome.append((True, call(self._sdk_client())))
            except BaseException as error:  # handed to the caller's thread
                outcome.append((False, error))

        worker = threading.Thread(target=run, name=f"acs-{self.channel.value}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if not outcome:
            raise PageFailed(f"ACS did not answer the {self._what} page {page.key} within {self.timeout:g} s",
                             transient=True)
        done, value = outcome[0]
        if done:
            return value
        raise _failure(value, f"ACS did not take the {self._what} page {page.key}") from None


def _failure(error: BaseException, what: str) -> PageFailed:
    """PageFailed for an SDK error, transient when another attempt may work. Only the status, the error's code and the
    exception's type name: the text of an ACS error may quote the recipient."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(error, HttpResponseError) and error.status_code is not None:
        status = error.status_code
        code = getattr(getattr(error, "error", None), "code", None)
        code = f" {code}" if isinstance(code, str) and code.isalnum() else ""
        return PageFailed(f"{what}: HTTP {status}{code}", transient=_transient_status(status))
    if isinstance(error, (ServiceRequestError, ServiceResponseError, TimeoutError, ConnectionError)):
        return PageFailed(f"{what}: {type(error).__name__}", transient=True)
    if isinstance(error, ClientAuthenticationError):  # no token for the managed identity: a configuration problem
        return PageFailed(f"{what}: {type(error).__name__} (can the app's identity sign in?)", transient=False)
    return PageFailed(f"{what}: {type(error).__name__}", transient=False)


def _transient_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


def email_html(page: OutgoingPage) -> str:
    """The page's words as a short HTML body: every piece of data escaped, the acknowledge link as a link."""
    lines = [f"<p><strong>{html.escape(page.subject)}</strong></p>"]
    role = page.who.replace("-", " ")
    attempt = f", attempt {page.attempt}" if page.attempt > 1 else ""
    lines.append(f"<p>You are paged as {html.escape(role)} (level {page.level}{attempt}).</p>")
    if page.acknowledge_url:
        lines.append(f'<p><a href="{html.escape(page.acknowledge_url, quote=True)}">Acknowledge this page</a></p>')
    else:
        route = f"POST /api/v1/admin/incidents/{html.escape(page.incident_id)}/acknowledge"
        lines.append(f"<p>Acknowledge with the admin API: <code>{route}</code></p>")
    return "\n".join(lines)


class AcsEmailPager(_AcsPager):
    """Pages by email. ACS answers 202 once it has queued the message: that is success here. Delivery takes longer
    (seconds to minutes) and is not waited for (polling=False): the escalation goes on until someone acknowledges."""

    channel = Channel.email
    _what = "email"

    def __init__(self, sender: str, *, connection_string: str | None = None, endpoint: str | None = None,
                 credential: Any = None, timeout: float = SEND_TIMEOUT) -> None:
        super().__init__(connection_string=connection_string, endpoint=endpoint, credential=credential,
                         timeout=timeout)
        self.sender = sender  # DoNotReply@<domain>: the resource's own address, not personal data

    def _make_client(self, endpoint: str, credential: Any, options: dict[str, Any]) -> Any:
        from azure.communication.email import EmailClient

        return EmailClient(endpoint, credential, **options)

    def send(self, page: OutgoingPage) -> None:
        message = {
            "senderAddress": self.sender,
            "recipients": {"to": [{"address": page.person.email, "displayName": page.person.display_name}]},
            "content": {"subject": page.subject, "plainText": page.text, "html": email_html(page)},
            # No tracking pixel and no rewritten links: the acknowledge link must reach the person as it is.
            "userEngagementTrackingDisabled": True,
        }
        poller = self._bounded(page, lambda client: client.begin_send(message, polling=False))
        try:
            operation = poller.result()["id"]  # from the 202's body, already read: no request
        except Exception:
            operation = "id unknown"
        log.info("Page %s queued by ACS email (operation %s)", page.key, operation)


def sms_text(page: OutgoingPage, limit: int = SMS_MAX) -> str:
    """The page's words within `limit` characters: the title is shortened, never the acknowledge link."""
    text = page.text
    if len(text) <= limit:
        return text
    subject, rest = text.split("\n", 1)
    room = limit - len(rest) - 1
    if room < 20:
        return text[:limit]
    return subject[: room - 3] + "...\n" + rest  # "..." and not "…", which would take the whole SMS out of GSM-7


class AcsSmsPager(_AcsPager):
    """Pages by SMS from the resource's phone number (ACS_SMS_FROM, bought in the portal). ACS answers 202 with one
    result per recipient: the page is sent when that result is successful."""

    channel = Channel.sms
    _what = "SMS"

    def __init__(self, from_number: str, *, connection_string: str | None = None, endpoint: str | None = None,
                 credential: Any = None, timeout: float = SEND_TIMEOUT) -> None:
        super().__init__(connection_string=connection_string, endpoint=endpoint, credential=credential,
                         timeout=timeout)
        self.from_number = from_number  # the resource's number, not personal data

    def _make_client(self, endpoint: str, credential: Any, options: dict[str, Any]) -> Any:
        from azure.communication.sms import SmsClient

        return SmsClient(endpoint, credential, **options)

    def send(self, page: OutgoingPage) -> None:
        text = sms_text(page)
        results = self._bounded(page, lambda client: client.send(self.from_number, [page.person.mobile], text))
        result = results[0] if results else None
        if result is None or not result.successful:
            status = getattr(result, "http_status_code", None) or 0
            raise PageFailed(f"ACS did not take the SMS page {page.key}: recipient status {status}",
                             transient=_transient_status(status))
        log.info("Page %s sent by ACS SMS (message %s)", page.key, result.message_id)
