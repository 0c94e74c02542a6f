"""Responses in bulk: the NDJSON import, and demo data.

The import validates and scores every line with the pure core, as a single submission would
be, and stores the good ones with COPY, a batch at a time, with their report sums. Demo
respondents (survey.core.demo) are scored and stored the same way.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from random import Random
from typing import Any, NamedTuple

import asyncpg
import msgspec
from uuid_utils.compat import uuid7

from survey.core import display, quality, scoring, submission
from survey.core.demo import DemoPlan, demo_times
from survey.core.model import Answer, Loaded
from survey.core.sums import Folder, SumsByPlace, merge, rows_of, shape_of
from survey.errors import InvalidSubmission, MalformedBody, Problem
from survey.store import db, responses, rollup, versions

log = logging.getLogger("survey")

IMPORT_BATCH = 5_000
MAX_LINE = 1024 * 1024  # one line is one submission: the submit API's body limit
MAX_LISTED = 10_000  # rejected lines listed in an import summary; all are counted
ANALYZE_AFTER = 10_000  # rows stored in bulk after which the planner's statistics are renewed
POOL_AFTER = 2  # batches of an import scored in a thread before the scoring pool takes over

_encode = msgspec.json.Encoder().encode


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
    folder: Folder | None = None,
) -> responses.CopiedResponse:
    """Score normalised answers into a row to COPY, its report sums gathered in `folder`.

    Nobody is handed a token for such a row (a bulk import or demo data has no one to give it
    to), but every response needs an unguessable result key: `token_hash`, 32 random bytes,
    drawn here when not given. A hash nobody has the token of is as unguessable as a random
    one, and a link to it cannot be made.
    """
    q = loaded.definition
    result = scoring.score(q, answers)
    # Flagged on what a line of answers shows: no timing, no browser, no norms at hand.
    checked = quality.assess(q, answers, result.dimensions)
    if folder is not None:
        folder.add(loaded.version, created_at, source, answers, result, checked.flags)
    return responses.CopiedResponse(
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
        flags=tuple(checked.flags),
        quality=_encode(checked.measures) if checked.measures else None,
    )


def read_submission(
    loaded: Loaded,
    line: bytes,
    *,
    source: str,
    created_at: datetime,
    token_hash: bytes | None = None,
    folder: Folder | None = None,
) -> responses.CopiedResponse | list[Problem]:
    """One NDJSON line, a submission as the submit API takes it: a row to store, or its problems."""
    try:
        sent = submission.decode(line)
    except MalformedBody as exc:
        return [Problem("$", str(exc))]
    except InvalidSubmission as exc:
        return exc.problems
    q = loaded.definition
    problems = scoring.validate(q, sent)
    if problems:
        return problems
    return scored(
        loaded,
        scoring.normalise(q, sent.answers),
        quote_consent=submission.may_quote(q, sent),
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
    folder: Folder | None = None,
) -> tuple[list[responses.CopiedResponse], list[Rejected]]:
    """A batch of numbered NDJSON lines: the rows to store and the lines rejected."""
    rows: list[responses.CopiedResponse] = []
    rejected: list[Rejected] = []
    # The rows' random result keys in one draw, not a system call a line.
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
    sums: SumsByPlace


_SEEN: dict[tuple[str, str], Loaded] = {}


def read_batch(
    loaded: Loaded, lines: list[tuple[int, bytes | None]], created_at: datetime
) -> ReadBatch:
    """read_lines, ready to COPY. Runs in a worker process of the scoring pool."""
    # Each call brings its own copy of the questionnaire; scoring's plan is made once for it.
    loaded = _SEEN.setdefault((loaded.definition.slug, loaded.version), loaded)
    folder = Folder(shape_of(loaded.definition))
    rows, rejected = read_lines(loaded, lines, created_at, folder)
    return ReadBatch(responses.copy_text(rows, folded=True), len(rows), rejected, folder.sums())


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


@contextlib.contextmanager
def scoring_pool(*, wait: bool = True) -> Iterator[ScoringPool | None]:
    """A scoring pool with a worker per core, shut down at the end (waiting for its workers to
    exit, with `wait`); None on a single core, where it cannot help."""
    workers = os.cpu_count() or 1
    pool = ScoringPool(workers) if workers > 1 else None
    try:
        yield pool
    finally:
        if pool is not None:
            pool.shutdown(wait=wait)


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
    totals: SumsByPlace = {}
    listed: list[Rejected] = []
    lines = _batched(lines_of(_without_bom(chunks), MAX_LINE), batch or IMPORT_BATCH)
    in_flight: collections.deque[asyncio.Future[ReadBatch]] = collections.deque()
    ahead = pool.workers if pool is not None else 1  # batches scored at once

    async def copy_oldest() -> None:
        nonlocal rejected_count
        read = await in_flight.popleft()
        rejected_count += len(read.rejected)
        listed.extend(read.rejected[: max(0, MAX_LISTED - len(listed))])
        merge(totals, read.sums)
        await copier.copy(read.copy, read.accepted)

    await versions.insert_questionnaire_versions(conn, [loaded])
    async with conn.transaction(), _Copier(conn) as copier:
        created_at = await responses.select_clock(conn)
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
        await add_sums(conn, loaded, totals)
    await analyze_after_load(conn, accepted)
    return ImportSummary(accepted=accepted, rejected=listed, rejected_count=rejected_count)


async def add_sums(conn: db.Connection, loaded: Loaded, totals: SumsByPlace) -> None:
    """Add the sums of rows this transaction copied as folded to the report rollup."""
    if totals:
        q = loaded.definition
        copied = int(sum(place[("n",)] for place in totals.values()))
        rows = rows_of(totals)
        await rollup.add_to_report_rollup(conn, q.slug, shape_of(q), rows, copied)


async def analyze_after_load(conn: db.Connection, stored: int) -> None:
    """Renew the planner's statistics after a large bulk load; the load stands if it fails."""
    if stored >= ANALYZE_AFTER:
        try:
            await responses.analyze_responses(conn)
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
            await responses.copy_responses(self.conn, data)
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


def demo_batch(
    plan: DemoPlan, rng: Random, times: Iterator[datetime], loaded: Loaded, size: int
) -> ReadBatch:
    """`size` synthetic respondents scored by the core, ready to COPY (folded)."""
    q = loaded.definition
    folder = Folder(shape_of(q))
    rows = []
    # The plan answers every item it can; display conditions then drop what is not shown.
    conditional = display.conditional(q)
    for _, created_at in zip(range(size), times, strict=False):
        answers, quote = plan.respondent(rng)
        if conditional:
            answers = scoring.normalise(q, answers)
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
    return ReadBatch(responses.copy_text(rows, folded=True), len(rows), [], folder.sums())


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
    totals: SumsByPlace = {}
    await versions.insert_questionnaire_versions(conn, [loaded])
    async with conn.transaction(), _Copier(conn) as copier:
        times = demo_times(rng, count, await responses.select_clock(conn), days)
        for _ in range(0, count, size):
            # Made in a thread while the previous batch is copied (see import_ndjson).
            made = await asyncio.to_thread(demo_batch, plan, rng, times, loaded, size)
            merge(totals, made.sums)
            await copier.copy(made.copy, made.accepted)
            if on_batch is not None:
                on_batch(made.accepted)
        stored = await copier.done()
        await add_sums(conn, loaded, totals)
    await analyze_after_load(conn, stored)
    return stored
