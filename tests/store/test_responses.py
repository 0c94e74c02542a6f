"""store.py against real PostgreSQL: what goes in comes out, and the schema's rules hold."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import asyncpg
import pytest

from survey.core.model import Loaded
from survey.errors import IdempotencyConflict
from survey.store import db, responses, versions

pytestmark = pytest.mark.anyio


@pytest.fixture
async def connector(conn, questionnaires: dict[str, Loaded]) -> Loaded:
    """The shipped questionnaire, its versions (and the test one's) recorded."""
    await versions.insert_questionnaire_versions(conn, list(questionnaires.values()))
    return questionnaires["connector"]


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def new_response(
    loaded: Loaded,
    index_score: float | None = 50.0,
    *,
    source: str = "api",
    token: str | None = None,
    **fields,
) -> responses.NewResponse:
    dimension = loaded.definition.dimensions[0].id
    values = {
        "id": uuid.uuid4(),
        "slug": loaded.definition.slug,
        "version": loaded.version,
        "source": source,
        "answers": {"say_why": 4, "industry": "Finance and insurance"},
        "dimensions": {dimension: index_score},
        "index_score": index_score,
        "profile": None if index_score is None else "emerging",
        "quote_consent": False,
        "result_token_hash": digest(token or str(uuid.uuid4())),
    }
    return responses.NewResponse(**{**values, **fields})


async def count_responses(conn) -> int:
    return await conn.fetchval("SELECT count(*) FROM response")


async def test_recording_questionnaire_versions_twice_keeps_one_row_each(
    conn, questionnaires, connector
):
    await versions.insert_questionnaire_versions(conn, list(questionnaires.values()))

    rows = await conn.fetch("SELECT slug, version, title, definition FROM questionnaire_version")
    assert sorted((r["slug"], r["version"]) for r in rows) == sorted(
        (q.definition.slug, q.version) for q in questionnaires.values()
    )
    stored = next(r for r in rows if r["slug"] == "connector")
    assert stored["title"] == connector.definition.title
    assert stored["definition"]["slug"] == "connector"


async def test_a_response_round_trips_by_token_with_full_precision(conn, connector):
    dimensions = {"personalization": 66.66666666666667, "generosity": 1 / 3, "introductions": None}
    new = new_response(
        connector,
        66.66666666666667,
        token="tok-1",
        dimensions=dimensions,
        answers={"say_why": 5, "platforms": ["LinkedIn", "Email"], "why_collect": "Ünïcode ✓"},
        quote_consent=True,
    )

    row, created = await responses.insert_response(conn, new)
    found = await responses.select_response_by_token(conn, digest("tok-1"))

    assert created
    assert found == row
    assert found is not None
    assert found.id == new.id
    assert (found.slug, found.version) == ("connector", connector.version)
    assert found.index_score == 66.66666666666667
    assert found.dimensions == dimensions
    assert found.answers == new.answers
    assert found.profile == "emerging"
    assert found.complete
    assert found.quote_consent
    assert found.created_at.tzinfo is not None


async def test_an_unknown_token_finds_nothing(conn, connector):
    await responses.insert_response(conn, new_response(connector, token="known"))

    assert await responses.select_response_by_token(conn, digest("unknown")) is None


async def test_a_retry_with_the_same_key_and_body_returns_the_first_row_not_a_new_one(
    conn, connector
):
    first = new_response(
        connector, 80.0, token="t", idempotency_key="key-1", request_hash=digest("body")
    )
    # A retry derives the same token from the key, but everything else is new.
    retry = new_response(
        connector, 20.0, token="t", idempotency_key="key-1", request_hash=digest("body")
    )

    row, created = await responses.insert_response(conn, first)
    again, created_again = await responses.insert_response(conn, retry)

    assert created
    assert not created_again
    assert again == row
    assert again.id == first.id
    assert again.index_score == 80.0
    assert await count_responses(conn) == 1


async def test_the_same_key_with_a_different_body_is_a_conflict(conn, connector):
    key = {"idempotency_key": "key-2", "token": "t2"}
    await responses.insert_response(conn, new_response(connector, request_hash=digest("a"), **key))

    with pytest.raises(IdempotencyConflict):
        await responses.insert_response(
            conn, new_response(connector, request_hash=digest("b"), **key)
        )
    assert await count_responses(conn) == 1


async def test_the_key_alone_stops_a_second_row_when_the_tokens_differ(conn, connector):
    # Only the partial unique index on (slug, idempotency_key) can see this conflict.
    key = {"idempotency_key": "key-3", "request_hash": digest("body")}
    first, _ = await responses.insert_response(conn, new_response(connector, token="a", **key))
    again, created = await responses.insert_response(
        conn, new_response(connector, token="b", **key)
    )

    assert not created
    assert again.id == first.id
    assert await count_responses(conn) == 1


async def test_the_lookup_by_idempotency_key_reads_its_index(conn, connector):
    for _ in range(50):
        await responses.insert_response(conn, new_response(connector))
    await conn.execute("ANALYZE response")
    await conn.execute("SET enable_seqscan = off")  # as on a large table
    plan = await conn.fetchval(
        "EXPLAIN SELECT id FROM response WHERE slug = $1 AND idempotency_key = $2",
        "connector",
        "key-4",
    )

    assert "response_idempotency_key" in plan


async def test_one_idempotency_key_may_be_used_once_per_questionnaire(conn, questionnaires):
    await versions.insert_questionnaire_versions(conn, list(questionnaires.values()))
    key = {"idempotency_key": "shared-key", "request_hash": digest("body")}

    _, on_connector = await responses.insert_response(
        conn, new_response(questionnaires["connector"], **key)
    )
    _, on_teamwork = await responses.insert_response(
        conn, new_response(questionnaires["teamwork"], **key)
    )

    assert on_connector
    assert on_teamwork
    assert await count_responses(conn) == 2


async def test_responses_without_a_key_are_never_merged(conn, connector):
    for _ in range(3):
        _, created = await responses.insert_response(conn, new_response(connector))
        assert created
    assert await count_responses(conn) == 3


async def test_deleting_by_token_erases_the_response_and_is_false_the_second_time(conn, connector):
    await responses.insert_response(conn, new_response(connector, token="gone"))
    await responses.insert_response(conn, new_response(connector, token="stays"))

    assert await responses.delete_response_by_token(conn, digest("gone")) is True
    assert await responses.select_response_by_token(conn, digest("gone")) is None
    assert await responses.delete_response_by_token(conn, digest("gone")) is False
    assert await responses.select_response_by_token(conn, digest("stays")) is not None
    assert await count_responses(conn) == 1


async def test_the_index_rank_counts_below_ties_and_total_among_scored_non_demo_responses(
    conn, questionnaires, connector
):
    for score in (20.0, 50.0, 50.0, 80.0):
        await responses.insert_response(conn, new_response(connector, score))
    await responses.insert_response(conn, new_response(connector, 10.0, source="web"))
    # None of these count: demo data, incomplete responses, another questionnaire.
    await responses.insert_response(conn, new_response(connector, 5.0, source="demo"))
    await responses.insert_response(conn, new_response(connector, 50.0, source="demo"))
    await responses.insert_response(conn, new_response(connector, None))
    await responses.insert_response(conn, new_response(questionnaires["teamwork"], 1.0))

    assert await responses.select_index_rank(conn, "connector", 50.0) == (2, 2, 5)
    assert await responses.select_index_rank(conn, "connector", 0.0) == (0, 0, 5)
    assert await responses.select_index_rank(conn, "connector", 100.0) == (5, 0, 5)
    assert await responses.select_index_rank(conn, "teamwork", 1.0) == (0, 1, 1)


async def test_the_index_rank_of_a_questionnaire_with_no_responses_is_all_zero(conn, connector):
    assert await responses.select_index_rank(conn, "connector", 50.0) == (0, 0, 0)


async def test_a_response_to_an_unrecorded_version_violates_the_foreign_key_and_stores_nothing(
    conn, connector
):
    unknown = new_response(connector, version="000000000000")

    with pytest.raises(asyncpg.ForeignKeyViolationError) as raised:
        await responses.insert_response(conn, unknown)
    assert raised.value.constraint_name == "response_version_fkey"
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await responses.insert_response(conn, new_response(connector, slug="nosuch"))
    assert await count_responses(conn) == 0


async def test_an_unscored_response_is_stored_as_incomplete(conn, connector):
    row, _ = await responses.insert_response(conn, new_response(connector, None, token="half"))

    assert not row.complete
    assert row.index_score is None
    assert row.profile is None
    stored = await conn.fetchrow("SELECT complete, index_score FROM response")
    assert (stored["complete"], stored["index_score"]) == (False, None)


@pytest.mark.parametrize(("complete", "index_score"), [(True, None), (False, 42.0)])
async def test_the_database_refuses_complete_disagreeing_with_the_index(
    conn, connector, complete, index_score
):
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await conn.execute(
            """
            INSERT INTO response (id, slug, version, source, answers, dimensions, index_score,
                                  complete, result_token_hash)
            VALUES ($1, 'connector', $2, 'api', '{}', '{}', $3, $4, $5)
            """,
            uuid.uuid4(),
            connector.version,
            index_score,
            complete,
            digest("raw"),
        )
    assert raised.value.constraint_name == "response_complete_check"
    assert await count_responses(conn) == 0


async def test_an_unknown_source_is_refused(conn, connector):
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await responses.insert_response(conn, new_response(connector, source="scraper"))
    assert raised.value.constraint_name == "response_source_check"


async def test_concurrent_retries_with_one_key_all_get_the_first_row(database_url, conn, connector):
    # Retries race: each derives the same result token from the key, so two inserts can
    # collide on the token's unique index as well as the key's. Every one must get the row.
    others = [await db.connect(database_url) for _ in range(6)]
    try:
        for n in range(40):
            key = f"race-{n}"
            retries = [
                new_response(connector, token=key, idempotency_key=key, request_hash=b"same")
                for _ in others
            ]
            results = await asyncio.gather(
                *(responses.insert_response(c, new) for c, new in zip(others, retries, strict=True))
            )
            assert sorted(created for _, created in results) == [False] * 5 + [True]
            assert len({row.id for row, _ in results}) == 1
    finally:
        for c in others:
            await c.close()
    assert await count_responses(conn) == 40
