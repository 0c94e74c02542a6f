"""The rollup sums a bulk import computes in Python (survey.core.sums) against PostgreSQL's fold.

Both must give the same sums, key for key: reports add the two together, and a deletion
subtracts a row's contribution with the SQL whichever way it was folded.
"""

from __future__ import annotations

import math
import random
import struct
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest

from survey.core import loader, sums
from survey.core.filters import ReportFilter
from survey.core.model import (
    NA,
    ChoiceItem,
    LikertItem,
    Loaded,
    MultiChoiceItem,
    NumberItem,
    TextItem,
)
from survey.core.sums import ReportShape, shape_of
from survey.core.tokens import token_hash
from survey.flows import ingest
from survey.flows.ingest import add_sums, import_ndjson, insert_demo, scored
from survey.store import responses, rollup, versions

TEAMWORK = Path(__file__).resolve().parents[1] / "data" / "teamwork.yaml"

pytestmark = pytest.mark.anyio

DAY0 = datetime(2025, 3, 1, tzinfo=UTC)
# Floats whose text or rounding is easy to get wrong: exponents, ties at the 4th decimal,
# values a binary rounding would break differently from PostgreSQL's decimal one.
AWKWARD = [
    0.0, -0.0, 1e-07, 1.5e-05, 2.0, 2.5, 100.0, 1e16, 1.2345678901234567e17, 0.12345,
    0.00005, -0.00005, 1.00005, 2.675, 1 / 3, 2 / 3, -1 / 3, 123456.78905, 4.99995,
    0.1 + 0.2, 1e-300, 6.02214076e23, -7.25, 3.0000499999999997,
]  # fmt: skip


def fractional() -> Loaded:
    """The teamwork questionnaire with a segment item that takes fractions, and a "not
    applicable" choice on its scale."""
    text = TEAMWORK.read_text().replace("integer: true", "integer: false")
    text = text.replace(
        "    values: [1, 2, 3, 4, 5, 6]\n",
        "    values: [1, 2, 3, 4, 5, 6]\n    na: Does not apply\n",
    )
    assert "integer: false" in text and "na: Does not apply" in text
    return loader.load(text.encode(), "teamwork-fractional.yaml")


def answers_for(loaded: Loaded, rng: random.Random) -> dict[str, Any]:
    """Stored answers: any valid value of each item, each optional one sometimes left out."""
    q = loaded.definition
    skip = rng.choice([0.0, 0.05, 0.4])
    out: dict[str, Any] = {}
    for item in q.items:
        if not item.required and rng.random() < skip:
            continue
        match item:
            case LikertItem(scale=scale):
                na = q.scales[scale].na is not None and rng.random() < 0.1
                out[item.id] = NA if na else rng.choice(q.scales[scale].points)
            case ChoiceItem(options=options):
                out[item.id] = rng.choice(options)
            case MultiChoiceItem(options=options):
                out[item.id] = rng.sample(options, rng.randint(1, len(options)))
            case NumberItem(integer=True):
                out[item.id] = rng.randint(1, 60)
            case NumberItem():
                # 2 and 2.0 are one value to Python, two texts to PostgreSQL (2 and 2.0).
                out[item.id] = rng.choice([1.5, 2.0, 2, 3.25, 7.0, 7, 12.125, 499.9999, 60.0])
            case TextItem():
                out[item.id] = rng.choice(["Listening first.", "Ask & give.\ttab"])
    return out


def times(rng: random.Random, n: int) -> list[datetime]:
    """Over four days, some a second either side of midnight UTC, some in another zone."""
    east = timezone(timedelta(hours=5, minutes=30))
    out = []
    for _ in range(n):
        at = DAY0 + timedelta(days=rng.randint(0, 3), seconds=rng.choice([-1, 1, 3600, 86399]))
        out.append(at.astimezone(east) if rng.random() < 0.3 else at)
    return out


async def rollup_of(conn: asyncpg.Connection, slug: str) -> dict[tuple[Any, ...], float]:
    rows = await conn.fetch(
        "SELECT version, day, source, clean, key, value FROM report_rollup WHERE slug = $1", slug
    )
    return {(r["version"], r["day"], r["source"], r["clean"], *r["key"]): r["value"] for r in rows}


async def fold_in_sql(conn: asyncpg.Connection, loaded: Loaded) -> dict[tuple[Any, ...], float]:
    """The rollup PostgreSQL folds from the stored rows, from scratch."""
    return await fold_in_sql_with(conn, loaded, shape_of(loaded.definition))


async def fold_in_sql_with(
    conn: asyncpg.Connection, loaded: Loaded, shape: ReportShape
) -> dict[tuple[Any, ...], float]:
    slug = loaded.definition.slug
    await conn.execute("DELETE FROM report_rollup WHERE slug = $1", slug)
    await conn.execute("UPDATE response SET folded = false WHERE slug = $1", slug)
    await rollup.update_report_rollup_all(conn, slug, shape)
    return await rollup_of(conn, slug)


def assert_same_sums(
    python: dict[tuple[Any, ...], float], sql: dict[tuple[Any, ...], float], tol: float = 1e-9
) -> None:
    missing = sorted(map(str, sql.keys() - python.keys()))[:5]
    extra = sorted(map(str, python.keys() - sql.keys()))[:5]
    assert not missing and not extra, f"only in SQL: {missing}; only in Python: {extra}"
    wrong = [
        (key, python[key], sql[key])
        for key in sql
        if not math.isclose(python[key], sql[key], rel_tol=tol, abs_tol=tol)
    ]
    assert not wrong, wrong[:5]


async def store_with_python_sums(
    conn: asyncpg.Connection, loaded: Loaded, others: list[Loaded], n: int, seed: int
) -> dict[bytes, str]:
    """n responses over versions, sources and days, COPYed as folded with their Python sums;
    the result token of each, by its hash."""
    rng = random.Random(seed)
    folder = sums.Folder(shape_of(loaded.definition))
    tokens: dict[bytes, str] = {}
    rows = []
    for at in times(rng, n):
        version = rng.choice([loaded, *others])
        token = f"token-{seed}-{len(rows)}"
        tokens[token_hash(token)] = token
        rows.append(
            scored(
                version,
                answers_for(loaded, rng),
                quote_consent=False,
                source=rng.choice(["import", "demo"]),
                created_at=at,
                token_hash=token_hash(token),
                folder=folder,
            )
        )
    async with conn.transaction():
        await responses.copy_responses(conn, responses.copy_text(rows, folded=True))
        await add_sums(conn, loaded, folder.sums())
    return tokens


async def versions_of(conn: asyncpg.Connection, loaded: Loaded) -> list[Loaded]:
    """The questionnaire, and the same under another version, both recorded."""
    older = msgspec.structs.replace(loaded, version="0123456789ab")
    await versions.insert_questionnaire_versions(conn, [loaded, older])
    return [older]


@pytest.mark.parametrize("which", ["connector", "teamwork", "fractional"])
async def test_python_sums_equal_the_sql_fold(conn, questionnaires, which):
    loaded = fractional() if which == "fractional" else questionnaires[which]
    others = await versions_of(conn, loaded)
    await store_with_python_sums(conn, loaded, others, 400, seed=len(which))
    python = await rollup_of(conn, loaded.definition.slug)
    assert python, "the import added its sums"
    assert await conn.fetchval("SELECT bool_and(folded) FROM response")
    assert_same_sums(python, await fold_in_sql(conn, loaded))


@pytest.mark.parametrize("which", ["connector", "fractional"])
async def test_deleting_rows_folded_in_python_subtracts_what_they_added(
    conn, questionnaires, which
):
    loaded = fractional() if which == "fractional" else questionnaires[which]
    others = await versions_of(conn, loaded)
    tokens = await store_with_python_sums(conn, loaded, others, 300, seed=3)
    for token in list(tokens.values())[::2]:
        assert await responses.delete_response_by_token(conn, token_hash(token))
    after = {k: v for k, v in (await rollup_of(conn, loaded.definition.slug)).items() if v}
    # What remains, folded from scratch; subtraction leaves float crumbs and zero rows.
    remaining = await fold_in_sql(conn, loaded)
    after = {k: v for k, v in after.items() if abs(v) > 1e-6}
    assert_same_sums(after, {k: v for k, v in remaining.items() if abs(v) > 1e-6}, 1e-6)


@pytest.mark.parametrize("nested", [False, True])
async def test_sums_made_with_other_item_lists_leave_their_rows_to_the_next_fold(
    conn, questionnaires, nested
):
    """An import whose item lists differ from the rollup's (a server not yet redeployed)
    adds nothing and marks its own rows to be folded; inside a savepoint, where its rows
    cannot be told apart, every row is."""
    loaded = questionnaires["teamwork"]
    others = await versions_of(conn, loaded)
    slug = loaded.definition.slug
    shape = shape_of(loaded.definition)
    older = msgspec.structs.replace(shape, counted=shape.counted[1:])
    await store_with_python_sums(conn, loaded, others, 30, seed=8)
    before = await fold_in_sql_with(conn, loaded, older)

    if nested:
        async with conn.transaction():
            await store_with_python_sums(conn, loaded, others, 50, seed=9)
    else:
        await store_with_python_sums(conn, loaded, others, 50, seed=9)

    folded = await conn.fetchval("SELECT count(*) FROM response WHERE folded")
    assert folded == (0 if nested else 30)
    assert await rollup_of(conn, slug) == ({} if nested else before)
    stored = await conn.fetchval("SELECT shape FROM report_shape WHERE slug = $1", slug)
    assert msgspec.convert(stored, ReportShape) == older
    # The next report's fold settles it: everything folded with its lists.
    await rollup.update_report_rollup_all(conn, slug, shape)
    assert await conn.fetchval("SELECT count(*) FROM response WHERE NOT folded") == 0
    assert_same_sums(await rollup_of(conn, slug), await fold_in_sql(conn, loaded))


async def test_an_import_leaves_nothing_to_fold_and_the_same_report(conn, questionnaires):
    loaded = questionnaires["connector"]
    await versions.insert_questionnaire_versions(conn, [loaded])
    rng = random.Random(5)
    body = b"".join(
        msgspec.json.encode({"answers": answers_for(loaded, rng), "consent": True}) + b"\n"
        for _ in range(1200)
    )

    async def chunks() -> Any:
        yield body

    summary = await import_ndjson(conn, loaded, chunks(), batch=500)
    assert summary.accepted == 1200
    assert await conn.fetchval("SELECT count(*) FROM response WHERE NOT folded") == 0
    python = await rollup_of(conn, "connector")
    assert sum(v for k, v in python.items() if k[4:] == ("n",)) == 1200
    assert_same_sums(python, await fold_in_sql(conn, loaded))


def _floats(rng: random.Random, n: int) -> list[float]:
    """Awkward floats, random ones of every magnitude, and ties at the fourth decimal."""
    out = list(AWKWARD)
    for _ in range(n):
        out.append(struct.unpack("d", rng.randbytes(8))[0])
        out.append(rng.uniform(-10, 10))
        out.append(rng.randint(-(10**6), 10**6) / 10**5 + 0.00005)
        out.append(round(rng.uniform(0, 100), rng.randint(0, 6)))
    return [x for x in out if math.isfinite(x)]


async def test_rounded_and_printed_as_postgresql_does(conn):
    values = _floats(random.Random(11), 3000)
    rows = await conn.fetch(
        """
        SELECT round(x::numeric, 4)::text AS rounded
          FROM unnest($1::float8[]) WITH ORDINALITY AS u(x, n)
         ORDER BY n
        """,
        values,
    )
    wrong = [
        (x, r["rounded"], sums.rounded_text(x))
        for x, r in zip(values, rows, strict=True)
        if r["rounded"] != sums.rounded_text(x)
    ]
    assert not wrong, wrong[:5]
    # A float as an answer is stored as msgspec's JSON text and printed back from jsonb.
    printed = await conn.fetch(
        "SELECT (a::jsonb #>> '{}') AS p FROM unnest($1::text[]) WITH ORDINALITY AS u(a, n)"
        " ORDER BY n",
        [msgspec.json.encode(x).decode() for x in values],
    )
    wrong = [
        (x, p["p"], sums.value_text(x))
        for x, p in zip(values, printed, strict=True)
        if p["p"] != sums.value_text(x)
    ]
    assert not wrong, wrong[:5]


async def planner_knows_responses(conn: asyncpg.Connection) -> bool:
    stats_rows = await conn.fetchval(
        "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'response'"
    )
    return bool(stats_rows)


async def test_a_large_bulk_load_renews_the_planners_statistics(conn, questionnaires, monkeypatch):
    loaded = questionnaires["connector"]
    await versions.insert_questionnaire_versions(conn, [loaded])
    monkeypatch.setattr(ingest, "ANALYZE_AFTER", 300)
    # Only the load may analyze: autovacuum would after 50 rows and 10%, within a minute.
    await conn.execute("ALTER TABLE response SET (autovacuum_enabled = false)")
    await insert_demo(conn, loaded, 299, days=3, seed=1)
    assert not await planner_knows_responses(conn)
    await insert_demo(conn, loaded, 300, days=3, seed=2)
    assert await planner_knows_responses(conn)


@pytest.mark.parametrize("which", ["connector", "teamwork"])
async def test_segment_score_counts_for_the_norms_equal_python_on_the_stored_rows(
    conn, questionnaires, which
):
    loaded = questionnaires[which]
    q = loaded.definition
    others = await versions_of(conn, loaded)
    await store_with_python_sums(conn, loaded, others, 300, seed=7)
    where = ReportFilter(sources=("api", "web", "import", "demo"))
    got = await responses.select_segment_score_counts(
        conn, q.slug, [i.id for i in q.segments], where
    )
    expected: dict = {}
    for row in await conn.fetch("SELECT answers, dimensions, index_score FROM response"):
        for item in q.segments:
            value = sums.value_text(row["answers"].get(item.id))
            if value is None:
                continue
            scores = {None: row["index_score"], **row["dimensions"]}
            for score_id, x in scores.items():
                if x is None:
                    continue
                whole = math.ceil(Decimal(sums.rounded_text(x)))
                counts = expected.setdefault((item.id, value, score_id), {})
                counts[whole] = counts.get(whole, 0) + 1
    assert got == expected and len(got) > 10


async def test_a_rollup_summed_with_an_older_key_table_is_folded_again(conn, questionnaires):
    """After an upgrade that adds keys, the rollup of responses folded before is rebuilt, so
    that the new keys cover every response (and deleting one never takes out what it never
    added)."""
    loaded = questionnaires["connector"]
    slug = loaded.definition.slug
    others = await versions_of(conn, loaded)
    await store_with_python_sums(conn, loaded, others, 120, seed=3)
    current = await rollup_of(conn, slug)
    # As an older release left it: no segment moments, its shape without the edition.
    await conn.execute("DELETE FROM report_rollup WHERE key[1] = 'gd' OR key[4] = 'isq'")
    await conn.execute("UPDATE report_shape SET shape = shape - 'keys'")
    await rollup.update_report_rollup_all(conn, slug, shape_of(loaded.definition))
    assert_same_sums(current, await rollup_of(conn, slug))
