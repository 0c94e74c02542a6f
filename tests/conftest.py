"""Real PostgreSQL for every database test: the embedded server, or TEST_DATABASE_URL.

The schema is migrated once per run into a template database; each test gets its own
database cloned from it, so tests are isolated and may commit, run concurrently and count rows.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import uvicorn
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from litestar.testing import AsyncTestClient

from survey.config import Settings
from survey.core import loader
from survey.core.model import Loaded
from survey.store import db, migrate
from survey.web.app import create_app
from tests.support import admin, free_port

# Shared machines and CI vary in speed: a per-example deadline only makes property tests flaky.
hypothesis_settings.register_profile("survey", deadline=None)
# `pytest --hypothesis-profile=thorough` tries 50 times as many examples, to look harder.
hypothesis_settings.register_profile("thorough", deadline=None, max_examples=5000)
hypothesis_settings.load_profile("survey")

ROOT = Path(__file__).resolve().parent.parent
QUESTIONNAIRES = ROOT / "questionnaires"
TEAMWORK = ROOT / "tests" / "data" / "teamwork.yaml"
CONDITIONAL = ROOT / "tests" / "data" / "conditional.yaml"
PAGED = ROOT / "tests" / "data" / "paged.yaml"
TEMPLATE = f"survey_template_{os.getpid()}"
_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server_url() -> str:
    """A URL on the PostgreSQL server under test, to a database we may connect to."""
    return os.environ.get("TEST_DATABASE_URL") or db.start_embedded(ROOT / ".survey-test")


@pytest.fixture(scope="session")
def template_url(server_url: str) -> Iterator[str]:
    async def build() -> None:
        await admin(
            server_url, f'DROP DATABASE IF EXISTS "{TEMPLATE}"', f'CREATE DATABASE "{TEMPLATE}"'
        )
        conn = await asyncpg.connect(with_database(server_url, TEMPLATE))
        try:
            await migrate.migrate(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    yield with_database(server_url, TEMPLATE)
    asyncio.run(admin(server_url, f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)'))


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A new database with nothing in it, not even the schema."""
    name = f"survey_test_{os.getpid()}_{next(_counter)}"
    asyncio.run(admin(server_url, f'CREATE DATABASE "{name}"'))
    yield with_database(server_url, name)
    asyncio.run(admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(server_url: str, template_url: str) -> Iterator[str]:
    """A migrated database of this test's own, cloned from the template."""
    name = f"survey_test_{os.getpid()}_{next(_counter)}"
    asyncio.run(admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    yield with_database(server_url, name)
    asyncio.run(admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def questionnaires() -> dict[str, Loaded]:
    """Every shipped questionnaire, and the test ones of other shapes (teamwork; conditional,
    with display conditions on items and a section; paged, a section a page)."""
    served = loader.load_dir(QUESTIONNAIRES)
    tests = [loader.load(path.read_bytes(), str(path)) for path in (TEAMWORK, CONDITIONAL, PAGED)]
    return {**served, **{loaded.definition.slug: loaded for loaded in tests}}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=str(tmp_path),
        questionnaires_dir=str(QUESTIONNAIRES),
        secret="test-secret-not-for-production",
        rate_limit=0,
        db_timeout=2.0,
    )


@pytest.fixture
def app(settings: Settings, questionnaires: dict[str, Loaded]) -> Litestar:
    return create_app(settings, questionnaires)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to this test's database, to check what was stored."""
    connection = await db.connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture
def live_server(app: Litestar) -> Iterator[str]:
    """The app served over real HTTP by uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
