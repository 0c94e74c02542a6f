"""Reading responses in bulk: a cursor for JSONL, COPY … TO STDOUT for CSV."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncGenerator, Callable, Coroutine
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from survey.core.csvcells import NEUTRALISE_PATTERN, QUALITY_MEASURES, Cell
from survey.core.filters import ReportFilter
from survey.store import db, selection
from survey.store.versions import select_definitions


async def select_export_count(conn: db.Connection, slug: str, where: ReportFilter) -> int:
    """How many responses an export with this filter holds (for a progress bar)."""
    condition, args = selection.where_sql(slug, where)
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
    condition, args = selection.where_sql(slug, where)
    async with conn.transaction():
        # Read the (slug, created_at) index in order rather than sort every row before the
        # first one goes out: a sort of a million rows spills a gigabyte to disk and holds
        # the first byte back for seconds.
        await conn.execute("SET LOCAL enable_sort = off")
        cursor = await conn.cursor(
            f"""
            SELECT id::text AS id, created_at, version, source, complete, profile, index_score,
                   dimensions::text AS dimensions, answers::text AS answers, quote_consent,
                   item_order::text AS item_order, flags, quality::text AS quality, channel
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


class Stamp(NamedTuple):
    """What every row of an export made under a preregistration lock adds: the lock's hash,
    and whether the row's version scores differently from the one frozen."""

    hash: str
    changed_versions: list[str]


async def copy_export_csv(
    conn: db.Connection,
    slug: str,
    where: ReportFilter,
    dimensions: list[str],
    answer_cells: Callable[[list[Any]], list[tuple[str, Cell]]],
    output: Callable[[bytes], Coroutine[Any, Any, None]],
    helper: db.Connection | None = None,
    *,
    with_order: bool = False,
    stamp: Stamp | None = None,
) -> int:
    """Have PostgreSQL write the selected responses as CSV rows, oldest first, to `output`.

    The columns are csvcells.csv_header's: booleans as true/false, times in ISO 8601 UTC, each
    score, then each answer as `answer_cells` says when given every stored version's
    definition (a cell that could be a formula neutralised), then, `with_order`, the items'
    order as shown, then the `stamp`'s texts on every row (the freeze it is made under). The
    definitions and the rows are
    read in one snapshot, so no response to a version it did not see can slip in. `output` is
    awaited with each chunk before more is read. Returns the number of rows.

    With a `helper` connection, a large export is cut into ranges of `created_at` that the two
    connections COPY at once, in the same snapshot: one backend's COPY was the bottleneck.
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        answers = answer_cells(await select_definitions(conn, slug))
        query, args = _export_query(slug, where, dimensions, answers, with_order, stamp)
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
    slug: str,
    where: ReportFilter,
    dimensions: list[str],
    answers: list[tuple[str, Cell]],
    with_order: bool,
    stamp: Stamp | None = None,
) -> tuple[str, list[Any]]:
    """The export's SELECT, with `/*range*/` where a range's conditions go, and its arguments."""
    condition, args = selection.where_sql(slug, where)
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
    if with_order:
        # Item ids only: no separator or formula character can occur in one.
        cells.append("array_to_string(ARRAY(SELECT jsonb_array_elements_text(item_order)), ' ')")
    # Flag names and measured numbers: no separator or formula character can occur in them.
    cells.append("array_to_string(flags, ' ')")
    for measure in QUALITY_MEASURES:
        args.append(measure)
        cells.append(f"quality ->> ${len(args)}::text")
    cells.append("channel")  # checked against a channel name's shape: nothing to neutralise
    if stamp is not None:  # hex digits and true/false: nothing to neutralise
        args += [stamp.hash, stamp.changed_versions]
        cells.append(f"${len(args) - 1}::text")
        cells.append(f"CASE WHEN version = ANY(${len(args)}::text[]) THEN 'true' ELSE 'false' END")
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
    condition, args = selection.where_sql(slug, where)
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
