"""POST /api/v1/admin/incidents with an Idempotency-Key, over real HTTP on both stores: a client that retries after a
timeout gets the first answer again and one incident exists (the key is the admin's own); the same key with another
body is refused with 422 (draft-ietf-httpapi-idempotency-key-header, section 2.7); a malformed key is a 400."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from incidents.domain.store import IncidentQuery
from tests.e2e.test_incident_api import assert_problem

BODY = {"title": "Payments failing", "severity": "sev1", "public_message": "We are investigating."}


def post(api, body=BODY, key="0b6c9f62-6a5e-4c43-8d1e-5b3f0e2a7c11", role="platform-admin", **claims):
    headers = {"Idempotency-Key": key} if key is not None else {}
    if claims:
        headers["Authorization"] = f"Bearer {api.token(role, **claims)}"
    return api.request("POST", "v1/admin/incidents", json=body, headers=headers)


def test_a_retried_post_answers_the_first_result_and_creates_one_incident(api, store):
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: post(api), range(4)))
    assert [a.status_code for a in answers] == [201] * 4
    assert len({a.json()["id"] for a in answers}) == 1
    assert len({a.headers["Location"] for a in answers}) == 1
    assert [s.incident.id for s in store.find(IncidentQuery()).items] == [answers[0].json()["id"]]
    assert post(api, key='"0b6c9f62-6a5e-4c43-8d1e-5b3f0e2a7c11"').json()["id"] == answers[0].json()["id"]


def test_the_same_key_with_another_body_is_refused(api, store):
    first = post(api)
    problem = assert_problem(post(api, body=BODY | {"severity": "sev2"}), 422, "Idempotency-Key", first.json()["id"],
                             "different body")
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert len(store.find(IncidentQuery()).items) == 1


def test_without_a_key_each_post_opens_an_incident(api, store):
    assert post(api, key=None).json()["id"] != post(api, key=None).json()["id"]


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve", "a\tb"])
def test_a_malformed_key_is_refused_at_the_door(api, store, key):
    assert_problem(post(api, key=key), 400, "Idempotency-Key")
    assert store.find(IncidentQuery()).items == []
