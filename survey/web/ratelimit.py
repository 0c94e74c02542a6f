"""Per-client rate limits on submissions and researcher logins, shared by every worker.

A fixed one-minute window per client, counted atomically where all workers see it: in
PostgreSQL (one upsert a throttled request) or in Redis when SURVEY_REDIS_URL is set. The
client is known by a keyed hash of its address, so no IP address is ever written down.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import time
from collections.abc import Callable
from typing import Protocol

import asyncpg
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from survey.config import Settings
from survey.store import limits

WINDOW = 60


class Counter(Protocol):
    async def hit(self, key: str, window_start: int) -> int:
        """Count one request in the window; return the count so far."""
        ...


class PostgresCounter:
    """Counts in the rate_limit table; old windows are swept now and then."""

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool

    async def hit(self, key: str, window_start: int) -> int:
        async with self._pool().acquire() as conn:
            hits = await limits.count_hit(conn, key, window_start)
            if random.random() < 0.01:
                await limits.delete_windows_before(conn, window_start - WINDOW)
            return hits


class RedisCounter:
    """INCR with an expiry: atomic across every worker and replica that shares the Redis."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis  # only needed when SURVEY_REDIS_URL is set

        self._redis = Redis.from_url(url)

    async def hit(self, key: str, window_start: int) -> int:
        name = f"survey:rate:{key}:{window_start}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, 2 * WINDOW)
            hits, _ = await pipe.execute()
        return int(hits)


def client_key(secret: str, address: str) -> str:
    """A keyed hash of the client address: stable for a window, useless to anyone else."""
    return hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


def throttled(method: str, path: str) -> bool:
    """Submissions (API and form, each page of a multi-page one), bulk imports and logins."""
    if method != "POST":
        return False
    return path.endswith(("/responses", "/responses/import")) or path.startswith(
        ("/q/", "/d/", "/reports")
    )


class RateLimitMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, counter: Counter, limit: int, secret: str) -> None:
        self.counter = counter
        self.limit = limit
        self.secret = secret

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] == ScopeType.HTTP and throttled(scope["method"], scope["path"]):
            now = time.time()
            window_start = int(now // WINDOW * WINDOW)
            client = scope.get("client") or ("unknown", 0)
            hits = await self.counter.hit(client_key(self.secret, client[0]), window_start)
            if hits > self.limit:
                retry = max(1, math.ceil(window_start + WINDOW - now))
                raise TooManyRequestsException(
                    detail=f"more than {self.limit} requests a minute; retry in {retry} s",
                    headers={"Retry-After": str(retry)},
                )
        await next_app(scope, receive, send)


def middleware(settings: Settings, pool: Callable[[], asyncpg.Pool]) -> RateLimitMiddleware | None:
    """The limiter the settings ask for, or None when SURVEY_RATE_LIMIT is 0."""
    if not settings.rate_limit:
        return None
    counter: Counter = (
        RedisCounter(settings.redis_url) if settings.redis_url else PostgresCounter(pool)
    )
    return RateLimitMiddleware(counter, settings.rate_limit, settings.secret or "")
