"""Every runtime SQL statement, as select_/insert_/delete_ functions taking the connection first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from survey import db
from survey.errors import IdempotencyConflict
from survey.model import Loaded


class NewResponse(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    slug: str
    version: str
    source: str
    answers: dict[str, Any]
    dimensions: dict[str, float | None]
    index_score: float | None
    profile: str | None
    quote_consent: bool
    result_token_hash: bytes
    idempotency_key: str | None = None
    request_hash: bytes | None = None


class StoredResponse(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    slug: str
    version: str
    created_at: datetime
    answers: dict[str, Any]
    dimensions: dict[str, float | None]
    index_score: float | None
    profile: str | None
    complete: bool
    quote_consent: bool


_RESPONSE_COLUMNS = """
    id, slug, version, created_at, answers, dimensions, index_score, profile, complete,
    quote_consent
"""


def _stored(row: asyncpg.Record) -> StoredResponse:
    return StoredResponse(**dict(row))


async def insert_questionnaire_versions(conn: db.Connection, loaded: list[Loaded]) -> None:
    """Record each served version once, so every response can name the definition it answered."""
    await conn.executemany(
        """
        INSERT INTO questionnaire_version (slug, version, title, definition)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (slug, version) DO NOTHING
        """,
        [
            (q.definition.slug, q.version, q.definition.title, msgspec.to_builtins(q.definition))
            for q in loaded
        ],
    )


async def insert_response(conn: db.Connection, new: NewResponse) -> tuple[StoredResponse, bool]:
    """Store a response; with an idempotency key already used, return the first one instead.

    Returns the stored row and whether this call created it. Concurrent calls with one key
    wait on the unique indexes for the first to commit, then read its row.
    """
    # No conflict target: every unique index is an arbiter. A retry derives the same result
    # token as the first call, so racing retries can meet on the token's index first.
    row = await conn.fetchrow(
        f"""
        INSERT INTO response (id, slug, version, source, answers, dimensions, index_score,
                              profile, complete, quote_consent, result_token_hash,
                              idempotency_key, request_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT DO NOTHING
        RETURNING {_RESPONSE_COLUMNS}
        """,
        new.id,
        new.slug,
        new.version,
        new.source,
        new.answers,
        new.dimensions,
        new.index_score,
        new.profile,
        new.index_score is not None,
        new.quote_consent,
        new.result_token_hash,
        new.idempotency_key,
        new.request_hash,
    )
    if row is not None:
        return _stored(row), True
    first = await conn.fetchrow(
        f"""
        SELECT {_RESPONSE_COLUMNS}, request_hash
          FROM response
         WHERE slug = $1 AND idempotency_key = $2
        """,
        new.slug,
        new.idempotency_key,
    )
    assert first is not None  # the conflicting row has committed before DO NOTHING returns
    if first["request_hash"] != new.request_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with a different body")
    values = dict(first)
    del values["request_hash"]
    return StoredResponse(**values), False


async def select_response_by_token(conn: db.Connection, token_hash: bytes) -> StoredResponse | None:
    row = await conn.fetchrow(
        f"SELECT {_RESPONSE_COLUMNS} FROM response WHERE result_token_hash = $1",
        token_hash,
    )
    return _stored(row) if row is not None else None


async def delete_response_by_token(conn: db.Connection, token_hash: bytes) -> bool:
    """Erase a response and its answers; False when there was none."""
    status = await conn.execute("DELETE FROM response WHERE result_token_hash = $1", token_hash)
    return bool(status == "DELETE 1")


async def select_index_rank(
    conn: db.Connection, slug: str, index_score: float
) -> tuple[int, int, int]:
    """(below, ties, total) among the scored responses to a questionnaire, for the percentile."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE index_score < $2) AS below,
               count(*) FILTER (WHERE index_score = $2) AS ties,
               count(*)                                  AS total
          FROM response
         WHERE slug = $1 AND complete AND source <> 'demo'
        """,
        slug,
        index_score,
    )
    assert row is not None
    return row["below"], row["ties"], row["total"]
