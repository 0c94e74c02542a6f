"""Drafts of multi-page responses: erased on request, swept when expired, submitted once."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from survey.core.model import Loaded
from survey.core.submission import Submission
from survey.flows import paging
from survey.store import db, versions

pytestmark = pytest.mark.anyio


async def drafts(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM draft")
    return count


async def test_the_sweeper_erases_expired_drafts_and_keeps_the_others(
    database_url: str, conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    paged = questionnaires["paged"]
    for n, token in enumerate(["old-one", "old-two", "current"]):
        await paging.save(conn, token, paged, {"ask_first": n + 1}, 1, None, days=30)
    await conn.execute(
        "UPDATE draft SET expires_at = now() - interval '1 day' WHERE answers->>'ask_first' < '3'"
    )
    pool = await db.create_pool(database_url, 2)
    sweeper = asyncio.create_task(paging.sweep_forever(pool, every=0.05))
    try:
        for _ in range(200):
            if await drafts(conn) == 1:
                break
            await asyncio.sleep(0.05)
        assert await conn.fetchval("SELECT answers FROM draft") == {"ask_first": 3}
        # It goes on sweeping: a draft that expires later is erased at a later round.
        await conn.execute("UPDATE draft SET expires_at = now()")
        for _ in range(200):
            if await drafts(conn) == 0:
                break
            await asyncio.sleep(0.05)
        assert await drafts(conn) == 0
    finally:
        sweeper.cancel()
        await pool.close()


async def test_the_sweeper_survives_a_database_that_is_gone(database_url: str) -> None:
    pool = await db.create_pool(database_url, 2)
    await pool.close()  # every acquire now fails as an unreachable server's would
    sweeper = asyncio.create_task(paging.sweep_forever(pool, every=0.01))
    await asyncio.sleep(0.1)
    assert not sweeper.done()  # logged and tried again, not crashed
    sweeper.cancel()


async def test_a_draft_is_discarded_once_and_its_answers_are_gone(
    conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    await paging.save(conn, "mine", questionnaires["paged"], {"ask_first": 4}, 1, None, days=30)
    assert await paging.discard(conn, "mine") is True
    assert await paging.find(conn, "mine") is None
    assert await paging.discard(conn, "mine") is False


async def test_the_last_page_sent_twice_stores_one_response(
    conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    paged = questionnaires["paged"]
    await versions.insert_questionnaire_versions(conn, [paged])
    answers = {"introduces": "No", "ask_first": 4, "years": 3}
    await paging.save(conn, "twice", paged, answers, 2, None, days=30)
    submission = Submission(answers=answers, consent=True)
    first = await paging.finish(conn, "twice", paged, submission, secret="s" * 32, item_order=None)
    assert first.result_url
    with pytest.raises(paging.DraftGone):
        await paging.finish(conn, "twice", paged, submission, secret="s" * 32, item_order=None)
    assert await conn.fetchval("SELECT count(*) FROM response") == 1
