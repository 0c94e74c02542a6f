"""Responses in bulk: streamed CSV and JSONL exports, the NDJSON import, and demo data.

PostgreSQL writes the CSV export itself (COPY … TO STDOUT) and its bytes pass through; the JSONL
export reads a server-side cursor a batch at a time and encodes each batch as it arrives. Either
way memory stays flat however many rows there are. The import validates and scores every line
with the pure core, as a single submission would be, and stores the good ones with COPY. Demo
respondents are synthetic answer sets scored the same way. The HTTP routes and the CLI share all
of it.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import csv
import io
import itertools
import logging
import math
import multiprocessing
import os
import secrets
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
)
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from statistics import NormalDist
from typing import Any, Literal, NamedTuple

import asyncpg
import msgspec
from litestar import Controller, Litestar, Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath
from litestar.response import Stream
from uuid_utils.compat import uuid7

from survey import auth, compress, db, rollup, scoring, stats, store, table
from survey.api import P404, P422, P503, SUBMISSION_FIELDS, Db, problem, questionnaire
from survey.errors import (
    DatabaseUnavailable,
    InvalidSubmission,
    Problem,
    duplicate_key,
    problem_from_validation,
)
from survey.model import (
    Answer,
    ChoiceItem,
    Loaded,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    TextItem,
    parse_submission,
)
from survey.reports import report_filter
from survey.stats import ReportFilter

Format = Literal["csv", "jsonl"]
# Litestar adds `; charset=utf-8` to text types.
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv", "jsonl": "application/x-ndjson"}

log = logging.getLogger("survey")

EXPORT_BATCH = 5_000
CHUNK = 256 * 1024  # bytes of CSV passed on at a time
IMPORT_BATCH = 5_000
IMPORT_MAX_BODY = 256 * 1024 * 1024
MAX_LINE = 1024 * 1024  # one line is one submission: the submit API's body limit
MAX_LISTED = 10_000  # rejected lines listed in an import summary; all are counted
ANALYZE_AFTER = 10_000  # rows stored in bulk after which the planner's statistics are renewed
POOL_AFTER = 2  # batches of an import scored in a thread before the scoring pool takes over

_encode = msgspec.json.Encoder().encode


# --- export --------------------------------------------------------------------------------------


def csv_line(cells: Iterable[object]) -> bytes:
    """One CSV line as PostgreSQL's COPY writes them (quoted where needed, `\\n` ended)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode()


class ExportedResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A JSONL line: answers as stored (multi_choice a list), scores at full precision."""

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


def jsonl_chunk(rows: Iterable[asyncpg.Record]) -> bytes:
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
) -> AsyncGenerator[bytes, None]:
    """The export's bytes, a chunk at a time; CSV's header first. A CSV export shares its
    work with the `helper` connection when given (store.copy_export_csv)."""
    progress = progress if progress is not None else Progress()
    if fmt == "csv":
        chunks = _csv_chunks(conn, loaded, where, progress, helper)
    else:
        chunks = _jsonl_chunks(conn, loaded, where, progress)
    async with aclosing(chunks):
        async for chunk in chunks:
            yield chunk


async def _csv_chunks(
    conn: db.Connection,
    loaded: Loaded,
    where: ReportFilter,
    progress: Progress,
    helper: db.Connection | None,
) -> AsyncGenerator[bytes, None]:
    """PostgreSQL writes the rows (COPY … TO STDOUT); they pass through as they come."""
    q = loaded.definition
    yield csv_line(table.csv_header(q))

    def cells(definitions: list[Any]) -> list[tuple[str, table.Cell]]:
        try:
            versions = [msgspec.convert(d, Questionnaire) for d in definitions]
        except msgspec.ValidationError:
            return table.answer_cells(q, None)  # stored by an older release: all the safe way
        return table.answer_cells(q, versions)

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
            rows = await store.copy_export_csv(
                conn, q.slug, where, [d.id for d in q.dimensions], cells, put, helper
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
    conn: db.Connection, loaded: Loaded, where: ReportFilter, progress: Progress
) -> AsyncGenerator[bytes, None]:
    batches = store.select_export_batches(conn, loaded.definition.slug, where, EXPORT_BATCH)
    async with aclosing(batches):
        async for rows in batches:
            # In a thread: the event loop goes on serving other requests (and fetching the
            # next batch) while this one is encoded.
            chunk = await asyncio.to_thread(jsonl_chunk, rows)
            progress.rows += len(rows)
            yield chunk


async def _pooled_export(
    state: State, loaded: Loaded, where: ReportFilter, fmt: Format
) -> AsyncGenerator[bytes, None]:
    """The export's chunks, made by a task of their own on a connection of their own.

    The request's own connection goes back to the pool when the handler returns, before the
    body is sent, so the export borrows another. A client that hangs up gets the request
    cancelled again at every step of its cleanup; the export's task is cancelled once, so it
    ends its COPY, rolls its transaction back and gives the connection back in good order.
    """
    pool: asyncpg.Pool = state.pool
    try:
        conn = await pool.acquire(timeout=state.settings.db_timeout)
    except db.UNAVAILABLE as exc:
        raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc
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
            chunks = export_chunks(conn, loaded, where, fmt, helper=helper)
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


async def _stream(state: State, request: Request[Any, Any, Any], slug: str, fmt: Format) -> Stream:
    loaded = questionnaire(state, slug)
    where = report_filter(loaded, dict(request.query_params))
    chunks = _pooled_export(state, loaded, where, fmt)
    await anext(chunks)  # a database that cannot be reached is a 503, not a cut-off 200
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    headers = {
        "Content-Disposition": f'attachment; filename="{slug}-responses-{day}.{fmt}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if compress.accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        chunks = compress.gzip_stream(chunks)
    # Litestar stops reading the stream when the client hangs up, but leaves it open: close
    # it after the response, so the export's connection goes back to the pool at once.
    return Stream(
        chunks,
        media_type=MEDIA_TYPES[fmt],
        headers=headers,
        background=BackgroundTask(chunks.aclose),
    )


# --- import --------------------------------------------------------------------------------------


class Rejected(msgspec.Struct, frozen=True):
    line: int
    errors: list[Problem]


class ImportSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What an import did: every good line is stored; the bad ones are listed by number."""

    accepted: int
    rejected: list[Rejected]  # the first MAX_LISTED, in line order
    rejected_count: int

    @property
    def empty(self) -> bool:
        """The body held no submission at all: no lines but blank ones."""
        return not self.accepted and not self.rejected_count


def scored(
    loaded: Loaded,
    answers: dict[str, Answer],
    *,
    quote_consent: bool,
    source: str,
    created_at: datetime,
    token_hash: bytes | None = None,
    folder: rollup.Folder | None = None,
) -> store.CopiedResponse:
    """Score normalised answers into a row to COPY, its report sums gathered in `folder`.

    Nobody is handed a token for such a row (a bulk import or demo data has no one to give it
    to), but every response needs an unguessable result key: `token_hash`, 32 random bytes,
    drawn here when not given. A hash nobody has the token of is as unguessable as a random
    one, and a link to it cannot be made.
    """
    q = loaded.definition
    result = scoring.score(q, answers)
    if folder is not None:
        folder.add(loaded.version, created_at, source, answers, result)
    return store.CopiedResponse(
        id=uuid7(),
        slug=q.slug,
        version=loaded.version,
        created_at=created_at,
        source=source,
        answers=_encode(answers),
        dimensions=_encode(result.dimensions),
        index_score=result.index,
        profile=result.profile.id if result.profile else None,
        quote_consent=quote_consent,
        result_token_hash=token_hash or secrets.token_bytes(32),
    )


def read_submission(
    loaded: Loaded,
    line: bytes,
    *,
    source: str,
    created_at: datetime,
    token_hash: bytes | None = None,
    folder: rollup.Folder | None = None,
) -> store.CopiedResponse | list[Problem]:
    """One NDJSON line, a submission as the submit API takes it: a row to store, or its problems."""
    try:
        submission, decoded = parse_submission(line)
    except msgspec.ValidationError as exc:
        return [problem_from_validation(exc)]
    except msgspec.DecodeError as exc:
        return [Problem("$", f"malformed JSON: {str(exc).removeprefix('JSON is malformed: ')}")]
    except RecursionError:
        return [Problem("$", "malformed JSON: nested too deeply")]
    duplicate = duplicate_key(line, SUBMISSION_FIELDS, decoded)
    if duplicate is not None:
        return [duplicate]
    q = loaded.definition
    problems = scoring.validate(q, submission)
    if problems:
        return problems
    return scored(
        loaded,
        scoring.normalise(q, submission.answers),
        # As intake.submit: quoting needs the consent to take part as well, where one is asked.
        quote_consent=submission.quote_consent and (submission.consent or q.consent is None),
        source=source,
        created_at=created_at,
        token_hash=token_hash,
        folder=folder,
    )


async def lines_of(
    chunks: AsyncIterable[bytes], limit: int
) -> AsyncIterator[tuple[int, bytes | None]]:
    """(number, line) for each non-blank line, numbered from 1 counting blank ones; a line
    longer than `limit` bytes comes as None, without being held in memory."""
    number = 0
    carried: list[bytes] = []
    size = 0  # of the line so far, kept or not
    async for chunk in chunks:
        *complete, rest = chunk.split(b"\n")
        for part in complete:
            number += 1
            size += len(part)
            line = b"".join((*carried, part)) if size <= limit else None
            carried, size = [], 0
            if line is None or line.strip():
                yield number, line
        size += len(rest)
        if size <= limit:
            carried.append(rest)
        else:
            carried.clear()
    if size:
        line = b"".join(carried) if size <= limit else None
        if line is None or line.strip():
            yield number + 1, line


def read_lines(
    loaded: Loaded,
    lines: list[tuple[int, bytes | None]],
    created_at: datetime,
    folder: rollup.Folder | None = None,
) -> tuple[list[store.CopiedResponse], list[Rejected]]:
    """A batch of numbered NDJSON lines: the rows to store and the lines rejected."""
    rows: list[store.CopiedResponse] = []
    rejected: list[Rejected] = []
    # The rows' random result keys in one draw: a system call a line cost 6% of an import.
    keys = secrets.token_bytes(32 * len(lines))
    for at_key, (number, line) in enumerate(lines):
        if line is None:
            rejected.append(Rejected(number, [Problem("$", f"line longer than {MAX_LINE} bytes")]))
            continue
        # A microsecond a line: one import's rows keep the file's order, oldest first.
        at = created_at + timedelta(microseconds=number)
        key = keys[32 * at_key : 32 * at_key + 32]
        result = read_submission(
            loaded, line, source="import", created_at=at, token_hash=key, folder=folder
        )
        if isinstance(result, list):
            rejected.append(Rejected(number, result))
        else:
            rows.append(result)
    return rows, rejected


class ReadBatch(NamedTuple):
    """A batch of lines read: the good ones as COPY text (folded), their report sums, and the
    rejected ones."""

    copy: bytes
    accepted: int
    rejected: list[Rejected]
    sums: rollup.Sums


_SEEN: dict[tuple[str, str], Loaded] = {}


def read_batch(
    loaded: Loaded, lines: list[tuple[int, bytes | None]], created_at: datetime
) -> ReadBatch:
    """read_lines, ready to COPY. Runs in a worker process of the scoring pool."""
    # Each call brings its own copy of the questionnaire; scoring's plan is made once for it.
    loaded = _SEEN.setdefault((loaded.definition.slug, loaded.version), loaded)
    folder = rollup.Folder(stats.shape_of(loaded.definition))
    rows, rejected = read_lines(loaded, lines, created_at, folder)
    return ReadBatch(store.copy_text(rows, folded=True), len(rows), rejected, folder.sums())


class ScoringPool:
    """Worker processes that score a large import's batches on every core.

    They start when the first large import needs them (from a fork server: never forked from
    a process with threads) and stay for the next. A pool whose worker died (killed, out of
    memory) is replaced, and the batch it lost is scored in a thread instead.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor: ProcessPoolExecutor | None = None

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(self.workers, mp_context=context)

    async def read(
        self, loaded: Loaded, lines: list[tuple[int, bytes | None]], created_at: datetime
    ) -> ReadBatch:
        if self.executor is None:
            self.executor = self._start()
        executor = self.executor
        try:
            return await asyncio.get_running_loop().run_in_executor(
                executor, read_batch, loaded, lines, created_at
            )
        except BrokenProcessPool:
            if executor is self.executor:
                executor.shutdown(wait=False, cancel_futures=True)
                self.executor = self._start()
            return await asyncio.to_thread(read_batch, loaded, lines, created_at)

    def shutdown(self, *, wait: bool = True) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=wait, cancel_futures=True)


def scoring_pool(workers: int | None = None) -> ScoringPool | None:
    """A scoring pool with a worker per core; None on a single core, where it cannot help."""
    workers = workers or os.cpu_count() or 1
    return ScoringPool(workers) if workers > 1 else None


@asynccontextmanager
async def scoring_workers(app: Litestar) -> AsyncGenerator[None, None]:
    """Lifespan: the app's scoring pool for large imports, shut down with the app."""
    pool = scoring_pool()
    app.state.scoring_pool = pool
    try:
        yield
    finally:
        if pool is not None:
            pool.shutdown(wait=False)


async def import_ndjson(
    conn: db.Connection,
    loaded: Loaded,
    chunks: AsyncIterable[bytes],
    *,
    batch: int | None = None,
    pool: ScoringPool | None = None,
) -> ImportSummary:
    """Validate, score and store NDJSON submissions in one transaction, COPY a batch at a time,
    and add their report sums to the rollup.

    The first batch is scored in a thread; later ones, in `pool` when given (a process per
    core, a batch each), while the batch before is copied. Rows are copied in file order.
    """
    rejected_count = 0
    sums: rollup.Sums = {}
    listed: list[Rejected] = []
    lines = _batched(lines_of(_without_bom(chunks), MAX_LINE), batch or IMPORT_BATCH)
    in_flight: collections.deque[asyncio.Future[ReadBatch]] = collections.deque()
    ahead = pool.workers if pool is not None else 1  # batches scored at once

    async def copy_oldest() -> None:
        nonlocal rejected_count
        read = await in_flight.popleft()
        rejected_count += len(read.rejected)
        listed.extend(read.rejected[: max(0, MAX_LISTED - len(listed))])
        rollup.merge(sums, read.sums)
        await copier.copy(read.copy, read.accepted)

    async with conn.transaction(), _Copier(conn) as copier:
        created_at = await store.select_clock(conn)
        try:
            async for number, numbered in enumerate_async(lines):
                # The event loop stays free for other requests, and for the COPY of the
                # previous batch, which PostgreSQL works on meanwhile. A small import is
                # scored in a thread: starting the pool's processes would cost it more.
                if pool is None or number < POOL_AFTER:
                    work = asyncio.to_thread(read_batch, loaded, numbered, created_at)
                else:
                    work = pool.read(loaded, numbered, created_at)
                in_flight.append(asyncio.ensure_future(work))
                if len(in_flight) > ahead:
                    await copy_oldest()
            while in_flight:
                await copy_oldest()
        finally:
            for future in in_flight:
                future.cancel()
        accepted = await copier.done()
        await add_sums(conn, loaded, sums)
    await analyze_after_load(conn, accepted)
    return ImportSummary(accepted=accepted, rejected=listed, rejected_count=rejected_count)


async def add_sums(conn: db.Connection, loaded: Loaded, sums: rollup.Sums) -> None:
    """Add the sums of rows this transaction copied as folded to the report rollup."""
    if sums:
        q = loaded.definition
        copied = int(sum(place[("n",)] for place in sums.values()))
        rows = rollup.rows_of(sums)
        await store.add_to_report_rollup(conn, q.slug, stats.shape_of(q), rows, copied)


async def analyze_after_load(conn: db.Connection, stored: int) -> None:
    """Renew the planner's statistics after a large bulk load; the load stands if it fails."""
    if stored >= ANALYZE_AFTER:
        try:
            await store.analyze_responses(conn)
        except (asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("ANALYZE after a bulk load of %d rows failed: %s", stored, exc)


class _Copier:
    """COPY one batch while the caller prepares the next; at most one COPY in flight."""

    def __init__(self, conn: db.Connection) -> None:
        self.conn = conn
        self.copied = 0
        self.running: asyncio.Future[int] | None = None

    async def copy(self, data: bytes, count: int) -> None:
        await self.done()

        async def run() -> int:
            await store.copy_responses(self.conn, data)
            return count

        self.running = asyncio.ensure_future(run())

    async def done(self) -> int:
        """Wait for the COPY in flight; the number of rows copied so far."""
        if self.running is not None:
            running, self.running = self.running, None
            self.copied += await running
        return self.copied

    async def __aenter__(self) -> _Copier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        # On an error, let a COPY in flight end before the transaction rolls back.
        with contextlib.suppress(Exception):
            await self.done()


async def enumerate_async(items: AsyncIterable[Any]) -> AsyncIterator[tuple[int, Any]]:
    number = 0
    async for item in items:
        yield number, item
        number += 1


async def _batched(
    items: AsyncIterable[tuple[int, bytes | None]], size: int
) -> AsyncIterator[list[tuple[int, bytes | None]]]:
    batch: list[tuple[int, bytes | None]] = []
    async for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _without_bom(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The chunks, minus a UTF-8 byte-order mark at the very start (Windows editors add one)."""
    first = True
    async for chunk in chunks:
        if first and chunk:
            first = False
            chunk = chunk.removeprefix(b"\xef\xbb\xbf")
        yield chunk


def nothing_stored(summary: ImportSummary) -> list[Problem]:
    """Why an import that stored no row failed as a whole: no lines, or every line refused.

    Empty when something was stored: then the summary is the answer, bad lines and all.
    """
    if summary.accepted:
        return []
    if summary.empty:
        return [Problem("body", "no submissions: send one JSON submission a line")]
    return [
        Problem(f"line {rejected.line}" + (f": {p.field}" if p.field else ""), p.message)
        for rejected in summary.rejected
        for p in rejected.errors
    ]


# What the import's OpenAPI body shows: two submissions to the shipped questionnaire.
_IMPORT_EXAMPLE = (
    '{"answers": {"say_why": 5, "no_note": 1}, "consent": true}\n'
    '{"answers": {"say_why": 2, "no_note": 4}, "consent": true, "quote_consent": false}\n'
)


@dataclass
class ImportOperation(Operation):
    """The import handler reads the body as a stream; document what it expects here."""

    def __post_init__(self) -> None:
        # The body is read as NDJSON whatever its declared type: tools that send text say so.
        # The example stands under text/plain, a type that generic clients know how to send.
        lines = Schema(
            type=OpenAPIType.STRING,
            description="One submission per line, as the submit API takes it.",
        )
        self.request_body = RequestBody(
            content={
                "application/x-ndjson": OpenAPIMediaType(schema=lines),
                "text/plain": OpenAPIMediaType(schema=lines, example=_IMPORT_EXAMPLE),
            },
            required=True,
            description=(
                "NDJSON: one `{answers, consent, quote_consent}` object per line; blank lines "
                "are skipped. Up to 256 MB, one line up to 1 MB. An import that would store "
                "nothing (no lines, or every line refused) is a 422 listing every problem."
            ),
        )


# --- demo data ------------------------------------------------------------------------------------

_TEXTS = {
    "connector": [
        "Asking what the other person needs before saying what I want.",
        "Following up weeks later to ask whether an introduction helped.",
        "Remembering the small things people tell you, and coming back to them.",
        "Introducing two people only when both have said yes.",
    ],
    "collector": [
        "A bigger network means more reach for my posts.",
        "Recruiters look at the number of connections first.",
        "It is quicker to click connect than to write a note.",
    ],
    "neutral": [
        "Not sure; I mostly network at events.",
        "Time. Doing it properly takes time most people do not have.",
        "Honesty about why you want to be in touch.",
        "It depends on the platform and the person.",
    ],
}


@dataclass(frozen=True)
class _LikertPlan:
    id: str
    dimension: int  # index into the respondent's dimension factors
    points: list[int]
    cuts: list[float]
    loading: float
    intercept: float
    collector: bool  # loads on the Collector trait rather than the Connector one
    required: bool


@dataclass(frozen=True)
class _ChoicePlan:
    id: str
    options: list[str]
    cumulative: list[float]  # weights, summed, for bisect
    effects: list[float]  # on the Connector trait
    required: bool


class DemoPlan:
    """How synthetic respondents answer one questionnaire, fixed by a seed.

    Each respondent has a latent Connector trait and a negatively correlated Collector trait;
    dimensions in the index load on the first, the others (in connector.yaml, `collecting`) on
    the second. A likert answer is its trait (its sign flipped for reverse-keyed items), a
    factor of its dimension, an item intercept and noise, cut into the scale's points at normal
    quantiles. Choice answers shift the Connector trait a little, so segments differ. Most
    respondents answer everything, a few skip many items; some write text.
    """

    def __init__(self, q: Questionnaire, seed: int) -> None:
        rng = Random(seed)
        indexed = set(q.weights)
        dimensions = {d.id: n for n, d in enumerate(q.dimensions)}
        self.dimensions = len(dimensions)
        self.likert = []
        for item in q.likert_items():
            points = q.scales[item.scale].points
            spread = NormalDist(0.0, 1.15)
            loading = rng.uniform(0.6, 0.95)
            self.likert.append(
                _LikertPlan(
                    id=item.id,
                    dimension=dimensions[item.dimension],
                    points=points,
                    cuts=[spread.inv_cdf(j / len(points)) for j in range(1, len(points))],
                    loading=-loading if item.reverse else loading,
                    intercept=rng.uniform(-0.45, 0.45),
                    collector=item.dimension not in indexed,
                    required=item.required,
                )
            )
        self.choices = []
        for choice in q.items:
            if isinstance(choice, ChoiceItem):
                ranks = rng.sample(range(len(choice.options)), len(choice.options))
                self.choices.append(
                    _ChoicePlan(
                        id=choice.id,
                        options=choice.options,
                        cumulative=list(itertools.accumulate(1 / (r + 1) ** 0.9 for r in ranks)),
                        effects=[rng.gauss(0.0, 0.3) for _ in choice.options],
                        required=choice.required,
                    )
                )
        self.numbers = [i for i in q.items if isinstance(i, NumberItem)]
        self.multi = [
            (i.id, [(o, 0.75 / (r + 1) ** 0.6) for r, o in enumerate(i.options)])
            for i in q.items
            if isinstance(i, MultiChoiceItem)
        ]
        self.texts = [i for i in q.items if isinstance(i, TextItem)]

    def respondent(self, rng: Random) -> tuple[dict[str, Answer], bool]:
        """One synthetic answer set, valid and normalised, and whether it may be quoted."""
        random, gauss = rng.random, rng.gauss
        skip = 0.01 if random() < 0.9 else 0.4
        answers: dict[str, Answer] = {}
        connector = gauss(0.0, 0.9)
        for choice in self.choices:
            k = bisect.bisect(choice.cumulative, random() * choice.cumulative[-1])
            k = min(k, len(choice.options) - 1)  # random() * total rounded up to the total
            connector += choice.effects[k]
            if choice.required or random() > 3 * skip:
                answers[choice.id] = choice.options[k]
        collector = -0.45 * connector + gauss(0.0, 0.9)
        factors = [0.45 * gauss(0.0, 1.0) for _ in range(self.dimensions)]
        for item in self.likert:
            if not item.required and random() < skip:
                continue
            trait = collector if item.collector else connector
            x = item.loading * (trait + factors[item.dimension]) + item.intercept
            answers[item.id] = item.points[bisect.bisect(item.cuts, x + gauss(0.0, 0.7))]
        for number in self.numbers:
            if number.required or random() > 3 * skip:
                low = 0.0 if number.min is None else number.min
                high = low + 100 if number.max is None else number.max
                value = low + (high - low) * rng.betavariate(1.6, 5.0)
                answers[number.id] = round(value) if number.integer else round(value, 1)
        for item_id, chances in self.multi:
            chosen = [option for option, p in chances if random() < p]
            if chosen:
                answers[item_id] = chosen
        wrote = False
        for text in self.texts:
            if random() < 0.08:
                kind = "connector" if connector > 0.6 else "collector" if collector > 0.6 else ""
                answers[text.id] = rng.choice(_TEXTS[kind or "neutral"])[: text.max_length]
                wrote = True
        return answers, wrote and random() < 0.5

    def batch(
        self, rng: Random, times: Iterator[datetime], loaded: Loaded, size: int
    ) -> tuple[bytes, int, rollup.Sums]:
        """`size` respondents scored by the core: COPY text of the rows (folded), how many,
        and their report sums."""
        folder = rollup.Folder(stats.shape_of(loaded.definition))
        rows = []
        for _, created_at in zip(range(size), times, strict=False):
            answers, quote = self.respondent(rng)
            rows.append(
                scored(
                    loaded,
                    answers,
                    quote_consent=quote,
                    source="demo",
                    created_at=created_at,
                    folder=folder,
                )
            )
        return store.copy_text(rows, folded=True), len(rows), folder.sums()


def demo_times(rng: Random, count: int, end: datetime, days: float) -> Iterator[datetime]:
    """`count` times over the `days` before `end`, in order, more of them lately.

    Drawn as sorted uniform order statistics one at a time, so the rows go in oldest first,
    as real responses do, without holding them all.
    """
    u = 0.0
    for left in range(count, 0, -1):
        # The next smallest of `left` uniforms on (u, 1): 1 - V^(1/left), computed stably.
        u += (1.0 - u) * -math.expm1(math.log(1.0 - rng.random()) / left)
        # A survey that is spreading: the density rises towards `end`.
        yield end - timedelta(days=days * (1.0 - u) ** 1.5)


async def insert_demo(
    conn: db.Connection,
    loaded: Loaded,
    count: int,
    *,
    days: float,
    seed: int | None = None,
    on_batch: Callable[[int], None] | None = None,
    batch: int | None = None,
) -> int:
    """Store `count` synthetic responses (source `demo`) spread over the last `days` days,
    with their report sums."""
    rng = Random(seed)
    plan = DemoPlan(loaded.definition, rng.randrange(2**32))
    size = batch or IMPORT_BATCH
    sums: rollup.Sums = {}
    async with conn.transaction(), _Copier(conn) as copier:
        times = demo_times(rng, count, await store.select_clock(conn), days)
        for _ in range(0, count, size):
            # Made in a thread while the previous batch is copied (see import_ndjson).
            data, made, batch_sums = await asyncio.to_thread(plan.batch, rng, times, loaded, size)
            rollup.merge(sums, batch_sums)
            await copier.copy(data, made)
            if on_batch is not None:
                on_batch(made)
        stored = await copier.done()
        await add_sums(conn, loaded, sums)
    await analyze_after_load(conn, stored)
    return stored


# --- routes ------------------------------------------------------------------------------------

P401 = {401: problem(401, "No valid researcher token")}
P403 = {403: problem(403, "The token lacks the scope this needs")}
P413 = {413: problem(413, "Body over 256 MB")}
_EXPORT_DOC = """Every response the filters select, one {what} per response, streamed oldest
first. Filters as the report's: `from`, `to` (UTC dates), `version`, `include_demo` and any
segment item (`industry=Technology`)."""


class ExportController(Controller):
    path = "/api/v1/questionnaires"
    tags = ("exports",)
    security = auth.SECURITY

    @get(
        "/{slug:str}/responses.csv",
        guards=[auth.requires_scope("reports")],
        media_type=MEDIA_TYPES["csv"],
        opt={"skip_compression": True},  # gzip_stream, at a level fit for bulk
        description=_EXPORT_DOC.format(what="row")
        + " Cells a spreadsheet would run as formulas start with `'`.",
        responses=P401 | P403 | P404 | P422 | P503,
    )
    async def export_csv(
        self, state: State, request: Request[Any, Any, Any], slug: FromPath[str]
    ) -> Stream:
        """Export the responses as CSV."""
        return await _stream(state, request, slug, "csv")

    @get(
        "/{slug:str}/responses.jsonl",
        guards=[auth.requires_scope("reports")],
        media_type=MEDIA_TYPES["jsonl"],
        opt={"skip_compression": True},
        description=_EXPORT_DOC.format(what="JSON object per line"),
        responses=P401 | P403 | P404 | P422 | P503,
    )
    async def export_jsonl(
        self, state: State, request: Request[Any, Any, Any], slug: FromPath[str]
    ) -> Stream:
        """Export the responses as JSON Lines."""
        return await _stream(state, request, slug, "jsonl")

    @post(
        "/{slug:str}/responses/import",
        guards=[auth.requires_scope("submit")],
        status_code=200,
        request_max_body_size=IMPORT_MAX_BODY,
        operation_class=ImportOperation,
        responses=P401 | P403 | P404 | P413 | P422 | P503,
    )
    async def import_responses(
        self, state: State, request: Request[Any, Any, Any], db: Db, slug: FromPath[str]
    ) -> ImportSummary:
        """Validate, score and store many submissions at once: NDJSON in, a summary out.

        Every good line is stored (source `import`) in one transaction; each bad one is listed
        with its line number and every problem with it, as the submit API would report them.
        An import that stores nothing (no lines, or none good) is refused as a whole: 422.
        """
        loaded = questionnaire(state, slug)
        summary = await import_ndjson(db, loaded, request.stream(), pool=state.scoring_pool)
        if problems := nothing_stored(summary):
            raise InvalidSubmission(problems)
        return summary
