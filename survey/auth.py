"""Researcher authentication: tokens, signed session cookies, and the scope guard.

A researcher token is `cs_` and 256 random bits; only its SHA-256 is stored. The API takes it as
`Authorization: Bearer <token>`. A browser exchanges it once at `/reports` (login.py) for a
session cookie that holds the token's id and an expiry, signed with the service secret; the
token is looked up on every request, so revoking it ends its sessions too.

Guards: `requires_token` (any valid token) and `requires_scope("reports")`. They raise
Unauthorized (401) or Forbidden (403); app.py answers those as problem+json under /api and, for
pages, redirects an Unauthorized to the login form with `?next=` the page asked for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import msgspec
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import Reference, SecurityRequirement, SecurityScheme
from litestar.response import Redirect

from survey import db, store
from survey.errors import DatabaseUnavailable, Forbidden, Unauthorized

SCOPES = ("reports", "submit")
TOKEN_PREFIX = "cs_"
SESSION_COOKIE = "survey_session"
SESSION_SECONDS = 8 * 60 * 60
LOGIN_PATH = "/reports"

# For the OpenAPI document: app.py registers the scheme, guarded handlers name it.
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


# --- tokens -------------------------------------------------------------------------------------


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """Tokens carry 256 random bits, so a plain SHA-256 is a safe lookup key (no salt needed)."""
    return hashlib.sha256(token.encode()).digest()


def parse_scopes(text: str) -> list[str]:
    """`reports,submit` → ['reports', 'submit']; ValueError naming what is unknown."""
    scopes = sorted({s.strip() for s in text.split(",") if s.strip()})
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(
            f"unknown scope {', '.join(map(repr, unknown))}" if unknown else "no scope given"
        )
    return scopes


async def create_token(
    conn: db.Connection, name: str, scopes: list[str]
) -> tuple[store.ResearcherToken, str]:
    """A new token: the stored row and the token itself, which nothing can show again."""
    token = new_token()
    row = await store.insert_researcher_token(conn, name, token_hash(token), scopes)
    return row, token


# --- sessions -----------------------------------------------------------------------------------


def _signature(secret: str, payload: str) -> str:
    # A purpose label keeps this MAC apart from the others made with the same secret.
    mac = hmac.new(secret.encode(), b"session\0" + payload.encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def sign_session(secret: str, token_id: uuid.UUID, expires: int) -> str:
    """The cookie value: `<token id>.<expiry, unix seconds>.<HMAC-SHA256>`."""
    payload = f"{token_id.hex}.{expires}"
    return f"{payload}.{_signature(secret, payload)}"


def read_session(secret: str, value: str, now: float) -> uuid.UUID | None:
    """The token id of a well-signed, unexpired session cookie; None for anything else."""
    payload, _, signature = value.rpartition(".")
    if not hmac.compare_digest(signature.encode(), _signature(secret, payload).encode()):
        return None
    token_id, _, expires = payload.partition(".")
    try:
        if int(expires) <= now:
            return None
        return uuid.UUID(hex=token_id)
    except ValueError:
        return None


def new_session(secret: str, token_id: uuid.UUID, now: float) -> str:
    return sign_session(secret, token_id, int(now) + SESSION_SECONDS)


# --- the guard ----------------------------------------------------------------------------------


@asynccontextmanager
async def _pooled(state: State) -> AsyncIterator[db.Connection]:
    # Guards run before dependencies are resolved, so they borrow from the pool themselves.
    try:
        conn = await state.pool.acquire(timeout=state.settings.db_timeout)
    except db.UNAVAILABLE as exc:
        raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
    try:
        yield conn
    finally:
        await state.pool.release(conn)


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
) -> store.ResearcherToken:
    """The valid, unrevoked token behind a request: its bearer token, else its session cookie."""
    state = connection.app.state
    header = connection.headers.get("authorization")
    cookie = connection.cookies.get(SESSION_COOKIE)
    async with _pooled(state) as conn:
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("the Authorization header must be `Bearer <token>`")
            row = await store.select_researcher_token_by_hash(conn, token_hash(token.strip()))
            if row is None:
                raise Unauthorized("this token is unknown or has been revoked")
        elif cookie is not None and _session_allowed(connection):
            token_id = read_session(state.settings.secret, cookie, time.time())
            if token_id is None:
                raise Unauthorized("the session is not valid or has expired; log in again")
            row = await store.select_researcher_token_by_id(conn, token_id)
            if row is None:
                raise Unauthorized("the session's token has been revoked")
        else:
            raise Unauthorized("a researcher token is needed: `Authorization: Bearer <token>`")
        await store.update_researcher_token_used(conn, row.id)
    return row


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def requires_scope(scope: str | None) -> Guard:
    """A guard: a valid token (bearer or session) that carries `scope` (None: any scope)."""
    if scope is not None and scope not in SCOPES:
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
