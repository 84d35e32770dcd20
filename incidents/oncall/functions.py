"""Azure Functions of on-call: the roster's admin API (people, the rotation, roles, overrides; who is on call, the
schedule and its gaps), each person's calendar subscription, paging's timers (the escalation sweep, the daily
check) and the acknowledge link's page. Each one translates; the rules are in domain/roster.py, domain/oncall.py and
domain/paging.py.

Every part of the roster has its own ETag: send it back in If-Match to change that part only if nobody else did.

The link in every page (`/api/v1/oncall/acknowledge/<token>`) needs no bearer token: the token is signed with
ONCALL_LINK_SECRET and bound to the incident, the person and the level (domain/paging.py). GET only shows a page
with one button, so that link previews and mail scanners acknowledge nothing; the button POSTs.
"""

from __future__ import annotations

import functools
import hmac
import logging
import re
from functools import cache
from urllib.parse import urlsplit

import azure.functions as func

from ..bootstrap import services
from ..http.inputs import admin_name, if_match_etag, time_param
from ..http.problems import Problem, http_function, json_body, json_response

blueprint = func.Blueprint()
ADMIN = "v1/admin/oncall"
ANONYMOUS = func.AuthLevel.ANONYMOUS  # admin routes check the bearer token themselves
_DAYS = re.compile(r"[0-9]{1,3}")
log = logging.getLogger(__name__)


def _admin(req: func.HttpRequest) -> str:
    return admin_name(req, services)


def _tagged(part, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    """A Versioned part of the roster, with its ETag; a list as {"items": [...]}."""
    from ..domain.roster import as_json

    body = as_json(part.value)
    return json_response({"items": body} if isinstance(body, list) else body, status,
                         {"ETag": part.etag, **(headers or {})})


@cache
def _id_type(kind: str):
    from pydantic import TypeAdapter

    from ..domain.oncall import OverrideId, PersonId

    return TypeAdapter(PersonId if kind == "person" else OverrideId)


def _path_id(req: func.HttpRequest, kind: str) -> str:
    from pydantic import ValidationError

    value = req.route_params.get("id", "")
    try:
        return _id_type(kind).validate_python(value)
    except ValidationError:
        raise Problem(404, f"There is no {kind} with id '{value[:64]}'.") from None


def _location(req: func.HttpRequest, item_id: str) -> dict[str, str]:
    return {"Location": f"{urlsplit(req.url).path.rstrip('/')}/{item_id}"}


# People


@blueprint.route(route=f"{ADMIN}/people", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def list_oncall_people(req: func.HttpRequest) -> func.HttpResponse:
    _admin(req)
    return _tagged(services().roster.people())


@blueprint.route(route=f"{ADMIN}/people", methods=["POST"], auth_level=ANONYMOUS)
@http_function
def add_oncall_person(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.oncall import Person

    _admin(req)
    added = services().roster.add_person(json_body(req, Person))
    return _tagged(added, 201, _location(req, added.value.id))


@blueprint.route(route=f"{ADMIN}/people/{{id}}", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def get_oncall_person(req: func.HttpRequest) -> func.HttpResponse:
    _admin(req)
    return _tagged(services().roster.person(_path_id(req, "person")))


@blueprint.route(route=f"{ADMIN}/people/{{id}}", methods=["PUT"], auth_level=ANONYMOUS)
@http_function
def replace_oncall_person(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.oncall import Person

    _admin(req)
    person_id = _path_id(req, "person")
    data = json_body(req)
    if data.setdefault("id", person_id) != person_id:
        message = (f"the body's id is not '{person_id}', the id in the address: a person keeps their id "
                   "(add them again under the new id, then delete the old one)")
        raise Problem(422, f"id: {message}", errors=[{"field": "id", "message": message}])
    person = Person.model_validate(data)
    if_match = if_match_etag(req, f"person {person_id}")
    return _tagged(services().roster.replace_person(person, if_match=if_match))


@blueprint.route(route=f"{ADMIN}/people/{{id}}", methods=["DELETE"], auth_level=ANONYMOUS)
@http_function
def delete_oncall_person(req: func.HttpRequest) -> func.HttpResponse:
    _admin(req)
    person_id = _path_id(req, "person")
    services().roster.delete_person(person_id, if_match=if_match_etag(req, f"person {person_id}"))
    return func.HttpResponse(status_code=204)


@blueprint.route(route=f"{ADMIN}/people/{{id}}/calendar", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def oncall_calendar_address(req: func.HttpRequest) -> func.HttpResponse:
    """The address of the person's calendar: whoever has it can read their shifts, so only admins are given it."""
    from .calendar import calendar_url

    _admin(req)
    app = services()
    person_id = app.roster.person(_path_id(req, "person")).value.id
    base, secret = app.settings.incidents_public_base_url, app.settings.oncall_link_secret
    if not base:
        raise Problem(409, "Calendar addresses start with INCIDENTS_PUBLIC_BASE_URL, which is not set: set it to the "
                           "address people reach this app at, e.g. https://func-petanque.azurewebsites.net.")
    if secret is None:
        raise Problem(409, "Calendar addresses are signed with ONCALL_LINK_SECRET, which is not set: set it to a "
                           "random string of at least 32 characters.")
    return json_response({"url": calendar_url(base, secret.get_secret_value().encode(), person_id)})


# The rotation and the roles


@blueprint.route(route=f"{ADMIN}/rotation", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def get_oncall_rotation(req: func.HttpRequest) -> func.HttpResponse:
    _admin(req)
    return _tagged(services().roster.rotation())


@blueprint.route(route=f"{ADMIN}/rotation", methods=["PUT"], auth_level=ANONYMOUS)
@http_function
def put_oncall_rotation(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.oncall import Rotation

    _admin(req)
    rotation = json_body(req, Rotation)
    return _tagged(services().roster.put_rotation(rotation, if_match=if_match_etag(req, "the rotation")))


@blueprint.route(route=f"{ADMIN}/roles", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def get_oncall_roles(req: func.HttpRequest) -> func.HttpResponse:
    _admin(req)
    return _tagged(services().roster.roles())


@blueprint.route(route=f"{ADMIN}/roles", methods=["PUT"], auth_level=ANONYMOUS)
@http_function
def put_oncall_roles(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.roster import Roles

    _admin(req)
    roles = json_body(req, Roles).root
    return _tagged(services().roster.put_roles(roles, if_match=if_match_etag(req, "the roles")))


# Overrides


@blueprint.route(route=f"{ADMIN}/overrides", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def list_oncall_overrides(req: func.HttpRequest) -> func.HttpResponse:
    _admin(req)
    return _tagged(services().roster.overrides())


@blueprint.route(route=f"{ADMIN}/overrides", methods=["POST"], auth_level=ANONYMOUS)
@http_function
def add_oncall_override(req: func.HttpRequest) -> func.HttpResponse:
    """A cover ({"kind": "cover", "layer", "covered", "by", ...}) or an absence ({"kind": "away", "person", ...})."""
    from ..domain.roster import parse_override

    _admin(req)
    added = services().roster.add_override(parse_override(json_body(req)))
    return _tagged(added, 201, _location(req, added.value.id))


@blueprint.route(route=f"{ADMIN}/overrides/{{id}}", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def get_oncall_override(req: func.HttpRequest) -> func.HttpResponse:
    _admin(req)
    return _tagged(services().roster.override(_path_id(req, "override")))


@blueprint.route(route=f"{ADMIN}/overrides/{{id}}", methods=["DELETE"], auth_level=ANONYMOUS)
@http_function
def delete_oncall_override(req: func.HttpRequest) -> func.HttpResponse:
    _admin(req)
    override_id = _path_id(req, "override")
    services().roster.delete_override(override_id, if_match=if_match_etag(req, f"override {override_id}"))
    return func.HttpResponse(status_code=204)


# Who is on call, when


@blueprint.route(route=f"{ADMIN}/now", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def oncall_now(req: func.HttpRequest) -> func.HttpResponse:
    """Who is primary and secondary now (or `at`), and why."""
    _admin(req)
    return json_response(services().roster.on_call(time_param(req, "at")).model_dump(mode="json"))


@blueprint.route(route=f"{ADMIN}/schedule", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def oncall_schedule(req: func.HttpRequest) -> func.HttpResponse:
    """Every shift from `from` (default: now) to `to` (default: a week later), at most 90 days."""
    _admin(req)
    start, end = time_param(req, "from"), time_param(req, "to")
    try:
        found = services().roster.schedule(start, end)
    except ValueError as exc:
        raise Problem(400, f"Query parameters 'from' and 'to': {exc}.") from None
    return json_response(found.model_dump(mode="json"))


@blueprint.route(route=f"{ADMIN}/gaps", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def oncall_gaps(req: func.HttpRequest) -> func.HttpResponse:
    """Where a layer has nobody available in the next `days` days (default 14, at most 90)."""
    from ..domain.oncall import SCHEDULE_MAX

    _admin(req)
    days = req.params.get("days") or "14"
    if not _DAYS.fullmatch(days) or not 1 <= int(days) <= SCHEDULE_MAX.days:
        raise Problem(400, f"Query parameter 'days' must be a whole number from 1 to {SCHEDULE_MAX.days}.")
    return json_response(services().roster.gaps(int(days)).model_dump(mode="json"))


# A person's calendar, for calendar apps: no bearer token, the signed address is the credential


@blueprint.route(route="v1/oncall/calendar/{id}/{token}.ics", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def oncall_calendar(req: func.HttpRequest) -> func.HttpResponse:
    """The person's shifts for the next 90 days. Any address that is not one we signed is 404 without a reason, the
    same as for someone not in the roster, so the route tells nobody who exists."""
    from .calendar import calendar_token, person_calendar

    app = services()
    secret = app.settings.oncall_link_secret
    person_id, token = req.route_params.get("id", ""), req.route_params.get("token", "")
    nowhere = Problem(404, "There is no calendar at this address.")
    if secret is None:
        raise nowhere
    expected = calendar_token(secret.get_secret_value().encode(), person_id)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise nowhere
    roster = app.roster.roster()
    if roster.person(person_id) is None:
        raise nowhere
    body = person_calendar(roster, person_id, app.roster.clock())
    return func.HttpResponse(body, mimetype="text/calendar", charset="utf-8", headers={
        "Content-Disposition": f'inline; filename="oncall-{person_id}.ics"',
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer",  # the address is the credential: never send it on
    })


# Paging

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the address: never send it on
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}


@blueprint.timer_trigger(schedule="%ONCALL_SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False)
def run_escalations(timer: func.TimerRequest) -> None:
    services().paging().sweep()


@blueprint.timer_trigger(schedule="%ONCALL_DAILY_SCHEDULE%", arg_name="timer", run_on_startup=False)
def post_oncall_digest(timer: func.TimerRequest) -> None:
    services().paging().post_digest()


@blueprint.route(route="v1/oncall/acknowledge/{token}", methods=["GET", "HEAD", "POST"],
                 auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def acknowledge_link(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.paging import InvalidLink, read_ack_token
    from ..domain.store import NotFound
    from ..domain.workflow import AlreadyAcknowledged, WorkflowError

    app = services()
    secret = app.settings.oncall_link_secret
    try:
        if secret is None:
            raise InvalidLink("Acknowledge links are switched off here (ONCALL_LINK_SECRET is not set).")
        claim = read_ack_token(secret.get_secret_value().encode(), req.route_params.get("token", ""),
                               app.incidents.clock())
        incident = app.incidents.get(claim.incident_id).incident
    except InvalidLink as exc:
        return _page(410 if "expired" in str(exc) else 404, "This link cannot be used", str(exc), "refused")
    except NotFound:
        return _page(404, "No such incident", "The incident of this link no longer exists.", "refused")
    person = app.roster.get_person_or_none(claim.person_id)
    name = person.display_name if person else claim.person_id
    who = f"level {claim.level}"
    if incident.acknowledged_at is not None:  # a link acknowledges once: a second use says who did
        return _page(200 if req.method != "POST" else 409, "Already acknowledged", _already(incident), "done",
                     incident)
    if req.method != "POST":
        return _page(200, "Acknowledge this page?", None, "", incident, ask=True, who=who, person=name)
    try:
        stored = app.incidents.acknowledge(claim.incident_id, author=name,
                                           via=f"acknowledge link of the level {claim.level} page")
    except AlreadyAcknowledged:
        return _page(409, "Already acknowledged", _already(app.incidents.get(claim.incident_id).incident),
                     "done", incident)
    except WorkflowError as exc:
        return _page(409, "Nothing to acknowledge", str(exc), "refused", incident)
    log.info("incident %s acknowledged by %s through a link", claim.incident_id, claim.person_id)
    return _page(200, "Acknowledged", f"Thank you, {name}: paging has stopped. Confirm or dismiss the draft, and "
                                      "post updates, from the admin API.", "done", stored.incident)


def _already(incident) -> str:
    return (f"{incident.acknowledged_by or 'Someone'} acknowledged it at {incident.acknowledged_at:%H:%M} UTC; "
            "paging has stopped.")


def _page(status: int, heading: str, message: str | None, outcome: str, incident=None, **context) -> func.HttpResponse:
    facts = None
    if incident is not None:
        facts = {"id": incident.id, "title": incident.title["en"], "severity": incident.severity.value,
                 "state": incident.state.value, "status": incident.status.value}
    html = _template().render(heading=heading, message=message, outcome=outcome, incident=facts,
                              ask=context.get("ask", False), who=context.get("who"), person=context.get("person"))
    return func.HttpResponse(html, status_code=status, headers=PAGE_HEADERS, mimetype="text/html", charset="utf-8")


@functools.cache
def _template():
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    templates = Path(__file__).resolve().parents[2] / "templates"
    return Environment(loader=FileSystemLoader(templates), autoescape=True,
                       undefined=StrictUndefined).get_template("acknowledge.html")
