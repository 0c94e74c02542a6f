"""Reports over many responses (issue 5, target 2), against a straightforward query on raw rows.

    uv run python -m benchmarks.report [--responses 1000000] [--small 10000]
                                       [--baseline-limit SECONDS] [--reuse]

Fills a fresh database with synthetic responses to connector.yaml (`survey demo`'s generator),
serves the app in a subprocess, and measures, warm: the report JSON and the dashboard page;
the server's resident memory at `--small` and at `--responses`; and, in the same run, the same
sums computed by one query over every raw response (no rollup) as the baseline.

Filling and folding a million responses takes most of an hour on a slow machine. `--reuse`
times the report and the dashboard again on the database the last run left, without
refilling it or running the baseline (for a re-take on a quiet machine).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg
import httpx
import psutil

from benchmarks.harness import ROOT, database, fresh_database, server, server_url
from survey.core import loader
from survey.core.filters import SOURCES, ReportFilter
from survey.core.sums import ReportShape, shape_of
from survey.core.tokens import new_researcher_token, token_hash
from survey.flows.ingest import insert_demo
from survey.store import db, researchers, rollup, versions

QUERY = {"include_demo": "true"}  # the synthetic responses are `demo`, hidden by default


async def fill(url: str, count: int, seed: int) -> float:
    """Add `count` demo responses; return responses per second."""
    conn = await db.connect(url)
    try:
        loaded = loader.load_dir(ROOT / "questionnaires")["connector"]
        await versions.insert_questionnaire_versions(conn, [loaded])
        started = time.perf_counter()
        await insert_demo(conn, loaded, count, days=90, seed=seed)
        return count / (time.perf_counter() - started)
    finally:
        await conn.close()


async def make_token(url: str, scopes: tuple[str, ...] = ("reports",), name: str = "bench") -> str:
    conn = await db.connect(url)
    try:
        token = new_researcher_token()
        await researchers.insert_token(conn, name, token_hash(token), list(scopes))
        return token
    finally:
        await conn.close()


async def sums_of_every_row(
    conn: asyncpg.Connection, slug: str, shape: ReportShape, where: ReportFilter
) -> dict[tuple[str, ...], float]:
    """The report's sums by one query over every selected response, without the rollup: what
    a straightforward implementation would run."""
    rows = await conn.fetch(
        f"""
        WITH r AS (
            SELECT {rollup.ROW_COLUMNS}
              FROM response
             WHERE slug = $1 AND source = ANY($2::text[])
        ),
        {rollup.contributions(3)}
        SELECT key, sum(value) AS value FROM kv GROUP BY key
        """,
        slug,
        list(where.sources),
        *rollup.shape_args(shape),
    )
    return {tuple(row["key"]): row["value"] for row in rows}


async def baseline(url: str, limit: float) -> float | None:
    """Seconds for the same sums by one query over every raw response; None past `limit`."""
    conn = await db.connect(url)
    try:
        q = loader.load_dir(ROOT / "questionnaires")["connector"].definition
        where = ReportFilter(sources=(*SOURCES, "demo"))
        await conn.execute(f"SET statement_timeout = {int(limit * 1000)}")
        started = time.perf_counter()
        try:
            await sums_of_every_row(conn, q.slug, shape_of(q), where)
        except asyncpg.QueryCanceledError:
            return None
        return time.perf_counter() - started
    finally:
        await conn.close()


def timed(client: httpx.Client, path: str, runs: int) -> float:
    """Median seconds of `runs` GETs, after one untimed."""
    client.get(path, params=QUERY).raise_for_status()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(path, params=QUERY).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def rss_mb(base_pid: int) -> float:
    process = psutil.Process(base_pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--baseline-limit",
        type=float,
        default=3600,
        help="seconds after which the baseline query is stopped (the ratio is then a floor);"
        " 0 waits for it however long it takes",
    )
    parser.add_argument("--reuse", action="store_true", help="re-time the last run's database")
    args = parser.parse_args()
    if args.reuse:
        retime(args.runs)
        return

    url = fresh_database(server_url(), "survey_bench_report")
    fill_small = asyncio.run(fill(url, args.small, seed=1))
    token = asyncio.run(make_token(url))
    env = {"DATABASE_URL": url, "SURVEY_SECRET": "bench", "SURVEY_RATE_LIMIT": "0"}
    headers = {"Authorization": f"Bearer {token}"}
    say(f"demo insert: {fill_small:,.0f} responses/s")
    with server("benchmarks.bench_app:create", env, workers=1) as base:
        pid = _server_pid(base)
        with httpx.Client(base_url=base, headers=headers, timeout=3600) as client:
            report_path = "/api/v1/questionnaires/connector/report"
            started = time.perf_counter()
            client.get(report_path, params=QUERY).raise_for_status()  # folds
            say(f"{args.small:,}: first report (fold) {time.perf_counter() - started:.2f} s")
            small = (timed(client, report_path, args.runs), timed(client, "/reports/connector", 3))
            memory_small = rss_mb(pid)
            say(
                f"{args.small:,}: report {small[0] * 1000:.0f} ms,"
                f" dashboard {small[1] * 1000:.0f} ms,"
                f" server RSS {memory_small:.0f} MB"
            )

            rate = asyncio.run(fill(url, args.responses - args.small, seed=2))
            say(f"demo insert: {rate:,.0f} responses/s")
            started = time.perf_counter()
            client.get(report_path, params=QUERY).raise_for_status()  # folds the rest
            say(f"{args.responses:,}: first report (fold) {time.perf_counter() - started:.1f} s")
            large = (timed(client, report_path, args.runs), timed(client, "/reports/connector", 3))
            memory_large = rss_mb(pid)
            say(
                f"{args.responses:,}: report {large[0] * 1000:.0f} ms (target ≤ 300),"
                f" dashboard {large[1] * 1000:.0f} ms (target ≤ 1000),"
                f" server RSS {memory_large:.0f} MB"
            )
            say(f"memory growth: {memory_large - memory_small:.0f} MB (target < 50)")
    raw = asyncio.run(baseline(url, args.baseline_limit))
    if raw is None:
        say(
            f"baseline, one query over all raw rows: stopped after {args.baseline_limit:.0f} s"
            f" = over {args.baseline_limit / large[0]:.0f}× the report (target ≥ 20×)"
        )
    else:
        say(
            f"baseline, one query over all raw rows: {raw:.1f} s = "
            f"{raw / large[0]:.0f}× the report (target ≥ 20×)"
        )


def retime(runs: int) -> None:
    url = database(server_url(), "survey_bench_report")
    token = asyncio.run(make_token(url, name=f"bench-{time.time_ns()}"))
    env = {"DATABASE_URL": url, "SURVEY_SECRET": "bench", "SURVEY_RATE_LIMIT": "0"}
    with (
        server("benchmarks.bench_app:create", env, workers=1) as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=3600
        ) as client,
    ):
        answer = client.get("/api/v1/questionnaires/connector/report", params=QUERY)
        count = answer.raise_for_status().json()
        report = timed(client, "/api/v1/questionnaires/connector/report", runs)
        dashboard = timed(client, "/reports/connector", runs)
    print(
        f"{count['counts']['total']:,} responses: report {report * 1000:.0f} ms"
        f" (target ≤ 300), dashboard {dashboard * 1000:.0f} ms (target ≤ 1000)"
    )


def say(line: str) -> None:
    """Each figure is printed as soon as it is measured: a run takes most of an hour."""
    print(line, flush=True)


def _server_pid(base: str) -> int:
    """The uvicorn process listening on the base URL's port."""
    port = int(base.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return int(conn.pid)
    raise RuntimeError("no process listens on the server's port")


if __name__ == "__main__":
    main()
