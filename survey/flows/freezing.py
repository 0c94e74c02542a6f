"""Preregistration: record a lock, and say which one a report or export is made under."""

from __future__ import annotations

from datetime import UTC, datetime

from survey.core import freeze
from survey.core.model import Loaded
from survey.store import db, freezes


async def freeze_questionnaire(
    conn: db.Connection, loaded: Loaded, plan: bytes | None = None, plan_name: str | None = None
) -> freeze.Freeze:
    """Record a lock of the questionnaire as served now (and of the plan, when given)."""
    lock = freeze.freeze(
        loaded.definition.slug,
        loaded.version,
        loaded.definition,
        plan,
        plan_name,
        datetime.now(UTC).replace(microsecond=0),
    )
    await freezes.insert_freeze(conn, lock)
    return lock


async def freeze_status(conn: db.Connection, loaded: Loaded) -> freeze.FreezeStatus | None:
    """The latest lock, and whether the questionnaire served now scores as the one frozen."""
    lock = await freezes.select_latest_freeze(conn, loaded.definition.slug)
    return freeze.status(lock, loaded.definition) if lock is not None else None
