"""What the request middleware (request id, access line, metrics) costs a request, in µs.

    uv run python -m benchmarks.telemetry [--requests 50000]

Calls a trivial ASGI app bare and wrapped in survey.web.telemetry.middleware, in turn, in one
process: once with the access line written (JSON, to a file, as `survey serve` writes it to a
pipe) and once with the log level above it; metrics in multiprocess mode, as under
`survey serve`. The difference is the middleware's cost per request (the best of ten rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import os
import sys
import tempfile
import time
from typing import Any

BODY = {"type": "http.response.body", "body": b"{}"}
START = {"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"json")]}


class Submit:
    opt = {"submission": "api"}  # noqa: RUF012  (a stand-in for the route handler)


def scope() -> dict[str, Any]:
    """A routed submission, as Litestar's router leaves the scope."""
    return {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/questionnaires/connector/responses",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                    (b"user-agent", b"hey/0.0.1"), (b"content-length", b"700")],
        "path_template": "/api/v1/questionnaires/{slug}",
        "path_params": {"slug": "connector"},
        "route_handler": Submit(),
    }  # fmt: skip


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send(START)
    await send(BODY)


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    return None


async def per_request(target: Any, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        await target(scope(), receive, send)
    return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as metrics_dir, tempfile.TemporaryFile("w") as log:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # before prometheus_client loads
        from survey import logs
        from survey.config import Settings
        from survey.web import telemetry

        for level in ("info", "warning"):
            sys.stderr, real_stderr = log, sys.stderr
            logging.config.dictConfig(logs.logging_config(Settings(log_level=level)))
            wrapped = telemetry.middleware(app, telemetry.Metrics(["connector"], 10))
            asyncio.run(per_request(wrapped, args.requests // 10))  # warm up
            # The best of rounds: other processes on the machine only ever add time.
            rounds = args.requests // 10
            bare = min(asyncio.run(per_request(app, rounds)) for _ in range(10))
            observed = min(asyncio.run(per_request(wrapped, rounds)) for _ in range(10))
            sys.stderr = real_stderr
            what = "with the access line" if level == "info" else "metrics and request id only"
            print(f"{what:28}: {observed - bare:5.1f} µs a request ({bare:.1f} µs bare)")


if __name__ == "__main__":
    main()
