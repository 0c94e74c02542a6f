"""The response table: one stored, scored response; COPY of many; the percentile's rank."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import msgspec

from survey.core.filters import ReportFilter
from survey.errors import IdempotencyConflict
from survey.store import db, rollup, selection


class _Scored(msgspec.Struct, frozen=True, kw_only=True):
    """What every response row holds: its answers as stored and their scores."""

    id: uuid.UUID
    slug: str
    version: str
    answers: dict[str, Any]
    dimensions: dict[str, float | None]
    index_score: float | None
    profile: str | None
    quote_consent: bool


class NewResponse(_Scored, frozen=True, kw_only=True):
    """A response to insert, with its private keys."""

    source: str
    result_token_hash: bytes
    idempotency_key: str | None = None
    request_hash: bytes | None = None
    item_order: list[str] | None = None  # the items in the order shown, where randomised
    flags: list[str] = []  # quality flags (core.quality.FLAGS)
    quality: dict[str, Any] | None = None  # the values the flags were decided on
    answers_hash: bytes | None = None
    browser_hash: bytes | None = None
    retake_of: uuid.UUID | None = None  # the earlier response this one takes again
    channel: str | None = None  # the channel its survey link named (core.channels)


class StoredResponse(_Scored, frozen=True, kw_only=True):
    """A response as read back."""

    created_at: datetime
    complete: bool
    retake_of: uuid.UUID | None = None


_RESPONSE_COLUMNS = """
    id, slug, version, created_at, answers, dimensions, index_score, profile, complete,
    quote_consent, retake_of
"""


def _stored(row: asyncpg.Record) -> StoredResponse:
    return StoredResponse(**dict(row))


async def insert_response(conn: db.Connection, new: NewResponse) -> tuple[StoredResponse, bool]:
    """Store a response; with an idempotency key already used, return the first one instead.

    Returns the stored row and whether this call created it. Concurrent calls with one key
    wait on the unique indexes for the first to commit, then read its row.
    """
    # No conflict target: every unique index is an arbiter. A retry derives the same result
    # token as the first call, so racing retries can meet on the token's index first.
    # Only what the database adds comes back: decoding the answers we just sent costs more
    # than the INSERT on the submit path.
    created_at = await conn.fetchval(
        """
        INSERT INTO response (id, slug, version, source, answers, dimensions, index_score,
                              profile, complete, quote_consent, result_token_hash,
                              idempotency_key, request_hash, item_order, flags, quality,
                              answers_hash, browser_hash, retake_of, channel)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19, $20)
        ON CONFLICT DO NOTHING
        RETURNING created_at
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
        new.item_order,
        new.flags,
        new.quality,
        new.answers_hash,
        new.browser_hash,
        new.retake_of,
        new.channel,
    )
    if created_at is not None:
        stored = StoredResponse(
            id=new.id,
            slug=new.slug,
            version=new.version,
            created_at=created_at,
            answers=new.answers,
            dimensions=new.dimensions,
            index_score=new.index_score,
            profile=new.profile,
            complete=new.index_score is not None,
            quote_consent=new.quote_consent,
            retake_of=new.retake_of,
        )
        return stored, True
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
    """Erase a response and its answers; False when there was none.

    A response already folded into the report rollup has its contribution subtracted, with
    the item lists it was folded with, in the same transaction.
    """
    async with conn.transaction():
        slug = await conn.fetchval(
            "SELECT slug FROM response WHERE result_token_hash = $1", token_hash
        )
        if slug is None:
            return False
        await rollup.lock(conn, slug)
        # The row lock keeps a concurrent fold from counting the row while we erase it.
        row = await conn.fetchrow(
            "SELECT id, slug, folded FROM response WHERE result_token_hash = $1 FOR UPDATE",
            token_hash,
        )
        if row is None:
            return False
        if row["folded"]:
            await rollup.subtract_response(conn, row["id"], row["slug"])
        await conn.execute("DELETE FROM response WHERE id = $1", row["id"])
        return True


async def select_index_rank(
    conn: db.Connection, slug: str, index_score: float
) -> tuple[int, int, int]:
    """(below, ties, total) among the scored responses to a questionnaire, for the percentile;
    a retake is left out while the response it retakes is there (each person counts once)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE index_score < $2) AS below,
               count(*) FILTER (WHERE index_score = $2) AS ties,
               count(*)                                  AS total
          FROM response
         WHERE slug = $1 AND complete AND source <> 'demo' AND retake_of IS NULL
        """,
        slug,
        index_score,
    )
    assert row is not None
    return row["below"], row["ties"], row["total"]


async def select_quotes(
    conn: db.Connection, slug: str, items: list[str], where: ReportFilter, limit: int = 500
) -> list[tuple[datetime, str, str]]:
    """Free-text answers whose authors agreed to be quoted: (time, item id, text), newest first."""
    condition, args = selection.where_sql(slug, where, alias="r")
    rows = await conn.fetch(
        f"""
        SELECT r.created_at, a.key AS item, a.value #>> '{{}}' AS text
          FROM response r, jsonb_each(r.answers) a
         WHERE {condition} AND r.quote_consent
           AND a.key = ANY(${len(args) + 1}::text[]) AND jsonb_typeof(a.value) = 'string'
         ORDER BY r.created_at DESC
         LIMIT ${len(args) + 2}
        """,
        *args,
        items,
        limit,
    )
    return [(row["created_at"], row["item"], row["text"]) for row in rows]


async def select_segment_score_counts(
    conn: db.Connection, slug: str, segments: list[str], where: ReportFilter
) -> dict[tuple[str, str, str | None], dict[int, int]]:
    """For the norm tables: per segment item, value and score (None: the index), how many of
    the responses a filter covers have each whole score (the score rounded to 4 decimals,
    then up). Read from the responses, one pass: it is a download, not the report."""
    condition, args = selection.where_sql(slug, where, alias="r")
    rows = await conn.fetch(
        f"""
        SELECT a.key AS item, a.value #>> '{{}}' AS value, s.id,
               ceil(round(s.x::numeric, 4))::int AS whole, count(*) AS n
          FROM response r, jsonb_each(r.answers) a,
               LATERAL (
                   SELECT NULL::text AS id, r.index_score AS x WHERE r.complete
                   UNION ALL
                   SELECT d.key, (d.value #>> '{{}}')::float8
                     FROM jsonb_each(r.dimensions) d WHERE jsonb_typeof(d.value) = 'number'
               ) AS s
         WHERE {condition}
           AND a.key = ANY(${len(args) + 1}::text[])
           AND jsonb_typeof(a.value) IN ('number', 'string')
         GROUP BY 1, 2, 3, 4
        """,
        *args,
        segments,
    )
    out: dict[tuple[str, str, str | None], dict[int, int]] = {}
    for row in rows:
        out.setdefault((row["item"], row["value"], row["id"]), {})[row["whole"]] = row["n"]
    return out


class CopiedResponse(NamedTuple):
    """A scored response as COPY stores it: the bulk import and demo data."""

    id: uuid.UUID
    slug: str
    version: str
    created_at: datetime
    source: str
    answers: bytes  # JSON
    dimensions: bytes  # JSON
    index_score: float | None
    profile: str | None
    quote_consent: bool
    result_token_hash: bytes
    flags: tuple[str, ...] = ()  # quality flags: names only, no tab, comma or brace in them
    quality: bytes | None = None  # JSON


# The fields above in order, with `complete` (derived from the index) after `profile`, and
# `folded` last (the same for a whole COPY).
_COPY_COLUMNS = [*CopiedResponse._fields[:9], "complete", *CopiedResponse._fields[9:], "folded"]


def _copy_line(r: CopiedResponse) -> bytes:
    """One row in COPY's text format. Only JSON can hold a backslash (as an escape), and it
    holds no raw tab or newline; ids, names and numbers hold neither."""
    return b"\t".join(
        (
            str(r.id).encode(),
            r.slug.encode(),
            r.version.encode(),
            r.created_at.isoformat().encode(),
            r.source.encode(),
            r.answers.replace(b"\\", b"\\\\"),
            r.dimensions.replace(b"\\", b"\\\\"),
            b"\\N" if r.index_score is None else repr(r.index_score).encode(),
            b"\\N" if r.profile is None else r.profile.encode(),
            b"f" if r.index_score is None else b"t",
            b"t" if r.quote_consent else b"f",
            b"\\\\x" + r.result_token_hash.hex().encode(),
            ("{" + ",".join(r.flags) + "}").encode(),
            b"\\N" if r.quality is None else r.quality.replace(b"\\", b"\\\\"),
        )
    )


def copy_text(rows: list[CopiedResponse], *, folded: bool = False) -> bytes:
    """Scored responses in COPY's text format, for copy_responses (pure: made anywhere);
    `folded` when the caller adds their sums to the rollup itself (add_to_report_rollup)."""
    end = b"\tt\n" if folded else b"\tf\n"
    return b"".join([_copy_line(row) + end for row in rows])


async def lock_response(conn: db.Connection, response_id: uuid.UUID) -> uuid.UUID | None:
    """Keep a response from being deleted until this transaction ends; its id, or None when
    it is gone already (so that a new row can point at it safely)."""
    found = await conn.fetchval("SELECT id FROM response WHERE id = $1 FOR KEY SHARE", response_id)
    return found if isinstance(found, uuid.UUID) else None


async def select_scores(
    conn: db.Connection, response_id: uuid.UUID
) -> tuple[str, float | None, dict[str, float | None]] | None:
    """A response's questionnaire version, index and dimension scores, by its id; None when
    it is gone."""
    row = await conn.fetchrow(
        "SELECT version, index_score, dimensions FROM response WHERE id = $1", response_id
    )
    return None if row is None else (row["version"], row["index_score"], row["dimensions"])


async def copy_responses(conn: db.Connection, data: bytes) -> None:
    """Store scored responses, as copy_text wrote them, with one COPY."""
    if data:
        await conn.copy_to_table(
            "response", source=io.BytesIO(data), columns=_COPY_COLUMNS, format="text"
        )


async def analyze_responses(conn: db.Connection) -> None:
    """Refresh the planner's statistics after a bulk load, rather than wait for autovacuum.

    Until then a table that grew from nothing to a million rows is planned as if it were empty,
    and a report's quotes are read the slow way. It does not wait behind a VACUUM or another
    ANALYZE for more than a few seconds.
    """
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '5s'")
        await conn.execute("ANALYZE response, report_rollup")


async def select_clock(conn: db.Connection) -> datetime:
    """The database's now(): the start of the current transaction."""
    moment: datetime = await conn.fetchval("SELECT now()")
    return moment


async def select_earlier(
    conn: db.Connection,
    slug: str,
    answers_hash: bytes | None,
    browser_hash: bytes | None,
    hours: float,
) -> tuple[bool, bool]:
    """Whether a response to `slug` with these answers was stored in the last `hours` (from
    this browser, or where a browser is unknown: two people who answer alike in browsers of
    their own are not repeats), and whether one came from this browser before."""
    row = await conn.fetchrow(
        """
        SELECT EXISTS (SELECT 1 FROM response
                        WHERE slug = $1 AND answers_hash = $2
                          AND created_at > now() - make_interval(secs => $4)
                          AND ($3::bytea IS NULL OR browser_hash IS NULL
                               OR browser_hash = $3)) AS same_answers,
               EXISTS (SELECT 1 FROM response
                        WHERE slug = $1 AND browser_hash = $3) AS same_browser
        """,
        slug,
        answers_hash,
        browser_hash,
        hours * 3600,
    )
    assert row is not None  # two EXISTS: always one row
    return bool(row["same_answers"]), bool(row["same_browser"])


async def select_for_quality(
    conn: db.Connection, slug: str, hours: float, size: int
) -> AsyncGenerator[list[asyncpg.Record], None]:
    """Every response to `slug` with what its quality flags are decided on, `size` at a time,
    from a cursor (the caller's transaction): whether the same answers came within `hours`
    before it, and whether its browser answered before."""
    cursor = await conn.cursor(
        """
        SELECT r.id, r.version, r.created_at, r.source, r.answers, r.dimensions,
               r.index_score, r.profile, r.item_order, r.flags, r.quality, r.folded, r.channel,
               r.answers_hash IS NOT NULL AND EXISTS (
                   SELECT 1 FROM response e
                    WHERE e.slug = r.slug AND e.answers_hash = r.answers_hash
                      AND e.created_at < r.created_at
                      AND e.created_at > r.created_at - make_interval(secs => $2)
                      AND (r.browser_hash IS NULL OR e.browser_hash IS NULL
                           OR e.browser_hash = r.browser_hash)
               ) AS same_answers,
               r.browser_hash IS NOT NULL AND EXISTS (
                   SELECT 1 FROM response e
                    WHERE e.slug = r.slug AND e.browser_hash = r.browser_hash
                      AND e.created_at < r.created_at
               ) AS same_browser
          FROM response r
         WHERE r.slug = $1
        """,
        slug,
        hours * 3600,
    )
    while rows := await cursor.fetch(size):
        yield rows


async def update_quality(
    conn: db.Connection, changes: list[tuple[object, list[str], bytes | None]]
) -> None:
    """Store new flags and measures: (id, flags, measures as JSON or None) each."""
    await conn.executemany(
        "UPDATE response SET flags = $2, quality = $3::text::jsonb WHERE id = $1",
        [
            (id, flags, None if measures is None else measures.decode())
            for id, flags, measures in changes
        ],
    )


async def mark_folded(conn: db.Connection, ids: list[object]) -> None:
    """Mark responses folded: their sums are in the rollup."""
    await conn.execute("UPDATE response SET folded = true WHERE id = ANY($1::uuid[])", ids)
