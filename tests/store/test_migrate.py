"""Migrations on real PostgreSQL: applied once, in order, under a lock; listing never writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from survey.store import db, migrate

pytestmark = pytest.mark.anyio

ALL = [m.name for m in migrate.available()]


@pytest.fixture
async def empty_conn(empty_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await db.connect(empty_database_url)
    yield connection
    await connection.close()


async def ledger(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT name FROM schema_migration ORDER BY name")
    return [r["name"] for r in rows]


async def exists(conn: asyncpg.Connection, table: str) -> bool:
    return await conn.fetchval("SELECT to_regclass($1)", table) is not None


def test_the_migrations_directory_is_not_empty_and_sorted():
    assert ALL, "no migrations found"
    assert sorted(ALL) == ALL
    assert ALL[0] == "0001_initial"


async def test_migrating_an_empty_database_creates_the_tables_and_records_each_migration(
    empty_conn,
):
    applied = await migrate.migrate(empty_conn)

    assert applied == ALL
    assert await ledger(empty_conn) == ALL
    for table in ("questionnaire_version", "response", "schema_migration"):
        assert await exists(empty_conn, table), table
    assert await migrate.pending(empty_conn) == []


async def test_a_second_migration_run_applies_nothing(empty_conn):
    await migrate.migrate(empty_conn)
    before = await empty_conn.fetch("SELECT name, applied_at FROM schema_migration ORDER BY name")

    assert await migrate.migrate(empty_conn) == []
    after = await empty_conn.fetch("SELECT name, applied_at FROM schema_migration ORDER BY name")
    assert after == before


async def test_pending_on_an_unmigrated_database_lists_all_and_writes_nothing(empty_conn):
    pending = await migrate.pending(empty_conn)

    assert [m.name for m in pending] == ALL
    assert all(m.sql.strip() for m in pending)
    assert not await exists(empty_conn, "schema_migration")
    assert not await exists(empty_conn, "response")


async def test_pending_lists_only_the_migrations_not_yet_applied(empty_conn, tmp_path):
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (n int);")
    await migrate.migrate(empty_conn, tmp_path)
    (tmp_path / "0002_second.sql").write_text("CREATE TABLE second_table (n int);")
    (tmp_path / "README.md").write_text("not a migration")

    assert [m.name for m in await migrate.pending(empty_conn, tmp_path)] == ["0002_second"]
    assert not await exists(empty_conn, "second_table")


async def test_two_concurrent_migrations_both_succeed_and_apply_each_migration_once(
    empty_database_url,
):
    first, second = await db.connect(empty_database_url), await db.connect(empty_database_url)
    try:
        results = await asyncio.gather(migrate.migrate(first), migrate.migrate(second))
        assert sorted(results, key=len) == [[], ALL]
        assert await ledger(first) == ALL
    finally:
        await first.close()
        await second.close()


async def test_concurrent_runs_of_a_slow_migration_take_turns(empty_database_url, tmp_path):
    # The sleep keeps the first run inside its migration while the second one starts;
    # without the lock both would apply it and the counter would reach 2 (or one would fail).
    (tmp_path / "0001_counter.sql").write_text(
        "CREATE TABLE counter (n int NOT NULL); SELECT pg_sleep(0.5);"
    )
    (tmp_path / "0002_count.sql").write_text("INSERT INTO counter VALUES (1);")
    conns = [await db.connect(empty_database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate.migrate(c, tmp_path) for c in conns))

        assert sorted(results, key=len) == [[], [], ["0001_counter", "0002_count"]]
        assert await conns[0].fetchval("SELECT count(*) FROM counter") == 1
        assert await ledger(conns[0]) == ["0001_counter", "0002_count"]
    finally:
        for c in conns:
            await c.close()


async def test_a_failing_migration_is_rolled_back_with_its_ledger_row_and_the_lock_released(
    empty_database_url, tmp_path
):
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (n int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half_done (n int); SELECT nonsense;")
    conn = await db.connect(empty_database_url)
    other = await db.connect(empty_database_url)
    try:
        with pytest.raises(asyncpg.UndefinedColumnError):
            await migrate.migrate(conn, tmp_path)

        assert await ledger(conn) == ["0001_good"]
        assert await exists(conn, "good")
        assert not await exists(conn, "half_done")
        # The lock was released: another connection gets it at once.
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", migrate.LOCK_KEY)
        await other.execute("SELECT pg_advisory_unlock($1)", migrate.LOCK_KEY)

        (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half_done (n int);")
        assert await migrate.migrate(other, tmp_path) == ["0002_bad"]
    finally:
        await conn.close()
        await other.close()


async def test_the_migrated_template_has_every_migration_recorded(conn):
    assert await ledger(conn) == ALL
    assert await migrate.pending(conn) == []


def test_migration_names_are_file_stems(tmp_path: Path):
    (tmp_path / "0002_b.sql").write_text("SELECT 2;")
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "notes.sql").write_text("SELECT 0;")

    assert migrate.available(tmp_path) == [
        migrate.Migration("0001_a", "SELECT 1;"),
        migrate.Migration("0002_b", "SELECT 2;"),
    ]
