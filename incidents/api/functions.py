"""HTTP functions of the incident log. Each one translates: it checks who calls, parses the request, calls the
service once, and turns the result or the error into a response. The rules live in workflow.py and service.py."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

import azure.functions as func

from ..bootstrap import services
from ..http.inputs import admin_name, if_match_etag
from ..http.inputs import time_param as _time_param
from ..http.problems import Problem, http_function, json_body, json_response

blueprint = func.Blueprint()

MAX_PAGE = 100
PUBLIC_CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30"
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, OPTIONS",
        "Access-Control-Max-Age": "86400"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:~+/=-]{1,255}")
_LIMIT = re.compile(r"[0-9]{1,4}")  # ASCII digits only: str.isdigit() also takes "²"


def _admin(req: func.HttpRequest) -> str:
    """The name of the platform admin making the request (401/403 otherwise)."""
    return admin_name(req, services)


def _incident(stored, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    from ..domain.models import incident_json

    return func.HttpResponse(incident_json(stored.incident), status_code=status, mimetype="application/json",
                             charset="utf-8", headers={"ETag": stored.etag, **(headers or {})})


def _incident_id(req: func.HttpRequest) -> str:
    incident_id = req.route_params.get("id", "")
    if not _ID.match(incident_id):
        raise Problem(404, f"There is no incident with id '{incident_id[:100]}'.")
    return incident_id


def _enum_param(req: func.HttpRequest, name: str, enum):
    value = req.params.get(name)
    if value is None or value == "":
        return None
    try:
        return enum(value)
    except ValueError:
        raise Problem(400, f"Query parameter '{name}' must be one of: {', '.join(e.value for e in enum)}.") from None


def _limit_param(req: func.HttpRequest, default: int = 50) -> int:
    value = req.params.get("limit") or str(default)
    if not _LIMIT.fullmatch(value) or not 1 <= int(value) <= MAX_PAGE:
        raise Problem(400, f"Query parameter 'limit' must be a whole number from 1 to {MAX_PAGE}.")
    return int(value)


def _idempotency_key(req: func.HttpRequest) -> str | None:
    """The optional Idempotency-Key header: Stripe's plain form (a UUID) or the IETF draft's quoted string."""
    value = req.headers.get("Idempotency-Key")
    if value is None:
        return None
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise Problem(400, "Header 'Idempotency-Key' must be 1 to 255 letters, digits or - _ . : ~ + / =, e.g. a UUID "
                           "that you make for this request and send again with each retry of it.",
                      errors=[{"field": "Idempotency-Key", "message": "1 to 255 letters, digits or - _ . : ~ + / ="}])
    return key


def _next_link(req: func.HttpRequest, names: tuple[str, ...], token: str | None) -> str | None:
    if token is None:
        return None
    query = {n: req.params[n] for n in names if req.params.get(n)}
    return f"{urlsplit(req.url).path}?{urlencode({**query, 'page': token})}"


def _paged(read: Callable, *args, **kwargs):
    try:
        return read(*args, **kwargs)
    except ValueError as exc:  # an unreadable page token
        raise Problem(400, f"Query parameter 'page' is not valid ({exc}); start again without it.") from None


@blueprint.route(route="v1/admin/incidents", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def create_incident(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.models import NewIncident

    author = _admin(req)
    key = _idempotency_key(req)
    body = json_body(req, NewIncident)
    try:
        stored = services().incidents.create(body, author=author, idempotency_key=key)
    except ValueError as exc:
        raise Problem(422, f"started_at: {exc}", errors=[{"field": "started_at", "message": str(exc)}]) from None
    location = f"{urlsplit(req.url).path.rstrip('/')}/{stored.incident.id}"
    return _incident(stored, 201, {"Location": location})


@blueprint.route(route="v1/admin/incidents", methods=["GET", "HEAD"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def list_incidents(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.models import Severity, State, Status
    from ..domain.store import IncidentQuery

    _admin(req)
    state = _enum_param(req, "state", State)
    order = req.params.get("order") or ("oldest" if state is State.draft else "newest")
    if order not in ("oldest", "newest"):
        raise Problem(400, "Query parameter 'order' must be 'oldest' or 'newest'.")
    page = _paged(services().incidents.find, IncidentQuery(
        state=state,
        status=_enum_param(req, "status", Status),
        severity=_enum_param(req, "severity", Severity),
        updated_since=_time_param(req, "since"),
        oldest_first=order == "oldest",
        limit=_limit_param(req),
        page_token=req.params.get("page") or None,
    ))
    return json_response({
        "items": [s.incident.model_dump(mode="json") for s in page.items],
        "next": _next_link(req, ("state", "status", "severity", "since", "order", "limit"), page.next_token),
    })


@blueprint.route(route="v1/admin/incidents/{id}", methods=["GET", "HEAD"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def get_incident(req: func.HttpRequest) -> func.HttpResponse:
    _admin(req)
    return _incident(services().incidents.get(_incident_id(req)))


@blueprint.route(route="v1/admin/incidents/{id}", methods=["PATCH"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def change_incident(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.models import IncidentChange

    author = _admin(req)
    incident_id = _incident_id(req)
    change = json_body(req, IncidentChange)
    if_match = if_match_etag(req, "this incident")
    stored = services().incidents.change(incident_id, change, author=author, if_match=if_match)
    return _incident(stored)


@blueprint.route(route="v1/admin/incidents/{id}/confirm", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def confirm_incident(req: func.HttpRequest) -> func.HttpResponse:
    """A draft goes public, as drafted or with edited words; a second confirm is a 409 and changes nothing."""
    from ..domain.models import Confirmation

    author = _admin(req)
    incident_id = _incident_id(req)
    confirmation = json_body(req, Confirmation, optional=True)
    return _incident(services().incidents.confirm(incident_id, confirmation, author=author))


@blueprint.route(route="v1/admin/incidents/{id}/dismiss", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def dismiss_incident(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.models import Dismissal

    author = _admin(req)
    incident_id = _incident_id(req)
    return _incident(services().incidents.dismiss(incident_id, json_body(req, Dismissal), author=author))


@blueprint.route(route="v1/admin/incidents/{id}/acknowledge", methods=["POST"],
                 auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def acknowledge_incident(req: func.HttpRequest) -> func.HttpResponse:
    """Someone has it: paging stops. Again by the same admin: 200, unchanged; by another: 409 naming who was first."""
    author = _admin(req)
    incident_id = _incident_id(req)
    json_body(req, optional=True)  # no body needed; a JSON object is accepted and ignored
    return _incident(services().incidents.acknowledge(incident_id, author=author, via="admin API"))


REPORT_MAX_DAYS = 366


@blueprint.route(route="v1/admin/reports/response", methods=["GET", "HEAD"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def response_report(req: func.HttpRequest) -> func.HttpResponse:
    """Time to acknowledge and to resolve per severity, for incidents started since `since` (default 90 days)."""
    from datetime import timedelta

    from ..domain.models import format_utc
    from ..domain.postmortem import response_report as report
    from ..domain.store import IncidentQuery, find_all

    _admin(req)
    app = services()
    now = app.incidents.clock()
    since = _time_param(req, "since") or now - timedelta(days=90)
    if since > now or now - since > timedelta(days=REPORT_MAX_DAYS):
        raise Problem(400, f"Query parameter 'since' must be in the last {REPORT_MAX_DAYS} days.")
    started = (s.incident for s in find_all(app.incidents.store, IncidentQuery(updated_since=since, limit=100))
               if s.incident.started_at >= since)
    return json_response({"since": format_utc(since), "until": format_utc(now), "severities": report(started)})


@blueprint.route(route="v1/admin/incidents/{id}/postmortem", methods=["GET", "HEAD"],
                 auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def incident_postmortem(req: func.HttpRequest) -> func.HttpResponse:
    """A postmortem draft in Markdown: the template, with the timeline and the timings filled in."""
    from ..domain.postmortem import render_postmortem

    _admin(req)
    app = services()
    incident = app.incidents.get(_incident_id(req)).incident
    return func.HttpResponse(render_postmortem(incident, now=app.incidents.clock()), mimetype="text/markdown",
                             charset="utf-8")


@blueprint.route(route="v1/public/incidents", methods=["GET", "HEAD", "OPTIONS"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def public_incidents(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.models import format_utc

    if req.method == "OPTIONS":
        return func.HttpResponse(status_code=204, headers=CORS)
    app = services()
    feed = _paged(app.incidents.public_feed, _time_param(req, "since"), limit=_limit_param(req),
                  page_token=req.params.get("page") or None)
    headers = {"Cache-Control": PUBLIC_CACHE_CONTROL, "ETag": feed.etag, **CORS}
    if _none_match(req.headers.get("If-None-Match"), feed.etag):
        return func.HttpResponse(status_code=304, headers=headers)
    # The same bytes as json_response of the whole document, with the incidents serialized once per cached page.
    head = json.dumps({"generated_at": format_utc(app.incidents.clock()), "since": format_utc(feed.since),
                       "since_clamped": feed.since_clamped, "window_days": 30}, ensure_ascii=False)
    next_link = json.dumps(_next_link(req, ("since", "limit"), feed.next_token), ensure_ascii=False)
    body = f'{head[:-1]}, "incidents": {feed.incidents_json}, "next": {next_link}}}'
    return func.HttpResponse(body, headers=headers, mimetype="application/json", charset="utf-8")


def _none_match(header: str | None, etag: str) -> bool:
    """If-None-Match by weak comparison (RFC 9110 13.1.2): `*`, or any listed tag equal to `etag` bar W/."""
    if not header:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags
