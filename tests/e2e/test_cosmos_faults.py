"""Cosmos DB in trouble, over real HTTP: whatever Cosmos DB answers (429, 503, 404/1003, 401, or nothing for a long
time), the Azure Monitor webhook answers 503 with Retry-After within 8 s (Azure Monitor waits 10 s and retries 503,
never 404), and so do the admin routes. The store talks to the Cosmos stand-in through a loopback proxy that injects
the faults (tests/support/cosmos_fault_proxy.py); nothing is mocked."""

from __future__ import annotations

import itertools
import logging
import time

import pytest

from incidents.stores.cosmos import CosmosStore
from tests.e2e.test_alert_intake import alert

pytestmark = pytest.mark.cosmos
AZURE_MONITOR_WAITS_S = 10
ANSWER_WITHIN_S = 8
_names = itertools.count(1)


@pytest.fixture
def store(faults, cosmos_emulator):
    """The `api` fixture's store: Cosmos, through the fault proxy."""
    store = CosmosStore(faults.endpoint, "tests", f"e2e-faults-{next(_names)}-{time.time_ns()}",
                        key=cosmos_emulator.key, verify_tls=False)
    yield store
    store.close()


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


FAULTS = {
    "429 with x-ms-retry-after-ms 5000": dict(status=429, retry_after_ms=5000),
    "503": dict(status=503),
    "404/1003 container missing": dict(status=404, substatus=1003),
    "410/1002 partition gone": dict(status=410, substatus=1002, where="/docs"),
    "401 key refused": dict(status=401),
    "slow: 30 s per call": dict(delay=30),
    "slow: 2.9 s per call": dict(delay=2.9, slow_but_answers=True),  # each call answers, under the read timeout
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_the_webhook_answers_503_in_time_whatever_cosmos_does(api, faults, fault, caplog):
    caplog.set_level(logging.WARNING)
    fault = dict(fault)
    if "delay" in fault:
        faults.delay(fault["delay"])
    else:
        faults.answer(**fault)

    response, took = timed(lambda: api.post_alert(alert("metric-static", api.clock)))
    assert took < ANSWER_WITHIN_S < AZURE_MONITOR_WAITS_S
    if fault.get("slow_but_answers"):
        assert response.status_code in (202, 503), response.text  # stored in time, or given up on in time
        return
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Type"].startswith("application/problem+json")
    if fault.get("substatus") == 1003 or fault.get("status") == 401:
        assert any("COSMOS_" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)

    faults.heal()
    response = api.post_alert(alert("metric-static", api.clock))
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("fault", [dict(status=429, retry_after_ms=5000), dict(status=404, substatus=1003),
                                   dict(delay=30)], ids=["429", "404-1003", "slow"])
def test_admin_routes_answer_503_in_time(api, faults, fault):
    incident = api.create()
    fault = dict(fault)
    faults.delay(fault.pop("delay")) if "delay" in fault else faults.answer(**fault)
    for method, path, body in [("GET", "v1/admin/incidents", None),
                               ("GET", f"v1/admin/incidents/{incident['id']}", None),
                               ("PATCH", f"v1/admin/incidents/{incident['id']}", {"status": "identified"}),
                               ("POST", "v1/admin/incidents", {"title": "x", "severity": "sev3",
                                                               "public_message": "y"})]:
        response, took = timed(lambda m=method, p=path, b=body: api.request(m, p, json=b))
        assert response.status_code == 503, (method, path, response.text)
        assert "Retry-After" in response.headers and took < ANSWER_WITHIN_S, (method, path, took)
