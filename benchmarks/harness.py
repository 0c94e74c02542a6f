"""Shared by the benchmarks: a database, a server in a subprocess, hey as the load generator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from survey.store import db, migrate

ROOT = Path(__file__).resolve().parent.parent


def server_url() -> str:
    """BENCH_DATABASE_URL, else the embedded PostgreSQL in .survey-bench/."""
    return os.environ.get("BENCH_DATABASE_URL") or db.start_embedded(ROOT / ".survey-bench")


def database(url: str, name: str) -> str:
    """The URL of database `name` on the server of `url`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def fresh_database(url: str, name: str) -> str:
    """Drop and create `name` on the server of `url`, migrate it; return its URL."""
    target = database(url, name)

    async def build() -> None:
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(target)
        try:
            await migrate.migrate(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(
    factory: str, env: dict[str, str], workers: int = 1, checkout: Path = ROOT
) -> Iterator[str]:
    """Serve `factory` (module:function) with uvicorn in a subprocess; yield its base URL.

    `checkout` serves another checkout of the project (a baseline commit in a git worktree,
    with its own .venv from `uv sync`) instead of this one.
    """
    port = free_port()
    python = sys.executable if checkout == ROOT else str(checkout / ".venv" / "bin" / "python")
    command = [
        python, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    quiet = {"SURVEY_LOG_LEVEL": "warning"}  # no access lines: the benchmark reads stdout
    process = subprocess.Popen(command, env={**os.environ, **quiet, **env}, cwd=checkout)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def hey(
    url: str, body: Path, *, seconds: int, concurrency: int, rate: float | None = None
) -> dict[str, float]:
    """Run hey against `url`; return requests/s, p50/p99 latency in ms and the status counts."""
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed: apt-get install hey")
    command = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-m", "POST",
               "-T", "application/json", "-D", str(body)]  # fmt: skip
    if rate is not None:
        command += ["-q", f"{rate / concurrency:.3f}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])}  # type: ignore[index]
    for pct in ("50", "99"):
        found = re.search(rf"{pct}%+ in ([\d.]+) secs", out)
        figures[f"p{pct}_ms"] = float(found[1]) * 1000 if found else float("nan")
    statuses = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    figures.update({f"status_{k}": float(v) for k, v in statuses.items()})
    return figures


def paced(
    url: str, body: Path, *, seconds: int, rate: float, clients: int = 50
) -> dict[str, float]:
    """`clients` connections, each pausing a random think time between requests (wrk and
    benchmarks/paced.lua), for about `rate` requests/s overall; requests/s and latency in ms.

    hey's `-q` paces each connection by its own ticker, and the tickers start together: 50
    connections send 50 requests in the same instant, ten times a second, which measures the
    queue behind a burst rather than latency at a steady rate.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    think_ms = max(1000 * clients / rate - 5, 1)  # less the ~5 ms a request itself takes
    command = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", str(ROOT / "benchmarks" / "paced.lua"), url]  # fmt: skip
    env = {**os.environ, "THINK_MS": f"{think_ms:.1f}", "BODY_FILE": str(body)}
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    found = dict(re.findall(r"(\w+)=([\d.]+)", out.split("PACED", 1)[1]))
    return {
        "rps": float(found["requests"]) / float(found["seconds"]),
        "p50_ms": float(found["p50_us"]) / 1000,
        "p99_ms": float(found["p99_us"]) / 1000,
        "errors": float(found["errors"]),
        "non2xx": float(found["non2xx"]),
    }
