"""Forward-only SQL migrations from migrations/NNNN_name.sql, applied in order under a lock."""

from __future__ import annotations

from pathlib import Path

import msgspec

from survey.store import db

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# pg_advisory_lock key: any constant shared by every replica of this service.
LOCK_KEY = 0x5_0C_1A_B1E

LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migration (
    name        text        NOT NULL PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class Migration(msgspec.Struct, frozen=True):
    name: str
    sql: str


def available(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    return [Migration(p.stem, p.read_text()) for p in sorted(directory.glob("[0-9]*.sql"))]


async def applied(conn: db.Connection) -> set[str]:
    """Names already applied; reads only, so it is safe on a database never migrated."""
    if await conn.fetchval("SELECT to_regclass('schema_migration')") is None:
        return set()
    return {r["name"] for r in await conn.fetch("SELECT name FROM schema_migration")}


async def pending(conn: db.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    done = await applied(conn)
    return [m for m in available(directory) if m.name not in done]


class Status(msgspec.Struct, frozen=True, kw_only=True):
    applied: list[str]  # in the ledger, in name order
    pending: list[str]  # not in the ledger, in the order they would be applied


async def status(conn: db.Connection, directory: Path = MIGRATIONS_DIR) -> Status:
    """What is applied and what is pending; reads only, like `applied`."""
    done = await applied(conn)
    return Status(
        applied=sorted(done), pending=[m.name for m in available(directory) if m.name not in done]
    )


async def migrate(conn: db.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration, each with its ledger row in one transaction.

    The advisory lock makes replicas that start together take turns; the second finds
    nothing left to do.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(LEDGER)
        names = []
        for migration in await pending(conn, directory):
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migration (name) VALUES ($1)", migration.name
                )
            names.append(migration.name)
        return names
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
