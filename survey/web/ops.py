"""The probes an orchestrator asks: is the process alive, is the service ready."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import MediaType, Response, get
from litestar.datastructures import State

from survey.store import db, migrate
from survey.web.errors import RETRY_AFTER, problem_response
from survey.web.http import P503


class Health(msgspec.Struct, frozen=True):
    status: str


@get("/healthz", media_type=MediaType.JSON, tags=["ops"])
async def healthz() -> Health:
    """The process is alive."""
    return Health("ok")


@get("/readyz", tags=["ops"], responses=P503)
async def readyz(state: State) -> Response[Any]:
    """The database is reachable and every migration is applied."""
    async with db.borrowed(state.pool, state.settings.db_timeout) as conn:
        pending = await migrate.pending(conn)
    if pending:
        return problem_response(
            503,
            "Not migrated",
            f"pending migrations: {', '.join(m.name for m in pending)}",
            headers={"Retry-After": RETRY_AFTER},
        )
    return Response(Health("ready"))
