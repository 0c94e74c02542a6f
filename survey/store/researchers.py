"""The researcher_token table: tokens by hash, never the token itself."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import asyncpg
import msgspec

from survey.errors import TokenExists
from survey.store import db


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


async def insert_token(
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


async def select_token_by_hash(conn: db.Connection, token_hash: bytes) -> ResearcherToken | None:
    """The token with this hash, unless it is revoked."""
    return await _select_live(conn, "token_hash", token_hash)


async def select_token_by_id(conn: db.Connection, token_id: uuid.UUID) -> ResearcherToken | None:
    """The token with this id, unless it is revoked (a session names its token by id)."""
    return await _select_live(conn, "id", token_id)


async def _select_live(
    conn: db.Connection, column: Literal["id", "token_hash"], value: object
) -> ResearcherToken | None:
    row = await conn.fetchrow(
        f"""
        SELECT {_TOKEN_COLUMNS}
          FROM researcher_token
         WHERE {column} = $1 AND revoked_at IS NULL
        """,
        value,
    )
    return _token(row) if row is not None else None


async def select_tokens(conn: db.Connection) -> list[ResearcherToken]:
    """Every token, revoked ones too, oldest first."""
    rows = await conn.fetch(
        f"SELECT {_TOKEN_COLUMNS} FROM researcher_token ORDER BY created_at, name"
    )
    return [_token(row) for row in rows]


async def update_token_used(conn: db.Connection, token_id: uuid.UUID) -> None:
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


async def update_token_revoked(conn: db.Connection, name: str) -> bool:
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
