"""Azure Monitor's "secure webhook": with ALERTS_AAD_AUDIENCE set, the webhook also needs an Entra ID token issued
to the AzNS AAD Webhook app with the ActionGroupsSecureWebhook role. Entra ID's JWKS endpoint cannot be reached
here: a loopback server publishes our own test keys instead (tests/support/identity.py)."""

from __future__ import annotations

import pytest
import requests

from incidents.domain.store import IncidentQuery
from incidents.http.auth import AZURE_MONITOR_APP_ID, WEBHOOK_ROLE
from tests.e2e.test_alert_intake import alert
from tests.e2e.test_incident_api import assert_problem
from tests.support.identity import TEST_ISSUER

WEBHOOK_AUDIENCE = "api://petanque-incidents-webhook"


@pytest.fixture
def api_environ(jwks_server) -> dict[str, str]:
    return {"ALERTS_AAD_AUDIENCE": WEBHOOK_AUDIENCE, "ALERTS_AAD_ISSUER": TEST_ISSUER,
            "ALERTS_AAD_JWKS_URL": jwks_server.url}


def bearer(token_factory, **overrides) -> dict[str, str]:
    claims = {"roles": [WEBHOOK_ROLE], "audience": WEBHOOK_AUDIENCE, "appid": AZURE_MONITOR_APP_ID, **overrides}
    return {"Authorization": f"Bearer {token_factory(**claims)}"}


def post_secure(api, payload, headers=None):
    """What Azure Monitor does with a secure webhook receiver: no key in the URL, its Entra ID token in the header."""
    return requests.post(f"{api.url}/api/v1/alerts/azure-monitor/secure", json=payload, headers=headers or {},
                         timeout=30)


def post_with_key(api, payload, headers=None):
    """The fallback route: the function key in the URL, and the token too once ALERTS_AAD_AUDIENCE is set."""
    return api.post_alert(payload, headers=headers or {})


ROUTES = pytest.mark.parametrize("post", [post_secure, post_with_key], ids=["secure", "key"])


@ROUTES
def test_azure_monitors_token_is_accepted(api, store, token_factory, post):
    response = post(api, alert("metric-static", api.clock), bearer(token_factory))
    assert response.status_code == 202, response.text
    assert len(store.find(IncidentQuery()).items) == 1


@ROUTES
@pytest.mark.parametrize(("overrides", "status", "words"), [
    (None, 401, "Authorization header is missing"),
    ({"appid": "00000000-0000-0000-0000-000000000000"}, 401, "client application"),
    ({"audience": "api://something-else"}, 401, "audience"),
    ({"roles": ["platform-admin"]}, 403, WEBHOOK_ROLE),
])
def test_anything_else_is_refused_and_writes_nothing(api, store, token_factory, post, overrides, status, words):
    headers = {} if overrides is None else bearer(token_factory, **overrides)
    assert_problem(post(api, alert("metric-static", api.clock), headers), status, words)
    assert store.find(IncidentQuery()).items == []


def test_the_function_key_is_still_required_on_the_key_route(api, token_factory):
    response = api.post_alert(alert("metric-static", api.clock), key=None, headers=bearer(token_factory))
    assert response.status_code == 401
