"""What every handler module shares: the request's connection, problem responses in the
OpenAPI document, the questionnaire a path names, security headers, CSRF, and gzip.

gzip here is for what the compression middleware should not do itself: assets and bulk streams.
The middleware compresses at one level for every response, and at that level an export of
hundreds of megabytes takes the server's whole core. Routes that compress themselves, or whose
bodies are always too small to gain (a submission's receipt), carry
`opt={"skip_compression": True}`: the middleware then does not even look at them.
"""

from __future__ import annotations

import asyncio
import hmac
import zlib
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from typing import Any

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from litestar import Response
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import Message, Scope

from survey.config import Settings
from survey.core.model import Loaded
from survey.errors import NotFound, Problem
from survey.store import db

# --- the request's connection -------------------------------------------------------------------

# The per-request connection lent by the pool (provide_db), as handlers declare it.
Db = NamedDependency[PoolConnectionProxy]


async def provide_db(state: State) -> AsyncGenerator[db.Connection, None]:
    """A pooled connection per request; waits at most `db_timeout`, then 503."""
    pool: asyncpg.Pool = state.pool
    conn = await db.acquire(pool, state.settings.db_timeout)
    try:
        yield conn
    except db.UNREACHABLE:
        # A connection the server dropped goes, rather than back to the pool for the next request.
        # One whose socket closed asyncpg has already taken back: terminating it then raises.
        with suppress(asyncpg.InterfaceError):
            conn.terminate()
        raise
    finally:
        await pool.release(conn)


# --- the questionnaire a path names -------------------------------------------------------------


# What a page says for a slug that names no questionnaire.
NO_SURVEY = "There is no survey at this address."


def questionnaire(state: State, slug: str, missing: str | None = None) -> Loaded:
    """The served questionnaire `slug`; NotFound (with `missing` as its message) otherwise."""
    loaded: Loaded | None = state.questionnaires.get(slug)
    if loaded is None:
        raise NotFound(missing or f"no questionnaire {slug!r}")
    return loaded


# --- problem responses, as the OpenAPI document lists them --------------------------------------


class ProblemDetails(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details, with the fields at fault in `errors`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[Problem] = []


def problem(status: int, description: str) -> dict[int, ResponseSpec]:
    """A route's possible `status`, answered with problem details: for `responses=`."""
    spec = ResponseSpec(
        ProblemDetails,
        description=description,
        media_type="application/problem+json",
        generate_examples=False,
    )
    return {status: spec}


P400 = problem(400, "Malformed JSON or a body of the wrong shape")
P401 = problem(401, "No valid researcher token; see WWW-Authenticate")
P403 = problem(403, "The token lacks the scope this needs")
P404 = problem(404, "No such questionnaire or result")
P413 = problem(413, "Body over 1 MB")
P415 = problem(415, "A body that is not declared as JSON")
P422 = problem(422, "Well-formed but invalid; every problem is listed in `errors`")
P429 = problem(429, "Too many submissions; see Retry-After")
P503 = problem(503, "The database is unavailable; see Retry-After")


# --- pages: security headers and CSRF -----------------------------------------------------------

# Pages run no inline script and may not be framed; no page links out with its URL (the result
# page's URL is the private link).
SECURITY_HEADERS = {
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


async def secure(response: Response[Any]) -> Response[Any]:
    """The security headers every page sends (an `after_request` hook)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def csrf_middleware(settings: Settings) -> DefineMiddleware:
    """CSRF protection for every form: one key derived from the service secret, one cookie."""
    assert settings.secret is not None
    secret = hmac.new(settings.secret.encode(), b"csrf", "sha256").hexdigest()
    csrf = CSRFConfig(secret=secret, cookie_httponly=True, cookie_samesite="lax")
    return DefineMiddleware(CSRFMiddleware, config=csrf)


# --- OPTIONS ------------------------------------------------------------------------------------


async def allow_every_method(message: Message, scope: Scope) -> None:
    """An OPTIONS answer lists every method of its path (a `before_send` hook).

    Litestar 2 makes a path's automatic OPTIONS handler with the methods of the handlers
    registered before it, so `/api/v1/results/{token}` answered `Allow: DELETE, OPTIONS`
    without GET (litestar-org/litestar#4169, fixed in Litestar 3; schemathesis found it).
    """
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    headers = list(message.get("headers", []))
    if not any(name.lower() == b"allow" for name, _ in headers):
        return
    routes = scope["app"].route_handler_method_map
    methods = {m for path in scope["route_handler"].paths for m in routes.get(path, ())}
    if methods:
        allow = (b"allow", ", ".join(sorted(methods)).encode())
        message["headers"] = [*((n, v) for n, v in headers if n.lower() != b"allow"), allow]


# --- gzip ---------------------------------------------------------------------------------------

STREAM_LEVEL = 1


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header admits gzip (RFC 9110 §12.5.3): named with a
    non-zero weight, or not named and `*` has one. `gzip;q=0` refuses it."""
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if coding:
            weights[coding] = weight
    for coding in ("gzip", "x-gzip"):
        if coding in weights:
            return weights[coding] > 0
    return weights.get("*", 0.0) > 0


async def gzip_stream(chunks: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    """The chunks as one gzip stream, compressed in a thread as they come; closing it closes
    `chunks`."""
    packer = zlib.compressobj(STREAM_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    async with aclosing(chunks):
        async for chunk in chunks:
            # zlib lets go of the GIL: the event loop reads the next chunk meanwhile.
            if packed := await asyncio.to_thread(packer.compress, chunk):
                yield packed
    yield packer.flush()
