"""Quality flags for responses as they arrive, and for every stored response again
(`survey quality --recompute`) when the rules or the norms have changed."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Mapping

import msgspec

from survey.core import quality
from survey.core.model import Answer, Loaded, Profile, Questionnaire, Score
from survey.core.sums import Folder, rows_of, shape_of
from survey.store import db, responses, rollup, versions

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
    sums = await rollup.select_clean_sums(conn, q.slug, loaded.version, ["c"])
    norms = _usable(quality.norms_from([d.id for d in q.dimensions], sums), q.quality.min_norm)
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


class Recomputed(msgspec.Struct, frozen=True, kw_only=True):
    """What `survey quality --recompute` did to one questionnaire's responses."""

    slug: str
    responses: int
    changed: int  # responses whose flags changed
    flagged: int  # responses with a flag now
    by_flag: dict[str, int]


RECOMPUTE_BATCH = 5_000


async def recompute(conn: db.Connection, loaded: Loaded) -> Recomputed:
    """Flag every stored response to `loaded`'s questionnaire again with its current rules
    and norms, and rebuild the report sums to follow, in one transaction.

    Each response is judged against its own version's items and the current `quality` block.
    What a stored response cannot show again keeps its flag: `unsigned` and `honeypot` were
    seen on the form, and are not stored otherwise. The rollup's lock is held throughout, so
    deletions wait until it is done (reports read the sums as they were before).
    """
    q = loaded.definition
    rules = q.quality
    shape = shape_of(q)
    folder = Folder(shape)
    changes: list[tuple[object, list[str], bytes | None]] = []
    unfolded: list[object] = []
    by_flag: Counter[str] = Counter()
    total = flagged = 0
    async with conn.transaction():
        await rollup.lock(conn, q.slug)
        definitions = {
            version: msgspec.structs.replace(
                msgspec.convert(definition, Questionnaire), quality=rules
            )
            for version, definition in await versions.select_version_definitions(conn, q.slug)
        }
        norms = {
            version: _usable(
                quality.norms_from(
                    [d.id for d in definition.dimensions],
                    await rollup.select_clean_sums(conn, q.slug, version, ["c"]),
                ),
                rules.min_norm,
            )
            for version, definition in definitions.items()
        }
        async for rows in responses.select_for_quality(
            conn, q.slug, rules.repeat_hours, RECOMPUTE_BATCH
        ):
            for row in rows:
                definition = definitions[row["version"]]
                kept = [f for f in row["flags"] if f in STICKY]
                measures = row["quality"] or {}
                signals = None
                if "seconds" in measures:
                    signals = quality.Signals(
                        seconds=measures["seconds"],
                        signed="unsigned" not in kept,
                        honeypot="honeypot" in kept,
                    )
                assessed = quality.assess(
                    definition,
                    row["answers"],
                    row["dimensions"],
                    signals=signals,
                    order=row["item_order"],
                    earlier=quality.Earlier(
                        same_answers=row["same_answers"], same_browser=row["same_browser"]
                    ),
                    norms=norms[row["version"]],
                )
                flags = list(dict.fromkeys([*kept, *assessed.flags]))
                if "retake" in kept:
                    flags = quality.as_retake(flags)
                if flags != list(row["flags"]) or (assessed.measures or None) != row["quality"]:
                    measures_json = (
                        msgspec.json.encode(assessed.measures) if assessed.measures else None
                    )
                    changes.append((row["id"], flags, measures_json))
                if not row["folded"]:
                    unfolded.append(row["id"])
                total += 1
                flagged += bool(flags)
                by_flag.update(flags)
                profile = row["profile"]
                folder.add(
                    row["version"],
                    row["created_at"],
                    row["source"],
                    row["answers"],
                    Score(
                        row["dimensions"],
                        row["index_score"],
                        Profile(id=profile, label=profile) if profile else None,
                    ),
                    flags,
                    row["channel"],
                )
        await responses.update_quality(conn, changes)
        await rollup.replace_report_rollup(conn, q.slug, shape, rows_of(folder.sums()))
        # Those it summed; a response stored meanwhile stays for the next report to fold.
        await responses.mark_folded(conn, unfolded)
    return Recomputed(
        slug=q.slug, responses=total, changed=len(changes), flagged=flagged, by_flag=dict(by_flag)
    )


# Flags decided from what only the form showed, which a stored response keeps; and `retake`,
# which its link decided (kept when the earlier response has gone since: it was a retake).
STICKY = ("unsigned", "honeypot", "retake")


def _usable(norms: quality.Norms | None, min_norm: int) -> quality.Norms | None:
    return norms if norms is not None and norms.n >= min_norm else None
