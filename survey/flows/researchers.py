"""Researcher tokens: making one (the CLI's `survey token create`)."""

from __future__ import annotations

from survey.core import tokens
from survey.store import db, researchers


async def create_token(
    conn: db.Connection, name: str, scopes: list[str]
) -> tuple[researchers.ResearcherToken, str]:
    """A new token: the stored row and the token itself, which nothing can show again."""
    token = tokens.new_researcher_token()
    row = await researchers.insert_token(conn, name, tokens.token_hash(token), scopes)
    return row, token
