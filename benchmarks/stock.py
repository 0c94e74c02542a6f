"""Reports on a deployed database: a million imported, then 20,000 submitted through the API.

    uv run python -m benchmarks.stock [--imported 1000000] [--submitted 20000]
                                      [--baseline CHECKOUT] [--runs 7] [--reuse]
                                      [--quality clean|flagged|all]

Run it twice: on the embedded PostgreSQL (the default) and on a server with its stock settings
(`BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres`: JIT on, as every packaged
PostgreSQL and the `postgres` image ship it). It fills a fresh database the way a real study
does: the NDJSON bulk import of `--imported` lines over HTTP (200,000 a request), then
`--submitted` single submissions to the JSON API from 16 clients. It then times, warm, the
report JSON and the dashboard page (median of `--runs`, after one untimed request).

`--baseline CHECKOUT` serves another checkout of the project (a git worktree of an earlier
commit, after `uv sync` in it) against the same database, and times it the same way, the two
servers taking turns, so the ratio is measured side by side. `--reuse` skips the filling and
times the database the last run left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks.data import register
from benchmarks.harness import ROOT, database, fresh_database, server, server_url
from benchmarks.report import make_token
from survey.core import loader
from survey.core.demo import DemoPlan

NAME = "survey_bench_stock"
QUERY = {"include_demo": "true"}
REPORT = "/api/v1/questionnaires/connector/report"
DASHBOARD = "/reports/connector"
SUBMIT = "/api/v1/questionnaires/connector/responses"
IMPORT = "/api/v1/questionnaires/connector/responses/import"
IMPORT_LINES = 200_000


def submissions(count: int, seed: int) -> Iterator[bytes]:
    """`count` plausible connector submissions as JSON, each from the demo data's model."""
    q = loader.load_dir(ROOT / "questionnaires")["connector"].definition
    plan = DemoPlan(q, seed)
    rng = random.Random(seed)
    for _ in range(count):
        answers, quote = plan.respondent(rng)
        yield json.dumps({"answers": answers, "consent": True, "quote_consent": quote}).encode()


def ndjson(count: int, seed: int) -> Iterator[bytes]:
    batch: list[bytes] = []
    for line in submissions(count, seed):
        batch.append(line)
        if len(batch) == 1000:
            yield b"\n".join(batch) + b"\n"
            batch = []
    if batch:
        yield b"\n".join(batch) + b"\n"


async def submit_all(base: str, count: int, clients: int = 16) -> float:
    """POST `count` submissions from `clients` concurrent clients; return submissions/s."""
    bodies = iter(list(submissions(count, seed=5)))
    headers = {"Content-Type": "application/json"}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for body in bodies:
                (await http.post(SUBMIT, content=body, headers=headers)).raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return count / (time.perf_counter() - started)


def fill(url: str, imported: int, submitted: int) -> None:
    asyncio.run(register(url))
    token = asyncio.run(make_token(url, ("reports", "submit"), name="bench-fill"))
    env = {"DATABASE_URL": url, "SURVEY_SECRET": "bench", "SURVEY_RATE_LIMIT": "0"}
    with (
        server("benchmarks.bench_app:create", env, workers=2) as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=7200
        ) as http,
    ):
        started = time.perf_counter()
        accepted = 0
        for part in range(0, imported, IMPORT_LINES):  # an import takes up to 256 MB
            lines = ndjson(min(IMPORT_LINES, imported - part), seed=3 + part)
            headers = {"Content-Type": "application/x-ndjson"}
            answer = http.post(IMPORT, content=lines, headers=headers).raise_for_status()
            accepted += answer.json()["accepted"]
        seconds = time.perf_counter() - started
        say(f"imported {accepted:,} lines in {seconds:.0f} s")
        rate = asyncio.run(submit_all(base, submitted))
        say(f"submitted {submitted:,} through the API at {rate:,.0f}/s")


def median_seconds(http: httpx.Client, path: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        http.get(path, params=QUERY).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_servers(url: str, checkouts: dict[str, Path], runs: int) -> None:
    """Each checkout's server in turn, three rounds, on the same database."""
    token = asyncio.run(make_token(url, name=f"bench-{time.time_ns()}"))
    env = {"DATABASE_URL": url, "SURVEY_SECRET": "bench", "SURVEY_RATE_LIMIT": "0"}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
    for round_ in range(3):
        for name, checkout in checkouts.items():
            with (
                server("benchmarks.bench_app:create", env, workers=1, checkout=checkout) as base,
                httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=3600
                ) as http,
            ):
                started = time.perf_counter()
                total = http.get(REPORT, params=QUERY).raise_for_status().json()["counts"]["total"]
                first = time.perf_counter() - started
                http.get(DASHBOARD, params=QUERY).raise_for_status()
                report = median_seconds(http, REPORT, runs)
                dashboard = median_seconds(http, DASHBOARD, runs)
            figures[name].append((report, dashboard))
            say(
                f"round {round_ + 1}, {name}: {total:,} responses; first report"
                f" {first * 1000:,.0f} ms, then report {report * 1000:,.0f} ms (target ≤ 300),"
                f" dashboard {dashboard * 1000:,.0f} ms (target ≤ 1000)"
            )
    if len(checkouts) == 2:
        this, other = (figures[name] for name in checkouts)
        for i, what in enumerate(("report", "dashboard")):
            ratios = [b[i] / a[i] for a, b in zip(this, other, strict=True)]
            say(f"{what}: baseline takes {', '.join(f'{r:.1f}' for r in ratios)}× as long")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--imported", type=int, default=1_000_000)
    parser.add_argument("--submitted", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another checkout to time side by side")
    parser.add_argument("--reuse", action="store_true", help="time the last run's database")
    parser.add_argument(
        "--quality", choices=["clean", "flagged", "all"], help="the report's quality filter"
    )
    args = parser.parse_args()
    if args.quality:
        QUERY["quality"] = args.quality
    if args.reuse:
        url = database(server_url(), NAME)
    else:
        url = fresh_database(server_url(), NAME)
        fill(url, args.imported, args.submitted)
    checkouts = {"this checkout": ROOT}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    time_servers(url, checkouts, args.runs)


def say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    main()
