"""create_app(settings) → Litestar: the wiring of lifespan, dependencies, errors and routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from survey.config import Settings
from survey.core import loader
from survey.core.model import Loaded
from survey.errors import SurveyError
from survey.flows import paging
from survey.store import db, versions
from survey.web import (
    assets,
    auth,
    dashboard,
    errors,
    http,
    login,
    ops,
    pages,
    ratelimit,
    telemetry,
    templating,
)
from survey.web.api import ApiController
from survey.web.exports import ExportController, scoring_workers
from survey.web.reports import ReportController

# The largest body a route takes unless it says otherwise (the import does).
MAX_BODY = 1024 * 1024


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
                await versions.insert_questionnaire_versions(conn, list(served.values()))
            app.state.pool = pool
            sweeper = asyncio.create_task(paging.sweep_forever(pool))
            try:
                yield
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
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
            ops.healthz,
            ops.readyz,
            pages.router(settings),
            login.router(settings),
            dashboard.router(),
            assets.static_asset,
            telemetry.metrics_endpoint(metrics, settings.metrics_token),
        ],
        template_config=templating.template_config(),
        dependencies={"db": Provide(http.provide_db)},
        lifespan=[
            lifespan,
            dashboard.figure_exporter,
            scoring_workers,
            telemetry.sampler(metrics),
        ],
        state=state,
        exception_handlers={
            SurveyError: errors.on_survey_error,
            HTTPException: errors.on_http_error,
            **dict.fromkeys(db.UNREACHABLE, errors.on_unreachable),
            HTTP_500_INTERNAL_SERVER_ERROR: errors.on_internal_error,
        },
        middleware=[limiter] if limiter else [],
        before_send=[http.allow_every_method],
        request_max_body_size=MAX_BODY,
        compression_config=CompressionConfig(
            # Under 1 KB gains little from gzip and costs a GzipFile; routes that never need
            # the middleware (see survey.web.http) skip it altogether.
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
