"""The rate_limit table: requests counted per client key and one-minute window."""

from __future__ import annotations

from survey.store import db


async def count_hit(conn: db.Connection, key: str, window_start: int) -> int:
    """Count one request in the window, atomically; the count so far."""
    hits: int = await conn.fetchval(
        """
        INSERT INTO rate_limit (key, window_start, hits) VALUES ($1, $2, 1)
        ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit.hits + 1
        RETURNING hits
        """,
        key,
        window_start,
    )
    return hits


async def delete_windows_before(conn: db.Connection, window_start: int) -> None:
    """Forget the windows that started before `window_start`."""
    await conn.execute("DELETE FROM rate_limit WHERE window_start < $1", window_start)
