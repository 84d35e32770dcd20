"""What every pager must do (domain/pager.py), then what each adapter puts on the wire, then which adapter a setting
picks.

Slack and Azure Communication Services cannot be reached from here, and a real page would wake a real person. So the
adapters talk to real HTTP servers on 127.0.0.1 that answer as those services do and can be scripted to fail:
`slack_sink` (tests/support/slack_sink.py) for Slack's incoming webhook, `acs_standin` (tests/support/acs_standin.py)
for ACS Email and SMS, which also checks the access key's HMAC signature. The outbox writes to tmp_path. Each adapter
has its own "read back what was delivered" helper, so the shared tests assert what the person would get.
"""

from __future__ import annotations

import html
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from incidents.domain.models import Severity
from incidents.domain.oncall import Person
from incidents.domain.pager import OutgoingPage, PageFailed, Pager
from incidents.domain.policy import Channel
from incidents.notify.acs import SEND_TIMEOUT, SMS_MAX, AcsEmailPager, AcsSmsPager, parse_connection_string
from incidents.notify.outbox import OutboxPager
from incidents.notify.pagers import pagers_from_settings
from incidents.notify.slack import TOTAL_TIMEOUT, SlackPager
from incidents.settings import load_settings
from tests.support.acs_standin import AcsStandIn, Reply
from tests.support.slack_sink import SECRET_PATH, SlackSink
from tests.support.slack_sink import Reply as SlackReply

ROOT = Path(__file__).parents[2]
EMAIL = "ada.oncall@example.org"  # example contact details, obviously fake
MOBILE = "+46700000000"
SLACK_ID = "U0ADA42"
CONTACT = {Channel.email: EMAIL, Channel.sms: MOBILE, Channel.slack: f"<@{SLACK_ID}>"}
ACK_URL = "https://func-x.example.net/api/v1/oncall/acknowledge/inc-0042?token=abc.def&level=1"
SENDER = "DoNotReply@example.net"
SMS_FROM = "+18005550100"
MARGIN = 0.6  # seconds a test allows over an adapter's bound (thread start, a slow machine)


def a_person() -> Person:
    return Person(id="ada", display_name="Ada Lovelace", email=EMAIL, mobile=MOBILE, slack_user_id=SLACK_ID,
                  time_zone="Europe/Paris")


def a_page(channel: Channel, **overrides) -> OutgoingPage:
    fields = {"key": f"inc-0042/level-1/attempt-1/ada/{channel.value}", "channel": channel, "person": a_person(),
              "incident_id": "inc-0042", "title": "Checkout is slow", "severity": Severity.sev1, "level": 1,
              "attempt": 1, "who": "primary", "acknowledge_url": ACK_URL}
    return OutgoingPage(**(fields | overrides))


def slack_text(body: dict) -> str:
    """What Slack shows of a webhook message: its mrkdwn texts, Slack's own escaping undone."""
    texts = [body["text"]] + [b["text"]["text"] for b in body["blocks"] if "text" in b]
    texts += [e["text"] for b in body["blocks"] for e in b.get("elements", [])]
    return "\n".join(texts).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# -- One rig per adapter: the pager, its receiver and how to read back what was delivered -------------------------


@dataclass
class Rig:
    channel: Channel
    pager: Pager
    delivered: Callable[[], list[tuple[str, str]]]  # (to whom, the text the person gets), one per page delivered
    bound: float  # send() returns within this many seconds
    failing: Callable[[str], Pager] | None = None  # "429", "503", "stall", "closed", "400": a pager that will see it


def slack_rig(sink: SlackSink, closed_url: str) -> Rig:
    options = {"timeout": 0.5, "total_timeout": 1.5, "backoff": 0.05}

    def delivered() -> list[tuple[str, str]]:
        return [(r.body["text"].split()[0], slack_text(r.body)) for r, answer in zip(sink.requests, sink.answers,
                                                                                      strict=True)
                if answer.status < 300 and not answer.stall]

    def failing(kind: str) -> Pager:
        replies = {"429": [SlackReply(429)] * 5, "503": [503] * 5, "stall": [SlackReply(200, stall=10)] * 5,
                   "400": [400]}
        sink.script(replies.get(kind, []))
        return SlackPager(closed_url if kind == "closed" else sink.url, **options)

    sink.script([])
    return Rig(Channel.slack, SlackPager(sink.url, **options), delivered, 1.5, failing)


def acs_rig(channel: Channel, standin: AcsStandIn, closed: str) -> Rig:
    def make(connection_string: str) -> Pager:
        if channel is Channel.email:
            return AcsEmailPager(SENDER, connection_string=connection_string, timeout=1.0)
        return AcsSmsPager(SMS_FROM, connection_string=connection_string, timeout=1.0)

    def delivered() -> list[tuple[str, str]]:
        if channel is Channel.email:
            return [(m["recipients"]["to"][0]["address"], m["content"]["plainText"]) for m in standin.emails()]
        return [(m["smsRecipients"][0]["to"], m["message"]) for m in standin.texts()]

    def failing(kind: str) -> Pager:
        replies = {"429": [429], "503": [503], "stall": [Reply(202, stall=10)], "400": [400]}
        standin.script(replies.get(kind, []))
        return make(closed if kind == "closed" else standin.connection_string)

    return Rig(channel, make(standin.connection_string), delivered, 1.0, failing)


def outbox_rig(directory: Path) -> Rig:
    def delivered() -> list[tuple[str, str]]:
        found = []
        for path in sorted(directory.glob("*.txt")):
            head, _, text = path.read_text().partition("\n\n")
            to = next(line.removeprefix("To: ") for line in head.splitlines() if line.startswith("To: "))
            found.append((to, text))
        return found

    return Rig(Channel.sms, OutboxPager(directory, Channel.sms), delivered, 1.0)


NETWORK = ("slack", "email", "sms")


def build_rig(name: str, request: pytest.FixtureRequest) -> Rig:
    if name == "slack":
        return slack_rig(request.getfixturevalue("slack_sink"), request.getfixturevalue("closed_webhook_url"))
    if name == "outbox":
        return outbox_rig(request.getfixturevalue("tmp_path") / "outbox")
    return acs_rig(Channel(name), request.getfixturevalue("acs_standin"),
                   request.getfixturevalue("closed_acs_connection_string"))


@pytest.fixture(params=(*NETWORK, "outbox"))
def rig(request: pytest.FixtureRequest) -> Rig:
    return build_rig(request.param, request)


@pytest.fixture(params=NETWORK)
def network_rig(request: pytest.FixtureRequest) -> Rig:
    return build_rig(request.param, request)


def timed_send(pager: Pager, page: OutgoingPage) -> float:
    started = time.monotonic()
    pager.send(page)
    return time.monotonic() - started


def timed_failure(pager: Pager, page: OutgoingPage) -> tuple[PageFailed, float]:
    started = time.monotonic()
    with pytest.raises(PageFailed) as raised:
        pager.send(page)
    return raised.value, time.monotonic() - started


# -- The port: every adapter -----------------------------------------------------------------------------------------


def test_a_page_reaches_the_person_with_its_subject_and_acknowledge_link_within_the_bound(rig: Rig) -> None:
    page = a_page(rig.channel)
    assert rig.pager.channel is rig.channel
    assert timed_send(rig.pager, page) < rig.bound + MARGIN
    [(to, text)] = rig.delivered()
    assert CONTACT[rig.channel] in to
    assert page.subject in text and ACK_URL in text


def test_without_a_link_the_page_says_how_to_acknowledge(rig: Rig) -> None:
    rig.pager.send(a_page(rig.channel, acknowledge_url=None))
    [(_, text)] = rig.delivered()
    assert "/api/v1/admin/incidents/inc-0042/acknowledge" in text and "https://" not in text


@pytest.mark.parametrize("failure", ["429", "503", "stall", "closed"])
def test_a_transient_failure_raises_transient_within_the_bound(network_rig: Rig, failure: str) -> None:
    assert network_rig.failing is not None
    pager = network_rig.failing(failure)
    error, elapsed = timed_failure(pager, a_page(network_rig.channel))
    assert error.transient is True
    assert elapsed < network_rig.bound + MARGIN
    assert network_rig.delivered() == [] or failure == "stall"  # a stalled answer may still count, as on Azure


def test_a_400_is_not_transient_and_is_not_retried(network_rig: Rig) -> None:
    assert network_rig.failing is not None
    pager = network_rig.failing("400")
    error, _ = timed_failure(pager, a_page(network_rig.channel))
    assert error.transient is False and "400" in str(error)
    assert network_rig.delivered() == []


def test_contact_details_stay_out_of_logs_errors_and_repr(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    page = a_page(rig.channel)
    rig.pager.send(page)
    errors = []
    if rig.failing:
        for failure in ("400", "closed", "429"):
            errors.append(timed_failure(rig.failing(failure), page)[0])
    said = [record.getMessage() for record in caplog.records] + [str(record.__dict__) for record in caplog.records]
    said += [str(error) for error in errors] + [repr(rig.pager), repr(page)]
    assert any(page.key in text for text in said)  # pages are named by their key
    for secret in (EMAIL, MOBILE, SLACK_ID, MOBILE.removeprefix("+"), SECRET_PATH):
        assert not [text for text in said if secret in text], secret


# -- Slack -----------------------------------------------------------------------------------------------------------


def test_slack_mentions_the_person_and_links_the_acknowledge_url(slack_sink: SlackSink) -> None:
    SlackPager(slack_sink.url).send(a_page(Channel.slack, attempt=2, who="engineering-lead"))
    [request] = slack_sink.requests
    assert request.path == SECRET_PATH and request.headers["Content-Type"].startswith("application/json")
    body = request.body
    assert body["text"].startswith(f"<@{SLACK_ID}>") and f"<@{SLACK_ID}>" in body["blocks"][0]["text"]["text"]
    raw = "\n".join(b["text"]["text"] for b in body["blocks"] if "text" in b)
    assert f"<{ACK_URL.replace('&', '&amp;')}|Acknowledge this page>" in raw  # a Slack link, data escaped
    text = slack_text(body)
    assert "SEV1 inc-0042: Checkout is slow" in text and "engineering lead" in text and "attempt 2" in text


def test_slack_escapes_markup_in_the_title(slack_sink: SlackSink) -> None:
    SlackPager(slack_sink.url).send(a_page(Channel.slack, title="<!channel> & <https://evil.example|click>"))
    [request] = slack_sink.requests
    raw = str(request.body)
    assert "<!channel>" not in raw and "<https://evil.example" not in raw
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in request.body["blocks"][0]["text"]["text"]


def test_slack_retries_a_5xx_with_the_notifiers_machinery(slack_sink: SlackSink) -> None:
    slack_sink.script([503, 200])
    SlackPager(slack_sink.url, backoff=0.01).send(a_page(Channel.slack))
    assert len(slack_sink.requests) == 2


def test_slack_gives_up_within_its_documented_bound(slack_sink: SlackSink) -> None:
    slack_sink.script([SlackReply(200, stall=30)] * 10)
    error, elapsed = timed_failure(SlackPager(slack_sink.url), a_page(Channel.slack))
    assert error.transient and elapsed < TOTAL_TIMEOUT + MARGIN and "timed out" in str(error)


# -- ACS: email and SMS ----------------------------------------------------------------------------------------------


def test_email_carries_subject_plain_text_and_escaped_html_without_tracking(acs_standin: AcsStandIn) -> None:
    page = a_page(Channel.email, title="Checkout <b>slow</b> & \"stuck\"")
    AcsEmailPager(SENDER, connection_string=acs_standin.connection_string).send(page)
    [request] = acs_standin.requests
    assert (request.method, request.path, request.query) == ("POST", "/emails:send", {"api-version": "2025-09-01"})
    assert request.signed
    message = request.body
    assert message["senderAddress"] == SENDER
    assert message["recipients"]["to"] == [{"address": EMAIL, "displayName": "Ada Lovelace"}]
    content = message["content"]
    assert content["subject"] == page.subject and content["plainText"] == page.text
    assert html.escape(page.subject) in content["html"] and "<b>slow</b>" not in content["html"]
    assert f'<a href="{html.escape(ACK_URL)}">' in content["html"]
    assert message["userEngagementTrackingDisabled"] is True  # ACS would otherwise rewrite the acknowledge link


def test_email_counts_202_accepted_as_sent_and_does_not_poll(acs_standin: AcsStandIn) -> None:
    acs_standin.script([Reply(202)])
    assert timed_send(AcsEmailPager(SENDER, connection_string=acs_standin.connection_string),
                      a_page(Channel.email)) < 1.0
    assert [(r.method, r.path) for r in acs_standin.requests] == [("POST", "/emails:send")]  # no GET of the operation


def test_sms_is_the_page_text_from_the_resources_number(acs_standin: AcsStandIn) -> None:
    page = a_page(Channel.sms)
    AcsSmsPager(SMS_FROM, connection_string=acs_standin.connection_string).send(page)
    [request] = acs_standin.requests
    assert (request.path, request.query, request.signed) == ("/sms", {"api-version": "2021-03-07"}, True)
    assert request.body["from"] == SMS_FROM and request.body["message"] == page.text
    assert [r["to"] for r in request.body["smsRecipients"]] == [MOBILE]


def test_a_long_sms_shortens_the_title_and_keeps_the_link_whole(acs_standin: AcsStandIn) -> None:
    long_url = ACK_URL + "&pad=" + "x" * 250
    page = a_page(Channel.sms, title="Elevated error rates " * 5, acknowledge_url=long_url)
    assert len(page.text) > SMS_MAX
    AcsSmsPager(SMS_FROM, connection_string=acs_standin.connection_string).send(page)
    [body] = acs_standin.texts()
    assert len(body["message"]) <= SMS_MAX and body["message"].endswith(f"Acknowledge: {long_url}")
    assert body["message"].startswith("SEV1 inc-0042: Elevated error rates") and "..." in body["message"]


@pytest.mark.parametrize(("recipient_status", "transient"), [(400, False), (429, True), (500, True)])
def test_an_sms_refused_for_its_recipient_fails(acs_standin: AcsStandIn, recipient_status: int,
                                                transient: bool) -> None:
    acs_standin.script([Reply(202, recipient_status=recipient_status)])
    pager = AcsSmsPager(SMS_FROM, connection_string=acs_standin.connection_string)
    error, _ = timed_failure(pager, a_page(Channel.sms))
    assert error.transient is transient and str(recipient_status) in str(error) and MOBILE not in str(error)


@pytest.mark.parametrize("channel", [Channel.email, Channel.sms])
def test_a_wrong_access_key_is_refused_as_on_azure(acs_standin: AcsStandIn, channel: Channel) -> None:
    wrong = f"endpoint={acs_standin.endpoint}/;accesskey={'QUJD' * 11}"
    pager = AcsEmailPager(SENDER, connection_string=wrong) if channel is Channel.email \
        else AcsSmsPager(SMS_FROM, connection_string=wrong)
    error, _ = timed_failure(pager, a_page(channel))
    assert error.transient is False and "401" in str(error)
    assert [r.signed for r in acs_standin.requests] == [False]


@pytest.mark.parametrize("channel", [Channel.email, Channel.sms])
def test_acs_tries_once_and_leaves_retries_to_the_escalation(acs_standin: AcsStandIn, channel: Channel) -> None:
    acs_standin.script([Reply(429, retry_after="1"), 202])
    pager = AcsEmailPager(SENDER, connection_string=acs_standin.connection_string) if channel is Channel.email \
        else AcsSmsPager(SMS_FROM, connection_string=acs_standin.connection_string)
    error, elapsed = timed_failure(pager, a_page(channel))
    assert error.transient and len(acs_standin.requests) == 1 and elapsed < 1.0


def test_acs_gives_up_within_its_documented_bound(acs_standin: AcsStandIn) -> None:
    acs_standin.script([Reply(202, stall=30)])
    pager = AcsSmsPager(SMS_FROM, connection_string=acs_standin.connection_string)
    assert pager.timeout == SEND_TIMEOUT == 5.0
    error, elapsed = timed_failure(pager, a_page(Channel.sms))
    assert error.transient and SEND_TIMEOUT - 0.5 < elapsed < SEND_TIMEOUT + MARGIN


def test_acs_settings_are_checked_without_echoing_the_key() -> None:
    assert parse_connection_string("endpoint=https://acs-x.communication.azure.com/;accesskey=c2VjcmV0") == (
        "https://acs-x.communication.azure.com", "c2VjcmV0")
    with pytest.raises(ValueError) as raised:
        parse_connection_string("accesskey=c2VjcmV0")
    assert "c2VjcmV0" not in str(raised.value)
    with pytest.raises(ValueError):
        AcsEmailPager(SENDER)  # neither a connection string nor an endpoint
    with pytest.raises(ValueError):
        AcsSmsPager(SMS_FROM, connection_string="endpoint=https://x/;accesskey=k", endpoint="https://x")
    pager = AcsSmsPager(SMS_FROM, connection_string="endpoint=https://acs-x.communication.azure.com/;accesskey=c2VjcmV0")
    assert "c2VjcmV0" not in repr(pager)


def test_nothing_imports_an_azure_sdk_before_the_first_page() -> None:
    """The Functions host imports the app on every cold start; the SDKs cost 100-200 ms and most starts page nobody."""
    code = ("import sys\n"
            "from incidents.notify.pagers import pagers_from_settings\n"
            "from incidents.settings import load_settings\n"
            "settings = load_settings({'AUTH_TENANT_ID': 't', 'AUTH_AUDIENCE': 'a', 'ACS_ENDPOINT': 'https://x',\n"
            "                          'ACS_EMAIL_SENDER': 'DoNotReply@example.net', 'ACS_SMS_FROM': '+18005550100'})\n"
            "pagers_from_settings(settings)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('azure.communication', 'azure.identity'))))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- The outbox ------------------------------------------------------------------------------------------------------


def test_the_outbox_writes_one_readable_file_per_page(tmp_path: Path) -> None:
    at = datetime(2026, 11, 26, 12, 0, 5, 123456, tzinfo=timezone.utc)
    pager = OutboxPager(tmp_path / "outbox", Channel.email, clock=lambda: at)
    page = a_page(Channel.email)
    pager.send(page)
    [path] = (tmp_path / "outbox").iterdir()
    assert path.name == "20261126T120005123456Z-inc-0042_level-1_attempt-1_ada_email.txt"
    text = path.read_text()
    assert text.startswith("Channel: email\nTo: Ada Lovelace (ada) ada.oncall@example.org\n"
                           "Subject: SEV1 inc-0042: Checkout is slow\n")
    assert text.endswith("\n\n" + page.text + "\n") and pager.path_of(page.key) == path


def test_the_outbox_writes_a_key_once(tmp_path: Path) -> None:
    pager = OutboxPager(tmp_path, Channel.sms)
    page = a_page(Channel.sms)
    pager.send(page)
    pager.send(page)
    pager.send(a_page(Channel.sms, key="inc-0042/level-2/attempt-1/ada/sms", level=2))
    assert len(list(tmp_path.glob("*.txt"))) == 2
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".txt")] == []  # no temporary file left


def test_an_outbox_that_cannot_be_written_fails_for_good(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    error, _ = timed_failure(OutboxPager(blocker / "outbox", Channel.slack), a_page(Channel.slack))
    assert error.transient is False and "inc-0042/level-1/attempt-1/ada/slack" in str(error)


def test_the_local_host_outbox_is_under_a_gitignored_directory_and_azure_has_none() -> None:
    from incidents.__main__ import OUTBOX_DIR

    assert OUTBOX_DIR.parts[0] == ".local"
    assert ".local/" in (ROOT / ".gitignore").read_text().splitlines()
    unset = pagers_from_settings(load_settings({"AUTH_TENANT_ID": "t", "AUTH_AUDIENCE": "a"}))
    assert unset == {}  # no service and no outbox: every page is recorded as failed, never written where nobody reads


# -- Which adapter a setting picks -----------------------------------------------------------------------------------

BASE = {"AUTH_TENANT_ID": "t", "AUTH_AUDIENCE": "a", "PAGER_OUTBOX_DIRECTORY": "/tmp/pages"}
CONNECTION = "endpoint=https://acs-x.communication.azure.com/;accesskey=c2VjcmV0"


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, {"slack": OutboxPager, "email": OutboxPager, "sms": OutboxPager}),
    ({"SLACK_WEBHOOK_URL": "https://hooks.slack.com" + SECRET_PATH},
     {"slack": SlackPager, "email": OutboxPager, "sms": OutboxPager}),
    ({"ACS_CONNECTION_STRING": CONNECTION, "ACS_EMAIL_SENDER": SENDER},
     {"slack": OutboxPager, "email": AcsEmailPager, "sms": OutboxPager}),
    ({"ACS_ENDPOINT": "https://acs-x.communication.azure.com", "ACS_SMS_FROM": SMS_FROM},
     {"slack": OutboxPager, "email": OutboxPager, "sms": AcsSmsPager}),
    ({"ACS_EMAIL_SENDER": SENDER, "ACS_SMS_FROM": SMS_FROM},  # a sender without ACS: still the outbox
     {"slack": OutboxPager, "email": OutboxPager, "sms": OutboxPager}),
])
def test_each_channel_gets_its_service_when_configured_else_the_outbox(environ: dict, expected: dict) -> None:
    pagers = pagers_from_settings(load_settings(BASE | environ))
    assert {channel.value: type(pager) for channel, pager in pagers.items()} == expected
    assert all(pager.channel is channel for channel, pager in pagers.items())
    for pager in pagers.values():
        if isinstance(pager, OutboxPager):
            assert pager.directory == Path("/tmp/pages")


def test_the_endpoint_alone_signs_in_with_the_managed_identity() -> None:
    pagers = pagers_from_settings(load_settings(BASE | {"ACS_ENDPOINT": "https://acs-x.communication.azure.com",
                                                        "ACS_EMAIL_SENDER": SENDER}))
    assert "managed identity" in repr(pagers[Channel.email])
    with_key = pagers_from_settings(load_settings(BASE | {"ACS_CONNECTION_STRING": CONNECTION,
                                                          "ACS_ENDPOINT": "https://other.example",
                                                          "ACS_EMAIL_SENDER": SENDER}))
    assert "access key" in repr(with_key[Channel.email]) and "acs-x" in repr(with_key[Channel.email])
