"""Preregistration: record a lock, and say which one a report or export is made under."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from survey.core import freeze
from survey.core.model import Loaded, Questionnaire
from survey.store import db, freezes, versions


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
        datetime.now(UTC),
    )
    await freezes.insert_freeze(conn, lock)
    return lock


async def freeze_status(
    conn: db.Connection, loaded: Loaded, selected: list[str] | None = None
) -> freeze.FreezeStatus | None:
    """The latest lock, and whether the questionnaire served now, or any of the `selected`
    versions, scores differently from the one frozen."""
    slug = loaded.definition.slug
    lock = await freezes.select_latest_freeze(conn, slug)
    if lock is None:
        return None
    stored: dict[str, Questionnaire | None] = {}
    for version, definition in await versions.select_version_definitions(conn, slug):
        try:
            stored[version] = msgspec.convert(definition, Questionnaire)
        except msgspec.ValidationError:
            stored[version] = None  # written by an older release: cannot be shown unchanged
    locks = await freezes.select_freeze_count(conn, slug)
    return freeze.status(lock, loaded.definition, stored, selected, locks)
