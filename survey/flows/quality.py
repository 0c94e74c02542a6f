"""Quality flags for responses as they arrive, and for every stored response again
(`survey quality --recompute`) when the rules or the norms have changed."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping

import msgspec

from survey.core import quality
from survey.core.model import Answer, Loaded
from survey.store import db, responses, rollup

# How long a process keeps a questionnaire's norms for the outlier check before reading them
# again: they move slowly, and reading them costs a query on the submit path.
NORMS_SECONDS = 600.0
_norms: dict[tuple[str, str], tuple[float, quality.Norms | None]] = {}


async def norms_for(conn: db.Connection, loaded: Loaded) -> quality.Norms | None:
    """The clean responses' norms for the outlier check; None until there are enough."""
    key = (loaded.definition.slug, loaded.version)
    now = time.monotonic()
    cached = _norms.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    q = loaded.definition
    sums = await rollup.select_pair_sums(conn, q.slug, loaded.version)
    norms = quality.norms_from([d.id for d in q.dimensions], sums)
    if norms is not None and norms.n < q.quality.min_norm:
        norms = None
    _norms[key] = (now + NORMS_SECONDS, norms)
    return norms


def answers_hash(answers: Mapping[str, Answer]) -> bytes:
    """SHA-256 of the answers as stored, keys sorted: the same answers give the same hash."""
    return hashlib.sha256(msgspec.json.encode(dict(answers), order="sorted")).digest()


class Evaluated(msgspec.Struct, frozen=True):
    flags: list[str]
    measures: dict[str, float | int | None] | None
    answers_hash: bytes


async def evaluate(
    conn: db.Connection,
    loaded: Loaded,
    answers: Mapping[str, Answer],
    dimensions: Mapping[str, float | None],
    *,
    signals: quality.Signals | None,
    browser_hash: bytes | None,
    order: list[str] | None,
) -> Evaluated:
    """The flags of a response about to be stored one at a time (web form or API)."""
    q = loaded.definition
    digest = answers_hash(answers)
    same_answers, same_browser = await responses.select_earlier(
        conn, q.slug, digest, browser_hash, q.quality.repeat_hours
    )
    assessed = quality.assess(
        q,
        answers,
        dimensions,
        signals=signals,
        order=order,
        earlier=quality.Earlier(same_answers=same_answers, same_browser=same_browser),
        norms=await norms_for(conn, loaded),
    )
    return Evaluated(assessed.flags, assessed.measures or None, digest)
