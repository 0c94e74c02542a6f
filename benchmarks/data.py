"""Bulk import and export throughput (issue 5, targets 3 and 4), and startup time (target 5).

    uv run python -m benchmarks.data [--lines 200000] [--export-rows 1000000] [--reuse RUNS]

Import: POSTs an NDJSON file of `--lines` generated submissions (with every 1000th line bad)
to the import endpoint, and runs `survey import` on the same file. Export: streams
`responses.csv` of what is then stored, watching the server's memory. Startup: times
`survey serve` on an existing embedded database until /readyz answers. `--reuse RUNS` only
times the export again, RUNS times, on the database the last run left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from benchmarks.harness import (
    ROOT,
    database,
    free_port,
    fresh_database,
    server,
    server_url,
)
from benchmarks.report import _server_pid, make_token
from survey.core import loader
from survey.core.demo import DemoPlan
from survey.flows.ingest import insert_demo
from survey.store import db, versions

MB = 2**20


def ndjson(path: Path, lines: int) -> None:
    q = loader.load_dir(ROOT / "questionnaires")["connector"].definition
    plan = DemoPlan(q, 3)
    rng = random.Random(3)
    with path.open("w") as out:
        for n in range(lines):
            answers, quote = plan.respondent(rng)
            if n % 1000 == 999:
                answers = {"say_why": 9}  # off the scale: rejected with its line number
            out.write(json.dumps({"answers": answers, "consent": True, "quote_consent": quote}))
            out.write("\n")


async def register(url: str) -> None:
    conn = await db.connect(url)
    try:
        await versions.insert_questionnaire_versions(
            conn, [loader.load_dir(ROOT / "questionnaires")["connector"]]
        )
    finally:
        await conn.close()


class PeakMemory(threading.Thread):
    """Samples a process tree's resident memory until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = self.start_rss = self.rss()
        self.stopped = threading.Event()

    def rss(self) -> float:
        tree = [self.process, *self.process.children(recursive=True)]
        return sum(p.memory_info().rss for p in tree) / MB

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            self.peak = max(self.peak, self.rss())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument(
        "--export-rows", type=int, default=1_000_000, help="top up with demo rows to this many"
    )
    parser.add_argument(
        "--reuse",
        type=int,
        metavar="RUNS",
        help="only time the export, RUNS times, on the database the last run left",
    )
    args = parser.parse_args()
    if args.reuse:
        reuse(args.reuse)
        return
    lines: list[str] = []
    url = fresh_database(server_url(), "survey_bench_data")
    asyncio.run(register(url))
    token = asyncio.run(make_token(url, ("reports", "submit")))
    env = {"DATABASE_URL": url, "SURVEY_SECRET": "bench", "SURVEY_RATE_LIMIT": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "import.ndjson"
        ndjson(data, args.lines)
        size = data.stat().st_size / MB
        with server("benchmarks.bench_app:create", env, workers=1) as base:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=3600) as client:
                started = time.perf_counter()
                with data.open("rb") as body:
                    answer = client.post(
                        "/api/v1/questionnaires/connector/responses/import",
                        content=body,
                        headers={"Content-Type": "application/x-ndjson"},
                    )
                seconds = time.perf_counter() - started
                answer.raise_for_status()
                summary = answer.json()
                lines.append(
                    f"import over HTTP: {args.lines:,} lines ({size:.0f} MB) in {seconds:.1f} s"
                    f" = {args.lines / seconds:,.0f} lines/s (target ≥ 20,000);"
                    f" accepted {summary['accepted']:,}, rejected {summary['rejected_count']:,}"
                )

            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "survey", "import", "connector", str(data)],
                env={**os.environ, **env},
                cwd=ROOT,
                capture_output=True,
                check=False,  # exits 1: some lines are rejected on purpose
            )
            seconds = time.perf_counter() - started
            lines.append(
                f"survey import: {args.lines:,} lines in {seconds:.1f} s"
                f" = {args.lines / seconds:,.0f} lines/s (process start included)"
            )

            stored = asyncio.run(top_up(url, args.export_rows))
            lines.append(time_export(base, headers, stored))

    lines.append(startup())
    print("\n".join(lines))


def reuse(runs: int) -> None:
    """Time the export again on the database the last run left."""
    url = database(server_url(), "survey_bench_data")
    token = asyncio.run(make_token(url, ("reports",), name=f"bench-{time.time_ns()}"))
    stored = asyncio.run(top_up(url, 0))
    env = {"DATABASE_URL": url, "SURVEY_SECRET": "bench", "SURVEY_RATE_LIMIT": "0"}
    with server("benchmarks.bench_app:create", env, workers=1) as base:
        for _ in range(runs):
            print(time_export(base, {"Authorization": f"Bearer {token}"}, stored), flush=True)


def time_export(base: str, headers: dict[str, str], stored: int) -> str:
    """Stream every response as gzipped CSV, as a client would; the figures."""
    watch = PeakMemory(_server_pid(base))
    watch.start()
    rows = 0
    started = time.perf_counter()
    with (
        httpx.Client(base_url=base, headers=headers, timeout=3600) as client,
        client.stream(
            "GET", "/api/v1/questionnaires/connector/responses.csv?include_demo=true"
        ) as stream,
    ):
        for chunk in stream.iter_bytes():
            rows += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    watch.stopped.set()
    assert rows - 1 == stored, (rows - 1, stored)  # no text answer holds a line break
    return (
        f"export CSV over HTTP (gzip): {rows - 1:,} rows in {seconds:.1f} s"
        f" = {(rows - 1) / seconds:,.0f} rows/s (target ≥ 100,000);"
        f" server memory {watch.start_rss:.0f} → peak {watch.peak:.0f} MB"
    )


async def top_up(url: str, rows: int) -> int:
    """Add demo responses until `rows` are stored; how many are."""
    conn = await db.connect(url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM response")
        if stored < rows:
            loaded = loader.load_dir(ROOT / "questionnaires")["connector"]
            await insert_demo(conn, loaded, rows - stored, days=365, seed=11)
        count: int = await conn.fetchval("SELECT count(*) FROM response")
        return count
    finally:
        await conn.close()


def startup(runs: int = 5) -> str:
    """Seconds from `survey serve` to a ready /readyz, on an embedded database that exists."""
    with tempfile.TemporaryDirectory() as data_dir:
        times = []
        for _ in range(runs + 1):
            port = free_port()
            env = {**os.environ, "SURVEY_DATA_DIR": data_dir, "SURVEY_WORKERS": "2"}
            env.pop("DATABASE_URL", None)
            started = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "survey", "serve", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                while True:
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).is_success:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.02)
                times.append(time.perf_counter() - started)
            finally:
                process.terminate()
                process.wait(timeout=30)
        first, rest = times[0], sorted(times[1:])
        return (
            f"survey serve ready: first start (initdb) {first:.1f} s; with the database existing,"
            f" median {rest[len(rest) // 2]:.2f} s, worst {rest[-1]:.2f} s (target ≤ 3 s)"
        )


if __name__ == "__main__":
    main()
