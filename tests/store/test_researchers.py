"""Researcher tokens in the store: hashes only, scopes checked, revocation kept."""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg
import pytest

from survey.core.tokens import token_hash
from survey.errors import TokenExists
from survey.flows.researchers import create_token
from survey.store import researchers

pytestmark = pytest.mark.anyio


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


async def test_a_new_token_comes_back_with_its_scopes_and_no_use_or_revocation(conn):
    row = await researchers.insert_token(conn, "alice", digest("a"), ["reports", "submit"])

    assert row.name == "alice"
    assert row.scopes == ["reports", "submit"]
    assert row.created_at is not None
    assert row.last_used_at is None
    assert row.revoked_at is None


async def test_a_token_is_found_by_its_hash_and_by_its_id_until_revoked(conn):
    row = await researchers.insert_token(conn, "alice", digest("a"), ["reports"])

    assert await researchers.select_token_by_hash(conn, digest("a")) == row
    assert await researchers.select_token_by_id(conn, row.id) == row
    assert await researchers.select_token_by_hash(conn, digest("b")) is None

    assert await researchers.update_token_revoked(conn, "alice") is True

    assert await researchers.select_token_by_hash(conn, digest("a")) is None
    assert await researchers.select_token_by_id(conn, row.id) is None


async def test_a_taken_name_is_token_exists_from_the_unique_violation(conn):
    await researchers.insert_token(conn, "alice", digest("a"), ["reports"])

    with pytest.raises(TokenExists, match="alice") as caught:
        await researchers.insert_token(conn, "alice", digest("b"), ["reports"])

    assert isinstance(caught.value.__cause__, asyncpg.UniqueViolationError)
    assert caught.value.__cause__.constraint_name == "researcher_token_name_key"


async def test_a_revoked_token_keeps_its_name(conn):
    await researchers.insert_token(conn, "alice", digest("a"), ["reports"])
    await researchers.update_token_revoked(conn, "alice")

    with pytest.raises(TokenExists):
        await researchers.insert_token(conn, "alice", digest("b"), ["reports"])


async def test_the_same_hash_twice_is_refused_by_the_schema_not_taken_for_a_name_clash(conn):
    await researchers.insert_token(conn, "alice", digest("a"), ["reports"])

    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await researchers.insert_token(conn, "bob", digest("a"), ["reports"])

    assert caught.value.constraint_name == "researcher_token_hash_key"


@pytest.mark.parametrize("scopes", [["admin"], ["reports", "admin"], [], ["Reports"]])
async def test_only_known_scopes_and_at_least_one_are_accepted(conn, scopes):
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        await researchers.insert_token(conn, "alice", digest("a"), scopes)

    assert caught.value.constraint_name == "researcher_token_scopes_check"


async def test_the_list_holds_every_token_revoked_ones_too_oldest_first(conn):
    await researchers.insert_token(conn, "zed", digest("z"), ["submit"])
    await researchers.insert_token(conn, "amy", digest("a"), ["reports"])
    await researchers.update_token_revoked(conn, "zed")

    rows = await researchers.select_tokens(conn)

    assert [r.name for r in rows] == ["zed", "amy"]
    assert rows[0].revoked_at is not None
    assert rows[1].revoked_at is None


async def test_revoking_twice_keeps_the_first_time_and_an_unknown_name_is_false(conn):
    await researchers.insert_token(conn, "alice", digest("a"), ["reports"])
    await researchers.update_token_revoked(conn, "alice")
    first = (await researchers.select_tokens(conn))[0].revoked_at
    await asyncio.sleep(0.01)

    assert await researchers.update_token_revoked(conn, "alice") is True
    assert (await researchers.select_tokens(conn))[0].revoked_at == first
    assert await researchers.update_token_revoked(conn, "nobody") is False


async def test_use_is_noted_at_most_once_a_minute(conn):
    row = await researchers.insert_token(conn, "alice", digest("a"), ["reports"])

    await researchers.update_token_used(conn, row.id)
    first = (await researchers.select_tokens(conn))[0].last_used_at
    await researchers.update_token_used(conn, row.id)

    assert first is not None
    assert (await researchers.select_tokens(conn))[0].last_used_at == first

    await conn.execute("UPDATE researcher_token SET last_used_at = now() - interval '2 minutes'")
    await researchers.update_token_used(conn, row.id)

    assert (await researchers.select_tokens(conn))[0].last_used_at > first


async def test_a_created_token_is_random_prefixed_and_stored_only_as_its_hash(conn):
    row, token = await create_token(conn, "alice", ["reports"])
    _, other = await create_token(conn, "bob", ["reports"])

    assert token.startswith("cs_")
    assert len(token) >= len("cs_") + 43  # 32 random bytes, base64url
    assert token != other
    stored = await conn.fetch("SELECT * FROM researcher_token")
    text = repr([dict(r) for r in stored])
    assert token not in text
    assert token.encode() not in b"".join(r["token_hash"] for r in stored)
    assert await researchers.select_token_by_hash(conn, token_hash(token)) == row
