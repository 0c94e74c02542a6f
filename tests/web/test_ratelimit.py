"""Rate limits shared by every worker: two app instances on one database count together."""

from __future__ import annotations

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from survey.web.app import create_app

pytestmark = pytest.mark.anyio


def teamwork_body(questionnaires):
    q = questionnaires["teamwork"].definition
    return {"answers": {i.id: max(q.scales[i.scale].points) for i in q.likert_items()}}


async def test_two_workers_share_one_limit_and_store_no_address(settings, questionnaires, conn):
    limited = msgspec.structs.replace(settings, rate_limit=3)
    body = teamwork_body(questionnaires)
    url = "/api/v1/questionnaires/teamwork/responses"
    first, second = create_app(limited, questionnaires), create_app(limited, questionnaires)
    async with AsyncTestClient(app=first) as one, AsyncTestClient(app=second) as two:
        statuses = [
            (await client.post(url, json=body)).status_code for client in (one, two, one, two)
        ]
        assert statuses == [201, 201, 201, 429]
        refused = await one.post(url, json=body)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert refused.json()["status"] == 429
        # Reading is never limited.
        assert (await two.get("/api/v1/questionnaires")).status_code == 200
    keys = [r["key"] for r in await conn.fetch("SELECT key FROM rate_limit")]
    assert keys and all("testclient" not in k and "127.0.0.1" not in k for k in keys)
    assert await conn.fetchval("SELECT count(*) FROM response") == 3


async def test_researcher_logins_are_limited_too(settings, questionnaires):
    limited = msgspec.structs.replace(settings, rate_limit=2)
    async with AsyncTestClient(app=create_app(limited, questionnaires)) as client:
        statuses = [
            (await client.post("/reports", data={"token": "cs_wrong"})).status_code
            for _ in range(3)
        ]
    assert statuses[-1] == 429
    assert all(s != 429 for s in statuses[:-1])
