"""create_app(settings) → Litestar: lifespan, dependencies, error mapping, routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import asyncpg
from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, TooManyRequestsException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import Message, Scope

from survey import (
    auth,
    dashboard,
    db,
    loader,
    login,
    logs,
    migrate,
    pages,
    ratelimit,
    store,
    telemetry,
)
from survey.api import P503, ApiController, Health, ProblemDetails
from survey.config import Settings
from survey.errors import (
    DatabaseUnavailable,
    FiguresUnavailable,
    Forbidden,
    IdempotencyConflict,
    InvalidQuery,
    InvalidSubmission,
    MalformedBody,
    NotFound,
    Problem,
    SurveyError,
    Unauthorized,
    UnsupportedMediaType,
)
from survey.exports import ExportController, scoring_workers
from survey.model import Loaded
from survey.reports import ReportController

log = logging.getLogger("survey")

MAX_BODY = 1024 * 1024
RETRY_AFTER = "5"

# Each domain error maps to one status, in this one place.
STATUS: dict[type[SurveyError], tuple[int, str]] = {
    MalformedBody: (400, "Malformed request body"),
    Unauthorized: (401, "Unauthorized"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    InvalidQuery: (422, "Invalid query"),
    InvalidSubmission: (422, "Invalid submission"),
    IdempotencyConflict: (422, "Idempotency-Key reused with a different body"),
    DatabaseUnavailable: (503, "Database unavailable"),
    FiguresUnavailable: (503, "Figures unavailable"),
}


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    errors: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[ProblemDetails]:
    return Response(
        ProblemDetails(title=title, status=status, detail=detail, errors=errors or []),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def on_survey_error(request: Request[Any, Any, Any], exc: SurveyError) -> Response[Any]:
    if isinstance(exc, Unauthorized) and pages.wants_html(request):
        return auth.login_redirect(request)  # a page asks for a login, then comes back
    status, title = next(v for k, v in STATUS.items() if isinstance(exc, k))
    errors = exc.problems if isinstance(exc, InvalidSubmission) else None
    if isinstance(exc, MalformedBody):
        detail = str(exc)
    elif isinstance(exc, DatabaseUnavailable):
        log.warning("database unavailable: %s", exc)
        detail = "The database cannot be reached right now; please retry shortly."
    else:
        detail = str(exc)
    headers = {"Retry-After": RETRY_AFTER} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="survey"'}
    if pages.wants_html(request):
        return pages.error_page(request, status, exc, headers)
    return problem_response(status, title, detail, errors, headers)


def on_unreachable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return on_survey_error(request, DatabaseUnavailable(str(exc)))


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    headers = dict(exc.headers or {})
    if isinstance(exc, TooManyRequestsException) and "RateLimit-Reset" in headers:
        headers["Retry-After"] = headers["RateLimit-Reset"]
    if pages.wants_html(request):
        return pages.error_page(request, exc.status_code, exc, headers)
    title = exc.detail if exc.status_code != 400 else "Bad request"
    return problem_response(exc.status_code, title, exc.detail, _fields(exc), headers or None)


def _fields(exc: HTTPException) -> list[Problem] | None:
    """The parameters Litestar's validation refused (its `extra`), named as the client sent them:
    a header by its header name (`idempotency-key`), anything else by its own."""
    if not isinstance(exc, ValidationException) or not isinstance(exc.extra, list):
        return None
    problems = []
    for error in exc.extra:
        if isinstance(error, dict) and "message" in error:
            key = str(error.get("key", "$"))
            field = key.replace("_", "-") if error.get("source") == "header" else key
            problems.append(Problem(field, str(error["message"])))
    return problems or None


def on_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The traceback goes to the log, never to the client.
    path = logs.logged_path(request.scope)  # a result link's token stays out of the log
    log.exception("unhandled error on %s %s", request.method, path, exc_info=exc)
    if pages.wants_html(request):
        return pages.error_page(request, 500)
    return problem_response(500, "Internal server error")


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


async def provide_db(state: State) -> AsyncGenerator[db.Connection, None]:
    """A pooled connection per request; waits at most `db_timeout`, then 503."""
    pool: asyncpg.Pool = state.pool
    try:
        conn = await pool.acquire(timeout=state.settings.db_timeout)
    except db.UNAVAILABLE as exc:
        raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
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


@get("/healthz", media_type=MediaType.JSON, tags=["ops"])
async def healthz() -> Health:
    """The process is alive."""
    return Health("ok")


@get("/readyz", tags=["ops"], responses=P503)
async def readyz(state: State) -> Response[Any]:
    """The database is reachable and every migration is applied."""
    try:
        async with state.pool.acquire(timeout=state.settings.db_timeout) as conn:
            pending = await migrate.pending(conn)
    except db.UNAVAILABLE as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    if pending:
        return problem_response(
            503,
            "Not migrated",
            f"pending migrations: {', '.join(m.name for m in pending)}",
            headers={"Retry-After": RETRY_AFTER},
        )
    return Response(Health("ready"))


def create_app(settings: Settings, questionnaires: dict[str, Loaded] | None = None) -> Litestar:
    """The application; `questionnaires` defaults to every file in the questionnaires dir."""
    if settings.database_url is None:
        raise ValueError("create_app needs settings.database_url (the CLI starts the embedded one)")
    if settings.secret is None:
        raise ValueError("create_app needs settings.secret")
    served = (
        questionnaires
        if questionnaires is not None
        else loader.load_dir(Path(settings.questionnaires_dir))
    )
    database_url = settings.database_url

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        pool = await db.create_pool(database_url, settings.pool_size, settings.db_timeout)
        try:
            async with pool.acquire() as conn:
                await store.insert_questionnaire_versions(conn, list(served.values()))
            app.state.pool = pool
            yield
        finally:
            await pool.close()

    state = State({"settings": settings, "questionnaires": served})
    limiter = ratelimit.middleware(settings, lambda: state.pool)
    metrics = telemetry.Metrics(served, settings.pool_size)

    app = Litestar(
        route_handlers=[
            ApiController,
            ReportController,
            ExportController,
            healthz,
            readyz,
            pages.router(settings),
            login.router(settings),
            dashboard.router(),
            pages.static_asset,
            telemetry.metrics_endpoint(metrics, settings.metrics_token),
        ],
        template_config=pages.template_config(),
        dependencies={"db": Provide(provide_db)},
        lifespan=[
            lifespan,
            dashboard.figure_exporter,
            scoring_workers,
            telemetry.sampler(metrics),
        ],
        state=state,
        exception_handlers={
            SurveyError: on_survey_error,
            HTTPException: on_http_error,
            **dict.fromkeys(db.UNREACHABLE, on_unreachable),
            HTTP_500_INTERNAL_SERVER_ERROR: on_internal_error,
        },
        middleware=[limiter] if limiter else [],
        before_send=[allow_every_method],
        request_max_body_size=MAX_BODY,
        compression_config=CompressionConfig(
            # Under 1 KB gains little from gzip and costs a GzipFile; routes that never need
            # the middleware (see survey/compress.py) skip it altogether.
            backend="gzip",
            minimum_size=1024,
            exclude_opt_key="skip_compression",
        ),
        openapi_config=OpenAPIConfig(
            title="Connector Survey",
            version="1.0.0",
            path="/schema",
            components=Components(security_schemes=auth.SECURITY_SCHEMES),
            render_plugins=[JsonRenderPlugin()],
        ),
        # Logging is set up once per process (survey.logs.logging_config), not per app.
        logging_config=None,
    )
    # Around Litestar's exception handling and routing (where its OpenTelemetry plugin hooks
    # in), so that 404s and 405s get a request id, an access line and a count too.
    app.asgi_handler = telemetry.middleware(app.asgi_handler, metrics)
    return app


def app_from_env() -> Litestar:
    """The factory the ASGI server calls in each worker; `survey serve` sets the environment."""
    import logging.config

    from survey.config import from_env, with_secret
    from survey.logs import logging_config

    settings = with_secret(from_env())
    # The same log lines however the factory is served (`survey serve`, uvicorn, gunicorn).
    logging.config.dictConfig(logging_config(settings))
    return create_app(settings)
