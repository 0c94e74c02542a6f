"""Quality flags as responses arrive, and `recompute` when the rules change."""

from __future__ import annotations

import math
import random
from collections import Counter

import asyncpg
import msgspec
import pytest

from survey.core import quality, scoring, stats
from survey.core.filters import ReportFilter
from survey.core.model import Loaded
from survey.core.submission import Submission
from survey.core.sums import Folder, shape_of
from survey.flows import intake
from survey.flows import quality as flows_quality
from survey.flows.report import load_report
from survey.store import rollup, versions

pytestmark = pytest.mark.anyio

CAREFUL = {
    "rely_on": 5, "hide_mistakes": 2, "ask_help": 4, "guarded": 3,
    "say_disagree": 4, "hard_feedback": 5, "nod_along": 2,
    "keep_promises": 6, "dropped_actions": 1, "flag_early": 4,
}  # fmt: skip


async def send(conn, loaded: Loaded, answers, seconds: float | None) -> intake.Receipt:
    signals = (
        None if seconds is None else quality.Signals(seconds=seconds, signed=True, honeypot=False)
    )
    return await intake.submit(
        conn, loaded, Submission(answers=answers), source="web", secret="s", signals=signals
    )


async def flags_of(conn) -> dict[float | None, list[str]]:
    rows = await conn.fetch("SELECT flags, quality FROM response ORDER BY created_at")
    return {(r["quality"] or {}).get("seconds"): list(r["flags"]) for r in rows}


async def rollup_rows(conn: asyncpg.Connection, slug: str) -> dict[tuple[object, ...], float]:
    rows = await conn.fetch(
        "SELECT version, day, source, clean, key, value FROM report_rollup WHERE slug = $1",
        slug,
    )
    return {
        (r["version"], r["day"], r["source"], r["clean"], *r["key"]): r["value"]
        for r in rows
        if abs(r["value"]) > 1e-9
    }


async def test_flags_are_stored_with_their_measures_and_recomputed_when_rules_change(
    conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["teamwork"]
    await versions.insert_questionnaire_versions(conn, [loaded])
    await send(conn, loaded, CAREFUL, 30.0)
    await send(conn, loaded, {**CAREFUL, "flag_early": 3}, 55.0)
    await send(conn, loaded, {**CAREFUL, "flag_early": 2}, 12.0)  # under min_seconds: 20
    await send(conn, loaded, {**CAREFUL, "flag_early": 2}, 40.0)  # the same answers again
    straight = {key: 3 for key in CAREFUL}
    await send(conn, loaded, straight, None)  # through the API: no timing
    assert await flags_of(conn) == {
        30.0: [],
        55.0: [],
        12.0: ["too_fast"],
        40.0: ["repeat_answers"],
        None: ["straightlining"],
    }
    stored = await conn.fetchval("SELECT quality FROM response WHERE flags = '{straightlining}'")
    assert stored["longstring"] == 10 and stored["irv"] == 0.0
    clean = ReportFilter(quality="clean")
    before = await load_report(conn, loaded, clean, 1)
    assert before.counts.total == 2
    assert before.quality.left_out == 3
    assert {f.flag: f.count for f in before.quality.flags} == {
        "too_fast": 1,
        "straightlining": 1,
        "repeat_answers": 1,
    }

    # Stricter: 45 seconds at least. The 30- and 40-second responses are too fast now.
    q = loaded.definition
    stricter = msgspec.structs.replace(
        loaded,
        definition=msgspec.structs.replace(
            q, quality=msgspec.structs.replace(q.quality, min_seconds=45)
        ),
    )
    done = await flows_quality.recompute(conn, stricter)
    assert (done.responses, done.changed, done.flagged) == (5, 2, 4)
    assert await flags_of(conn) == {
        30.0: ["too_fast"],
        55.0: [],
        12.0: ["too_fast"],
        40.0: ["too_fast", "repeat_answers"],
        None: ["straightlining"],
    }
    after = await load_report(conn, stricter, clean, 1)
    assert after.counts.total == 1 and after.quality.left_out == 4
    # The sums recompute wrote are the ones a fold from scratch gives.
    written = await rollup_rows(conn, q.slug)
    await conn.execute("DELETE FROM report_rollup")
    await conn.execute("UPDATE response SET folded = false")
    await rollup.update_report_rollup_all(conn, q.slug, shape_of(q))
    folded = await rollup_rows(conn, q.slug)
    assert written.keys() == folded.keys()
    assert all(math.isclose(written[k], folded[k], rel_tol=1e-9) for k in written)


async def test_the_report_of_every_response_is_the_report_without_flags_and_clean_leaves_out(
    conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["teamwork"]
    q = loaded.definition
    await versions.insert_questionnaire_versions(conn, [loaded])
    rng = random.Random(11)
    sent = []
    for n in range(60):
        answers = {key: rng.randint(1, 6) for key in CAREFUL}
        if n % 5 == 0:
            answers = {key: 4 for key in CAREFUL}  # straightlining
        seconds = 5.0 if n % 7 == 0 else 60.0  # under min_seconds: too_fast
        await send(conn, loaded, answers, seconds)
        sent.append(answers)
    rows = await conn.fetch("SELECT answers, flags, created_at FROM response")
    # The report of every response, as it was before flags existed: the same sums, folded
    # without telling clean from flagged.
    folder = Folder(shape_of(q))
    for row in rows:
        answers = row["answers"]
        folder.add(loaded.version, row["created_at"], "web", answers, scoring.score(q, answers))
    unflagged: dict[tuple[str, ...], float] = {}
    for place in folder.sums().values():
        for key, value in place.items():
            unflagged[key] = unflagged.get(key, 0.0) + value
    every = await load_report(conn, loaded, ReportFilter(quality="all"), 1)
    before = stats.build_report(
        loaded, unflagged, where=ReportFilter(), quotes=[], min_cell=1, now=every.generated_at
    )
    assert _same(
        msgspec.to_builtins(every),
        msgspec.to_builtins(before),
        ("quality", "filters", "quotes", "generated_at"),
    )

    clean = await load_report(conn, loaded, ReportFilter(quality="clean"), 1)
    flagged = [r for r in rows if r["flags"]]
    assert clean.counts.total == len(rows) - len(flagged) > 0
    assert clean.quality.left_out == len(flagged) == every.quality.flagged
    by_flag = Counter(f for r in flagged for f in r["flags"])
    assert {f.flag: f.count for f in clean.quality.flags} == dict(by_flag)
    assert {"straightlining", "too_fast"} <= set(by_flag)


def _same(a: object, b: object, strip: tuple[str, ...]) -> bool:
    """Equal, floats to 1e-9, leaving out the keys in `strip` at the top."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = a.keys() - set(strip)
        assert keys == b.keys() - set(strip)
        return all(_same(a[k], b[k], ()) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b)
        return all(_same(x, y, ()) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (a, b)
        return True
    assert a == b, (a, b)
    return True


async def test_the_same_answers_are_a_repeat_from_the_same_browser_or_an_unknown_one(
    conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["teamwork"]
    await versions.insert_questionnaire_versions(conn, [loaded])

    async def flags_for(browser: bytes | None) -> list[str]:
        signals = quality.Signals(seconds=60.0, signed=True, honeypot=False)
        receipt = await intake.submit(
            conn,
            loaded,
            Submission(answers=CAREFUL),
            source="web",
            secret="s",
            signals=signals,
            browser_hash=browser,
        )
        return list(await conn.fetchval("SELECT flags FROM response WHERE id = $1", receipt.id))

    assert await flags_for(b"one") == []
    assert await flags_for(b"two") == []  # another person who answered alike
    assert await flags_for(b"one") == ["repeat_answers", "repeat_browser"]
    assert await flags_for(None) == ["repeat_answers"]  # no browser known: the answers tell
