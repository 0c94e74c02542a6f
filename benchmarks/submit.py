"""Submit throughput against the floor endpoint, and p99 latency at a fixed rate (issue 5).

    uv run python benchmarks/submit.py [--seconds 15] [--workers N]

Both endpoints are served by one server on one database and loaded by `hey` in turn; the
latency at a steady rate is measured with `wrk` and benchmarks/paced.lua. Needs `hey` and `wrk`
(apt-get install hey wrk). BENCH_DATABASE_URL picks a PostgreSQL server; by default the
embedded one in .survey-bench/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
from pathlib import Path

import asyncpg

from benchmarks.harness import ROOT, fresh_database, hey, paced, server, server_url
from survey.core import loader


def body_file(directory: Path) -> Path:
    """One complete, valid connector submission."""
    q = loader.load_dir(ROOT / "questionnaires")["connector"].definition
    rng = random.Random(7)
    answers = {i.id: rng.randint(1, 5) for i in q.likert_items()}
    answers |= {"industry": "Technology", "years_experience": 12, "why_collect": "Reach."}
    path = directory / "body.json"
    path.write_text(json.dumps({"answers": answers, "consent": True}))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()

    url = fresh_database(server_url(), "survey_bench_submit")

    async def floor_table() -> None:
        conn = await asyncpg.connect(url)
        await conn.execute(
            "CREATE TABLE bench_floor (id bigserial PRIMARY KEY, body jsonb NOT NULL)"
        )
        await conn.close()

    asyncio.run(floor_table())
    env = {"DATABASE_URL": url, "SURVEY_SECRET": "bench", "SURVEY_RATE_LIMIT": "0"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        server("benchmarks.bench_app:create", env, args.workers) as base,
    ):
        body = body_file(Path(tmp))
        real_url = f"{base}/api/v1/questionnaires/connector/responses"
        floor_url = f"{base}/bench/floor"
        hey(real_url, body, seconds=3, concurrency=args.concurrency)  # warm up both
        hey(floor_url, body, seconds=3, concurrency=args.concurrency)
        floor = hey(floor_url, body, seconds=args.seconds, concurrency=args.concurrency)
        real = hey(real_url, body, seconds=args.seconds, concurrency=args.concurrency)
        steady = paced(real_url, body, seconds=args.seconds, rate=args.rate)
        bursts = hey(real_url, body, seconds=args.seconds, concurrency=50, rate=args.rate)

    print(f"workers={args.workers} concurrency={args.concurrency} seconds={args.seconds}")
    for name, run in (("floor", floor), ("submit", real)):
        ms = f"p50 {run['p50_ms']:.1f} ms  p99 {run['p99_ms']:.1f} ms"
        print(f"{name:7}: {run['rps']:8.0f} req/s  {ms}")
    print(f"ratio  : {real['rps'] / floor['rps']:.2f} of the floor (target ≥ 0.70)")
    served = f"{steady['rps']:.0f} req/s served, p50 {steady['p50_ms']:.1f} ms,"
    served += f" p99 {steady['p99_ms']:.1f} ms (target ≤ 50 ms)"
    print(f"at {args.rate:.0f} req/s, 50 clients with random think times (wrk): {served}")
    print(f"  errors {steady['errors']:.0f}, non-2xx {steady['non2xx']:.0f}")
    served = f"{bursts['rps']:.0f} req/s served, p99 {bursts['p99_ms']:.1f} ms"
    print(f"at {args.rate:.0f} req/s in bursts of 50 every 100 ms (hey -q): {served}")
    statuses = [{k: v for k, v in run.items() if k.startswith("status")} for run in (real, bursts)]
    print("statuses:", *statuses)


if __name__ == "__main__":
    main()
