"""The Function App served over real HTTP on loopback by the local host, on the store under test.

The clock is injected through the composition root so tests can move time; everything else is real: HTTP, the
registered functions, the token validator (with a development key) and the store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from incidents import bootstrap
from incidents.http.auth import mint_token
from incidents.localhost import LocalHost
from incidents.settings import load_settings

FUNCTION_KEY = "test-function-key"


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 21, 43, tzinfo=timezone.utc))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Api:
    url: str  # http://127.0.0.1:port
    settings: object
    clock: Clock
    dev_key: Path

    def token(self, role: str = "platform-admin", **claims) -> str:
        s = self.settings
        return mint_token(self.dev_key, issuer=s.token_issuer, audience=s.token_audience, roles=[role], **claims)

    def headers(self, role: str = "platform-admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def request(self, method: str, path: str, *, role: str | None = "platform-admin", **kwargs) -> requests.Response:
        headers = {**(self.headers(role) if role else {}), **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/api/{path.lstrip('/')}", headers=headers, timeout=30, **kwargs)

    def post_alert(self, payload, *, key: str | None = FUNCTION_KEY, **kwargs) -> requests.Response:
        """What Azure Monitor does: POST the alert with the function key in the URL."""
        params = {"code": key} if key else {}
        body = {"json": payload} if not isinstance(payload, (bytes, str)) else {"data": payload}
        return requests.post(f"{self.url}/api/v1/alerts/azure-monitor", params=params, timeout=30, **body, **kwargs)

    def sweep(self):
        """What the escalation timer does every 30 s: page what is due at the clock's time."""
        return bootstrap.services().paging().sweep()

    def set_up_rotation(self, people: dict[str, dict]) -> None:
        """`people` added to the roster, in that order in a weekly rotation (Monday 10:00 Paris), as an admin does:
        on the test clock's Thursday 2026-11-26 the first is primary and the second secondary."""
        for person_id, person in people.items():
            response = self.request("POST", "v1/admin/oncall/people", json={"id": person_id, **person})
            assert response.status_code == 201, response.text
        rotation = {"people": list(people), "handover_weekday": "monday", "handover_time": "10:00",
                    "time_zone": "Europe/Paris", "first_handover": "2026-11-09"}
        response = self.request("PUT", "v1/admin/oncall/rotation", json=rotation)
        assert response.status_code == 200, response.text

    def create(self, **body) -> dict:
        body = {"title": "Login is failing", "severity": "sev1", "public_message": "We are investigating.", **body}
        response = self.request("POST", "v1/admin/incidents", json=body)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api_environ() -> dict[str, str]:
    """Extra settings for the app under test; a test module overrides this fixture to add its own."""
    return {}


@pytest.fixture
def api(store, roster_store, dev_key: Path, clock: Clock, api_environ: dict[str, str], tmp_path: Path) -> Iterator[Api]:
    import function_app

    settings = load_settings({"INCIDENTS_DEV_SIGNING_KEY": str(dev_key), "INCIDENTS_FUNCTION_KEY": FUNCTION_KEY,
                              "SITE_DIRECTORY": str(tmp_path / "site"), **api_environ})
    # Tests page by sweeping (Api.sweep, what the timer does), never in the background: a sweep writing on an
    # incident behind a test's back would make its ETags and timelines a race.
    bootstrap.use(bootstrap.build(settings, store=store, roster_store=roster_store, clock=clock, page_now=False))
    try:
        with LocalHost(function_app.app, port=0, function_key=FUNCTION_KEY, run_timers=False) as host:
            yield Api(host.url, settings, clock, dev_key)
    finally:
        bootstrap.shutdown()
        bootstrap.use(None)
