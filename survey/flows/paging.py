"""A questionnaire a section a page (`paging: section`): drafts saved page by page, found again
by a private resume token (only its hash is stored), and submitted from the last page."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Mapping

import asyncpg

from survey.core import quality, tokens
from survey.core.model import Answer, Item, Loaded
from survey.core.submission import Submission
from survey.errors import Problem
from survey.flows import intake
from survey.store import db, drafts

log = logging.getLogger("survey")


def new_token() -> str:
    """A resume token: 192 random bits, like a result token."""
    return secrets.token_urlsafe(24)


def merged(
    saved: Mapping[str, Answer], items: list[Item], page: Mapping[str, Answer]
) -> dict[str, Answer]:
    """The answers so far with this page's taken from the page as sent (blank ones dropped)."""
    ids = {item.id for item in items}
    out = {k: v for k, v in saved.items() if k not in ids}
    out.update({k: v for k, v in page.items() if k in ids and v not in (None, "", [])})
    return out


class DraftGone(Exception):
    """The draft was erased meanwhile: its answers were sent (the last page sent twice)."""


def without(answers: Mapping[str, Answer], problems: list[Problem]) -> dict[str, Answer]:
    """The answers less those a problem names (`answers.<id>`)."""
    bad = {p.field.removeprefix("answers.") for p in problems}
    return {k: v for k, v in answers.items() if k not in bad}


async def find(conn: db.Connection, token: str) -> drafts.Draft | None:
    """The unexpired draft a resume token opens (an expired one is never shown, swept or not)."""
    return await drafts.select_draft(conn, tokens.token_hash(token))


async def discard(conn: db.Connection, token: str) -> bool:
    """Erase a draft at its respondent's request; whether there was one."""
    return await drafts.delete_draft(conn, tokens.token_hash(token))


SWEEP_SECONDS = 3600.0  # how often each server process erases expired drafts


async def sweep_forever(pool: asyncpg.Pool, every: float = SWEEP_SECONDS) -> None:
    """Erase expired drafts now and then every `every` seconds, so answers never outlive
    SURVEY_DRAFT_DAYS by more than that. A database that cannot be reached is tried again at
    the next round; the sweep never stops the server."""
    while True:
        try:
            async with pool.acquire() as conn:
                swept = await drafts.delete_expired_drafts(conn)
            if swept:
                log.info("swept %d expired drafts", swept)
        except db.UNAVAILABLE as exc:
            log.warning("sweeping expired drafts failed, trying again later: %s", exc)
        await asyncio.sleep(every)


async def save(
    conn: db.Connection,
    token: str,
    loaded: Loaded,
    answers: dict[str, Answer],
    page: int,
    seed: int | None,
    days: int,
    signals: quality.Signals | None = None,
    retake_of: uuid.UUID | None = None,
    channel: str | None = None,
) -> None:
    """Keep the answers so far, to resume at `page`, and how the pages so far were filled in
    (and, from the first save, the earlier response a retake was started from)."""
    draft = drafts.Draft(
        slug=loaded.definition.slug,
        version=loaded.version,
        answers=answers,
        page=page,
        item_seed=seed,
        seconds=(signals.seconds or 0.0) if signals else 0.0,
        unsigned=not signals.signed if signals else False,
        honeypot=signals.honeypot if signals else False,
        retake_of=retake_of,
        channel=channel,
    )
    await drafts.upsert_draft(conn, tokens.token_hash(token), draft, days)


async def finish(
    conn: db.Connection,
    token: str | None,
    loaded: Loaded,
    submission: Submission,
    *,
    secret: str,
    item_order: list[str] | None,
    signals: quality.Signals | None = None,
    browser_hash: bytes | None = None,
    retake_of: uuid.UUID | None = None,
    channel: str | None = None,
) -> intake.Receipt:
    """Submit the whole response from the last page and erase its draft, in one transaction;
    raises InvalidSubmission as intake.submit does (the draft then stays), and DraftGone when
    the draft was erased meanwhile, so the same answers are never stored twice."""
    async with conn.transaction():
        # Erased first: of two requests sending the last page at once, the second waits on the
        # row's lock, then finds nothing to erase and stores nothing.
        if token is not None and not await drafts.delete_draft(conn, tokens.token_hash(token)):
            raise DraftGone
        receipt = await intake.submit(
            conn,
            loaded,
            submission,
            source="web",
            secret=secret,
            item_order=item_order,
            signals=signals,
            browser_hash=browser_hash,
            retake_of=retake_of,
            channel=channel,
        )
    return receipt
