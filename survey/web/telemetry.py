"""Prometheus metrics, and the one pure ASGI middleware that feeds them and the access log.

Once per request the middleware picks the request id (survey.logs.REQUEST_ID), times the
request, counts it by route template and status, and writes the access line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncGenerator, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

from litestar import Litestar, Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from survey import metricfiles
from survey.logs import REQUEST_ID, access_log, logged_path

# An X-Request-ID from a proxy or client is kept only if it is short and plainly safe to log.
SANE_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# --- metrics ------------------------------------------------------------------------------------


class Metrics:
    """The service's Prometheus metrics, in a registry of the app's own.

    Under `survey serve` (PROMETHEUS_MULTIPROC_DIR set) every worker writes its values to
    files in that directory and a scrape sums them all, whichever worker answers it.
    """

    def __init__(self, questionnaires: Collection[str], pool_max: int) -> None:
        self.questionnaires = frozenset(questionnaires)
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "survey_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "survey_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.submissions = Counter(
            "survey_submissions",
            "Single submissions (API and web form) by questionnaire, source and outcome: "
            "accepted (stored), rejected (4xx: invalid, too large, rate-limited) or failed (5xx).",
            ["questionnaire", "source", "outcome"],
            registry=self.registry,
        )
        # Sampled by each worker every second; summed over the live workers.
        self.pool_size = Gauge(
            "survey_db_pool_size",
            "Open database connections in the pools.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pool_in_use = Gauge(
            "survey_db_pool_in_use",
            "Database connections lent to a request right now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pool_max = Gauge(
            "survey_db_pool_max",
            "Most connections the pools may open (SURVEY_POOL_SIZE per worker).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pool_max.set(pool_max)
        # Label lookups take a lock: each series' children are kept at hand instead.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._submitted: dict[tuple[str, str, str], Any] = {}

    def observe(self, scope: HTTPScope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        # A route template, never the raw path: a label per URL would grow without bound.
        route = scope.get("path_template") or "unmatched"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (method, route, str(status))
            children = self.requests.labels(*labels), self.latency.labels(*labels)
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

        handler = scope.get("route_handler")
        source = handler.opt.get("submission") if handler is not None else None
        if source is not None:
            slug = scope["path_params"].get("slug")
            if slug in self.questionnaires:  # an unknown slug must not become a label
                outcome = "accepted" if status < 400 else "rejected" if status < 500 else "failed"
                counter = self._submitted.get((slug, source, outcome))
                if counter is None:
                    counter = self.submissions.labels(slug, source, outcome)
                    self._submitted[slug, source, outcome] = counter
                counter.inc()

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format: every worker's, in multiprocess mode."""
        if os.environ.get(metricfiles.MULTIPROC_DIR):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def sampler(metrics: Metrics) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan that samples the connection pool into the gauges every second."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        pool = app.state.pool
        in_multiprocess = bool(os.environ.get(metricfiles.MULTIPROC_DIR))
        if in_multiprocess:
            metricfiles.forget_dead_workers()

        async def sample() -> None:
            while True:
                size = pool.get_size()
                metrics.pool_size.set(size)
                metrics.pool_in_use.set(size - pool.get_idle_size())
                await asyncio.sleep(1)

        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if in_multiprocess:
                multiprocess.mark_process_dead(os.getpid())

    return lifespan


def metrics_endpoint(metrics: Metrics, token: str | None) -> HTTPRouteHandler:
    """GET /metrics; with SURVEY_METRICS_TOKEN set, only for `Authorization: Bearer <it>`."""
    expected = f"Bearer {token}".encode() if token else None

    @get("/metrics", include_in_schema=False, sync_to_thread=False)
    def serve_metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return Response(
                    b"a bearer token is needed for /metrics\n",
                    status_code=401,
                    media_type="text/plain",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        # The classic text format every Prometheus reads (Litestar adds the charset).
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    return serve_metrics


# --- the middleware -----------------------------------------------------------------------------


def middleware(app: ASGIApp, metrics: Metrics) -> ASGIApp:
    """Request id, access line and metrics around every HTTP request, routed or not."""

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        http = cast("HTTPScope", scope)
        request_id = None
        for name, value in http["headers"]:
            if name.lower() == b"x-request-id":
                if SANE_ID.fullmatch(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = secrets.token_hex(8)
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500  # if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        context = REQUEST_ID.set(request_id)
        start = time.perf_counter()
        try:
            await app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            metrics.observe(http, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                method, path, ms = http["method"][:16], logged_path(http), seconds * 1000
                access_log.info(
                    "%s %s %d %.1fms",
                    method,
                    path,
                    status,
                    ms,
                    extra={
                        "fields": {
                            "method": method,
                            "path": path,
                            "status": status,
                            "duration_ms": round(ms, 2),
                        }
                    },
                )
            REQUEST_ID.reset(context)

    return observed
