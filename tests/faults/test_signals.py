"""`survey serve` killed or stopped under load: no acknowledged response is lost, and a SIGTERM
lets the requests already in the server finish before the process exits."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import asyncpg
import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_kill_9_under_load_loses_no_acknowledged_response(
    fresh_database, serve, make_load, response_ids
):
    service = serve(fresh_database)
    await service.wait_ready()
    load = make_load([service.base], concurrency=16)
    async with load.running():
        await load.until(lambda: load.count(201) >= 100, 30, "201s before the kill")
        service.signal(signal.SIGKILL)  # the supervisor and its workers, mid-request
        assert await asyncio.to_thread(service.wait, 10) == -signal.SIGKILL
        killed = len(load.outcomes)
        await load.until(lambda: load.count(None, killed) >= 16, 10, "refusals after the kill")

    assert {o.status for o in load.outcomes} <= {201, None}
    acknowledged = {uuid.UUID(i) for i in load.acknowledged_ids().values()}
    assert acknowledged <= set(await response_ids(fresh_database))

    # A new server on the same database; the submissions cut off are sent again with their
    # keys, and then there is exactly one response per key, the one its 201 named.
    again = serve(fresh_database)
    await again.wait_ready()
    await load.settle(again.base)
    stored = await response_ids(fresh_database)
    assert len(stored) == len(load.acknowledged_ids())
    assert set(stored) == {uuid.UUID(i) for i in load.acknowledged_ids().values()}


async def until(predicate, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out after {within} s waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("to", ["supervisor", "group"])
async def test_sigterm_lets_every_request_in_flight_finish_then_exits_0(
    to, fresh_database, serve, make_load, response_ids
):
    """SIGTERM to the supervisor is what `docker stop` sends; to the whole group, systemd."""
    service = serve(fresh_database)
    await service.wait_ready()
    in_flight = 10  # at most the pool of one worker: none waits for a connection
    load = make_load([service.base], concurrency=in_flight)
    admin = await asyncpg.connect(fresh_database)
    # Watched from a connection of its own: a transaction sees one snapshot of pg_stat_activity.
    watch = await asyncpg.connect(fresh_database)
    try:
        # Submissions block on this lock inside their INSERT, so they are surely in the server,
        # each mid-request, when the signal comes.
        lock = admin.transaction()
        await lock.start()
        await admin.execute("LOCK TABLE response IN SHARE MODE")
        async with httpx.AsyncClient(timeout=60) as client:
            sent = [
                asyncio.create_task(load.send(client, service.base, f"term-{n}"))
                for n in range(in_flight)
            ]

            async def all_waiting() -> bool:
                waiting = await watch.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                return bool(waiting == in_flight)

            await until(all_waiting, 15, "every submission to wait on the lock")
            service.signal(signal.SIGTERM, group=to == "group")

            async def shutting_down() -> bool:
                return service.output().count("Shutting down") == 2

            await until(shutting_down, 15, "both workers to begin shutting down")
            await asyncio.sleep(0.5)
            assert service.wait(0) is None, "the server must wait for its requests"
            await lock.rollback()
            outcomes = await asyncio.gather(*sent)
    finally:
        await admin.close()
        await watch.close()

    assert [o.status for o in outcomes] == [201] * in_flight, [o.error for o in outcomes]
    assert service.wait(30) == 0
    stored = await response_ids(fresh_database)
    assert set(stored) == {uuid.UUID(i) for i in load.acknowledged_ids().values()}
    assert len(stored) == in_flight
