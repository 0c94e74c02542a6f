"""A questionnaire a section a page (`paging: section`): drafts saved page by page, found again
by a private resume token (only its hash is stored), and submitted from the last page."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from survey.core import tokens
from survey.core.model import Answer, Item, Loaded
from survey.core.submission import Submission
from survey.errors import Problem
from survey.flows import intake
from survey.store import db, drafts


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
    """The unexpired draft a resume token opens; expired drafts are swept now and then."""
    if secrets.randbelow(100) == 0:
        await drafts.delete_expired_drafts(conn)
    return await drafts.select_draft(conn, tokens.token_hash(token))


async def save(
    conn: db.Connection,
    token: str,
    loaded: Loaded,
    answers: dict[str, Answer],
    page: int,
    seed: int | None,
    days: int,
) -> None:
    """Keep the answers so far, to resume at `page`."""
    draft = drafts.Draft(
        slug=loaded.definition.slug,
        version=loaded.version,
        answers=answers,
        page=page,
        item_seed=seed,
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
            conn, loaded, submission, source="web", secret=secret, item_order=item_order
        )
    return receipt
