"""The draft table: saved by a token's hash, updated in place, gone once expired."""

from __future__ import annotations

import pytest

from survey.store import drafts

pytestmark = pytest.mark.anyio

KEY = b"\x01" * 32


def draft(page: int, **answers: object) -> drafts.Draft:
    return drafts.Draft(slug="paged", version="v1", answers=answers, page=page, item_seed=7)


async def test_a_draft_is_saved_updated_and_found_by_its_hash_until_it_expires(conn) -> None:
    assert await drafts.select_draft(conn, KEY) is None
    await drafts.upsert_draft(conn, KEY, draft(1, a=1), days=30)
    await drafts.upsert_draft(conn, KEY, draft(2, a=1, b="x"), days=30)
    assert await drafts.select_draft(conn, KEY) == draft(2, a=1, b="x")
    assert await conn.fetchval("SELECT count(*) FROM draft") == 1
    left = await conn.fetchval("SELECT expires_at - now() FROM draft")
    assert 29 < left.total_seconds() / 86400 <= 30

    await conn.execute("UPDATE draft SET expires_at = now() - interval '1 minute'")
    assert await drafts.select_draft(conn, KEY) is None
    assert await drafts.delete_expired_drafts(conn) == 1
    assert await conn.fetchval("SELECT count(*) FROM draft") == 0


async def test_deleting_a_draft_leaves_the_others(conn) -> None:
    await drafts.upsert_draft(conn, KEY, draft(0), days=1)
    await drafts.upsert_draft(conn, b"\x02" * 32, draft(0), days=1)
    await drafts.delete_draft(conn, KEY)
    assert await drafts.select_draft(conn, KEY) is None
    assert await drafts.select_draft(conn, b"\x02" * 32) is not None
