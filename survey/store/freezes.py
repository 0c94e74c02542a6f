"""The preregistration table: the locks `survey freeze` records, by questionnaire."""

from __future__ import annotations

from survey.core.freeze import Freeze
from survey.store import db


async def insert_freeze(conn: db.Connection, lock: Freeze) -> None:
    await conn.execute(
        """
        INSERT INTO preregistration (slug, frozen_at, hash, version, rules_hash, plan_sha256,
                                     plan_name)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        lock.slug,
        lock.frozen_at,
        lock.hash,
        lock.version,
        lock.rules_hash,
        lock.plan_sha256,
        lock.plan_name,
    )


async def select_freeze_count(conn: db.Connection, slug: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM preregistration WHERE slug = $1", slug))


async def select_latest_freeze(conn: db.Connection, slug: str) -> Freeze | None:
    """The questionnaire's latest lock, if it has one."""
    row = await conn.fetchrow(
        """
        SELECT slug, frozen_at, hash, version, rules_hash, plan_sha256, plan_name
          FROM preregistration
         WHERE slug = $1
         ORDER BY frozen_at DESC
         LIMIT 1
        """,
        slug,
    )
    return Freeze(**dict(row)) if row is not None else None
