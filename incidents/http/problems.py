"""What every HTTP function here shares: RFC 9457 problems, JSON in and out, and one place that turns any
failure into a problem response instead of a stack trace."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import azure.functions as func

from ..domain import deadline

log = logging.getLogger(__name__)


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


def as_problem(exc: Exception, unexpected_status: int = 500) -> Problem:
    from pydantic import ValidationError

    from ..domain.roster import InvalidRoster, NotInRoster, RosterChanged, RosterConflict
    from ..domain.service import IdempotencyKeyReused
    from ..domain.store import EtagMismatch, IncidentTooLarge, NotFound, StoreMisconfigured, StoreUnavailable
    from ..domain.workflow import NothingToChange, WorkflowError
    from ..settings import SettingsError
    from .auth import AuthUnavailable, Forbidden, Unauthenticated

    retry_later = {"Retry-After": "5"}
    match exc:
        case Problem():
            return exc
        case ValidationError():
            errors = [{"field": ".".join(map(str, e["loc"])) or "body",
                       "message": e["msg"].removeprefix("Value error, ")} for e in exc.errors()]
            first = errors[0]
            return Problem(422, f"{first['field']}: {first['message']}", errors=errors)
        case NothingToChange():
            return Problem(422, str(exc))
        case NotInRoster():
            return Problem(404, str(exc))
        case RosterConflict():
            return Problem(409, str(exc))
        case InvalidRoster():
            return Problem(422, f"{exc.field}: {exc}", errors=[{"field": exc.field, "message": str(exc)}])
        case RosterChanged():
            return Problem(412, str(exc))
        case WorkflowError():
            return Problem(409, str(exc))
        case IncidentTooLarge():  # domain/size.py: refused before Cosmos DB's 2 MB, with room kept to resolve
            return Problem(409, str(exc) or "This incident cannot hold more updates; open a follow-up incident.")
        case IdempotencyKeyReused():  # 422, as draft-ietf-httpapi-idempotency-key-header section 2.7 says
            return Problem(422, str(exc), errors=[{"field": "Idempotency-Key", "message": str(exc)}])
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
        case StoreMisconfigured() | SettingsError():
            log.error("configuration: %s", exc)
            return Problem(503, "The service is not configured correctly; its operators have been told. "
                                "Retry later.", headers={"Retry-After": "60"})
        case StoreUnavailable() | AuthUnavailable():
            log.warning("transient failure: %s", exc)
            return Problem(503, "The incident log is briefly unavailable; retry in a few seconds.", headers=retry_later)
    log.exception("unexpected error")
    if unexpected_status == 503:
        return Problem(503, "Something went wrong on our side; nothing was lost. Retry shortly.", headers=retry_later)
    return Problem(500, "Something went wrong on our side; nothing was changed. Try again, or tell the operators.")


Handler = Callable[[func.HttpRequest], func.HttpResponse]


# How long a request may wait on the store before it answers 503: Azure Monitor waits 10 s for the webhook
# (docs/engineering/cosmos-db.md has the budget of every route).
REQUEST_BUDGET_S = 7.0


def http_function(handler: Handler | None = None, *, unexpected_status: int = 500,
                  budget: float = REQUEST_BUDGET_S):
    """Every failure leaves as problem+json, never as a stack trace. A caller that retries only some statuses
    (Azure Monitor retries 503, not 500) can have unexpected failures answered with `unexpected_status`. What the
    handler calls gets `budget` seconds (domain/deadline.py); the store then gives up with a 503."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(req: func.HttpRequest) -> func.HttpResponse:
            try:
                with deadline.budget(budget):
                    return handler(req)
            except Exception as exc:
                return as_problem(exc, unexpected_status).response()

        return run

    return wrap(handler) if handler else wrap


MAX_JSON_DEPTH = 32  # far beyond any body we accept (an alert's alertContext is under 10 deep)


def depth(data: Any) -> int:
    """How deeply arrays and objects nest in `data` (decoded JSON), counted without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def json_body(req: func.HttpRequest, model=None, *, max_bytes: int = 64 * 1024, optional: bool = False):
    """The request's JSON object, validated by `model` when given (422 names the failing field)."""
    body = req.get_body() or b""
    if len(body) > max_bytes:
        raise Problem(413, f"The body is {len(body)} bytes; the limit is {max_bytes} bytes ({max_bytes // 1024} KB).")
    if optional and not body.strip():
        return model() if model else {}
    media_type = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem(415, "Send the body as JSON, with the header Content-Type: application/json.")
    too_deep = Problem(400, f"The body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep.")
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise too_deep from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"The body is not valid JSON ({exc}).") from None
    if depth(data) > MAX_JSON_DEPTH:
        raise too_deep
    if not isinstance(data, dict):
        raise Problem(400, "The body must be a JSON object.")
    return model.model_validate(data) if model else data


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data, ensure_ascii=False), status_code=status, headers=headers or {},
                             mimetype="application/json", charset="utf-8")


