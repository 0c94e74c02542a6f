"""Segment means, their intervals, Hedges' g, Welch's p and the Benjamini–Hochberg adjustment,
and the norm tables: from the report's sums, against NumPy and SciPy on the raw rows."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from survey.core import scoring, stats
from survey.core.demo import DemoPlan
from survey.core.distributions import benjamini_hochberg
from survey.core.loader import load
from survey.core.model import Loaded
from survey.core.sums import Folder, shape_of

ROOT = Path(__file__).resolve().parents[2]


def collected(loaded: Loaded, count: int, seed: int) -> tuple[dict, list[tuple[dict, object]]]:
    """Demo respondents' answers and scores, and the sums the report reads."""
    q = loaded.definition
    plan, rng = DemoPlan(q, seed), random.Random(seed)
    folder = Folder(shape_of(q))
    rows = []
    for n in range(count):
        answers, _ = plan.respondent(rng)
        answers = scoring.normalise(q, answers)
        score = scoring.score(q, answers)
        folder.add(loaded.version, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n), "import",
                   answers, score)  # fmt: skip
        rows.append((answers, score))
    sums: dict = {}
    for place in folder.sums().values():
        for key, value in place.items():
            sums[key] = sums.get(key, 0.0) + value
    return sums, rows


@pytest.fixture(scope="module", params=["connector", "teamwork"])
def data(request: pytest.FixtureRequest) -> tuple[Loaded, dict, list]:
    path = (
        ROOT / "questionnaires" / "connector.yaml"
        if request.param == "connector"
        else ROOT / "tests" / "data" / "teamwork.yaml"
    )
    loaded = load(path.read_bytes())
    sums, rows = collected(loaded, 1500, seed=11)
    return loaded, sums, rows


def raw_scores(q, rows, item: str, score_id: str) -> dict[str, np.ndarray]:
    """Each value's scores (the index or a dimension), from the rows themselves."""
    out: dict[str, list[float]] = {}
    for answers, score in rows:
        value = answers.get(item)
        x = score.index if score_id == q.scoring.index.id else score.dimensions.get(score_id)
        if value is None or x is None:
            continue
        out.setdefault(str(value), []).append(x)
    return {k: np.array(v) for k, v in out.items()}


def test_means_intervals_g_and_welch_p_equal_scipy_on_raw_rows(data) -> None:
    loaded, sums, rows = data
    q = loaded.definition
    segments = [stats.segment(q, item, sums, min_cell=5) for item in q.segments]
    checked = 0
    for seg in segments:
        for value in seg.values:
            if value.suppressed:
                continue
            for got in value.scores:
                groups = raw_scores(q, rows, seg.item, got.id)
                mine = groups.get(value.value, np.array([]))
                shown = {v.value for v in seg.values if not v.suppressed}
                rest = np.concatenate(
                    [v for k, v in groups.items() if k != value.value and k in shown]
                )
                assert got.n == len(mine)
                if len(mine) < 2:
                    continue
                assert got.mean == pytest.approx(mine.mean(), abs=0.001)
                assert got.sd == pytest.approx(mine.std(ddof=1), abs=0.001)
                low, high = scipy_stats.t.interval(
                    0.95, len(mine) - 1, loc=mine.mean(), scale=scipy_stats.sem(mine)
                )
                assert (got.low, got.high) == pytest.approx(
                    (max(low, 0.0), min(high, 100.0)), abs=0.001
                )
                if len(rest) < 5:
                    assert got.g is None and got.p is None
                    continue
                n1, n2 = len(mine), len(rest)
                pooled = np.sqrt(
                    ((n1 - 1) * mine.var(ddof=1) + (n2 - 1) * rest.var(ddof=1)) / (n1 + n2 - 2)
                )
                g = (mine.mean() - rest.mean()) / pooled * (1 - 3 / (4 * (n1 + n2) - 9))
                se = np.sqrt((n1 + n2) / (n1 * n2) + g**2 / (2 * (n1 + n2)))
                assert got.g == pytest.approx(g, abs=0.001)
                assert (got.g_low, got.g_high) == pytest.approx(
                    (g - 1.959964 * se, g + 1.959964 * se), abs=0.001
                )
                welch = scipy_stats.ttest_ind(mine, rest, equal_var=False)
                assert got.p == pytest.approx(welch.pvalue, abs=0.001)
                checked += 1
    assert checked >= 10


def test_every_test_in_the_report_is_adjusted_as_scipys_false_discovery_control(data) -> None:
    loaded, sums, _ = data
    q = loaded.definition
    segments = stats.adjusted([stats.segment(q, item, sums, min_cell=5) for item in q.segments])
    ps = stats.tested_ps(segments)
    assert len(ps) >= 10
    expected = dict(zip(ps, scipy_stats.false_discovery_control(ps, method="bh"), strict=True))
    scores = [s for seg in segments for v in seg.values for s in v.scores if s.p is not None]
    assert [s.p_adjusted for s in scores] == pytest.approx([expected[s.p] for s in scores])


def test_two_values_against_each_other_are_one_test_not_two() -> None:
    values = [
        stats.SegmentValue(value=v, suppressed=False, n=20, mean_index=None, profiles={},
                           scores=[stats.GroupScore(id="i", name="I", n=20, mean=m, sd=1.0, p=p)])
        for v, m, p in (("a", 50.0, 0.01), ("b", 60.0, 0.01))
    ]  # fmt: skip
    other = [
        stats.SegmentValue(
            value=v, suppressed=False, n=20, mean_index=None, profiles={},
            scores=[stats.GroupScore(id="i", name="I", n=20, mean=50.0, sd=1.0, p=p)],
        )
        for v, p in (("x", 0.04), ("y", 0.03), ("z", 0.2))
    ]  # fmt: skip
    segments = [
        stats.Segment(item="pair", text="Pair", values=values),
        stats.Segment(item="three", text="Three", values=other),
    ]
    assert stats.tested_ps(segments) == [0.01, 0.04, 0.03, 0.2]
    expected = scipy_stats.false_discovery_control([0.01, 0.04, 0.03, 0.2], method="bh")
    got = stats.adjusted(segments)
    pair = [v.scores[0].p_adjusted for v in got[0].values]
    assert pair == pytest.approx([expected[0], expected[0]])
    assert [v.scores[0].p_adjusted for v in got[1].values] == pytest.approx(list(expected[1:]))


@pytest.mark.parametrize("seed", range(5))
def test_benjamini_hochberg_equals_scipys_with_ties_and_extremes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ps = np.concatenate([rng.uniform(0, 1, 30), rng.uniform(0, 0.01, 10), [0.0, 1.0, 0.5, 0.5]])
    rng.shuffle(ps)
    expected = scipy_stats.false_discovery_control(ps, method="bh")
    assert benjamini_hochberg(list(ps)) == pytest.approx(list(expected), abs=1e-12)


def test_a_value_with_one_response_or_no_spread_gets_no_test() -> None:
    one = stats.group_score("x", "X", (1, 50.0, 2500.0), (10, 500.0, 26000.0))
    assert one.mean == 50 and one.sd is None and one.g is None and one.p is None
    flat = stats.group_score("x", "X", (3, 150.0, 7500.0), (3, 150.0, 7500.0))
    assert flat.g is None and flat.p is None


def by_segment(q, rows) -> dict:
    """Counts per segment item, value, score and whole score (as the store's query gives)."""
    out: dict = {}
    for item in q.segments:
        for score_id in [None, *(d.id for d in q.dimensions)]:
            groups = raw_scores(q, rows, item.id, score_id or q.scoring.index.id)
            for value, xs in groups.items():
                counts = out.setdefault((item.id, value, score_id), {})
                for x in xs:
                    whole = math.ceil(
                        Decimal(repr(float(x))).quantize(Decimal("0.0001"), ROUND_HALF_UP)
                    )
                    counts[whole] = counts.get(whole, 0) + 1
    return out


def test_norm_tables_equal_numpy_on_raw_rows(data) -> None:
    loaded, sums, rows = data
    q = loaded.definition
    tables = stats.norms(q, sums, by_segment(q, rows), min_cell=5)
    index = q.scoring.index.id
    seen = set()
    for table in tables:
        if table.segment is None:
            x = np.array([
                s.index if table.id == index else s.dimensions.get(table.id)
                for _, s in rows
                if (s.index if table.id == index else s.dimensions.get(table.id)) is not None
            ])  # fmt: skip
        else:
            x = raw_scores(q, rows, table.segment, table.id).get(table.value, np.array([]))
        assert table.n == len(x) >= 5
        # Rounded half up to 4 decimals, x is at or below s when x < s + 0.00005.
        expected = [100 * float(np.mean(x < s + 0.00005)) for s in range(101)]
        assert table.at_or_below == pytest.approx(expected, abs=0.001)
        for p, whole in table.percentiles.items():
            assert expected[whole] >= float(p) - 1e-9
            assert whole == 0 or expected[whole - 1] < float(p)
        seen.add((table.segment, table.value))
    assert (None, None) in seen and len(seen) > 3


def test_norms_leave_out_small_segment_values(data) -> None:
    q = data[0].definition
    loaded, sums, rows = data
    counts = by_segment(loaded.definition, rows)
    big = {(t.segment, t.value) for t in stats.norms(q, sums, counts, min_cell=5)}
    fewer = {(t.segment, t.value) for t in stats.norms(q, sums, counts, min_cell=200)}
    assert fewer < big
    for segment, value in big - fewer:
        assert sums[("g", segment, value, "n")] < 200
