"""The draft table: the answers so far of a multi-page response, by its resume token's hash."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec

from survey.store import db


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    version: str
    answers: dict[str, Any]
    page: int  # the page to resume at
    item_seed: int | None
    seconds: float = 0.0  # on the pages sent so far (their signed issue times)
    unsigned: bool = False  # a page came back without its signed issue time
    honeypot: bool = False  # a page's hidden field was filled in
    retake_of: uuid.UUID | None = None  # the earlier response a retake was started from
    channel: str | None = None  # the channel the survey link named


async def upsert_draft(
    conn: db.Connection,
    token_hash: bytes,
    draft: Draft,
    days: int,
) -> None:
    """Store a draft, or its new answers and page; it expires `days` after this save (its
    retake_of and channel are the first save's)."""
    await conn.execute(
        """
        INSERT INTO draft (token_hash, slug, version, answers, page, item_seed, expires_at,
                           seconds, unsigned, honeypot, retake_of, channel)
        VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(days => $7), $8, $9, $10,
                -- Kept from being deleted until this statement's foreign key check; gone
                -- already, the draft is an ordinary one.
                (SELECT id FROM response WHERE id = $11 FOR KEY SHARE), $12)
        ON CONFLICT (token_hash) DO UPDATE
           SET answers = excluded.answers, page = excluded.page,
               expires_at = excluded.expires_at, seconds = excluded.seconds,
               unsigned = excluded.unsigned, honeypot = excluded.honeypot
        """,
        token_hash,
        draft.slug,
        draft.version,
        draft.answers,
        draft.page,
        draft.item_seed,
        days,
        draft.seconds,
        draft.unsigned,
        draft.honeypot,
        draft.retake_of,
        draft.channel,
    )


async def select_draft(conn: db.Connection, token_hash: bytes) -> Draft | None:
    """The unexpired draft with this token hash."""
    row = await conn.fetchrow(
        """
        SELECT slug, version, answers, page, item_seed, seconds, unsigned, honeypot, retake_of,
               channel
          FROM draft
         WHERE token_hash = $1 AND expires_at > now()
        """,
        token_hash,
    )
    return _draft(row) if row is not None else None


async def delete_draft(conn: db.Connection, token_hash: bytes) -> bool:
    """Erase a draft; whether there was one."""
    status = await conn.execute("DELETE FROM draft WHERE token_hash = $1", token_hash)
    return status != "DELETE 0"


async def delete_expired_drafts(conn: db.Connection) -> int:
    """Erase every expired draft; how many."""
    status = await conn.execute("DELETE FROM draft WHERE expires_at <= now()")
    return int(status.split()[-1])


def _draft(row: asyncpg.Record) -> Draft:
    return Draft(**dict(row))
