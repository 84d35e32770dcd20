"""What HTTP functions read from a request the same way in every wing: the admin's bearer token, If-Match, and
times in the query string. Each bad input is a Problem that says what to send instead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import azure.functions as func

from .problems import Problem


def admin_name(req: func.HttpRequest, services: Callable[[], Any]) -> str:
    """The name of the platform admin making the request (401/403 otherwise). `services` is the composition root's
    accessor (tokens, settings): called only once there is a token to check."""
    header = req.headers.get("Authorization")
    if not header:
        raise Problem(401, "This route is for platform admins: send 'Authorization: Bearer <access token>'.",
                      headers={"WWW-Authenticate": 'Bearer realm="incidents"'})
    app = services()
    return app.tokens.authenticate(header, app.settings.auth_admin_role).name


def if_match_etag(req: func.HttpRequest, what: str) -> str | None:
    """The strong ETag in If-Match, or None to change whatever version of `what` ("this incident") is current."""
    value = req.headers.get("If-Match")
    if value is not None and not value.strip():  # e.g. a shell variable that came back empty
        raise Problem(400, f"If-Match is empty: send the ETag header of a GET of {what}, or leave If-Match out to "
                           "change whatever version is current.")
    value = value.strip() if value else None
    if value == "*":
        return None  # any current version will do
    if value and value.startswith("W/"):
        raise Problem(412, "If-Match needs the strong ETag from GET, not a weak one (W/...).")
    return value


def time_param(req: func.HttpRequest, name: str) -> datetime | None:
    """An ISO 8601 time with a time zone (or a bare date: midnight UTC) from the query string, in UTC."""
    from ..domain.models import in_range  # here: importing the models at cold start is for routes that need them

    value = req.params.get(name)
    if not value:
        return None
    example = "an ISO 8601 time such as 2026-11-26T21:43:00Z"
    try:
        parsed = datetime.fromisoformat(value) if value.isascii() and len(value) <= 40 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise Problem(400, f"Query parameter '{name}' must be {example}.")
    if parsed.tzinfo is None:
        if len(value) != 10:
            raise Problem(400, f"Query parameter '{name}' needs a time zone, e.g. 2026-11-26T21:43:00Z.")
        parsed = parsed.replace(tzinfo=timezone.utc)  # a bare date means midnight UTC
    try:
        return in_range(parsed)
    except ValueError as exc:
        raise Problem(400, f"Query parameter '{name}' {exc}.") from None
