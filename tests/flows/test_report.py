"""The aggregate report against numpy on the same responses, folded or not.

Responses go in through intake.submit; the report comes out of load_report. Every
number is then computed again here from the stored rows, with numpy and nothing from
survey.core.stats: reliability from the raw answers of the complete cases, distributions from the
stored scores, everything else by counting.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio.lowlevel
import asyncpg
import msgspec
import numpy as np
import pytest
import yaml

from survey.core import loader, stats
from survey.core.filters import ReportFilter, filter_of
from survey.core.model import (
    ChoiceItem,
    LikertItem,
    Loaded,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    TextItem,
)
from survey.core.submission import Submission
from survey.core.sums import ReportShape, shape_of
from survey.core.tokens import token_hash
from survey.flows import intake
from survey.flows.report import load_report
from survey.store import db, migrate, responses, rollup
from survey.store.versions import insert_questionnaire_versions

pytestmark = pytest.mark.anyio

SECRET = "test-secret-not-for-production"
MIN_CELL = 5
SCORE_TOL = 1e-3  # scores are summed rounded to 4 decimals: means and medians move by ≤ 5e-5
EXACT_TOL = 1e-9  # sums of integer answers are exact in float8
SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(1)>"
DAY0 = date(2025, 3, 1)
TEAMWORK_YAML = (Path(__file__).resolve().parents[1] / "data" / "teamwork.yaml").read_bytes()


# --- responses ---------------------------------------------------------------------------------


def simulate(
    q: Questionnaire, rng: np.random.Generator, n: int, *, skip: float = 0.12
) -> list[Submission]:
    """Plausible answers: a general trait and one per dimension drive every likert item.

    Each optional item is left out with probability `skip`, so that some dimensions go
    unscored and the complete cases for reliability are a proper subset.
    """
    out = []
    for _ in range(n):
        general = rng.normal()
        trait = {d.id: 0.7 * general + 0.7 * rng.normal() for d in q.dimensions}
        answers: dict[str, Any] = {}
        for item in q.items:
            if not item.required and rng.random() < skip:
                continue
            match item:
                case LikertItem(scale=scale, dimension=dim, reverse=reverse):
                    points = q.scales[scale].points
                    low, high = min(points), max(points)
                    z = trait[dim] + 0.8 * rng.normal()
                    keyed = int(np.clip(round((low + high) / 2 + z * (high - low) / 3), low, high))
                    answers[item.id] = low + high - keyed if reverse else keyed
                case ChoiceItem(options=options):
                    # Skewed, so that some segment values fall under min_cell.
                    weights = np.array([0.6**i for i in range(len(options))])
                    answers[item.id] = options[rng.choice(len(options), p=weights / weights.sum())]
                case MultiChoiceItem(options=options):
                    size = int(rng.integers(1, len(options) + 1))
                    picked = rng.choice(len(options), size=size, replace=False)
                    answers[item.id] = [options[i] for i in sorted(picked)]
                case NumberItem():
                    weights = np.array([0.3, 0.3, 0.2, 0.15, 0.04, 0.01])
                    answers[item.id] = int(rng.choice([1, 3, 5, 8, 13, 40], p=weights))
                case TextItem():
                    answers[item.id] = str(rng.choice(["Listening first.", SCRIPT, "Ask & give."]))
        out.append(
            Submission(answers=answers, consent=True, quote_consent=bool(rng.random() < 0.5))
        )
    return out


class Survey:
    """Responses submitted to one questionnaire, and whether each author agreed to be quoted."""

    def __init__(self, conn: asyncpg.Connection, loaded: Loaded) -> None:
        self.conn = conn
        self.loaded = loaded
        self.q = loaded.definition
        self.quotable: dict[uuid.UUID, bool] = {}
        self.tokens: dict[uuid.UUID, str] = {}

    async def submit(
        self,
        submissions: list[Submission],
        *,
        source: str = "api",
        loaded: Loaded | None = None,
    ) -> list[uuid.UUID]:
        ids = []
        for submission in submissions:
            receipt = await intake.submit(
                self.conn, loaded or self.loaded, submission, source=source, secret=SECRET
            )
            self.tokens[receipt.id] = receipt.result_token
            self.quotable[receipt.id] = submission.quote_consent and (
                submission.consent or self.q.consent is None
            )
            ids.append(receipt.id)
        return ids

    async def delete(self, ids: list[uuid.UUID]) -> None:
        for id in ids:
            assert await responses.delete_response_by_token(
                self.conn, token_hash(self.tokens.pop(id))
            )

    async def rows(self) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            """
            SELECT id, version, source, created_at, answers, dimensions, index_score, profile
              FROM response
             WHERE slug = $1
            """,
            self.q.slug,
        )

    async def spread_over_days(self, ids: list[uuid.UUID], rng: np.random.Generator) -> None:
        """Move responses onto ten days, some a minute either side of midnight UTC."""
        times = [
            datetime.combine(DAY0, datetime.min.time(), UTC)
            + timedelta(days=int(rng.integers(0, 10)))
            + timedelta(minutes=float(rng.choice([-1, 1, 600, 1439])))
            for _ in ids
        ]
        await self.conn.executemany(
            "UPDATE response SET created_at = $2 WHERE id = $1", list(zip(ids, times, strict=True))
        )

    async def report(self, params: Mapping[str, str] | None = None) -> stats.Report:
        where = filter_of(self.loaded.definition, params or {})
        return await load_report(self.conn, self.loaded, where, MIN_CELL)


@pytest.fixture
async def versions(conn, questionnaires: dict[str, Loaded]) -> None:
    await insert_questionnaire_versions(conn, list(questionnaires.values()))


async def other_version(conn, loaded: Loaded) -> Loaded:
    """The same questionnaire under another version hash, recorded like a served one."""
    older = msgspec.structs.replace(loaded, version="0123456789ab")
    await insert_questionnaire_versions(conn, [older])
    return older


# --- the independent computation ---------------------------------------------------------------


def answer_text(value: Any) -> str:
    """An answer as PostgreSQL's JSONB prints it (answers are ints, not floats, once stored)."""
    return value if isinstance(value, str) else json_number(value)


def json_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def select(q: Questionnaire, rows: list[asyncpg.Record], params: Mapping[str, str]) -> list[Any]:
    """The rows a report with these query parameters covers, by the report's filter rules."""
    start = date.fromisoformat(params["from"]) if params.get("from") else None
    end = date.fromisoformat(params["to"]) if params.get("to") else None
    demo = params.get("include_demo") in ("true", "1")
    chosen = {k: v for k, v in params.items() if k not in ("from", "to", "version", "include_demo")}
    out = []
    for row in rows:
        day = row["created_at"].astimezone(UTC).date()
        if (start and day < start) or (end and day > end):
            continue
        if params.get("version") and row["version"] != params["version"]:
            continue
        if row["source"] == "demo" and not demo:
            continue
        if all(answered(q, row["answers"], item, value) for item, value in chosen.items()):
            out.append(row)
    return out


def answered(q: Questionnaire, answers: Mapping[str, Any], item: str, value: str) -> bool:
    """Whether the answer to a segment item is the value, compared as numbers for numbers."""
    if item not in answers:
        return False
    if isinstance(q.item(item), NumberItem):
        return bool(answers[item] == float(value))
    return bool(answers[item] == value)


def keyed(q: Questionnaire, item: LikertItem, value: int) -> int:
    points = q.scales[item.scale].points
    return min(points) + max(points) - value if item.reverse else value


def cronbach(x: np.ndarray) -> float | None:
    """α = k/(k−1)·(1 − Σ var_i / var_total), sample variances; rows are responses."""
    n, k = x.shape
    if k < 2 or n < 2:
        return None
    return float(k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1)))


def complete_cases(q: Questionnaire, rows: list[Any], dimension: str) -> np.ndarray:
    items = q.likert_items(dimension)
    return np.array(
        [
            [keyed(q, i, row["answers"][i.id]) for i in items]
            for row in rows
            if all(i.id in row["answers"] for i in items)
        ],
        dtype=float,
    ).reshape(-1, len(items))


def close(got: float | None, expected: float | None, tol: float, what: object) -> None:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        assert got is None, what
    else:
        assert got is not None, what
        assert got == pytest.approx(expected, abs=tol), what


def check_distribution(got: stats.Distribution, values: list[float]) -> None:
    v = np.array(values, dtype=float)
    assert got.n == len(v), got.id
    if len(v) == 0:
        assert (got.mean, got.sd, got.median) == (None, None, None)
        return
    close(got.mean, float(v.mean()), SCORE_TOL, (got.id, "mean"))
    close(got.sd, float(v.std(ddof=1)) if len(v) > 1 else None, SCORE_TOL, (got.id, "sd"))
    close(got.median, float(np.median(v)), SCORE_TOL, (got.id, "median"))
    close(got.min, float(v.min()), SCORE_TOL, (got.id, "min"))
    close(got.max, float(v.max()), SCORE_TOL, (got.id, "max"))
    counts, edges = np.histogram(v, bins=np.arange(0, 101, 5))  # the last bin holds 100
    assert [(b.start, b.end) for b in got.histogram] == list(
        zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True)
    )
    assert [b.count for b in got.histogram] == counts.tolist(), got.id


def check_report(
    report: stats.Report, q: Questionnaire, rows: list[Any], quotable: Mapping[uuid.UUID, bool]
) -> None:
    """Every part of the report against numpy and counting over exactly `rows`."""
    scored = [r for r in rows if r["index_score"] is not None]
    assert report.counts == stats.Counts(len(rows), len(scored), len(rows) - len(scored))
    assert report.versions == sorted({r["version"] for r in rows})

    profiles = Counter(r["profile"] for r in scored)
    assert {p.id: p.count for p in report.profiles} == {p.id: profiles[p.id] for p in q.profiles}
    for p in report.profiles:
        close(p.share, p.count / len(scored) if scored else None, EXACT_TOL, p.id)

    check_distribution(report.index, [r["index_score"] for r in scored])
    assert [d.id for d in report.dimensions] == [d.id for d in q.dimensions]
    for got in report.dimensions:
        check_distribution(
            got, [r["dimensions"][got.id] for r in rows if r["dimensions"].get(got.id) is not None]
        )

    by_id = {i.id: i for i in report.items}
    assert list(by_id) == [i.id for i in q.items if not isinstance(i, TextItem)]
    for item in q.items:
        answered = [r["answers"][item.id] for r in rows if item.id in r["answers"]]
        match item:
            case LikertItem(scale=scale):
                got = by_id[item.id]
                counts = Counter(answered)
                assert [(c.value, c.count) for c in got.counts] == [
                    (str(p), counts[p]) for p in q.scales[scale].points
                ], item.id
                assert got.n == len(answered)
                raw = np.array(answered, dtype=float)
                close(got.mean, float(raw.mean()) if len(raw) else None, EXACT_TOL, item.id)
                keys = np.array([keyed(q, item, a) for a in answered], dtype=float)
                close(got.mean_keyed, float(keys.mean()) if len(keys) else None, EXACT_TOL, item.id)
            case ChoiceItem(options=options):
                counts = Counter(answered)
                assert [(c.value, c.count) for c in by_id[item.id].counts] == [
                    (o, counts[o]) for o in options
                ], item.id
            case MultiChoiceItem(options=options):
                counts = Counter(o for chosen in answered for o in chosen)
                assert [(c.value, c.count) for c in by_id[item.id].counts] == [
                    (o, counts[o]) for o in options
                ], item.id
            case NumberItem():
                counts = Counter(answered)
                got = by_id[item.id]
                assert [(c.value, c.count) for c in got.counts] == [
                    (json_number(v), counts[v]) for v in sorted(counts)
                ], item.id
                close(got.mean, float(np.mean(answered)) if answered else None, EXACT_TOL, item.id)

    assert [r.dimension for r in report.reliability] == [d.id for d in q.dimensions]
    for rel in report.reliability:
        x = complete_cases(q, rows, rel.dimension)
        assert (rel.n, rel.k) == x.shape, rel.dimension
        close(rel.alpha, cronbach(x), EXACT_TOL, (rel.dimension, "alpha"))
        assert [i.id for i in rel.items] == [i.id for i in q.likert_items(rel.dimension)]
        for j, item in enumerate(rel.items):
            rest = x.sum(axis=1) - x[:, j]
            item_rest = (
                float(np.corrcoef(x[:, j], rest)[0, 1])
                if len(x) > 1 and x.shape[1] > 1 and x[:, j].std() > 0 and rest.std() > 0
                else None
            )
            close(item.item_rest, item_rest, EXACT_TOL, (rel.dimension, item.id, "item-rest"))
            close(
                item.alpha_if_dropped,
                cronbach(np.delete(x, j, axis=1)),
                EXACT_TOL,
                (rel.dimension, item.id, "alpha if dropped"),
            )

    dims = [d.id for d in q.dimensions]
    assert report.correlations.dimensions == dims
    for a, first in enumerate(dims):
        for b, second in enumerate(dims):
            both = np.array(
                [
                    (r["dimensions"][first], r["dimensions"][second])
                    for r in rows
                    if r["dimensions"].get(first) is not None
                    and r["dimensions"].get(second) is not None
                ],
                dtype=float,
            ).reshape(-1, 2)
            assert report.correlations.n[a][b] == len(both), (first, second)
            r = float(np.corrcoef(both.T)[0, 1]) if len(both) > 1 else None
            close(report.correlations.r[a][b], r, EXACT_TOL, (first, second))

    assert [s.item for s in report.segments] == [i.id for i in q.segments]
    for seg in report.segments:
        item = q.item(seg.item)
        cells: dict[str, list[Any]] = {}
        for row in rows:
            if seg.item in row["answers"]:
                cells.setdefault(answer_text(row["answers"][seg.item]), []).append(row)
        order = (
            [o for o in item.options if o in cells]
            if isinstance(item, ChoiceItem)
            else sorted(cells, key=float)
        )
        assert [v.value for v in seg.values] == order, seg.item
        for value in seg.values:
            cell = cells[value.value]
            if len(cell) < MIN_CELL:
                assert value == stats.SegmentValue(
                    value=value.value, suppressed=True, n=None, mean_index=None, profiles={}
                )
                continue
            assert not value.suppressed
            assert value.n == len(cell)
            indexes = [r["index_score"] for r in cell if r["index_score"] is not None]
            close(value.mean_index, float(np.mean(indexes)) if indexes else None, 1e-9, value)
            mix = Counter(r["profile"] for r in cell)
            assert value.profiles == {p.id: mix[p.id] for p in q.profiles}

    days = Counter(r["created_at"].astimezone(UTC).date() for r in rows)
    assert [(d.day, d.count) for d in report.timeline] == sorted(days.items())

    texts = {i.id for i in q.items if isinstance(i, TextItem)}
    quotes = Counter(
        (item, row["answers"][item])
        for row in rows
        if quotable[row["id"]]
        for item in texts
        if item in row["answers"]
    )
    assert Counter((quote.item, quote.text) for quote in report.quotes) == quotes
    assert [quote.created_at for quote in report.quotes] == sorted(
        (quote.created_at for quote in report.quotes), reverse=True
    )


async def never_folded_sums(
    conn, slug: str, shape: ReportShape, where: ReportFilter
) -> dict[tuple[str, ...], float]:
    """The sums over the same rows with the rollup thrown away, in a transaction rolled back."""
    tr = conn.transaction()
    await tr.start()
    try:
        await conn.execute("DELETE FROM report_rollup WHERE slug = $1", slug)
        await conn.execute("UPDATE response SET folded = false WHERE slug = $1", slug)
        return await rollup.select_report_sums(conn, slug, shape, where)
    finally:
        await tr.rollback()


def assert_same_sums(got: Mapping[tuple[str, ...], float], expected: Mapping[Any, float]) -> None:
    # Sums of non-integers (index and dimension scores) leave residues near 0 once subtracted.
    keys = {k for k, v in {**got, **expected}.items() if abs(v) > 1e-9}
    for key in keys:
        assert got.get(key, 0.0) == pytest.approx(expected.get(key, 0.0), rel=1e-9, abs=1e-9), key


# --- the report against numpy --------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["connector", "teamwork"])
async def test_the_report_matches_numpy_on_correlated_answers_with_gaps(
    conn, questionnaires, versions, slug
):
    survey = Survey(conn, questionnaires[slug])
    rng = np.random.default_rng(4)
    await survey.submit(simulate(survey.q, rng, 150, skip=0.12 if slug == "connector" else 0.3))
    report = await survey.report()
    rows = await survey.rows()
    check_report(report, survey.q, rows, survey.quotable)

    # The data is what the check needs to mean something: consistent scales, gaps that matter.
    assert all(r.alpha is not None and r.alpha > 0.6 for r in report.reliability)
    assert all(0 < r.n < len(rows) for r in report.reliability)
    if slug == "connector":
        assert 0 < report.counts.incomplete < report.counts.total
    assert any(v.suppressed for s in report.segments for v in s.values)
    assert any(not v.suppressed for s in report.segments for v in s.values)


async def test_reliability_pairs_items_in_code_point_order_whatever_the_collation(
    server_url, questionnaires
):
    """Sums of products are keyed by a pair of item (or dimension) ids in order: SQL and Python
    must put each pair in the same order. Under ICU's root collation `trust_hide` sorts before
    `trust1` and `d_candour` before `d1`; in code points, as Python sorts, after."""
    raw = yaml.safe_load(TEAMWORK_YAML)
    renamed = {"rely_on": "trust1", "hide_mistakes": "trust_hide", "ask_help": "trust_2a"}
    dims = {"trust": "d1", "candour": "d_candour"}
    for section in raw["sections"]:
        for item in section["items"]:
            item["id"] = renamed.get(item["id"], item["id"])
            if "dimension" in item:
                item["dimension"] = dims.get(item["dimension"], item["dimension"])
    for dimension in raw["dimensions"]:
        dimension["id"] = dims.get(dimension["id"], dimension["id"])
    weights = raw["scoring"]["index"]["weights"]
    raw["scoring"]["index"]["weights"] = {dims.get(d, d): w for d, w in weights.items()}
    for when in (p["when"] for p in raw["profiles"] if "when" in p):
        when["dimensions"] = {dims.get(d, d): c for d, c in when.get("dimensions", {}).items()}
    loaded = loader.load(yaml.safe_dump(raw).encode(), "renamed.yaml")
    name = f"survey_icu_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 '
            "LOCALE_PROVIDER icu ICU_LOCALE 'und' ENCODING 'UTF8'"
        )
        icu = True
    except asyncpg.FeatureNotSupportedError:
        # The embedded build has no ICU: the ids still get checked under its own order, and CI's
        # run against the server at TEST_DATABASE_URL (which has ICU) sets the trap.
        await admin.execute(f'CREATE DATABASE "{name}"')
        icu = False
    finally:
        await admin.close()
    try:
        url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
        conn = await db.connect(url)
        try:
            await migrate.migrate(conn)
            # The trap is set: the database's order is not Python's.
            trap = await conn.fetchval("SELECT 'trust_hide' < 'trust1' AND 'd_candour' < 'd1'")
            assert trap or not icu
            await insert_questionnaire_versions(conn, [loaded])
            survey = Survey(conn, loaded)
            await survey.submit(simulate(loaded.definition, np.random.default_rng(7), 60))
            check_report(await survey.report(), survey.q, await survey.rows(), survey.quotable)
        finally:
            await conn.close()
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# --- the rollup stays exact ----------------------------------------------------------------------


async def test_sums_folded_equal_sums_never_folded(conn, questionnaires, versions):
    survey = Survey(conn, questionnaires["connector"])
    shape = shape_of(survey.q)
    where = ReportFilter()
    rng = np.random.default_rng(11)
    await survey.submit(simulate(survey.q, rng, 80))
    unfolded = await rollup.select_report_sums(conn, "connector", shape, where)
    assert await rollup.update_report_rollup(conn, "connector", shape) == 80
    assert await conn.fetchval("SELECT count(*) FROM response WHERE NOT folded") == 0
    folded = await rollup.select_report_sums(conn, "connector", shape, where)
    assert_same_sums(folded, unfolded)

    # Half folded, half not: still the same sums as never folded.
    await survey.submit(simulate(survey.q, rng, 70))
    mixed = await rollup.select_report_sums(conn, "connector", shape, where)
    assert_same_sums(mixed, await never_folded_sums(conn, "connector", shape, where))
    assert await rollup.update_report_rollup(conn, "connector", shape) == 70
    assert await rollup.update_report_rollup(conn, "connector", shape) == 0
    assert_same_sums(
        await rollup.select_report_sums(conn, "connector", shape, where),
        await never_folded_sums(conn, "connector", shape, where),
    )
    check_report(await survey.report(), survey.q, await survey.rows(), survey.quotable)


@pytest.mark.parametrize("slug", ["connector", "teamwork"])
async def test_deleting_folded_and_unfolded_responses_leaves_the_report_of_what_remains(
    conn, questionnaires, versions, slug
):
    survey = Survey(conn, questionnaires[slug])
    shape = shape_of(survey.q)
    rng = np.random.default_rng(12)
    early = await survey.submit(simulate(survey.q, rng, 100))
    await survey.report()  # folds the first hundred
    late = await survey.submit(simulate(survey.q, rng, 50))
    await survey.delete(early[::5] + late[::5])  # 20 folded, 10 not
    assert await conn.fetchval("SELECT count(*) FROM response") == 120

    check_report(await survey.report(), survey.q, await survey.rows(), survey.quotable)
    where = ReportFilter()
    assert_same_sums(
        await rollup.select_report_sums(conn, slug, shape, where),
        await never_folded_sums(conn, slug, shape, where),
    )
    # Deleting everything leaves nothing behind that a report would show.
    await survey.delete(list(survey.tokens))
    empty = await survey.report()
    assert empty.counts == stats.Counts(0, 0, 0)
    assert empty.versions == []
    assert empty.timeline == []
    assert all(r.n == 0 and r.alpha is None for r in empty.reliability)
    assert all(v.n == 0 for s in empty.segments for v in s.values)
    # Only the sums of fractional scores keep a rounding residue.
    left = await rollup.select_report_sums(conn, slug, shape, where)
    assert all(k[0] in ("c", "g", "gd") and abs(v) < 1e-6 for k, v in left.items()), left


FILTERS = {
    "connector": [
        {"industry": "Technology"},
        {"industry": "Technology", "main_platform": "LinkedIn"},
        {"years_experience": "5.0"},
        {"version": "0123456789ab"},
        {"from": "2025-03-03"},
        {"to": "2025-03-04"},
        {"from": "2025-03-03", "to": "2025-03-07"},
        {"from": "2025-03-05", "to": "2025-03-05"},
        {"include_demo": "true"},
        {"include_demo": "true", "from": "2025-03-02", "version": "0123456789ab"},
        {"include_demo": "1", "industry": "Technology", "to": "2025-03-06"},
    ],
    "teamwork": [
        {"department": "Engineering"},
        {"team_size": "5"},
        {"team_size": "3.0", "department": "Sales"},
        {"version": "0123456789ab", "from": "2025-03-04"},
        {"include_demo": "true", "to": "2025-03-08"},
    ],
}


@pytest.mark.parametrize(
    ("slug", "params"), [(slug, p) for slug, ps in FILTERS.items() for p in ps], ids=str
)
async def test_a_filtered_report_is_the_report_of_the_rows_it_selects(
    conn, questionnaires, versions, slug, params
):
    survey = Survey(conn, questionnaires[slug])
    older = await other_version(conn, survey.loaded)
    rng = np.random.default_rng(13)
    ids = await survey.submit(simulate(survey.q, rng, 60))
    ids += await survey.submit(simulate(survey.q, rng, 30), loaded=older)
    ids += await survey.submit(simulate(survey.q, rng, 25), source="demo")
    await survey.spread_over_days(ids, rng)
    await survey.report()  # fold
    late = await survey.submit(simulate(survey.q, rng, 20))
    late += await survey.submit(simulate(survey.q, rng, 10), source="demo", loaded=older)
    await survey.spread_over_days(late, rng)
    # Days are UTC days whatever the session's time zone.
    await conn.execute("SET TIME ZONE 'Pacific/Kiritimati'")

    report = await survey.report(params)
    rows = select(survey.q, await survey.rows(), params)
    assert rows
    check_report(report, survey.q, rows, survey.quotable)
    where = filter_of(survey.loaded.definition, params)
    assert report.filters == stats.Filters(
        from_day=where.from_day,
        to_day=where.to_day,
        version=where.version,
        include_demo=params.get("include_demo") in ("true", "1"),
        segments={k: v for k, v in where.segments},
    )
    shape = shape_of(survey.q)
    assert_same_sums(
        await rollup.select_report_sums(conn, slug, shape, where),
        await never_folded_sums(conn, slug, shape, where),
    )


async def test_a_changed_item_list_folds_everything_again(conn, questionnaires, versions):
    survey = Survey(conn, questionnaires["teamwork"])
    rng = np.random.default_rng(14)
    ids = await survey.submit(simulate(survey.q, rng, 80, skip=0.3))
    await survey.report()
    assert await conn.fetchval("SELECT count(*) FROM response WHERE folded") == 80

    # `guarded` moves from trust to candour, `flag_early` leaves the counted items.
    raw = yaml.safe_load(TEAMWORK_YAML)
    for item in (i for s in raw["sections"] for i in s["items"]):
        if item["id"] == "guarded":
            item["dimension"] = "candour"
    changed = loader.load(yaml.safe_dump(raw).encode(), "changed.yaml")
    shape = msgspec.structs.replace(
        shape_of(changed.definition),
        counted=[i for i in shape_of(changed.definition).counted if i != "flag_early"],
    )
    assert shape != shape_of(survey.q)
    assert await rollup.update_report_rollup(conn, "teamwork", shape) == 80
    where = ReportFilter()
    sums = await rollup.select_report_sums(conn, "teamwork", shape, where)
    assert_same_sums(sums, await never_folded_sums(conn, "teamwork", shape, where))
    assert not any(k[:2] == ("v", "flag_early") for k in sums)
    # Deleting a folded response subtracts what the new lists added.
    await survey.delete(ids[:10])
    assert_same_sums(
        await rollup.select_report_sums(conn, "teamwork", shape, where),
        await never_folded_sums(conn, "teamwork", shape, where),
    )

    # The report of the changed questionnaire: reliability over the new item lists.
    await insert_questionnaire_versions(conn, [changed])
    moved = Survey(conn, changed)
    moved.quotable = survey.quotable
    report = await moved.report()
    assert [i.id for i in report.reliability[1].items] == [
        "guarded", "say_disagree", "hard_feedback", "nod_along"
    ]  # fmt: skip
    check_report(report, changed.definition, await survey.rows(), survey.quotable)


# --- what the report shows, and what it hides ---------------------------------------------------


async def test_a_segment_value_under_min_cell_is_suppressed(conn, questionnaires, versions):
    survey = Survey(conn, questionnaires["connector"])
    rng = np.random.default_rng(15)
    cells = {"Technology": 5, "Healthcare": 4, "Education and research": 1, "Other": 9}
    for industry, n in cells.items():
        submissions = simulate(survey.q, rng, n, skip=0)
        await survey.submit(
            [
                msgspec.structs.replace(s, answers={**s.answers, "industry": industry})
                for s in submissions
            ]
        )
    report = await survey.report()
    (industry,) = (s for s in report.segments if s.item == "industry")
    shown = {v.value: v for v in industry.values}
    assert list(shown) == ["Technology", "Healthcare", "Education and research", "Other"]
    for value in ("Healthcare", "Education and research"):
        assert shown[value] == stats.SegmentValue(
            value=value, suppressed=True, n=None, mean_index=None, profiles={}
        )
    assert shown["Technology"].suppressed is False
    assert shown["Technology"].n == 5
    assert sum(shown["Technology"].profiles.values()) == 5  # skip=0: every response is scored
    assert shown["Other"].n == 9
    assert shown["Other"].mean_index is not None
    check_report(report, survey.q, await survey.rows(), survey.quotable)

    # With min_cell 1 nothing is hidden; with 10 everything is.
    where = ReportFilter()
    everything = await load_report(conn, survey.loaded, where, 1)
    (industry,) = (s for s in everything.segments if s.item == "industry")
    assert {v.value: v.n for v in industry.values} == cells
    nothing = await load_report(conn, survey.loaded, where, 10)
    (industry,) = (s for s in nothing.segments if s.item == "industry")
    assert all(v.suppressed for v in industry.values)


async def test_only_the_texts_of_authors_who_agreed_are_quoted_verbatim(
    conn, questionnaires, versions
):
    connector = Survey(conn, questionnaires["connector"])
    base = {"say_why": 4}
    await connector.submit(
        [
            Submission(
                answers={**base, "real_connector": SCRIPT}, consent=True, quote_consent=True
            ),
            Submission(answers={**base, "real_connector": "secret"}, consent=True),
            Submission(
                answers={**base, "why_collect": "Numbers feel like progress."},
                consent=True,
                quote_consent=True,
            ),
        ]
    )
    # Quote consent without consent is no submission at all where consent is asked.
    with pytest.raises(intake.InvalidSubmission):
        await connector.submit(
            [Submission(answers={"real_connector": "no consent"}, quote_consent=True)]
        )
    report = await connector.report()
    assert sorted((q.item, q.text) for q in report.quotes) == [
        ("real_connector", SCRIPT),
        ("why_collect", "Numbers feel like progress."),
    ]
    assert next(q for q in report.quotes if q.item == "real_connector").question == (
        "What, in your experience, makes someone good at connecting people?"
    )
    # The text stays data all the way to JSON: escaping it is the page's job.
    assert SCRIPT.encode() in msgspec.json.encode(report)

    # Without a consent text, quote consent alone is enough.
    teamwork = Survey(conn, questionnaires["teamwork"])
    required = {
        i.id: 3 for i in teamwork.q.likert_items() if i.required
    }  # the fewest answers that score
    await teamwork.submit(
        [
            Submission(answers={**required, "one_change": "Fewer meetings."}, quote_consent=True),
            Submission(answers={**required, "one_change": "Not for print."}),
        ]
    )
    assert [(q.item, q.text) for q in (await teamwork.report()).quotes] == [
        ("one_change", "Fewer meetings.")
    ]


async def test_folds_racing_submissions_and_deletions_lose_and_double_count_nothing(
    conn, database_url, questionnaires, versions
):
    loaded = questionnaires["connector"]
    survey = Survey(conn, loaded)
    rng = np.random.default_rng(16)
    first = await survey.submit(simulate(survey.q, rng, 60))
    connections = [await db.connect(database_url) for _ in range(5)]
    writers = [Survey(c, loaded) for c in connections[:2]]
    for writer in writers:
        writer.tokens = survey.tokens  # one shared ledger of who may still be deleted
        writer.quotable = survey.quotable
    folds: list[int] = []

    async def write(writer: Survey, seed: int) -> None:
        for submission in simulate(survey.q, np.random.default_rng(seed), 40):
            await writer.submit([submission])

    async def fold(reader: asyncpg.Connection) -> None:
        for _ in range(8):
            folds.append(await rollup.update_report_rollup(reader, "connector", shape))
            await load_report(reader, loaded, ReportFilter(), MIN_CELL)

    async def delete(deleter: asyncpg.Connection) -> None:
        for id in first[::3]:
            token = survey.tokens.pop(id)
            assert await responses.delete_response_by_token(deleter, token_hash(token))
            await anyio.lowlevel.checkpoint()

    shape = shape_of(survey.q)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(write, writers[0], 1)
            tg.start_soon(write, writers[1], 2)
            tg.start_soon(fold, connections[2])
            tg.start_soon(fold, connections[3])
            tg.start_soon(delete, connections[4])
    finally:
        for c in connections:
            await c.close()

    assert await conn.fetchval("SELECT count(*) FROM response") == 60 + 80 - 20
    check_report(await survey.report(), survey.q, await survey.rows(), survey.quotable)
    where = ReportFilter()
    assert_same_sums(
        await rollup.select_report_sums(conn, "connector", shape, where),
        await never_folded_sums(conn, "connector", shape, where),
    )
    assert sum(folds) <= 140
