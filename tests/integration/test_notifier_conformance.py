"""What every notifier must do, then what the Slack adapter must put on the wire.

Slack itself cannot be reached from here, so SlackNotifier talks to `slack_sink` (tests/support/slack_sink.py): a
real HTTP server on 127.0.0.1 that records each webhook POST and answers with scripted statuses, Retry-After headers
or stalls. The shape of the message is checked against Slack's documented incoming-webhook payload (text + blocks).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone

import pytest

from incidents.domain.models import Incident
from incidents.domain.notifier import NoNotifier, Notice, NoticeKind, Notifier
from incidents.notify.slack import TOTAL_TIMEOUT, SlackNotifier, escape, fired_ago, notifier_from_url
from tests.support.slack_sink import SECRET_PATH, Reply, SlackSink

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
CONFIRM_URL = "https://func-x.azurewebsites.net/api/v1/admin/incidents/inc-0042/confirm"


def an_incident(**overrides) -> Incident:
    fields = {
        "id": "inc-0042", "title": {"en": "Checkout is slow", "fr": "Le paiement est lent"}, "severity": "sev1",
        "status": "investigating", "state": "draft", "public_message": {"en": "We are looking into it."},
        "source": {
            "alert_id": "/subscriptions/x/alerts/1", "alert_rule": "checkout-p95-latency", "fingerprint": "fp-checkout",
        },
        "started_at": T0, "updated_at": T0,
    }
    return Incident.model_validate(fields | overrides)


def a_notice(kind: NoticeKind = NoticeKind.draft_created, **overrides) -> Notice:
    fields = {
        "kind": kind, "incident": an_incident(), "at": T0 + timedelta(minutes=7), "fired_at": T0,
        "alert_rule": "checkout-p95-latency", "confirm_url": CONFIRM_URL,
    }
    if kind is NoticeKind.dismissed:
        fields |= {"incident": an_incident(state="dismissed"), "reason": "Planned load test"}
    return Notice(**(fields | overrides))


def no_sleep(seconds: float) -> None:
    pass


def slack(url: str, **options) -> SlackNotifier:
    return SlackNotifier(url, **({"sleep": no_sleep} | options))


# -- The port: every adapter ---------------------------------------------------------------------------------------

ADAPTERS = ("none", "slack", "slack-refused")


@pytest.fixture(params=ADAPTERS)
def notifier(request: pytest.FixtureRequest) -> tuple[Notifier, bool]:
    """(a notifier, whether it can deliver)."""
    if request.param == "none":
        return NoNotifier(), True
    if request.param == "slack":
        return slack(request.getfixturevalue("slack_sink").url), True
    return slack(request.getfixturevalue("closed_webhook_url"), timeout=1.0), False


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_send_returns_a_bool_and_never_raises(notifier: tuple[Notifier, bool], kind: NoticeKind) -> None:
    adapter, reachable = notifier
    assert adapter.send(a_notice(kind)) is reachable


def a_digest(*, with_gaps: bool):
    from incidents.domain.notifier import RosterDigest
    from incidents.domain.oncall import Gap, Layer, Person, Shift, Why

    person = Person(id="ada", display_name="Ada <!channel>", email="ada@example.org", mobile="+46700000001",
                    slack_user_id="U0ADA", time_zone="Europe/Stockholm")
    shift = Shift(layer=Layer.primary, person_id="ada", starts_at=T0 + timedelta(hours=2),
                  ends_at=T0 + timedelta(days=7, hours=2), why=[Why(source="rotation")])
    gaps = [Gap(layer=Layer.secondary, starts_at=T0 + timedelta(days=2), ends_at=T0 + timedelta(days=3))]
    return RosterDigest(at=T0, days=7, gaps=gaps if with_gaps else [], starting=[(shift, person)],
                        time_zone="Europe/Paris")


def test_send_digest_returns_a_bool_and_never_raises(notifier: tuple[Notifier, bool]) -> None:
    adapter, reachable = notifier
    assert adapter.send_digest(a_digest(with_gaps=True)) is reachable


@pytest.mark.parametrize("with_gaps", [True, False])
def test_the_daily_digest_names_gaps_and_mentions_who_starts_a_shift(slack_sink: SlackSink, with_gaps: bool) -> None:
    assert slack(slack_sink.url).send_digest(a_digest(with_gaps=with_gaps))
    text = slack_sink.requests[-1].body["text"]
    if with_gaps:  # told in the rotation's time zone
        assert "Nobody is on call" in text and "Secondary: Sat 28 Nov 13:00 (Europe/Paris) to Sun 29 Nov" in text
    else:
        assert "Someone is on call" in text and "Nobody" not in text
    assert "<@U0ADA> your primary shift starts Thu 26 Nov 15:00 (Europe/Stockholm)" in text  # in their own zone
    assert "ada@example.org" not in json.dumps(slack_sink.requests[-1].body)  # contact details stay in the store


def test_a_notice_is_immutable() -> None:
    with pytest.raises(AttributeError):
        a_notice().reason = "changed"  # type: ignore[misc]


def test_notifier_from_url() -> None:
    assert isinstance(notifier_from_url(None), NoNotifier)
    assert isinstance(notifier_from_url("  "), NoNotifier)
    assert isinstance(notifier_from_url("https://hooks.slack.com" + SECRET_PATH), SlackNotifier)
    with pytest.raises(ValueError) as raised:
        notifier_from_url("hooks.slack.com" + SECRET_PATH)
    assert SECRET_PATH not in str(raised.value)
    assert SECRET_PATH not in repr(SlackNotifier("https://hooks.slack.com" + SECRET_PATH))


# -- Slack: the message ----------------------------------------------------------------------------------------------


def sent(sink: SlackSink, notice: Notice) -> tuple[dict, str]:
    """Send one notice; (the JSON body Slack got, all of its mrkdwn text joined)."""
    assert slack(sink.url).send(notice) is True
    [request] = sink.requests
    assert request.path == SECRET_PATH
    assert request.headers["Content-Type"].startswith("application/json")
    body = request.body
    texts = [body["text"]] + [b["text"]["text"] for b in body["blocks"] if "text" in b]
    texts += [e["text"] for b in body["blocks"] for e in b.get("elements", [])]
    return body, "\n".join(texts)


def test_draft_created_says_what_and_how_to_confirm(slack_sink: SlackSink) -> None:
    body, text = sent(slack_sink, a_notice())
    assert body["text"] and body["blocks"]
    assert {block["type"] for block in body["blocks"]} <= {"section", "context"}
    for expected in ("SEV1", "Checkout is slow", "inc-0042", "fired 7 min ago", "checkout-p95-latency", "draft"):
        assert expected in text
    assert f'```curl -X POST {CONFIRM_URL} -H "Authorization: Bearer $TOKEN"```' in text
    dismiss = CONFIRM_URL.removesuffix("/confirm") + "/dismiss"
    assert f'curl -X POST {dismiss} -H "Authorization: Bearer $TOKEN"' in text
    assert """-H 'Content-Type: application/json' -d '{"reason": "..."}'""" in text
    assert "SEV1" in body["text"] and "Checkout is slow" in body["text"]


def test_draft_grew_also_has_the_confirm_call(slack_sink: SlackSink) -> None:
    _, text = sent(slack_sink, a_notice(NoticeKind.draft_grew))
    assert "grew" in text and f'curl -X POST {CONFIRM_URL}' in text


def test_dismissed_shows_the_reason(slack_sink: SlackSink) -> None:
    _, text = sent(slack_sink, a_notice(NoticeKind.dismissed))
    assert "Planned load test" in text and "dismissed" in text and "curl" not in text


def test_alert_cleared_says_the_incident_is_not_resolved_automatically(slack_sink: SlackSink) -> None:
    notice = a_notice(NoticeKind.alert_cleared, incident=an_incident(state="published"), confirm_url=None)
    _, text = sent(slack_sink, notice)
    assert "cleared" in text and "NOT* resolved automatically" in text and "an admin must resolve it" in text


def test_markup_from_data_is_escaped(slack_sink: SlackSink) -> None:
    notice = a_notice(
        incident=an_incident(title={"en": "<!channel> & <https://evil.example|click>"}),
        alert_rule="<!here> rule", reason="<@U123>",
    )
    body, text = sent(slack_sink, notice)
    raw = json.dumps(body)
    for markup in ("<!channel>", "<!here>", "<https://evil.example"):
        assert markup not in raw and markup not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(timedelta(seconds=59), "fired just now"), (timedelta(seconds=-5), "fired just now"),
     (timedelta(minutes=7, seconds=30), "fired 7 min ago"), (timedelta(hours=2), "fired 2 h ago"),
     (timedelta(hours=1, minutes=5), "fired 1 h 5 min ago")],
)
def test_fired_ago(elapsed: timedelta, expected: str) -> None:
    assert fired_ago(T0, T0 + elapsed) == expected


# -- Slack: retries, bounds and secrecy ------------------------------------------------------------------------------


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_a_5xx_is_retried_after_the_backoff(slack_sink: SlackSink) -> None:
    slack_sink.script([503, 200])
    sleeps = Sleeps()
    assert slack(slack_sink.url, sleep=sleeps, backoff=0.5).send(a_notice()) is True
    assert len(slack_sink.requests) == 2 and sleeps == [0.5]


def test_a_429_waits_for_retry_after(slack_sink: SlackSink) -> None:
    slack_sink.script([Reply(429, retry_after="1"), 200])
    notifier = SlackNotifier(slack_sink.url)  # the real sleep: the wait is the point here
    started = time.monotonic()
    assert notifier.send(a_notice()) is True
    assert len(slack_sink.requests) == 2 and 1.0 <= time.monotonic() - started < 2.5


def test_retry_after_is_capped(slack_sink: SlackSink) -> None:
    slack_sink.script([Reply(429, retry_after="3600"), 200])
    sleeps = Sleeps()
    assert slack(slack_sink.url, sleep=sleeps).send(a_notice()) is True
    assert sleeps == [5.0]


@pytest.mark.parametrize("status", [400, 403, 404, 302])
def test_other_4xx_or_a_redirect_is_not_retried(
    slack_sink: SlackSink, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    slack_sink.script([status])
    assert slack(slack_sink.url).send(a_notice()) is False
    assert len(slack_sink.requests) == 1 and f"HTTP {status}" in caplog.text


def test_all_failing_gives_up_after_attempts_without_leaking_the_url(
    slack_sink: SlackSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack_sink.script([500] * 10)
    sleeps = Sleeps()
    assert slack(slack_sink.url, attempts=4, backoff=0.25, sleep=sleeps).send(a_notice()) is False
    assert len(slack_sink.requests) == 4 and sleeps == [0.25, 0.5, 1.0]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "inc-0042" in warnings[0].getMessage()
    for record in caplog.records:
        assert SECRET_PATH not in record.getMessage() and "XXXXsecret" not in str(record.__dict__)


def test_connection_refused_does_not_leak_the_url(closed_webhook_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert slack(closed_webhook_url).send(a_notice()) is False
    assert "ConnectionRefusedError" in caplog.text and "XXXXsecret" not in caplog.text


def test_a_stalling_endpoint_is_bounded_by_the_timeout(slack_sink: SlackSink) -> None:
    slack_sink.script([Reply(200, stall=10)] * 3)
    started = time.monotonic()
    assert slack(slack_sink.url, timeout=0.3, attempts=2).send(a_notice()) is False
    assert len(slack_sink.requests) == 2 and time.monotonic() - started < 1.5


def test_a_stalling_endpoint_is_bounded_by_the_total_timeout(slack_sink: SlackSink) -> None:
    slack_sink.script([Reply(200, stall=10)] * 10)
    started = time.monotonic()
    notifier = SlackNotifier(slack_sink.url, timeout=0.5, attempts=10, backoff=0.1, total_timeout=1.2)
    assert notifier.send(a_notice()) is False
    assert time.monotonic() - started < 1.2 + 0.3 and len(slack_sink.requests) < 10


def test_the_defaults_stay_well_under_azure_monitors_10_seconds(slack_sink: SlackSink) -> None:
    """Always 429 with a long Retry-After, on a clock that the injected sleep moves forward (no real waiting)."""
    slack_sink.script([Reply(429, retry_after="5")] * 10)
    slept = Sleeps()
    notifier = SlackNotifier(slack_sink.url, sleep=slept, clock=lambda: time.monotonic() + sum(slept))
    started = time.monotonic()
    assert notifier.send(a_notice()) is False
    assert time.monotonic() - started + sum(slept) <= TOTAL_TIMEOUT <= 6.0
    assert slept == [5.0] and len(slack_sink.requests) == 2
