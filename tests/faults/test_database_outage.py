"""PostgreSQL stopped under load: 503s with Retry-After, never a 500 or a hang, and the service
comes back by itself when PostgreSQL does, without losing an acknowledged response."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import asyncpg
import httpx
import pytest

pytestmark = pytest.mark.anyio

# Past the connection wait, what a busy two-core machine may add to one request.
MARGIN = 5.0


async def wait_for_status(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + 30
    while (response := await client.get(path)).status_code != status:
        assert time.monotonic() < deadline, f"{path} still {response.status_code}, not {status}"
        await asyncio.sleep(0.2)
    return response


async def test_stopping_postgresql_under_load_gives_503s_until_it_is_back_and_loses_nothing(
    private_server, fresh_database, serve, make_load, response_ids
):
    # The rate limiter stays on (high enough never to trip): its counter is in PostgreSQL too.
    service = serve(fresh_database, SURVEY_RATE_LIMIT="1000000")
    await service.wait_ready()
    load = make_load([service.base], concurrency=16)
    async with httpx.AsyncClient(base_url=service.base, timeout=30) as ops, load.running():
        await load.until(lambda: load.count(201) >= 50, 30, "201s before the outage")

        await asyncio.to_thread(private_server.stop, "immediate")
        down = len(load.outcomes)
        await load.until(lambda: load.count(503, down) >= 40, 30, "503s while PostgreSQL is down")
        not_ready = await ops.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.headers["retry-after"].isdigit()

        await asyncio.to_thread(private_server.start)
        up = len(load.outcomes)
        await load.until(lambda: load.count(201, up) >= 50, 60, "201s after the restart")
        await wait_for_status(ops, "/readyz", 200)
    assert service.wait(0) is None, "the app must ride out the outage, not exit"

    statuses = Counter(o.status for o in load.outcomes)
    others = [o for o in load.outcomes if o.status not in (201, 503)]
    assert not others, (
        f"only 201 or 503, never a 500 or a dropped request: {statuses}, {others[:3]}"
    )
    assert all(o.retry_after and o.retry_after.isdigit() for o in load.outcomes if o.status == 503)
    slowest = max(load.outcomes, key=lambda o: o.seconds)
    assert slowest.seconds < service.db_timeout + MARGIN, f"a request hung: {slowest}"

    # The submissions that got a 503 are sent again with their keys; afterwards the database
    # holds exactly one response per key, each the one its 201 named.
    await load.settle(service.base)
    acknowledged = load.acknowledged_ids()
    stored = await response_ids(fresh_database)
    assert len(stored) == len(set(stored)) == len(acknowledged)
    assert set(stored) == {uuid.UUID(i) for i in acknowledged.values()}
    assert "Exception in ASGI application" not in service.output()


async def test_a_connection_the_server_ends_mid_request_is_a_503_and_the_next_request_works(
    fresh_database, serve, make_load
):
    service = serve(fresh_database)
    await service.wait_ready()
    load = make_load([service.base])
    admin = await asyncpg.connect(fresh_database)
    watch = await asyncpg.connect(fresh_database)  # a transaction sees one pg_stat_activity
    try:
        async with admin.transaction(), httpx.AsyncClient(timeout=30) as client:
            # The submission waits on this lock inside its INSERT; then its backend is ended,
            # as a failover or pg_terminate_backend would.
            await admin.execute("LOCK TABLE response IN SHARE MODE")
            sent = asyncio.create_task(load.send(client, service.base, "ended"))
            deadline = time.monotonic() + 15
            while not (
                pid := await watch.fetchval(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ):
                assert time.monotonic() < deadline, "the submission never reached its INSERT"
                await asyncio.sleep(0.05)
            assert await watch.fetchval("SELECT pg_terminate_backend($1)", pid)
            ended = await sent
        assert ended.status == 503, ended.error
        assert ended.retry_after and ended.retry_after.isdigit()
        async with httpx.AsyncClient(timeout=30) as client:
            assert (await load.send(client, service.base, "ended")).status == 201
        assert await watch.fetchval("SELECT count(*) FROM response") == 1
    finally:
        await admin.close()
        await watch.close()
