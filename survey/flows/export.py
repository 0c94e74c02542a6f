"""Responses out in bulk: the CSV and JSONL exports as a stream of chunks.

PostgreSQL writes the CSV export itself (COPY … TO STDOUT) and its bytes pass through; the JSONL
export reads a server-side cursor a batch at a time and encodes each batch as it arrives. Either
way memory stays flat however many rows there are. The item file for factor analysis in R
(`cfa`: core.lavaan's rows) reads the same cursor as JSONL, and its script is made here too.
The API and the CLI share all of it.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

import asyncpg
import msgspec

from survey.core import csvcells, display, lavaan
from survey.core.filters import ReportFilter, query_of
from survey.core.freeze import FreezeStatus
from survey.core.model import Loaded, Questionnaire
from survey.flows import freezing
from survey.store import db, exports

# `cfa`: response_id, the grouping segment if any, and each scored item keyed (core.lavaan).
Format = Literal["csv", "jsonl", "cfa"]

EXPORT_BATCH = 5_000
CHUNK = 256 * 1024  # bytes of CSV passed on at a time


def csv_line(cells: Iterable[object]) -> bytes:
    """One CSV line as PostgreSQL's COPY writes them (quoted where needed, `\\n` ended)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode()


class ExportedResponse(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A JSONL line: answers as stored (multi_choice a list), scores at full precision, and
    the items' order as shown where a section randomises (else no such key)."""

    id: str
    created_at: datetime
    version: str
    source: str
    complete: bool
    profile: str | None
    index: float | None
    quote_consent: bool
    dimensions: msgspec.Raw  # the stored JSON, passed through without decoding
    answers: msgspec.Raw
    item_order: msgspec.Raw | None = None
    quality_flags: list[str]
    quality: msgspec.Raw | None  # the values the flags were decided on
    channel: str | None = None  # the channel the survey link named (core.channels)
    # The preregistration lock the export is made under, when there is one (survey freeze).
    freeze_hash: str | None = None
    instrument_changed: bool | None = None


BOM = "\ufeff".encode()

# The columns a CSV export adds when the questionnaire is frozen.
FREEZE_COLUMNS = ["freeze_hash", "instrument_changed"]


def freeze_stamp(status: FreezeStatus | None) -> exports.Stamp | None:
    """What a CSV export's rows add to name the lock: its hash, and whether the row's version
    scores differently from the one frozen."""
    if status is None:
        return None
    return exports.Stamp(hash=status.hash, changed_versions=status.changed_versions)


def jsonl_chunk(rows: Iterable[asyncpg.Record], status: FreezeStatus | None = None) -> bytes:
    return msgspec.json.Encoder().encode_lines(
        [
            ExportedResponse(
                id=row["id"],
                created_at=row["created_at"],
                version=row["version"],
                source=row["source"],
                complete=row["complete"],
                profile=row["profile"],
                index=row["index_score"],
                quote_consent=row["quote_consent"],
                dimensions=msgspec.Raw(row["dimensions"]),
                answers=msgspec.Raw(row["answers"]),
                item_order=None if row["item_order"] is None else msgspec.Raw(row["item_order"]),
                quality_flags=row["flags"],
                quality=None if row["quality"] is None else msgspec.Raw(row["quality"]),
                channel=row["channel"],
                freeze_hash=status.hash if status else None,
                instrument_changed=row["version"] in status.changed_versions if status else None,
            )
            for row in rows
        ]
    )


@dataclass
class Progress:
    """How many rows an export has written so far: exact at the end, close before it (a CSV
    row is counted by its line end, and a text answer may hold line breaks)."""

    rows: int = 0


async def export_chunks(
    conn: db.Connection,
    loaded: Loaded,
    where: ReportFilter,
    fmt: Format,
    progress: Progress | None = None,
    helper: db.Connection | None = None,
    group_by: str | None = None,
    bom: bool = False,
) -> AsyncGenerator[bytes, None]:
    """The export's bytes, a chunk at a time; CSV's header first (after a UTF-8 byte order
    mark with `bom`, which Excel needs to read the file as UTF-8). A CSV export shares its
    work with the `helper` connection when given (exports.copy_export_csv); a `cfa` export
    has a column for the segment item `group_by` when given."""
    progress = progress if progress is not None else Progress()
    status = await freezing.freeze_status(conn, loaded)
    if fmt == "csv":
        chunks = _csv_chunks(conn, loaded, where, progress, helper, status, bom)
    elif fmt == "cfa":
        chunks = _cfa_chunks(conn, loaded, where, progress, group_by)
    else:
        chunks = _jsonl_chunks(conn, loaded, where, progress, status)
    async with aclosing(chunks):
        async for chunk in chunks:
            yield chunk


async def _csv_chunks(
    conn: db.Connection,
    loaded: Loaded,
    where: ReportFilter,
    progress: Progress,
    helper: db.Connection | None,
    status: FreezeStatus | None = None,
    bom: bool = False,
) -> AsyncGenerator[bytes, None]:
    """PostgreSQL writes the rows (COPY … TO STDOUT); they pass through as they come."""
    q = loaded.definition
    header = csv_line(csvcells.csv_header(q) + (FREEZE_COLUMNS if status else []))
    yield (BOM if bom else b"") + header

    def cells(definitions: list[Any]) -> list[tuple[str, csvcells.Cell]]:
        try:
            versions = [msgspec.convert(d, Questionnaire) for d in definitions]
        except msgspec.ValidationError:
            return csvcells.answer_cells(q, None)  # stored by an older release: all the safe way
        return csvcells.answer_cells(q, versions)

    # A few chunks in hand at most: COPY waits for the client to take them, so memory stays
    # flat however fast PostgreSQL writes. asyncpg hands over about 10 kB at a time (a
    # bytearray it may reuse); they go on in pieces of CHUNK, so that compressing them in a
    # thread and sending them costs a handoff per CHUNK, not per 10 kB.
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)
    pending = bytearray()

    async def put(chunk: bytes) -> None:
        pending.extend(chunk)
        if len(pending) >= CHUNK:
            await queue.put(bytes(pending))
            pending.clear()

    async def copy() -> int:
        # The end (or an error) is told by a None, which the reader is there to take; a
        # cancelled COPY has no reader left, and tells nothing.
        try:
            rows = await exports.copy_export_csv(
                conn,
                q.slug,
                where,
                [d.id for d in q.dimensions],
                cells,
                put,
                helper,
                with_order=display.randomized(q),
                stamp=freeze_stamp(status),
            )
        except Exception:
            await queue.put(None)
            raise
        if pending:
            await queue.put(bytes(pending))
        await queue.put(None)
        return rows

    task = asyncio.ensure_future(copy())
    try:
        while (chunk := await queue.get()) is not None:
            progress.rows += chunk.count(b"\n")
            yield chunk
        progress.rows = await task
    finally:
        if not task.done():
            # The client went away. A cancelled COPY leaves asyncpg unable to roll back until
            # the server has stopped it; closing the connection stops it at once (the server
            # rolls back) and the pool opens a fresh one when it needs it.
            conn.terminate()
            if helper is not None:
                helper.terminate()
            task.cancel()  # were it waiting for room in the queue
            await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # it failed because its connection closed: nothing to tell


async def _jsonl_chunks(
    conn: db.Connection,
    loaded: Loaded,
    where: ReportFilter,
    progress: Progress,
    status: FreezeStatus | None = None,
) -> AsyncGenerator[bytes, None]:
    batches = exports.select_export_batches(conn, loaded.definition.slug, where, EXPORT_BATCH)
    async with aclosing(batches):
        async for rows in batches:
            # In a thread: the event loop goes on serving other requests (and fetching the
            # next batch) while this one is encoded.
            chunk = await asyncio.to_thread(jsonl_chunk, rows, status)
            progress.rows += len(rows)
            yield chunk


async def _cfa_chunks(
    conn: db.Connection,
    loaded: Loaded,
    where: ReportFilter,
    progress: Progress,
    group_by: str | None,
) -> AsyncGenerator[bytes, None]:
    """The item file: the rows JSONL reads, each made a line of keyed items in a thread."""
    q = loaded.definition
    yield csv_line(lavaan.columns(q, group_by))
    batches = exports.select_export_batches(conn, q.slug, where, EXPORT_BATCH)
    async with aclosing(batches):
        async for rows in batches:
            chunk = await asyncio.to_thread(cfa_chunk, q, rows, group_by)
            progress.rows += len(rows)
            yield chunk


_answers = msgspec.json.Decoder(dict[str, Any])


def cfa_chunk(q: Questionnaire, rows: Iterable[asyncpg.Record], group_by: str | None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(lavaan.row(q, row["id"], _answers.decode(row["answers"]), group_by))
    return buffer.getvalue().encode()


def cfa_files(slug: str) -> tuple[str, str]:
    """The item file's and the script's names: the script reads the file by its name."""
    return f"{slug}-cfa.csv", f"{slug}-cfa.R"


def cfa_script(loaded: Loaded, where: ReportFilter, group_by: str | None, today: date) -> str:
    """The R script for the item file that `where` and `group_by` make (core.lavaan.script);
    NotASegment or NotForLavaan when there can be none."""
    selection = ", ".join(f"{name}={value}" for name, value in parse_qsl(query_of(where)))
    return lavaan.script(
        loaded.definition,
        version=loaded.version,
        generated=today,
        data_file=cfa_files(loaded.definition.slug)[0],
        group_by=group_by,
        selection=[f"selected with {selection}"],
    )


async def pooled_export(
    pool: asyncpg.Pool,
    wait: float,
    loaded: Loaded,
    where: ReportFilter,
    fmt: Format,
    group_by: str | None = None,
    bom: bool = False,
) -> AsyncGenerator[bytes, None]:
    """The export's chunks, made by a task of their own on a connection of their own.

    The request's own connection goes back to the pool when the handler returns, before the
    body is sent, so the export borrows another. A client that hangs up gets the request
    cancelled again at every step of its cleanup; the export's task is cancelled once, so it
    ends its COPY, rolls its transaction back and gives the connection back in good order.
    """
    conn = await db.acquire(pool, wait)
    helper = None
    spare = pool.get_idle_size() + pool.get_max_size() - pool.get_size()
    if fmt == "csv" and spare >= 2:
        # A second connection shares a large CSV export's work when the pool can spare it
        # and still keep one for everyone else. Not with a timeout: asyncpg can lose a
        # connection whose acquire timed out (MagicStack/asyncpg#467).
        try:
            helper = await pool.acquire()
        except db.UNAVAILABLE:
            helper = None  # the export goes alone
        except BaseException:
            await asyncio.shield(pool.release(conn))
            raise
    # A few chunks in hand at most, so memory stays flat however fast the export is made.
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=2)

    held = [conn] if helper is None else [conn, helper]
    released = False

    async def release() -> None:
        # Both, once, even when cancelled on the way (the reader closes us once it is done).
        nonlocal released
        if not released:
            released = True
            await asyncio.shield(asyncio.gather(*(pool.release(c) for c in held)))

    async def produce() -> None:
        # The connections go back before the reader hears the end, so that they are in the
        # pool by the time the response is complete.
        try:
            chunks = export_chunks(
                conn, loaded, where, fmt, helper=helper, group_by=group_by, bom=bom
            )
            async with aclosing(chunks):
                async for chunk in chunks:
                    await queue.put(chunk)
            await release()
            await queue.put(None)
        except Exception as exc:  # for the reader to raise
            await queue.put(exc)
        finally:
            await release()

    producer = asyncio.ensure_future(produce())
    try:
        yield b""  # connected: the caller may now commit to a 200
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        producer.cancel()  # a no-op once it is done
