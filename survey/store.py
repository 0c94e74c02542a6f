"""Every runtime SQL statement, as select_/insert_/delete_ functions taking the connection first."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import re
import uuid
from collections.abc import AsyncGenerator, Callable, Coroutine
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import msgspec

from survey import db
from survey.errors import IdempotencyConflict, TokenExists
from survey.model import Loaded
from survey.stats import ReportFilter, ReportShape
from survey.table import NEUTRALISE_PATTERN, Cell


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
    # Only what the database adds comes back: decoding the answers we just sent costs more
    # than the INSERT on the submit path.
    created_at = await conn.fetchval(
        """
        INSERT INTO response (id, slug, version, source, answers, dimensions, index_score,
                              profile, complete, quote_consent, result_token_hash,
                              idempotency_key, request_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
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
        # The fold's lock, taken before any row lock: the rollup's writers for a questionnaire
        # go one at a time. Without it a fold and a deletion upsert the same rollup rows in
        # different orders and deadlock.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('report_rollup'), hashtext($1))", slug
        )
        # The row lock keeps a concurrent fold from counting the row while we erase it.
        row = await conn.fetchrow(
            "SELECT id, slug, folded FROM response WHERE result_token_hash = $1 FOR UPDATE",
            token_hash,
        )
        if row is None:
            return False
        if row["folded"]:
            shape = await conn.fetchval(
                "SELECT shape FROM report_shape WHERE slug = $1", row["slug"]
            )
            await conn.execute(
                f"""
                WITH r AS (SELECT {_ROW} FROM response WHERE id = $6),
                {_CONTRIBUTIONS}
                INSERT INTO report_rollup AS t (slug, version, day, source, key, value)
                SELECT $7, version, day, source, key, -sum(value)
                  FROM kv
                 GROUP BY version, day, source, key
                ON CONFLICT (slug, day, version, source, key)
                DO UPDATE SET value = t.value + excluded.value
                """,
                *_shape_args(msgspec.convert(shape, ReportShape)),
                row["id"],
                row["slug"],
            )
        await conn.execute("DELETE FROM response WHERE id = $1", row["id"])
        return True


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


# --- reports: sufficient statistics folded into report_rollup (migrations/0003) -------------


# The per-response contributions to the sums, over a relation `r` of responses. Every key is
# additive, so folded sums, fresh rows and deletions (negated) combine by plain addition.
# Pairs are keyed in code-point order (COLLATE "C"), the order stats.py sorts them in: under
# ICU or en_US collations `trust_hide` sorts before `trust1`, and the product would go missing.
_CONTRIBUTIONS = """
rel AS (SELECT * FROM unnest($3::text[], $4::text[]) AS m(dim, item)),
rel_size AS (SELECT dim, count(*) AS k FROM rel GROUP BY dim),
-- Per response and dimension with every item answered: its items, in C order as Python
-- sorts them, and their raw values. Everything below works within one response's row, so the
-- plan stays linear in the responses whatever the planner guesses about these CTEs.
xc AS (
    SELECT r.id, r.version, r.day, r.source, rel.dim,
           array_agg(rel.item ORDER BY rel.item COLLATE "C") AS items,
           array_agg((r.answers ->> rel.item)::float8 ORDER BY rel.item COLLATE "C") AS vals
      FROM r JOIN rel ON r.answers ? rel.item
     GROUP BY r.id, r.version, r.day, r.source, rel.dim
    HAVING count(*) = (SELECT k FROM rel_size WHERE rel_size.dim = rel.dim)
),
dv AS (
    SELECT r.id, r.version, r.day, r.source, d.key AS dim, (d.value #>> '{}')::float8 AS s
      FROM r, jsonb_each(r.dimensions) d
     WHERE jsonb_typeof(d.value) = 'number'
),
kv (version, day, source, key, value) AS (
    SELECT version, day, source, ARRAY['n'], 1::float8 FROM r
    UNION ALL
    SELECT version, day, source, ARRAY['t', day::text], 1 FROM r
    UNION ALL
    SELECT version, day, source, ARRAY['ver', version], 1 FROM r
    UNION ALL
    SELECT version, day, source, ARRAY['scored'], 1 FROM r WHERE complete
    UNION ALL
    SELECT version, day, source, ARRAY['p', profile], 1 FROM r WHERE profile IS NOT NULL
    UNION ALL
    SELECT version, day, source, ARRAY['i', round(index_score::numeric, 4)::text], 1
      FROM r WHERE complete
    UNION ALL
    SELECT r.version, r.day, r.source, ARRAY['v', a.key, a.value #>> '{}'], 1
      FROM r, jsonb_each(r.answers) a
     WHERE a.key = ANY($1::text[]) AND jsonb_typeof(a.value) IN ('number', 'string')
    UNION ALL
    SELECT r.version, r.day, r.source, ARRAY['v', a.key, e.value], 1
      FROM r, jsonb_each(r.answers) a, jsonb_array_elements_text(a.value) e
     WHERE a.key = ANY($2::text[]) AND jsonb_typeof(a.value) = 'array'
    UNION ALL
    SELECT version, day, source, ARRAY['d', dim, round(s::numeric, 4)::text], 1 FROM dv
    UNION ALL
    SELECT version, day, source, ARRAY['r', dim], 1 FROM xc
    UNION ALL
    SELECT xc.version, xc.day, xc.source, ARRAY['r', xc.dim, u.item], u.v
      FROM xc, unnest(xc.items, xc.vals) AS u(item, v)
    UNION ALL
    SELECT xc.version, xc.day, xc.source, ARRAY['r', xc.dim, xc.items[i], xc.items[j]],
           xc.vals[i] * xc.vals[j]
      FROM xc, generate_series(1, cardinality(xc.items)) AS i,
           generate_series(i, cardinality(xc.items)) AS j
    UNION ALL
    SELECT r.version, r.day, r.source, ARRAY['c', p.a, p.b, t.k], t.val
      FROM r
     CROSS JOIN LATERAL (
         SELECT a.key AS a, b.key AS b,
                (a.value #>> '{}')::float8 AS sa, (b.value #>> '{}')::float8 AS sb
           FROM jsonb_each(r.dimensions) a
           JOIN jsonb_each(r.dimensions) b ON a.key < b.key COLLATE "C"
          WHERE jsonb_typeof(a.value) = 'number' AND jsonb_typeof(b.value) = 'number'
     ) AS p
     CROSS JOIN LATERAL (VALUES ('n', 1::float8), ('a', p.sa), ('b', p.sb), ('aa', p.sa * p.sa),
                                ('bb', p.sb * p.sb), ('ab', p.sa * p.sb)) AS t(k, val)
    UNION ALL
    SELECT r.version, r.day, r.source, ARRAY['g', a.key, a.value #>> '{}', t.k], t.val
      FROM r, jsonb_each(r.answers) a
     CROSS JOIN LATERAL (VALUES ('n', 1::float8), ('scored', r.complete::int::float8),
                                ('isum', coalesce(r.index_score, 0))) AS t(k, val)
     WHERE a.key = ANY($5::text[]) AND jsonb_typeof(a.value) IN ('number', 'string')
    UNION ALL
    SELECT r.version, r.day, r.source, ARRAY['g', a.key, a.value #>> '{}', 'p', r.profile], 1
      FROM r, jsonb_each(r.answers) a
     WHERE a.key = ANY($5::text[]) AND jsonb_typeof(a.value) IN ('number', 'string')
       AND r.profile IS NOT NULL
)
"""

_ROW = """
    id, version, (created_at AT TIME ZONE 'UTC')::date AS day, source, answers, dimensions,
    index_score, profile, complete
"""


def _shape_args(shape: ReportShape) -> list[Any]:
    return [
        shape.counted,
        shape.multi,
        shape.reliability_dims,
        shape.reliability_items,
        shape.segments,
    ]


# Responses folded per transaction: each fold stays well inside the command timeout.
FOLD_BATCH = 20_000


async def update_report_rollup(
    conn: db.Connection, slug: str, shape: ReportShape, limit: int = FOLD_BATCH
) -> int:
    """Fold up to `limit` responses not yet folded into the rollup; how many it folded.

    0 when another fold holds the lock. Rows a deletion has locked are skipped, not waited for.
    """
    async with conn.transaction():
        locked = await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtext('report_rollup'), hashtext($1))", slug
        )
        if not locked:
            return 0
        stored = await conn.fetchval("SELECT shape FROM report_shape WHERE slug = $1", slug)
        if stored is not None and msgspec.convert(stored, ReportShape) != shape:
            # The questionnaire's items changed: fold everything again with the new lists.
            await conn.execute("DELETE FROM report_rollup WHERE slug = $1", slug)
            await conn.execute("UPDATE response SET folded = false WHERE slug = $1", slug)
        await conn.execute(
            """
            INSERT INTO report_shape (slug, shape) VALUES ($1, $2)
            ON CONFLICT (slug) DO UPDATE SET shape = excluded.shape
            """,
            slug,
            msgspec.to_builtins(shape),
        )
        folded = await conn.fetchval(
            f"""
            WITH moved AS (
                UPDATE response SET folded = true
                 WHERE id IN (
                     SELECT id FROM response
                      WHERE slug = $6 AND NOT folded
                      LIMIT $7
                        FOR UPDATE SKIP LOCKED
                 )
                RETURNING {_ROW}
            ),
            r AS (SELECT * FROM moved),
            {_CONTRIBUTIONS},
            upsert AS (
                INSERT INTO report_rollup AS t (slug, version, day, source, key, value)
                SELECT $6, version, day, source, key, sum(value)
                  FROM kv
                 GROUP BY version, day, source, key
                ON CONFLICT (slug, day, version, source, key)
                DO UPDATE SET value = t.value + excluded.value
            )
            SELECT count(*) FROM moved
            """,
            *_shape_args(shape),
            slug,
            limit,
        )
        return int(folded)


async def add_to_report_rollup(
    conn: db.Connection, slug: str, shape: ReportShape, rows: list[list[object]], copied: int
) -> bool:
    """Add sums computed in Python (survey/rollup.py) for the `copied` rows this transaction
    stored as folded; True when added.

    When the rollup was folded with other item lists, nothing is added and these rows are
    marked to be folded by the next report, which settles the lists as it always does.
    """
    # Waits for a fold or deletion in progress: the rollup's writers go one at a time.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('report_rollup'), hashtext($1))", slug
    )
    stored = await conn.fetchval("SELECT shape FROM report_shape WHERE slug = $1", slug)
    if stored is not None and msgspec.convert(stored, ReportShape) != shape:
        # This transaction's own rows (those it wrote, xmin); in a savepoint they carry
        # another id, and every row is marked instead.
        marked = await conn.fetchval(
            """
            WITH marked AS (
                UPDATE response SET folded = false
                 WHERE slug = $1 AND folded AND xmin = pg_current_xact_id()::xid
                RETURNING 1
            )
            SELECT count(*) FROM marked
            """,
            slug,
        )
        if marked != copied:
            await conn.execute("UPDATE response SET folded = false WHERE slug = $1", slug)
            await conn.execute("DELETE FROM report_rollup WHERE slug = $1", slug)
        return False
    if stored is None:
        await conn.execute(
            "INSERT INTO report_shape (slug, shape) VALUES ($1, $2)",
            slug,
            msgspec.to_builtins(shape),
        )
    await conn.execute(
        """
        INSERT INTO report_rollup AS t (slug, version, day, source, key, value)
        SELECT $1, e ->> 0, (e ->> 1)::date, e ->> 2,
               ARRAY(SELECT k FROM jsonb_array_elements_text(e -> 3) WITH ORDINALITY AS p(k, n)
                      ORDER BY n),
               (e ->> 4)::float8
          FROM jsonb_array_elements($2::jsonb) AS e
        ON CONFLICT (slug, day, version, source, key)
        DO UPDATE SET value = t.value + excluded.value
        """,
        slug,
        rows,
    )
    return True


async def update_report_rollup_all(conn: db.Connection, slug: str, shape: ReportShape) -> int:
    """Fold every response not yet folded, a batch a transaction; how many were folded."""
    total = 0
    while (folded := await update_report_rollup(conn, slug, shape)) == FOLD_BATCH:
        total += folded
    return total + folded


async def select_report_sums(
    conn: db.Connection,
    slug: str,
    shape: ReportShape,
    where: ReportFilter,
    *,
    use_rollup: bool = True,
) -> dict[tuple[str, ...], float]:
    """Every sufficient statistic for the responses `where` selects, summed over them.

    Without segment filters it adds the folded rollup to the rows not yet folded; with them it
    reads the matching rows (the rollup is not broken down by every segment combination).
    `use_rollup=False` reads every row, as a straightforward query would (the benchmark's
    baseline).
    """
    items = [item for item, _ in where.segments]
    values = [value for _, value in where.segments]
    rows = await conn.fetch(
        f"""
        WITH r AS (
            SELECT {_ROW}
              FROM response
             WHERE slug = $6
               AND (NOT $13 OR cardinality($11::text[]) > 0 OR NOT folded)
               AND ($7::date IS NULL OR (created_at AT TIME ZONE 'UTC')::date >= $7)
               AND ($8::date IS NULL OR (created_at AT TIME ZONE 'UTC')::date <= $8)
               AND ($9::text IS NULL OR version = $9)
               AND source = ANY($10::text[])
               AND NOT EXISTS (
                   SELECT 1 FROM unnest($11::text[], $12::text[]) AS f(item, value)
                    WHERE answers ->> f.item IS DISTINCT FROM f.value
               )
        ),
        {_CONTRIBUTIONS}
        SELECT key, sum(value) AS value
          FROM (
              SELECT key, value FROM kv
              UNION ALL
              SELECT key, value
                FROM report_rollup
               WHERE slug = $6
                 AND $13
                 AND cardinality($11::text[]) = 0
                 AND ($7::date IS NULL OR day >= $7)
                 AND ($8::date IS NULL OR day <= $8)
                 AND ($9::text IS NULL OR version = $9)
                 AND source = ANY($10::text[])
          ) AS sums
         GROUP BY key
        """,
        *_shape_args(shape),
        slug,
        where.from_day,
        where.to_day,
        where.version,
        list(where.sources),
        items,
        values,
        use_rollup,
    )
    return {tuple(row["key"]): row["value"] for row in rows if row["value"] != 0}


async def select_quotes(
    conn: db.Connection, slug: str, items: list[str], where: ReportFilter, limit: int = 500
) -> list[tuple[datetime, str, str]]:
    """Free-text answers whose authors agreed to be quoted: (time, item id, text), newest first."""
    rows = await conn.fetch(
        """
        SELECT r.created_at, a.key AS item, a.value #>> '{}' AS text
          FROM response r, jsonb_each(r.answers) a
         WHERE r.slug = $1 AND r.quote_consent
           AND a.key = ANY($2::text[]) AND jsonb_typeof(a.value) = 'string'
           AND ($3::date IS NULL OR (r.created_at AT TIME ZONE 'UTC')::date >= $3)
           AND ($4::date IS NULL OR (r.created_at AT TIME ZONE 'UTC')::date <= $4)
           AND ($5::text IS NULL OR r.version = $5)
           AND r.source = ANY($6::text[])
           AND NOT EXISTS (
               SELECT 1 FROM unnest($7::text[], $8::text[]) AS f(item, value)
                WHERE r.answers ->> f.item IS DISTINCT FROM f.value
           )
         ORDER BY r.created_at DESC
         LIMIT $9
        """,
        slug,
        items,
        where.from_day,
        where.to_day,
        where.version,
        list(where.sources),
        [item for item, _ in where.segments],
        [value for _, value in where.segments],
        limit,
    )
    return [(row["created_at"], row["item"], row["text"]) for row in rows]


# --- researcher tokens --------------------------------------------------------------------------


class ResearcherToken(msgspec.Struct, frozen=True, kw_only=True):
    """A researcher token as stored: never the token itself, only who holds it and what for."""

    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


_TOKEN_COLUMNS = "id, name, scopes, created_at, last_used_at, revoked_at"


def _token(row: asyncpg.Record) -> ResearcherToken:
    return ResearcherToken(**dict(row))


async def insert_researcher_token(
    conn: db.Connection, name: str, token_hash: bytes, scopes: list[str]
) -> ResearcherToken:
    """Store a new token's hash; TokenExists when the name is taken."""
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO researcher_token (name, token_hash, scopes)
            VALUES ($1, $2, $3)
            RETURNING {_TOKEN_COLUMNS}
            """,
            name,
            token_hash,
            scopes,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "researcher_token_name_key":
            raise TokenExists(f"a token named {name!r} exists already") from exc
        raise
    assert row is not None
    return _token(row)


async def select_researcher_token_by_hash(
    conn: db.Connection, token_hash: bytes
) -> ResearcherToken | None:
    """The token with this hash, unless it is revoked."""
    row = await conn.fetchrow(
        f"""
        SELECT {_TOKEN_COLUMNS}
          FROM researcher_token
         WHERE token_hash = $1 AND revoked_at IS NULL
        """,
        token_hash,
    )
    return _token(row) if row is not None else None


async def select_researcher_token_by_id(
    conn: db.Connection, token_id: uuid.UUID
) -> ResearcherToken | None:
    """The token with this id, unless it is revoked (a session names its token by id)."""
    row = await conn.fetchrow(
        f"""
        SELECT {_TOKEN_COLUMNS}
          FROM researcher_token
         WHERE id = $1 AND revoked_at IS NULL
        """,
        token_id,
    )
    return _token(row) if row is not None else None


async def select_researcher_tokens(conn: db.Connection) -> list[ResearcherToken]:
    """Every token, revoked ones too, oldest first."""
    rows = await conn.fetch(
        f"SELECT {_TOKEN_COLUMNS} FROM researcher_token ORDER BY created_at, name"
    )
    return [_token(row) for row in rows]


async def update_researcher_token_used(conn: db.Connection, token_id: uuid.UUID) -> None:
    """Note a use; at most once a minute, so that busy clients do not write on every request."""
    await conn.execute(
        """
        UPDATE researcher_token
           SET last_used_at = now()
         WHERE id = $1
           AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        """,
        token_id,
    )


async def update_researcher_token_revoked(conn: db.Connection, name: str) -> bool:
    """Revoke a token by name (again is harmless); False when there is no such token."""
    status = await conn.execute(
        """
        UPDATE researcher_token
           SET revoked_at = coalesce(revoked_at, now())
         WHERE name = $1
        """,
        name,
    )
    return bool(status == "UPDATE 1")


# --- exports, bulk import and demo data (exports.py) --------------------------------------------


def _export_where(slug: str, where: ReportFilter) -> tuple[str, list[Any]]:
    """The WHERE clause selecting what a report with this filter covers, and its arguments.

    Only the conditions in use are written (from fixed text: nothing from the input but
    placeholder numbers), so that the planner sees the real selectivity and reads the
    (slug, created_at) index in order instead of sorting every row first.
    """
    args: list[Any] = [slug, list(where.sources)]
    conditions = ["slug = $1", "source = ANY($2::text[])"]
    if where.from_day is not None:
        args.append(where.from_day)
        conditions.append(f"created_at >= ${len(args)}::date::timestamp AT TIME ZONE 'UTC'")
    if where.to_day is not None:
        args.append(where.to_day)
        conditions.append(f"created_at < (${len(args)}::date + 1)::timestamp AT TIME ZONE 'UTC'")
    if where.version is not None:
        args.append(where.version)
        conditions.append(f"version = ${len(args)}")
    for item, value in where.segments:
        args += [item, value]
        conditions.append(f"answers ->> ${len(args) - 1} = ${len(args)}")
    return " AND ".join(conditions), args


async def select_export_count(conn: db.Connection, slug: str, where: ReportFilter) -> int:
    """How many responses an export with this filter holds (for a progress bar)."""
    condition, args = _export_where(slug, where)
    count = await conn.fetchval(f"SELECT count(*) FROM response WHERE {condition}", *args)
    return int(count)


async def select_export_batches(
    conn: db.Connection, slug: str, where: ReportFilter, size: int
) -> AsyncGenerator[list[asyncpg.Record], None]:
    """The selected responses, oldest first, `size` rows at a time from a server-side cursor.

    Columns: id (as text), created_at, version, source, complete, profile, index_score,
    dimensions and answers (as JSON text, for the caller to pass on or decode as it needs),
    quote_consent. The next batch is fetched while the caller works on this one. Close the generator
    (contextlib.aclosing) to end the transaction if you stop early.
    """
    condition, args = _export_where(slug, where)
    async with conn.transaction():
        # Read the (slug, created_at) index in order rather than sort every row before the
        # first one goes out: a sort of a million rows spills a gigabyte to disk and holds
        # the first byte back for seconds.
        await conn.execute("SET LOCAL enable_sort = off")
        cursor = await conn.cursor(
            f"""
            SELECT id::text AS id, created_at, version, source, complete, profile, index_score,
                   dimensions::text AS dimensions, answers::text AS answers, quote_consent
              FROM response
             WHERE {condition}
             ORDER BY created_at
            """,
            *args,
        )
        pending = asyncio.ensure_future(cursor.fetch(size))
        try:
            while rows := await pending:
                pending = asyncio.ensure_future(cursor.fetch(size))
                yield rows
        finally:
            # Let a fetch in flight finish (one batch at most) before the transaction ends.
            with contextlib.suppress(Exception):
                await pending


async def select_definitions(conn: db.Connection, slug: str) -> list[Any]:
    """Every stored version's definition of a questionnaire, as JSON."""
    rows = await conn.fetch(
        "SELECT definition FROM questionnaire_version WHERE slug = $1 ORDER BY first_seen", slug
    )
    return [row["definition"] for row in rows]


# One SQL expression for each way table.Cell writes an answer; `{k}` is the placeholder of
# the item's id, `{p}` that of table.NEUTRALISE_PATTERN.
_CELL_SQL: dict[Cell, str] = {
    Cell.VERBATIM: "answers ->> {k}",
    # ["a", "b"] → a; b: exact for the options that table.Cell.OPTIONS admits.
    Cell.OPTIONS: """replace(btrim((answers -> {k})::text, '[]"'), '", "', '; ')""",
    Cell.TEXT: "regexp_replace(answers ->> {k}, {p}, '''')",
    Cell.ANY: """(SELECT regexp_replace(
                     CASE jsonb_typeof(v)
                         WHEN 'array' THEN (SELECT string_agg(e, '; ' ORDER BY n)
                                              FROM jsonb_array_elements_text(v)
                                                   WITH ORDINALITY AS list(e, n))
                         ELSE v #>> '{{}}'
                     END, {p}, '''')
                    FROM (SELECT answers -> {k} AS v) AS cell)""",
}


# A parallel export's ranges hold about this many rows each. Two are in memory at most (the
# one going out and the next), a few megabytes each, and the next one no more than
# _RANGE_PIECES pieces whatever the sample said.
EXPORT_RANGE_ROWS = 20_000
# asyncpg gives a COPY one time budget for the whole of it (the pool's 60 s command timeout
# unless told otherwise), and a COPY goes at the pace of the client taking it.
EXPORT_TIMEOUT = 24 * 3600.0
# Pieces (asyncpg's, ~10 kB) a range not yet going out may hold: its COPY waits beyond that.
_RANGE_PIECES = 1024
# The share of pages sampled to place the ranges' edges: a million rows give ~5,000 samples.
_EDGE_SAMPLE_PERCENT = 0.5
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


async def copy_export_csv(
    conn: db.Connection,
    slug: str,
    where: ReportFilter,
    dimensions: list[str],
    answer_cells: Callable[[list[Any]], list[tuple[str, Cell]]],
    output: Callable[[bytes], Coroutine[Any, Any, None]],
    helper: db.Connection | None = None,
) -> int:
    """Have PostgreSQL write the selected responses as CSV rows, oldest first, to `output`.

    The columns are table.csv_header's: booleans as true/false, times in ISO 8601 UTC, each
    score, then each answer as `answer_cells` says when given every stored version's
    definition (a cell that could be a formula neutralised). The definitions and the rows are
    read in one snapshot, so no response to a version it did not see can slip in. `output` is
    awaited with each chunk before more is read. Returns the number of rows.

    With a `helper` connection, a large export is cut into ranges of `created_at` that the two
    connections COPY at once, in the same snapshot: one backend's COPY was the bottleneck.
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        answers = answer_cells(await select_definitions(conn, slug))
        query, args = _export_query(slug, where, dimensions, answers)
        edges = await _export_edges(conn, slug, where) if helper is not None else []
        # As select_export_batches: the index in order, rather than a sort before any row.
        await conn.execute("SET LOCAL enable_sort = off")
        if helper is None or not edges:
            return await _copy_range(conn, query, args, None, None, output)
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
        if not _SNAPSHOT_ID.fullmatch(snapshot):
            raise ValueError(f"unexpected snapshot id {snapshot!r}")
        async with helper.transaction(isolation="repeatable_read", readonly=True):
            await helper.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            await helper.execute("SET LOCAL enable_sort = off")
            return await _copy_ranges([conn, helper], query, args, edges, output)


def _export_query(
    slug: str, where: ReportFilter, dimensions: list[str], answers: list[tuple[str, Cell]]
) -> tuple[str, list[Any]]:
    """The export's SELECT, with `/*range*/` where a range's conditions go, and its arguments."""
    condition, args = _export_where(slug, where)
    pattern = ""
    if any(cell in (Cell.TEXT, Cell.ANY) for _, cell in answers):
        args.append(NEUTRALISE_PATTERN)
        pattern = f"${len(args)}::text"
    cells = []
    for dimension in dimensions:
        args.append(dimension)
        cells.append(f"dimensions ->> ${len(args)}::text")
    for item, cell in answers:
        args.append(item)
        cells.append(_CELL_SQL[cell].format(k=f"${len(args)}::text", p=pattern))
    query = f"""
        SELECT id,
               to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
               version, source, CASE WHEN complete THEN 'true' ELSE 'false' END, profile,
               index_score, CASE WHEN quote_consent THEN 'true' ELSE 'false' END,
               {", ".join(cells)}
          FROM response
         WHERE {condition} /*range*/
         ORDER BY created_at
    """
    return query, args


async def _export_edges(conn: db.Connection, slug: str, where: ReportFilter) -> list[datetime]:
    """Times that cut the selected rows into ranges of about EXPORT_RANGE_ROWS, from a sample
    of pages; none for an export too small to gain from two connections."""
    condition, args = _export_where(slug, where)
    sample = await conn.fetch(
        f"""
        SELECT created_at FROM response TABLESAMPLE SYSTEM ({_EDGE_SAMPLE_PERCENT}) REPEATABLE (1)
         WHERE {condition}
         ORDER BY created_at
        """,
        *args,
    )
    every = round(EXPORT_RANGE_ROWS * _EDGE_SAMPLE_PERCENT / 100)
    return sorted({row["created_at"] for row in sample[every::every]})


async def _copy_range(
    conn: db.Connection,
    query: str,
    args: list[Any],
    after: datetime | None,
    before: datetime | None,
    output: Callable[[bytes], Coroutine[Any, Any, None]],
) -> int:
    """COPY the rows with `after` <= created_at < `before` (either end open when None)."""
    conditions = ""
    if after is not None:
        args = [*args, after]
        conditions += f" AND created_at >= ${len(args)}"
    if before is not None:
        args = [*args, before]
        conditions += f" AND created_at < ${len(args)}"
    status = await conn.copy_from_query(
        query.replace("/*range*/", conditions),
        *args,
        output=output,
        format="csv",
        timeout=EXPORT_TIMEOUT,
    )
    return int(status.split()[-1])


_Part = asyncio.Queue[bytes | Exception | None]  # a range's chunks, then None or its error


def _keeper(part: _Part) -> Callable[[bytes], Coroutine[Any, Any, None]]:
    async def keep(chunk: bytes) -> None:
        await part.put(bytes(chunk))  # asyncpg hands over a buffer it may reuse

    return keep


async def _copy_ranges(
    conns: list[db.Connection],
    query: str,
    args: list[Any],
    edges: list[datetime],
    output: Callable[[bytes], Coroutine[Any, Any, None]],
) -> int:
    """COPY the ranges between `edges` on the connections in turn, and pass their bytes to
    `output` in order. A range starts only once the one before it is going out, so at most
    two ranges are held, and a range waiting to go out holds _RANGE_PIECES pieces at most."""
    ranges = list(itertools.pairwise([None, *edges, None]))
    parts: list[_Part] = [asyncio.Queue(maxsize=_RANGE_PIECES) for _ in ranges]
    may_start = [asyncio.Event() for _ in ranges]
    counts = [0] * len(ranges)

    async def copy(conn: db.Connection, mine: range) -> None:
        for i in mine:
            await may_start[i].wait()
            part = parts[i]
            try:
                counts[i] = await _copy_range(conn, query, args, *ranges[i], _keeper(part))
            except Exception as exc:  # for the reader to raise, in order
                await part.put(exc)
                return
            await part.put(None)

    workers = [
        asyncio.ensure_future(copy(conn, range(k, len(ranges), len(conns))))
        for k, conn in enumerate(conns)
    ]
    try:
        may_start[0].set()
        for i, part in enumerate(parts):
            if i + 1 < len(ranges):
                may_start[i + 1].set()
            while (chunk := await part.get()) is not None:
                if isinstance(chunk, Exception):
                    raise chunk
                await output(chunk)
        await asyncio.gather(*workers)
    finally:
        for conn, worker in zip(conns, workers, strict=True):
            if not worker.done():
                # Stopped early (the reader went away, or another range failed): closing the
                # connection stops its COPY at once, as exports._csv_chunks does.
                conn.terminate()
                worker.cancel()
        await asyncio.wait(workers)
    return sum(counts)


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
        )
    )


def copy_text(rows: list[CopiedResponse], *, folded: bool = False) -> bytes:
    """Scored responses in COPY's text format, for copy_responses (pure: made anywhere);
    `folded` when the caller adds their sums to the rollup itself (add_to_report_rollup)."""
    end = b"\tt\n" if folded else b"\tf\n"
    return b"".join([_copy_line(row) + end for row in rows])


async def copy_responses(conn: db.Connection, data: bytes) -> None:
    """Store scored responses, as copy_text wrote them, with one COPY."""
    if data:
        await conn.copy_to_table(
            "response", source=io.BytesIO(data), columns=_COPY_COLUMNS, format="text"
        )


async def analyze_responses(conn: db.Connection) -> None:
    """Refresh the planner's statistics after a bulk load, rather than wait for autovacuum.

    Until then a table that grew from nothing to a million rows is planned as if empty: the
    quotes of a report took 1.9 s instead of 10 ms. About a second for a million rows; it
    does not wait behind a VACUUM or another ANALYZE for more than a few seconds.
    """
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '5s'")
        await conn.execute("ANALYZE response, report_rollup")


async def select_clock(conn: db.Connection) -> datetime:
    """The database's now(): the start of the current transaction."""
    moment: datetime = await conn.fetchval("SELECT now()")
    return moment
