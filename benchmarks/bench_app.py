"""The real app plus the floor endpoint, served side by side by the same server and database.

The floor decodes the body and INSERTs the raw JSON in one statement: what any submit
endpoint must at least do. The submit benchmark compares the real endpoint against it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, Request, post

from survey.app import app_from_env
from survey.web.http import Db


@post("/bench/floor", status_code=201, opt={"skip_compression": True})  # as submit
async def floor(request: Request[Any, Any, Any], db: Db) -> dict[str, bool]:
    body = await request.body()
    msgspec.json.decode(body)
    await db.execute("INSERT INTO bench_floor (body) VALUES ($1::text::jsonb)", body.decode())
    return {"ok": True}


def create() -> Litestar:
    app = app_from_env()
    app.register(floor)
    return app
