"""A property over every write route, over real HTTP on both stores: whatever the body, the answer is 2xx, or 4xx
problem+json that changes nothing; never a 5xx; and whatever was stored can be read back and published."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.domain.store import IncidentQuery, find_all
from incidents.site.publisher import publish
from incidents.site.sink_directory import DirectorySink
from tests.e2e.test_alert_intake import FIXTURES, KINDS

FIELDS = ["title", "severity", "public_message", "status", "state", "components", "started_at", "note", "reopen",
          "reason", "en", "fr"]
PLAUSIBLE = st.sampled_from([
    "sev1", "sev2", "sev4", "investigating", "resolved", "draft", "published", "Payments", "", " ", "\u200b",
    "2026-11-26T21:00:00Z", "0999-06-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "2026-11-26", "yes", "x\ny", "\x1b[31m", "²", "9" * 400, "<script>", "{{7*7}}",
])
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=30) | PLAUSIBLE)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5),
                    max_leaves=20)
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8).map(json.dumps),
    JSON.map(json.dumps),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
)
ALERT = json.loads((FIXTURES / f"{KINDS[0]}.json").read_text())
ESSENTIALS = sorted(ALERT["data"]["essentials"])
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


def snapshot(store) -> list[tuple[str, str]]:
    return [(s.incident.id, s.etag) for s in find_all(store, IncidentQuery(limit=100))]


def check(response, store, before) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json"), response.text
        assert snapshot(store) == before, f"a {response.status_code} changed the log: {response.text}"


def readable_and_publishable(api, store, tmp_path) -> None:
    for stored in find_all(store, IncidentQuery(limit=100)):
        assert store.get(stored.incident.id).incident == stored.incident
    assert api.request("GET", "v1/public/incidents", role=None).status_code == 200
    publish(store, DirectorySink(tmp_path / "published"), now=api.clock())


@PROPERTY
@given(route=st.sampled_from(["create", "change", "confirm", "dismiss"]), body=BODIES,
       content_type=st.sampled_from(["application/json", "application/problem+json", "text/plain"]),
       if_match=st.none() | st.sampled_from(["*", "", "W/\"x\"", "\"nope\"", "\x7f"]))
def test_any_body_on_the_admin_write_routes(api, store, tmp_path, route, body, content_type, if_match):
    draft = api.create(state="draft") if route in ("confirm", "dismiss") else None
    target = draft or api.create()
    method, path = {"create": ("POST", "v1/admin/incidents"),
                    "change": ("PATCH", f"v1/admin/incidents/{target['id']}"),
                    "confirm": ("POST", f"v1/admin/incidents/{target['id']}/confirm"),
                    "dismiss": ("POST", f"v1/admin/incidents/{target['id']}/dismiss")}[route]
    headers = {"Content-Type": content_type, **({"If-Match": if_match} if if_match is not None else {})}
    before = snapshot(store)
    check(api.request(method, path, data=body.encode("utf-8", "surrogatepass"), headers=headers), store, before)
    readable_and_publishable(api, store, tmp_path)


@PROPERTY
@given(changes=st.dictionaries(st.sampled_from(ESSENTIALS), JSON | PLAUSIBLE, min_size=1, max_size=4))
def test_any_essentials_on_the_webhook(api, store, tmp_path, changes):
    payload = json.loads(json.dumps(ALERT))
    payload["data"]["essentials"].update(changes)
    before = snapshot(store)
    check(api.post_alert(payload), store, before)
    readable_and_publishable(api, store, tmp_path)
