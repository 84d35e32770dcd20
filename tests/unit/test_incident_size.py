"""The byte budget of an incident (incidents/domain/size.py), on the models alone: no store, no stand-in (the Cosmos
stand-in accepts items of 3 MiB; Azure refuses anything over 2 MB)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from incidents.domain.models import MAX_UPDATES, Incident, IncidentChange, Status, incident_json
from incidents.domain.size import (
    CLOSING_RESERVE,
    COSMOS_ITEM_LIMIT,
    MAX_INCIDENT_BYTES,
    check_room,
    closes,
    incident_bytes,
    size_of,
)
from incidents.domain.store import IncidentTooLarge
from incidents.domain.workflow import apply_change

NOW = datetime(2026, 11, 26, 21, 43, tzinfo=timezone.utc)


def an_incident(updates: int) -> Incident:
    entry = {"id": "u1", "at": NOW, "status": "investigating", "severity": "sev1", "author": "ana",
             "visibility": "public", "message": {"en": "Looking."}}
    return Incident.model_validate({
        "id": "inc-1", "title": "Outage", "severity": "sev1", "status": "investigating", "state": "published",
        "public_message": "Looking.", "started_at": NOW, "updated_at": NOW,
        "updates": [entry | {"id": f"u{n}"} for n in range(1, updates + 1)],
    })


def test_sizes_are_utf8_json_as_cosmos_counts_them():
    assert size_of({"a": "é"}) == len('{"a":"é"}'.encode()) == 10
    assert size_of({"a": "\U0001f6a8"}) == 12


def test_incident_json_is_the_compact_dump_whatever_the_entries_went_through():
    """incident_json keeps each entry's JSON by object: an entry copied with a change, or an incident grown by an
    entry, is written as it now is, never as an entry it was copied from."""
    import json

    def dumped(incident: Incident) -> str:
        return json.dumps(incident.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))

    incident = an_incident(3).model_copy(update={"title": {"en": "Panne 🚨", "sv": "Avbrott \"åäö\""}})
    assert incident_json(incident) == dumped(incident)
    copied = incident.updates[0].model_copy(update={"note": "changed after the first dump"})
    edited = incident.model_copy(update={"updates": [copied, *incident.updates[1:]]})
    assert incident_json(edited) == dumped(edited) != incident_json(incident)
    grown, _ = apply_change(incident, IncidentChange(note="one more"), author="ana", now=NOW)
    assert incident_json(grown) == dumped(grown)
    assert incident_json(an_incident(0)) == dumped(an_incident(0))
    assert incident_bytes(grown) == len(dumped(grown).encode())


def test_kept_results_of_a_timeline_are_each_objects_own_wherever_the_new_objects_are():
    """KeptByObject.each looks kept objects up by id: new objects at the end, in the middle, or after the kept ones
    were cleared at the limit, are made, and each result is its own object's."""
    from incidents.domain.models import KeptByObject

    made = []
    kept = KeptByObject(lambda entry: made.append(entry.id) or entry.id.upper(), 5)
    timeline = an_incident(4).updates
    assert kept.each(timeline) == ["U1", "U2", "U3", "U4"] and made == ["u1", "u2", "u3", "u4"]
    middle = timeline[1].model_copy(update={"id": "u2b"})
    assert kept.each([*timeline[:1], middle, *timeline[2:]]) == ["U1", "U2B", "U3", "U4"]
    grown = [*timeline, timeline[0].model_copy(update={"id": "u5"}), timeline[0].model_copy(update={"id": "u6"})]
    assert kept.each(grown) == ["U1", "U2", "U3", "U4", "U5", "U6"]  # the limit of 5 clears the kept on the way
    assert made[:5] == ["u1", "u2", "u3", "u4", "u2b"] and kept.each(grown) == ["U1", "U2", "U3", "U4", "U5", "U6"]


def test_the_budget_leaves_room_under_cosmos_and_for_a_resolution():
    assert MAX_INCIDENT_BYTES + 150_000 < COSMOS_ITEM_LIMIT  # Cosmos DB's system properties and margin
    assert 50_000 < CLOSING_RESERVE < MAX_INCIDENT_BYTES // 10


def test_the_last_update_slot_is_kept_for_the_resolution():
    full = an_incident(MAX_UPDATES - 1)
    note, entry = apply_change(full, IncidentChange(note="still looking"), author="ana", now=NOW)
    with pytest.raises(IncidentTooLarge, match="kept for resolving"):
        check_room(full, note)
    resolved, _ = apply_change(full, IncidentChange(status=Status.resolved), author="ana", now=NOW)
    assert closes(full, resolved) and len(resolved.updates) == MAX_UPDATES
    check_room(full, resolved)  # accepted


def test_growth_past_the_reserve_is_refused_but_a_resolution_is_not():
    big = an_incident(1)
    padding = {"en": "x" * 2000, "fr": "é" * 2000, "es": "ñ" * 2000, "sv": "å" * 2000}
    while incident_bytes(big) <= MAX_INCIDENT_BYTES - CLOSING_RESERVE:
        big, _ = apply_change(big, IncidentChange(public_message=padding), author="ana", now=NOW)
    before = big.model_copy(update={"updates": big.updates[:-1]})
    with pytest.raises(IncidentTooLarge, match=r"may hold [\d,]+ \(the rest is kept for resolving it\)"):
        check_room(before, big)
    resolved, _ = apply_change(before, IncidentChange(status=Status.resolved, public_message=padding), author="ana",
                               now=NOW)
    check_room(before, resolved)
    assert incident_bytes(resolved) <= MAX_INCIDENT_BYTES
