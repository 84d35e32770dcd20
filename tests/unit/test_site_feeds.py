"""The machine-readable outputs: Statuspage-shaped api/v2 JSON against our JSON Schema, and the Atom feeds."""

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from incidents.domain.models import IncidentChange, NewIncident
from incidents.domain.workflow import apply_change, open_incident
from incidents.site.render import render_site

NOW = datetime(2026, 11, 26, 21, 43, tzinfo=timezone.utc)
BASE = "https://status.petanque.example"
SCHEMAS = Path(__file__).parents[1] / "fixtures" / "statuspage"
ATOM = "{http://www.w3.org/2005/Atom}"


def make(incident_id="inc-1", *, severity="sev2", components=("Payments",), opened=NOW - timedelta(hours=2),
         steps=(), title="Payments failing"):
    body = NewIncident(title=title, severity=severity, public_message="We are investigating failed payments.",
                       components=list(components))
    incident = open_incident(body, incident_id=incident_id, author="oncall", now=opened)
    for n, change in enumerate(steps, start=1):
        incident, _ = apply_change(incident, IncidentChange(**change), author="oncall",
                                   now=opened + timedelta(minutes=10 * n))
    return incident


def site(incidents, now=NOW, base_url=BASE):
    return {f.path: f.content for f in render_site(incidents, now=now, base_url=base_url)}


def validator(name):
    schemas = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


LIFECYCLE = [{"status": "identified", "public_message": "A faulty deploy is being rolled back."},
             {"status": "monitoring"}, {"status": "resolved", "public_message": "Payments work again."}]
SCENARIOS = {
    "nothing": [],
    "open": [make("inc-open", severity="sev1", components=("Payments", "Club reports"))],
    "mixed": [make("inc-open", severity="sev3", components=()),
              make("inc-done", steps=LIFECYCLE, opened=NOW - timedelta(days=40))],
}
ENDPOINTS = [("api/v2/summary.json", "summary"), ("api/v2/status.json", "status"),
             ("api/v2/components.json", "components"), ("api/v2/incidents.json", "incidents"),
             ("api/v2/incidents/unresolved.json", "incidents")]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(("path", "schema"), ENDPOINTS)
def test_statuspage_documents_match_the_schema(scenario, path, schema):
    document = json.loads(site(SCENARIOS[scenario])[path])
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(schema).iter_errors(document)]
    assert errors == []


def test_the_schema_rejects_what_statuspage_clients_would_not_understand():
    document = json.loads(site(SCENARIOS["open"])["api/v2/summary.json"])
    document["incidents"][0]["impact"] = "sev1"
    document["components"][0]["status"] = "down"
    assert len(list(validator("summary").iter_errors(document))) == 2


EVERY_COMPONENT = ("Payments", "Tournaments & results", "Website", "Mobile app", "Email notifications")


@pytest.mark.parametrize(("severities", "components", "indicator", "description"), [
    ([], (), "none", "All Systems Operational"),
    (["sev3"], ("Payments",), "minor", "Partially Degraded Service"),
    (["sev3"], (), "minor", "Degraded System Service"),  # an incident naming no component: the whole platform
    (["sev2", "sev3"], ("Payments",), "major", "Minor Service Outage"),
    (["sev2"], EVERY_COMPONENT, "major", "Partial System Outage"),
    (["sev1", "sev3"], ("Payments",), "critical", "Partial System Outage"),  # one Sev1 on one component of five
    (["sev1"], EVERY_COMPONENT, "critical", "Major Service Outage"),
    (["sev1"], (), "critical", "Major Service Outage"),
])
def test_the_indicator_follows_the_worst_component_and_the_words_how_many_it_hits(severities, components, indicator,
                                                                                   description):
    incidents = [make(f"inc-{n}", severity=s, components=components) for n, s in enumerate(severities)]
    status = json.loads(site(incidents)["api/v2/status.json"])["status"]
    assert status == {"indicator": indicator, "description": description}


def test_components_json_lists_every_component_as_summary_does():
    files = site([make(severity="sev1")])
    components = json.loads(files["api/v2/components.json"])
    summary = json.loads(files["api/v2/summary.json"])
    assert components == {"page": summary["page"], "components": summary["components"]}
    assert {c["name"]: c["status"] for c in components["components"]}["Payments"] == "major_outage"


@pytest.mark.parametrize(("severity", "impact", "component_status"), [
    ("sev3", "minor", "degraded_performance"),
    ("sev2", "major", "partial_outage"),
    ("sev1", "critical", "major_outage"),
])
def test_severity_maps_to_impact_and_component_status(severity, impact, component_status):
    summary = json.loads(site([make(severity=severity)])["api/v2/summary.json"])
    [incident] = summary["incidents"]
    assert incident["impact"] == impact
    assert [c["status"] for c in incident["components"]] == [component_status]
    assert {c["name"]: c["status"] for c in summary["components"]}["Payments"] == component_status
    assert {c["name"]: c["status"] for c in summary["components"]}["Website"] == "operational"


def test_an_incident_carries_its_lifecycle_times_and_updates_newest_first():
    opened = NOW - timedelta(hours=2)
    incidents = json.loads(site([make(steps=LIFECYCLE, opened=opened)])["api/v2/incidents.json"])["incidents"]
    [incident] = incidents
    at = [(opened + timedelta(minutes=10 * n)).strftime("%Y-%m-%dT%H:%M:%S.000Z") for n in range(4)]
    assert (incident["status"], incident["created_at"], incident["started_at"]) == ("resolved", at[0], at[0])
    assert (incident["monitoring_at"], incident["resolved_at"], incident["updated_at"]) == (at[2], at[3], at[3])
    assert incident["shortlink"] == f"{BASE}/history.html#inc-1" and incident["page_id"] == "petanque-life"
    updates = incident["incident_updates"]
    assert [u["status"] for u in updates] == ["resolved", "monitoring", "identified", "investigating"]
    assert [u["body"] for u in updates] == [
        "Payments work again.", "A fix has been implemented and we are monitoring the results.",
        "A faulty deploy is being rolled back.", "We are investigating failed payments."]
    assert {u["incident_id"] for u in updates} == {"inc-1"} and len({u["id"] for u in updates}) == 4
    assert json.loads(site([make(steps=LIFECYCLE)])["api/v2/incidents/unresolved.json"])["incidents"] == []


def test_incidents_json_holds_the_50_most_recent():
    incidents = [make(f"inc-{n:02}", opened=NOW - timedelta(hours=n + 1)) for n in range(55)]
    listed = json.loads(site(incidents)["api/v2/incidents.json"])["incidents"]
    assert [i["id"] for i in listed] == [f"inc-{n:02}" for n in range(50)]


def test_the_page_object_names_us_and_only_changes_with_the_incidents():
    quiet = json.loads(site([make(steps=LIFECYCLE)])["api/v2/status.json"])["page"]
    later = json.loads(site([make(steps=LIFECYCLE)], now=NOW + timedelta(hours=1))["api/v2/status.json"])["page"]
    assert quiet == later
    assert quiet == {"id": "petanque-life", "name": "Petanque Life", "url": f"{BASE}/", "time_zone": "Etc/UTC",
                     "updated_at": "2026-11-26T20:13:00.000Z"}


# ---- Atom ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("locale", ["en", "fr", "es", "sv"])
def test_each_locale_has_an_atom_feed_that_parses_with_stable_ids(locale):
    incidents = [make("inc-a", steps=LIFECYCLE), make("inc-b", severity="sev1")]
    feed = ET.fromstring(site(incidents)[f"feed/{locale}.atom"])
    again = ET.fromstring(site(incidents, now=NOW + timedelta(minutes=5))[f"feed/{locale}.atom"])
    assert feed.tag == f"{ATOM}feed"
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == locale
    assert feed.findtext(f"{ATOM}id").startswith("urn:uuid:") and feed.findtext(f"{ATOM}title")
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    home = "index.html" if locale == "en" else f"{locale}/index.html"
    assert links == {"self": f"{BASE}/feed/{locale}.atom", "alternate": f"{BASE}/{home}"}
    assert feed.findtext(f"{ATOM}updated") == "2026-11-26T20:13:00.000Z"
    entries = feed.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(ids) == 2 == len(set(ids)) and all(i.startswith("urn:uuid:") for i in ids)
    assert ids == [e.findtext(f"{ATOM}id") for e in again.findall(f"{ATOM}entry")]
    for entry in entries:
        assert entry.find(f"{ATOM}content").get("type") == "text"
        assert entry.findtext(f"{ATOM}updated") and entry.findtext(f"{ATOM}title") == "Payments failing"
        assert entry.find(f"{ATOM}link").get("href").startswith(f"{BASE}/")


def test_feed_entries_carry_the_public_updates_in_the_feeds_language():
    feed = ET.fromstring(site([make(steps=LIFECYCLE)])["feed/fr.atom"])
    [entry] = feed.findall(f"{ATOM}entry")
    content = entry.findtext(f"{ATOM}content")
    assert "Payments work again." in content and "Sous surveillance" in content and "Résolu" in content
    assert {c.get("term"): c.get("label") for c in entry.findall(f"{ATOM}category")} == {
        "resolved": "Résolu", "sev2": "Majeur"}
    assert entry.find(f"{ATOM}title").get("{http://www.w3.org/XML/1998/namespace}lang") == "en"


def test_the_feeds_self_link_is_its_absolute_address():
    feed = ET.fromstring(site([make()])["feed/sv.atom"])
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {"self": f"{BASE}/feed/sv.atom", "alternate": f"{BASE}/sv/index.html"}


def test_without_a_base_url_feed_links_are_relative_to_the_feed_and_there_is_no_self_link():
    feed = ET.fromstring(site([make()], base_url="")["feed/sv.atom"])
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {"alternate": "../sv/index.html"}  # a relative rel="self" is no address at all
    assert feed.find(f"{ATOM}entry/{ATOM}link").get("href") == "../sv/history.html#inc-1"
