"""Random and mutated payloads at the webhook, over real HTTP: never a 500, never a partial write."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.domain.store import IncidentQuery
from tests.e2e.test_alert_intake import FIXTURES, KINDS

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
DOCUMENTED = {kind: json.loads((FIXTURES / f"{kind}.json").read_text()) for kind in KINDS}


@st.composite
def mutated_alerts(draw) -> dict:
    payload = copy.deepcopy(DOCUMENTED[draw(st.sampled_from(KINDS))])
    for _ in range(draw(st.integers(1, 3))):
        node, path = payload, []
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
            path.append(key)
            parent, node = node, node[key]
        if path:
            if isinstance(parent, dict) and draw(st.booleans()):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(JSON)
    return payload


def snapshot(store) -> tuple[int, int]:
    items = store.find(IncidentQuery(limit=100)).items
    return len(items), sum(len(s.incident.updates) for s in items)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(mutated_alerts(), JSON))
def test_the_webhook_never_fails_and_never_writes_half(api, store, payload):
    before = snapshot(store)
    response = api.post_alert(json.dumps(payload), headers={"Content-Type": "application/json"})
    after = snapshot(store)
    assert response.status_code in (202, 400), response.text
    if response.status_code == 400:
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert after == before
    else:
        new_incidents, new_entries = after[0] - before[0], after[1] - before[1]
        assert (new_incidents, new_entries) in ((0, 0), (0, 1), (1, 1)), response.json()
