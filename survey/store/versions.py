"""The questionnaire_version table: every served definition, by slug and version."""

from __future__ import annotations

from typing import Any

import msgspec

from survey.core.model import Loaded
from survey.store import db


async def insert_questionnaire_versions(conn: db.Connection, loaded: list[Loaded]) -> None:
    """Record each served version once, so every response can name the definition it answered."""
    await conn.executemany(
        """
        INSERT INTO questionnaire_version (slug, version, title, definition)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (slug, version) DO NOTHING
        """,
        [
            (q.definition.slug, q.version, q.definition.title, msgspec.to_builtins(q.definition))
            for q in loaded
        ],
    )


async def select_definitions(conn: db.Connection, slug: str) -> list[Any]:
    """Every stored version's definition of a questionnaire, as JSON."""
    rows = await conn.fetch(
        "SELECT definition FROM questionnaire_version WHERE slug = $1 ORDER BY first_seen", slug
    )
    return [row["definition"] for row in rows]


async def select_version_definitions(conn: db.Connection, slug: str) -> list[tuple[str, Any]]:
    """Every stored version of a questionnaire with its definition (JSON), oldest first."""
    rows = await conn.fetch(
        """
        SELECT version, definition FROM questionnaire_version
         WHERE slug = $1 ORDER BY first_seen
        """,
        slug,
    )
    return [(row["version"], row["definition"]) for row in rows]
