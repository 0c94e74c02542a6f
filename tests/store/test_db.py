"""Every connection the service opens runs with JIT off, and keeps it when the pool reuses it."""

from __future__ import annotations

import pytest

from survey.store import db

pytestmark = pytest.mark.anyio


async def test_a_connection_of_its_own_runs_without_jit(database_url: str):
    conn = await db.connect(database_url)
    try:
        assert await conn.fetchval("SHOW jit") == "off"
    finally:
        await conn.close()


async def test_a_pooled_connection_keeps_jit_off_after_the_pool_resets_it(database_url: str):
    pool = await db.create_pool(database_url, size=1)
    try:
        for _ in range(2):  # the second time, the one connection was reset on release
            async with pool.acquire() as conn:
                assert await conn.fetchval("SHOW jit") == "off"
                await conn.execute("SET jit = on")
    finally:
        await pool.close()
