"""The status site's timer function as the host sees it, and called without a host on each store."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from azure.functions.timer import TimerRequest

import function_app
from incidents.domain.models import Incident
from incidents.localhost import app_functions


def the_timer():
    [fn] = [fn for fn in app_functions(function_app.app) if fn.get_function_name() == "publish_status_site"]
    return fn


@pytest.fixture
def api_environ(tmp_path) -> dict[str, str]:
    return {"SITE_DIRECTORY": str(tmp_path / "site")}


def test_the_timer_runs_on_the_schedule_app_setting():
    trigger = the_timer().get_trigger().get_dict_repr()
    assert trigger["type"] == "timerTrigger" and trigger["schedule"] == "%SITE_PUBLISH_SCHEDULE%"
    assert not trigger.get("runOnStartup")


def test_the_timer_publishes_every_public_incident_of_the_store(api, store, clock, tmp_path):
    for n in range(105):  # more than one page of the store's query
        at = clock.now - timedelta(minutes=n)
        store.add(Incident.model_validate({
            "id": f"inc-20261126-{n:06d}", "title": f"Incident {n}", "severity": "sev3", "status": "investigating",
            "state": "draft" if n == 0 else "published", "public_message": "Looking.", "started_at": at,
            "updated_at": at}))
    api.create(title="Scores are late", severity="sev2")
    the_timer().get_user_function()(TimerRequest(past_due=False))
    status = json.loads((tmp_path / "site" / "status" / "en.json").read_text())
    assert len(status["active"]) == 105 and status["overall"]["code"] == "partial_outage"
    assert status["generated_at"] == clock.now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert "Incident 0<" not in (tmp_path / "site" / "index.html").read_text()  # a draft stays private
    assert "Scores are late" in (tmp_path / "site" / "index.html").read_text()
