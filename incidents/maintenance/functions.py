"""HTTP functions of announced maintenance windows, with the incident API's conventions: a platform admin's bearer
token, problem+json, an ETag on every window and If-Match to change only the version read. Each one translates; the
rules are in domain/maintenance.py and domain/maintenance_service.py.

A window's `state` in every answer is its state now, as the clock makes it (scheduled, in_progress, completed,
cancelled): nobody needs to start or complete a window that runs as announced.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlsplit

import azure.functions as func

from ..bootstrap import services
from ..http.inputs import admin_name, if_match_etag, time_param
from ..http.problems import Problem, http_function, json_body, json_response

blueprint = func.Blueprint()
ADMIN = "v1/admin/maintenances"
ANONYMOUS = func.AuthLevel.ANONYMOUS  # admin routes check the bearer token themselves
LISTED_DAYS = 90  # GET without `since`: the windows that ended in the last 90 days, and every later one
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


def _window(stored, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    return json_response(_as_json(stored.maintenance), status, {"ETag": stored.etag, **(headers or {})})


def _as_json(maintenance) -> dict:
    return {**maintenance.model_dump(mode="json"), "state": maintenance.state_at(services().maintenance.clock())}


def _maintenance_id(req: func.HttpRequest) -> str:
    maintenance_id = req.route_params.get("id", "")
    if not _ID.match(maintenance_id):
        raise Problem(404, f"There is no maintenance window with id '{maintenance_id[:100]}'.")
    return maintenance_id


@contextmanager
def _translated(maintenance_id: str | None = None) -> Iterator[None]:
    """The maintenance service's refusals in this API's words (a 409 for the workflow comes from http/problems)."""
    from ..domain.maintenance import InvalidMaintenance
    from ..domain.store import EtagMismatch, NotFound

    try:
        yield
    except InvalidMaintenance as exc:
        raise Problem(422, f"{exc.field}: {exc}", errors=[{"field": exc.field, "message": str(exc)}]) from None
    except NotFound:
        raise Problem(404, f"There is no maintenance window with id '{maintenance_id}'.") from None
    except EtagMismatch:
        raise Problem(412, "The maintenance window changed since you read it: GET it again, re-apply your change "
                           "and send its new ETag in If-Match.") from None


@blueprint.route(route=ADMIN, methods=["POST"], auth_level=ANONYMOUS)
@http_function
def announce_maintenance(req: func.HttpRequest) -> func.HttpResponse:
    from ..domain.maintenance import NewMaintenance

    author = admin_name(req, services)
    body = json_body(req, NewMaintenance)
    with _translated():
        stored = services().maintenance.create(body, author=author)
    location = f"{urlsplit(req.url).path.rstrip('/')}/{stored.maintenance.id}"
    return _window(stored, 201, {"Location": location})


@blueprint.route(route=ADMIN, methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def list_maintenances(req: func.HttpRequest) -> func.HttpResponse:
    """The windows that end after `since` (default: 90 days ago) and start before `until` (default: no bound)."""
    from ..domain.store import MaintenanceQuery

    admin_name(req, services)
    app = services()
    since = time_param(req, "since") or app.maintenance.clock() - timedelta(days=LISTED_DAYS)
    until = time_param(req, "until")
    if until is not None and until <= since:
        raise Problem(400, "Query parameter 'until' must be after 'since'.")
    found = app.maintenance.find(MaintenanceQuery(ends_after=since, starts_before=until))
    return json_response({"items": [_as_json(s.maintenance) for s in found]})


@blueprint.route(route=f"{ADMIN}/{{id}}", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@http_function
def get_maintenance(req: func.HttpRequest) -> func.HttpResponse:
    admin_name(req, services)
    maintenance_id = _maintenance_id(req)
    with _translated(maintenance_id):
        return _window(services().maintenance.get(maintenance_id))


@blueprint.route(route=f"{ADMIN}/{{id}}", methods=["PATCH"], auth_level=ANONYMOUS)
@http_function
def change_maintenance(req: func.HttpRequest) -> func.HttpResponse:
    """New words, components or times: extend with a later ends_at, move a window that has not started."""
    from ..domain.maintenance import MaintenanceChange

    author = admin_name(req, services)
    maintenance_id = _maintenance_id(req)
    change = json_body(req, MaintenanceChange)
    if_match = if_match_etag(req, "this maintenance window")
    with _translated(maintenance_id):
        return _window(services().maintenance.change(maintenance_id, change, author=author, if_match=if_match))


def _move(req: func.HttpRequest, move: str) -> func.HttpResponse:
    from ..domain.maintenance import MaintenanceAction

    author = admin_name(req, services)
    maintenance_id = _maintenance_id(req)
    action = json_body(req, MaintenanceAction, optional=True)
    if_match = if_match_etag(req, "this maintenance window")
    with _translated(maintenance_id):
        service = services().maintenance
        return _window(getattr(service, move)(maintenance_id, action, author=author, if_match=if_match))


@blueprint.route(route=f"{ADMIN}/{{id}}/start", methods=["POST"], auth_level=ANONYMOUS)
@http_function
def start_maintenance(req: func.HttpRequest) -> func.HttpResponse:
    """Start early: the window runs from now (409 if it already runs, or ended)."""
    return _move(req, "start")


@blueprint.route(route=f"{ADMIN}/{{id}}/complete", methods=["POST"], auth_level=ANONYMOUS)
@http_function
def complete_maintenance(req: func.HttpRequest) -> func.HttpResponse:
    """Complete early: the window ends now (409 if it has not started: cancel it instead)."""
    return _move(req, "complete")


@blueprint.route(route=f"{ADMIN}/{{id}}/cancel", methods=["POST"], auth_level=ANONYMOUS)
@http_function
def cancel_maintenance(req: func.HttpRequest) -> func.HttpResponse:
    """Call it off: before it starts it never happens, while it runs it ends now (409 once completed)."""
    return _move(req, "cancel")
