"""Researcher authentication: who a request acts for, and the scope guard.

The API takes a researcher token (survey.core.tokens) as `Authorization: Bearer <token>`. A
browser exchanges it once at `/reports` (login.py) for a signed session cookie; the token is
looked up on every request, so revoking it ends its sessions too.

Guards: `requires_token` (any valid token) and `requires_scope("reports")`. They raise
Unauthorized (401) or Forbidden (403); survey.web.errors answers those as problem+json under
/api and, for pages, redirects an Unauthorized to the login form with `?next=` the page asked
for.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import Reference, SecurityRequirement, SecurityScheme
from litestar.response import Redirect

from survey.core import tokens
from survey.errors import Forbidden, Unauthorized
from survey.store import db, researchers

SESSION_COOKIE = "survey_session"
LOGIN_PATH = "/reports"

# For the OpenAPI document: the app registers the scheme, guarded handlers name it.
SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    "bearer": SecurityScheme(
        type="http",
        scheme="bearer",
        description="A researcher token from `survey token create NAME --scope ...`.",
    )
}
SECURITY: list[SecurityRequirement] = [{"bearer": []}]


class Researcher(msgspec.Struct, frozen=True):
    """Who a request acts for; guards put it in `request.state.researcher`."""

    name: str
    scopes: list[str]


# --- the guard ----------------------------------------------------------------------------------


def _session_allowed(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """The cookie works for pages (their forms carry CSRF tokens) and for reading the API.

    A cookie-authenticated POST to the API would be open to cross-site request forgery, so
    the API's unsafe methods take only a bearer token.
    """
    if not connection.url.path.startswith("/api"):
        return True
    return connection.scope.get("method", "GET") in ("GET", "HEAD")


async def researcher_of(
    connection: ASGIConnection[Any, Any, Any, Any],
) -> researchers.ResearcherToken:
    """The valid, unrevoked token behind a request: its bearer token, else its session cookie."""
    state = connection.app.state
    header = connection.headers.get("authorization")
    cookie = connection.cookies.get(SESSION_COOKIE)
    async with db.borrowed(state.pool, state.settings.db_timeout) as conn:
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("the Authorization header must be `Bearer <token>`")
            row = await researchers.select_token_by_hash(conn, tokens.token_hash(token.strip()))
            if row is None:
                raise Unauthorized("this token is unknown or has been revoked")
        elif cookie is not None and _session_allowed(connection):
            token_id = tokens.read_session(state.settings.secret, cookie, time.time())
            if token_id is None:
                raise Unauthorized("the session is not valid or has expired; log in again")
            row = await researchers.select_token_by_id(conn, token_id)
            if row is None:
                raise Unauthorized("the session's token has been revoked")
        else:
            raise Unauthorized("a researcher token is needed: `Authorization: Bearer <token>`")
        await researchers.update_token_used(conn, row.id)
    return row


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def requires_scope(scope: str | None) -> Guard:
    """A guard: a valid token (bearer or session) that carries `scope` (None: any scope)."""
    if scope is not None and scope not in tokens.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        row = await researcher_of(connection)
        if scope is not None and scope not in row.scopes:
            raise Forbidden(f"this token does not have the {scope!r} scope")
        connection.state.researcher = Researcher(row.name, row.scopes)

    return guard


requires_token = requires_scope(None)


# --- pages: where to go before and after logging in ---------------------------------------------


def safe_next(target: str | None) -> str | None:
    """`target` if it is a local path under /reports/ (never another site), else None."""
    if not target or not target.startswith("/reports/"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or ".." in parts.path.split("/"):
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return None
    return target


def login_redirect(connection: ASGIConnection[Any, Any, Any, Any]) -> Redirect:
    """303 to the login form, which comes back here after logging in."""
    here = connection.url.path + (f"?{connection.url.query}" if connection.url.query else "")
    target = safe_next(here)
    location = f"{LOGIN_PATH}?next={quote(target, safe='')}" if target else LOGIN_PATH
    return Redirect(location, status_code=303)
