"""HTTP functions of the incident log. Each one translates: it checks who calls, parses the request, calls the
service once, and turns the result or the error into a response. The rules live in workflow.py and service.py."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urlsplit

import azure.functions as func

from .bootstrap import services

blueprint = func.Blueprint()
log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_PAGE = 100
PUBLIC_CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30"
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, OPTIONS",
        "Access-Control-Max-Age": "86400"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


class Problem(Exception):
    """An RFC 9457 problem: the status, and a sentence that tells the caller what to fix."""

    def __init__(self, status: int, detail: str, *, errors: list[dict] | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers or {}

    def response(self) -> func.HttpResponse:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return func.HttpResponse(
            json.dumps(body), status_code=self.status, headers=self.headers,
            mimetype="application/problem+json", charset="utf-8",
        )


def _as_problem(exc: Exception) -> Problem:
    from pydantic import ValidationError

    from .auth import AuthUnavailable, Forbidden, Unauthenticated
    from .settings import SettingsError
    from .store import EtagMismatch, IncidentTooLarge, NotFound, StoreUnavailable
    from .workflow import NothingToChange, WorkflowError

    retry_later = {"Retry-After": "5"}
    match exc:
        case Problem():
            return exc
        case ValidationError():
            errors = [{"field": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]} for e in exc.errors()]
            first = errors[0]
            return Problem(422, f"{first['field']}: {first['message']}", errors=errors)
        case NothingToChange():
            return Problem(422, str(exc))
        case WorkflowError():
            return Problem(409, str(exc))
        case IncidentTooLarge():
            return Problem(409, "This incident cannot hold more updates; open a follow-up incident instead.")
        case NotFound():
            return Problem(404, f"There is no incident with id '{exc}'.")
        case EtagMismatch():
            return Problem(412, "The incident changed since you read it: GET it again, re-apply your change and "
                                "send its new ETag in If-Match.")
        case Unauthenticated():
            challenge = f'Bearer realm="incidents", error="invalid_token", error_description="{exc.detail}"'
            return Problem(401, f"The bearer token was refused: {exc.detail}.", headers={"WWW-Authenticate": challenge})
        case Forbidden():
            return Problem(403, f"Not allowed: {exc.detail}. Ask for the role in the app registration.")
        case StoreUnavailable() | AuthUnavailable():
            log.warning("transient failure: %s", exc)
            return Problem(503, "The incident log is briefly unavailable; retry in a few seconds.", headers=retry_later)
        case SettingsError():
            log.error("settings: %s", exc)
            return Problem(500, "The service is not configured correctly; its operators have been told.")
    log.exception("unexpected error")
    return Problem(500, "Something went wrong on our side; nothing was changed. Try again, or tell the operators.")


def _http(handler: Callable[[func.HttpRequest], func.HttpResponse]):
    @functools.wraps(handler)
    def run(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return handler(req)
        except Exception as exc:  # every failure leaves as problem+json, never as a stack trace
            return _as_problem(exc).response()

    return run


def _admin(req: func.HttpRequest) -> str:
    """The name of the platform admin making the request (401/403 otherwise)."""
    header = req.headers.get("Authorization")
    if not header:
        raise Problem(401, "This route is for platform admins: send 'Authorization: Bearer <access token>'.",
                      headers={"WWW-Authenticate": 'Bearer realm="incidents"'})
    app = services()
    return app.tokens.authenticate(header, app.settings.auth_admin_role).name


def _json_body(req: func.HttpRequest, model):
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise Problem(413, f"The body is {len(body)} bytes; the limit is {MAX_BODY_BYTES} bytes (64 KB).")
    media_type = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem(415, "Send the body as JSON, with the header Content-Type: application/json.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"The body is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise Problem(400, "The body must be a JSON object.")
    return model.model_validate(data)


def _json(data: Any, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data, ensure_ascii=False), status_code=status, headers=headers or {},
                             mimetype="application/json", charset="utf-8")


def _incident(stored, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    return _json(stored.incident.model_dump(mode="json"), status, {"ETag": stored.etag, **(headers or {})})


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


def _time_param(req: func.HttpRequest, name: str) -> datetime | None:
    value = req.params.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Problem(400, f"Query parameter '{name}' must be an ISO 8601 time such as 2026-11-26T21:43:00Z.") from None
    if parsed.tzinfo is None:
        if len(value) != 10:
            raise Problem(400, f"Query parameter '{name}' needs a time zone, e.g. 2026-11-26T21:43:00Z.")
        parsed = parsed.replace(tzinfo=timezone.utc)  # a bare date means midnight UTC
    return parsed.astimezone(timezone.utc)


def _limit_param(req: func.HttpRequest, default: int = 50) -> int:
    value = req.params.get("limit") or str(default)
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise Problem(400, f"Query parameter 'limit' must be a whole number from 1 to {MAX_PAGE}.")
    return int(value)


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
@_http
def create_incident(req: func.HttpRequest) -> func.HttpResponse:
    from .models import NewIncident

    author = _admin(req)
    body = _json_body(req, NewIncident)
    try:
        stored = services().incidents.create(body, author=author)
    except ValueError as exc:
        raise Problem(422, f"started_at: {exc}", errors=[{"field": "started_at", "message": str(exc)}]) from None
    location = f"{urlsplit(req.url).path.rstrip('/')}/{stored.incident.id}"
    return _incident(stored, 201, {"Location": location})


@blueprint.route(route="v1/admin/incidents", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@_http
def list_incidents(req: func.HttpRequest) -> func.HttpResponse:
    from .models import Severity, State, Status
    from .store import IncidentQuery

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
    return _json({
        "items": [s.incident.model_dump(mode="json") for s in page.items],
        "next": _next_link(req, ("state", "status", "severity", "since", "order", "limit"), page.next_token),
    })


@blueprint.route(route="v1/admin/incidents/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@_http
def get_incident(req: func.HttpRequest) -> func.HttpResponse:
    _admin(req)
    return _incident(services().incidents.get(_incident_id(req)))


@blueprint.route(route="v1/admin/incidents/{id}", methods=["PATCH"], auth_level=func.AuthLevel.ANONYMOUS)
@_http
def change_incident(req: func.HttpRequest) -> func.HttpResponse:
    from .models import IncidentChange

    author = _admin(req)
    incident_id = _incident_id(req)
    change = _json_body(req, IncidentChange)
    if_match = (req.headers.get("If-Match") or "").strip() or None
    if if_match == "*":
        if_match = None  # any current version will do
    elif if_match and if_match.startswith("W/"):
        raise Problem(412, "If-Match needs the strong ETag from GET, not a weak one (W/...).")
    stored = services().incidents.change(incident_id, change, author=author, if_match=if_match)
    return _incident(stored)


@blueprint.route(route="v1/public/incidents", methods=["GET", "OPTIONS"], auth_level=func.AuthLevel.ANONYMOUS)
@_http
def public_incidents(req: func.HttpRequest) -> func.HttpResponse:
    from .models import format_utc

    if req.method == "OPTIONS":
        return func.HttpResponse(status_code=204, headers=CORS)
    app = services()
    feed = _paged(app.incidents.public_feed, _time_param(req, "since"), limit=_limit_param(req),
                  page_token=req.params.get("page") or None)

    body = {
        "generated_at": format_utc(app.incidents.clock()),
        "since": format_utc(feed.since),
        "since_clamped": feed.since_clamped,
        "window_days": 30,
        "incidents": [i.model_dump(mode="json") for i in feed.incidents],
        "next": _next_link(req, ("since", "limit"), feed.next_token),
    }
    return _json(body, headers={"Cache-Control": PUBLIC_CACHE_CONTROL, **CORS})
