"""Two `survey serve` processes on one PostgreSQL, started together on a database never migrated:
both come up, each migration is applied once, and they share the rate limit and the data."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from survey.flows.researchers import create_token
from survey.store import migrate

pytestmark = pytest.mark.anyio

LIMIT = 100  # submissions per client per minute, across both processes


def assert_same(a: Any, b: Any, path: str = "$") -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{n}]")
    else:
        assert a == b, path


async def test_two_processes_migrate_once_share_the_rate_limit_and_agree_on_the_report(
    fresh_database, serve, make_load, response_ids
):
    # Started at the same moment: both try to migrate the empty database at once.
    one = serve(fresh_database, SURVEY_RATE_LIMIT=str(LIMIT))
    two = serve(fresh_database, SURVEY_RATE_LIMIT=str(LIMIT))
    await asyncio.gather(one.wait_ready(), two.wait_ready())

    conn = await asyncpg.connect(fresh_database)
    try:
        ledger = Counter(r["name"] for r in await conn.fetch("SELECT name FROM schema_migration"))
        assert ledger == Counter(m.name for m in migrate.available())
        _, token = await create_token(conn, "faults", ["reports"])
    finally:
        await conn.close()

    # The limiter counts per one-minute window: start where the whole burst fits in one.
    into_window = time.time() % 60
    if into_window > 45:
        await asyncio.sleep(60 - into_window + 0.5)
    load = make_load([one.base, two.base], concurrency=16)
    outcomes = await load.burst(3 * LIMIT)

    statuses = Counter(o.status for o in outcomes)
    assert statuses == {201: LIMIT, 429: 2 * LIMIT}, [o.error for o in outcomes if o.error][:3]
    assert all(o.retry_after and o.retry_after.isdigit() for o in outcomes if o.status == 429)
    by_process = Counter(o.base for o in outcomes if o.status == 201)
    assert by_process[one.base] > 0 and by_process[two.base] > 0, by_process
    stored = await response_ids(fresh_database)
    assert len(stored) == LIMIT
    assert set(stored) == {uuid.UUID(i) for i in load.acknowledged_ids().values()}

    # Both fold the new responses into the report sums at once; both must give one report.
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        reports = await asyncio.gather(
            *(
                client.get(f"{base}/api/v1/questionnaires/connector/report")
                for base in (one.base, two.base)
            )
        )
    assert [r.status_code for r in reports] == [200, 200]
    first, second = (r.json() for r in reports)
    first.pop("generated_at"), second.pop("generated_at")
    # One report: the same keys, counts and texts exactly; the statistics to the last few bits,
    # since a process that read rows before the other folded them summed the same numbers in
    # another grouping (floating-point sums differ there in the 16th digit).
    assert_same(first, second)
    assert first["counts"]["total"] == LIMIT
