"""The report_rollup table: sufficient statistics folded per day, version, source and quality
(clean: no quality flag)."""

from __future__ import annotations

from typing import Any

import msgspec

from survey.core.filters import ReportFilter
from survey.core.sums import ReportShape
from survey.store import db

# The per-response contributions to the sums, over a relation `r` of responses. Every key is
# additive, so folded sums, fresh rows and deletions (negated) combine by plain addition.
# Pairs are keyed in code-point order (COLLATE "C"), the order stats.py sorts them in: under
# ICU or en_US collations `trust_hide` sorts before `trust1`, and the product would go missing.
_CONTRIBUTIONS = """
rel AS (SELECT * FROM unnest(${dims}::text[], ${items}::text[]) AS m(dim, item)),
rel_size AS (SELECT dim, count(*) AS k FROM rel GROUP BY dim),
-- Per response and dimension with every item answered: its items, in C order as Python
-- sorts them, and their raw values. Everything below works within one response's row, so the
-- plan stays linear in the responses whatever the planner guesses about these CTEs.
xc AS (
    SELECT r.id, r.version, r.day, r.source, r.clean, rel.dim,
           array_agg(rel.item ORDER BY rel.item COLLATE "C") AS items,
           array_agg((r.answers ->> rel.item)::float8 ORDER BY rel.item COLLATE "C") AS vals
      FROM r JOIN rel ON jsonb_typeof(r.answers -> rel.item) = 'number'
     GROUP BY r.id, r.version, r.day, r.source, r.clean, rel.dim
    HAVING count(*) = (SELECT k FROM rel_size WHERE rel_size.dim = rel.dim)
),
dv AS (
    SELECT r.id, r.version, r.day, r.source, r.clean, d.key AS dim, (d.value #>> '{}')::float8 AS s
      FROM r, jsonb_each(r.dimensions) d
     WHERE jsonb_typeof(d.value) = 'number'
),
kv (version, day, source, clean, key, value) AS (
    SELECT version, day, source, clean, ARRAY['n'], 1::float8 FROM r
    UNION ALL
    SELECT version, day, source, clean, ARRAY['q', f], 1 FROM r, unnest(r.flags) AS f
    UNION ALL
    SELECT version, day, source, clean, ARRAY['qt', day::text, f], 1 FROM r, unnest(r.flags) AS f
    UNION ALL
    SELECT version, day, source, clean, ARRAY['qs', source, f], 1 FROM r, unnest(r.flags) AS f
    UNION ALL
    SELECT version, day, source, clean, ARRAY['t', day::text], 1 FROM r
    UNION ALL
    SELECT version, day, source, clean, ARRAY['ver', version], 1 FROM r
    UNION ALL
    SELECT version, day, source, clean, ARRAY['scored'], 1 FROM r WHERE complete
    UNION ALL
    SELECT version, day, source, clean, ARRAY['p', profile], 1 FROM r WHERE profile IS NOT NULL
    UNION ALL
    SELECT version, day, source, clean, ARRAY['i', round(index_score::numeric, 4)::text], 1
      FROM r WHERE complete
    UNION ALL
    SELECT r.version, r.day, r.source, r.clean, ARRAY['v', a.key, a.value #>> '{}'], 1
      FROM r, jsonb_each(r.answers) a
     WHERE a.key = ANY(${counted}::text[]) AND jsonb_typeof(a.value) IN ('number', 'string')
    UNION ALL
    SELECT r.version, r.day, r.source, r.clean, ARRAY['v', a.key, e.value], 1
      FROM r, jsonb_each(r.answers) a, jsonb_array_elements_text(a.value) e
     WHERE a.key = ANY(${multi}::text[]) AND jsonb_typeof(a.value) = 'array'
    UNION ALL
    SELECT version, day, source, clean, ARRAY['d', dim, round(s::numeric, 4)::text], 1 FROM dv
    UNION ALL
    SELECT version, day, source, clean, ARRAY['r', dim], 1 FROM xc
    UNION ALL
    SELECT xc.version, xc.day, xc.source, xc.clean, ARRAY['r', xc.dim, u.item], u.v
      FROM xc, unnest(xc.items, xc.vals) AS u(item, v)
    UNION ALL
    SELECT xc.version, xc.day, xc.source, xc.clean, ARRAY['r', xc.dim, xc.items[i], xc.items[j]],
           xc.vals[i] * xc.vals[j]
      FROM xc, generate_series(1, cardinality(xc.items)) AS i,
           generate_series(i, cardinality(xc.items)) AS j
    UNION ALL
    SELECT r.version, r.day, r.source, r.clean, ARRAY['c', p.a, p.b, t.k], t.val
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
    SELECT r.version, r.day, r.source, r.clean, ARRAY['g', a.key, a.value #>> '{}', t.k], t.val
      FROM r, jsonb_each(r.seg) a
     CROSS JOIN LATERAL (VALUES ('n', 1::float8), ('scored', r.complete::int::float8),
                                ('isum', coalesce(r.index_score, 0)),
                                ('isq', coalesce(r.index_score * r.index_score, 0))) AS t(k, val)
     WHERE a.key = ANY(${segments}::text[]) AND jsonb_typeof(a.value) IN ('number', 'string')
    UNION ALL
    SELECT r.version, r.day, r.source, r.clean, t.k, t.val
      FROM r, jsonb_each(r.seg) a, jsonb_each(r.dimensions) d
     CROSS JOIN LATERAL (
         SELECT a.value #>> '{}' AS v, (d.value #>> '{}')::float8 AS s
     ) AS x
     CROSS JOIN LATERAL (VALUES
         (ARRAY['gd', a.key, x.v, d.key, 'n'], 1::float8),
         (ARRAY['gd', a.key, x.v, d.key, 's'], x.s),
         (ARRAY['gd', a.key, x.v, d.key, 'ss'], x.s * x.s)
     ) AS t(k, val)
     WHERE a.key = ANY(${segments}::text[]) AND jsonb_typeof(a.value) IN ('number', 'string')
       AND jsonb_typeof(d.value) = 'number'
    UNION ALL
    SELECT r.version, r.day, r.source, r.clean,
           ARRAY['g', a.key, a.value #>> '{}', 'p', r.profile], 1
      FROM r, jsonb_each(r.seg) a
     WHERE a.key = ANY(${segments}::text[]) AND jsonb_typeof(a.value) IN ('number', 'string')
       AND r.profile IS NOT NULL
)
"""

ROW_COLUMNS = """
    id, version, (created_at AT TIME ZONE 'UTC')::date AS day, source, answers, dimensions,
    index_score, profile, complete, flags, cardinality(flags) = 0 AS clean,
    CASE WHEN channel IS NULL THEN answers
         ELSE answers || jsonb_build_object('_channel', channel) END AS seg
"""


# contributions()'s placeholders, and the ReportShape field each stands for.
_SHAPE = {
    "counted": "counted",
    "multi": "multi",
    "dims": "reliability_dims",
    "items": "reliability_items",
    "segments": "segments",
}


def contributions(first: int) -> str:
    """The CTEs that end in `kv`, over a relation `r` of ROW_COLUMNS: the shape's five item
    lists (shape_args) are the statement's parameters `$first` to `$first + 4`."""
    sql = _CONTRIBUTIONS
    for n, placeholder in enumerate(_SHAPE):
        sql = sql.replace(f"${{{placeholder}}}", f"${first + n}")
    return sql


def shape_args(shape: ReportShape) -> list[Any]:
    """The values of contributions()'s parameters, in order."""
    return [getattr(shape, field) for field in _SHAPE.values()]


# The rollup's lock for one questionnaire, held until the transaction ends. Its writers (the
# fold, a bulk load's sums, a deletion) take it before any row lock and so go one at a time:
# two of them upserting the same rollup rows in different orders would deadlock.
_LOCK_KEY = "hashtext('report_rollup'), hashtext($1)"


async def lock(conn: db.Connection, slug: str) -> None:
    """Take the rollup's lock, waiting for the writer that holds it."""
    await conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})", slug)


async def try_lock(conn: db.Connection, slug: str) -> bool:
    """Take the rollup's lock if no other writer holds it."""
    return bool(await conn.fetchval(f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})", slug))


# Responses folded per transaction: each fold stays well inside the command timeout.
FOLD_BATCH = 20_000


async def update_report_rollup(
    conn: db.Connection, slug: str, shape: ReportShape, limit: int = FOLD_BATCH
) -> int:
    """Fold up to `limit` responses not yet folded into the rollup; how many it folded.

    0 when another fold holds the lock. Rows a deletion has locked are skipped, not waited for.
    """
    async with conn.transaction():
        if not await try_lock(conn, slug):
            return 0
        stored = await conn.fetchval("SELECT shape FROM report_shape WHERE slug = $1", slug)
        if stored is not None and msgspec.convert(stored, ReportShape) != shape:
            # The questionnaire's items changed: fold everything again with the new lists.
            await conn.execute("DELETE FROM report_rollup WHERE slug = $1", slug)
            await conn.execute("UPDATE response SET folded = false WHERE slug = $1", slug)
        await _save_shape(conn, slug, shape)
        folded = await conn.fetchval(
            f"""
            WITH moved AS (
                UPDATE response SET folded = true
                 WHERE id IN (
                     SELECT id FROM response
                      WHERE slug = $1 AND NOT folded
                      LIMIT $2
                        FOR UPDATE SKIP LOCKED
                 )
                RETURNING {ROW_COLUMNS}
            ),
            r AS (SELECT * FROM moved),
            {contributions(3)},
            upsert AS (
                INSERT INTO report_rollup AS t (slug, version, day, source, clean, key, value)
                SELECT $1, version, day, source, clean, key, sum(value)
                  FROM kv
                 GROUP BY version, day, source, clean, key
                ON CONFLICT (slug, day, version, source, clean, key)
                DO UPDATE SET value = t.value + excluded.value
            )
            SELECT count(*) FROM moved
            """,
            slug,
            limit,
            *shape_args(shape),
        )
        return int(folded)


async def add_to_report_rollup(
    conn: db.Connection, slug: str, shape: ReportShape, rows: list[list[object]], copied: int
) -> bool:
    """Add sums computed in Python (survey.core.sums) for the `copied` rows this transaction
    stored as folded; True when added.

    When the rollup was folded with other item lists, nothing is added and these rows are
    marked to be folded by the next report, which settles the lists as it always does.
    """
    await lock(conn, slug)
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
    await conn.execute(_INSERT_ROWS, slug, rows)
    return True


# Rows of sums computed in Python ([version, day, source, clean, key, value] as JSON) added
# to the rollup.
_INSERT_ROWS = """
        INSERT INTO report_rollup AS t (slug, version, day, source, clean, key, value)
        SELECT $1, e ->> 0, (e ->> 1)::date, e ->> 2, (e -> 3)::boolean,
               ARRAY(SELECT k FROM jsonb_array_elements_text(e -> 4) WITH ORDINALITY AS p(k, n)
                      ORDER BY n),
               (e ->> 5)::float8
          FROM jsonb_array_elements($2::jsonb) AS e
        ON CONFLICT (slug, day, version, source, clean, key)
        DO UPDATE SET value = t.value + excluded.value
        """


async def update_report_rollup_all(conn: db.Connection, slug: str, shape: ReportShape) -> int:
    """Fold every response not yet folded, a batch a transaction; how many were folded."""
    total = 0
    while (folded := await update_report_rollup(conn, slug, shape)) == FOLD_BATCH:
        total += folded
    return total + folded


async def select_report_sums(
    conn: db.Connection, slug: str, shape: ReportShape, where: ReportFilter
) -> dict[tuple[str, ...], float]:
    """Every sufficient statistic for the responses `where` selects, summed over them."""
    clean, flagged = await select_report_sums_by_quality(conn, slug, shape, where)
    return selected_sums(clean, flagged, where.clean)


def selected_sums(
    clean: dict[tuple[str, ...], float], flagged: dict[tuple[str, ...], float], want: bool | None
) -> dict[tuple[str, ...], float]:
    """The clean sums, the flagged ones, or (want None) both added."""
    if want is not None:
        return clean if want else flagged
    both = dict(clean)
    for key, value in flagged.items():
        both[key] = both.get(key, 0.0) + value
    return both


async def select_report_sums_by_quality(
    conn: db.Connection, slug: str, shape: ReportShape, where: ReportFilter
) -> tuple[dict[tuple[str, ...], float], dict[tuple[str, ...], float]]:
    """The sums for the responses `where` selects, whatever their quality, apart: those
    without a quality flag and those with one. One scan gives both, so that a report of the
    clean responses can say what it left out.

    Without segment filters it adds the folded rollup to the rows not yet folded; with them it
    reads the matching rows (the rollup is not broken down by every segment combination).
    """
    rows = await conn.fetch(
        f"""
        WITH r AS (
            SELECT {ROW_COLUMNS}
              FROM response
             WHERE slug = $1
               AND (cardinality($6::text[]) > 0 OR NOT folded)
               AND ($2::date IS NULL OR (created_at AT TIME ZONE 'UTC')::date >= $2)
               AND ($3::date IS NULL OR (created_at AT TIME ZONE 'UTC')::date <= $3)
               AND ($4::text IS NULL OR version = $4)
               AND source = ANY($5::text[])
               AND NOT EXISTS (
                   SELECT 1 FROM unnest($6::text[], $7::text[]) AS f(item, value)
                    WHERE CASE WHEN f.item = '_channel' THEN channel
                               ELSE answers ->> f.item END IS DISTINCT FROM f.value
               )
        ),
        {contributions(8)}
        SELECT clean, key, sum(value) AS value
          FROM (
              SELECT clean, key, value FROM kv
              UNION ALL
              SELECT clean, key, value
                FROM report_rollup
               WHERE slug = $1
                 AND cardinality($6::text[]) = 0
                 AND ($2::date IS NULL OR day >= $2)
                 AND ($3::date IS NULL OR day <= $3)
                 AND ($4::text IS NULL OR version = $4)
                 AND source = ANY($5::text[])
          ) AS sums
         GROUP BY clean, key
        """,
        slug,
        where.from_day,
        where.to_day,
        where.version,
        list(where.sources),
        [item for item, _ in where.segments],
        [value for _, value in where.segments],
        *shape_args(shape),
    )
    clean: dict[tuple[str, ...], float] = {}
    flagged: dict[tuple[str, ...], float] = {}
    for row in rows:
        if row["value"] != 0:
            (clean if row["clean"] else flagged)[tuple(row["key"])] = row["value"]
    return clean, flagged


async def subtract_response(conn: db.Connection, response_id: object, slug: str) -> None:
    """Take a folded response's contribution out of the rollup, with the item lists it was
    folded with. The caller holds the lock and the response's row lock."""
    shape = await conn.fetchval("SELECT shape FROM report_shape WHERE slug = $1", slug)
    await conn.execute(
        f"""
        WITH r AS (SELECT {ROW_COLUMNS} FROM response WHERE id = $1),
        {contributions(3)}
        INSERT INTO report_rollup AS t (slug, version, day, source, clean, key, value)
        SELECT $2, version, day, source, clean, key, -sum(value)
          FROM kv
         GROUP BY version, day, source, clean, key
        ON CONFLICT (slug, day, version, source, clean, key)
        DO UPDATE SET value = t.value + excluded.value
        """,
        response_id,
        slug,
        *shape_args(msgspec.convert(shape, ReportShape)),
    )


async def select_clean_sums(
    conn: db.Connection, slug: str, version: str, kinds: list[str]
) -> dict[tuple[str, ...], float]:
    """The sums of some kinds of key (`c`: dimension pairs, `r`: reliability) over the folded
    clean responses to one version, synthetic demo responses left out: the norms a single
    response is judged and shown against. Folded rows only, so that it never folds or reads
    responses."""
    rows = await conn.fetch(
        """
        SELECT key, sum(value) AS value
          FROM report_rollup
         WHERE slug = $1 AND version = $2 AND clean AND source <> 'demo' AND key[1] = ANY($3)
         GROUP BY key
        """,
        slug,
        version,
        kinds,
    )
    return {tuple(row["key"]): row["value"] for row in rows}


async def replace_report_rollup(
    conn: db.Connection, slug: str, shape: ReportShape, rows: list[list[object]]
) -> None:
    """Put sums computed in Python for every response read in place of the rollup of `slug`
    (the caller holds the lock and marks the responses it summed as folded)."""
    await conn.execute("DELETE FROM report_rollup WHERE slug = $1", slug)
    await _save_shape(conn, slug, shape)
    await conn.execute(_INSERT_ROWS, slug, rows)


async def _save_shape(conn: db.Connection, slug: str, shape: ReportShape) -> None:
    """Record the item lists the rollup of `slug` is summed with."""
    await conn.execute(
        """
        INSERT INTO report_shape (slug, shape) VALUES ($1, $2)
        ON CONFLICT (slug) DO UPDATE SET shape = excluded.shape
        """,
        slug,
        msgspec.to_builtins(shape),
    )
