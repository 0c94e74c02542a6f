"""survey.core.stats on hand-built sums: distributions, filters, reliability, segments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import numpy as np
import pytest

from survey.core import loader, stats
from survey.core.filters import ReportFilter, parse_filter
from survey.core.model import Loaded, Questionnaire

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def connector() -> Questionnaire:
    return loader.load_dir(ROOT / "questionnaires")["connector"].definition


@pytest.fixture(scope="module")
def teamwork_loaded() -> Loaded:
    path = ROOT / "tests" / "data" / "teamwork.yaml"
    return loader.load(path.read_bytes(), str(path))


@pytest.fixture(scope="module")
def teamwork(teamwork_loaded: Loaded) -> Questionnaire:
    return teamwork_loaded.definition


ONE_ITEM = b"""
slug: single
title: One item in a dimension
scales:
  s: {labels: [Low, Middle, High], values: [1, 2, 3]}
dimensions:
  - {id: alone, name: Alone}
  - {id: pair, name: Pair}
sections:
  - id: all
    title: All
    items:
      - {id: only, type: likert, text: Only, scale: s, dimension: alone}
      - {id: p1, type: likert, text: P1, scale: s, dimension: pair}
      - {id: p2, type: likert, text: P2, scale: s, dimension: pair, reverse: true}
"""


def reliability_sums(dimension: str, ids: list[str], raw: np.ndarray) -> dict:
    """The keys the store sums for complete cases: a count, Σx per item, Σxy per ordered pair."""
    sums: dict[tuple[str, ...], float] = {("r", dimension): float(len(raw))}
    for a, first in enumerate(ids):
        sums["r", dimension, first] = float(raw[:, a].sum())
        for b, second in enumerate(ids):
            if first <= second:
                sums["r", dimension, first, second] = float((raw[:, a] * raw[:, b]).sum())
    return sums


def correlation_sums(a: np.ndarray, b: np.ndarray) -> dict:
    values = {"n": len(a), "a": a.sum(), "b": b.sum(), "aa": a @ a, "bb": b @ b, "ab": a @ b}
    sums = {("c", "x", "y", k): float(v) for k, v in values.items()}
    for dim, scores in (("x", a), ("y", b)):
        for value in scores:
            key = ("d", dim, f"{value:.4f}")
            sums[key] = sums.get(key, 0.0) + 1
    return sums


def alpha(x: np.ndarray) -> float:
    k = x.shape[1]
    return float(k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1)))


# --- distribution ----------------------------------------------------------------------------


def test_a_distribution_has_the_sample_sd_and_the_median_of_its_counts():
    got = stats.distribution("i", "Index", {10.0: 1, 20.0: 2, 60.0: 1})
    values = np.array([10, 20, 20, 60], dtype=float)
    assert got.n == 4
    assert got.mean == pytest.approx(values.mean())
    assert got.sd == pytest.approx(values.std(ddof=1))
    assert got.median == 20.0
    assert (got.min, got.max) == (10.0, 60.0)
    odd = stats.distribution("i", "Index", {10.0: 1, 20.0: 1, 60.0: 1})
    assert odd.median == 20.0
    even = stats.distribution("i", "Index", {10.0: 1, 20.0: 1, 60.0: 1, 90.0: 1})
    assert even.median == 40.0


def test_histogram_bins_are_five_wide_closed_below_and_100_goes_in_the_last():
    got = stats.distribution(
        "i", "Index", {0.0: 1, 4.9999: 2, 5.0: 3, 95.0: 4, 99.9999: 5, 100.0: 6}
    )
    assert len(got.histogram) == 20
    assert [(b.start, b.end) for b in got.histogram] == [(5.0 * i, 5.0 * i + 5) for i in range(20)]
    counts = [b.count for b in got.histogram]
    assert counts[0] == 3  # 0 and 4.9999
    assert counts[1] == 3  # 5 starts the second bin
    assert counts[19] == 15  # 95, 99.9999 and 100
    assert sum(counts) == got.n == 21


def test_a_distribution_of_nothing_is_empty_and_of_one_has_no_sd():
    empty = stats.distribution("d", "D", {})
    assert (empty.n, empty.mean, empty.sd, empty.median, empty.min, empty.max) == (
        0, None, None, None, None, None
    )  # fmt: skip
    assert [b.count for b in empty.histogram] == [0] * 20
    one = stats.distribution("d", "D", {42.5: 1})
    assert (one.n, one.mean, one.sd, one.median) == (1, 42.5, None, 42.5)


# --- filters ----------------------------------------------------------------------------------


def problems(q: Questionnaire, params: dict[str, str]) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in parse_filter(q, params)[1]]


def test_no_parameters_is_every_non_demo_response(connector):
    where, found = parse_filter(connector, {})
    assert found == []
    assert where == ReportFilter()
    assert "demo" not in where.sources


def test_every_filter_parses(connector):
    where, found = parse_filter(
        connector,
        {
            "from": "2025-03-01",
            "to": "2025-03-31",
            "version": "0123456789ab",
            "include_demo": "true",
            "industry": "Technology",
            "years_experience": "5.0",
            "role": "",  # an empty select in the page's form: no filter
        },
    )
    assert found == []
    assert where == ReportFilter(
        from_day=date(2025, 3, 1),
        to_day=date(2025, 3, 31),
        version="0123456789ab",
        sources=("web", "api", "import", "demo"),
        segments=(("industry", "Technology"), ("years_experience", "5")),
    )


@pytest.mark.parametrize(
    ("value", "canonical"), [("5", "5"), ("5.0", "5"), ("5.50", "5.5"), ("-0", "0"), ("1e2", "100")]
)
def test_number_segments_are_written_as_jsonb_prints_them(connector, value, canonical):
    where, found = parse_filter(connector, {"years_experience": value})
    assert found == []
    assert where.segments == (("years_experience", canonical),)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"real_connector": "x"}, "real_connector"),  # an item, but not a segment
        ({"say_why": "4"}, "say_why"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2025-02-30"}, "to"),
        ({"from": "2025-03-02", "to": "2025-03-01"}, "from"),
        ({"version": "latest"}, "version"),
        ({"version": "0123456789AB"}, "version"),
        ({"version": "0123456789abc"}, "version"),
        ({"include_demo": "yes"}, "include_demo"),
        ({"industry": "technology"}, "industry"),
        ({"years_experience": "five"}, "years_experience"),
        ({"years_experience": "nan"}, "years_experience"),
        ({"years_experience": "inf"}, "years_experience"),
    ],
)
def test_a_bad_filter_is_a_problem_naming_it(connector, params, field):
    found = problems(connector, params)
    assert [f for f, _ in found] == [field], found


def test_every_problem_is_reported_at_once(connector):
    found = problems(
        connector, {"from": "x", "to": "y", "version": "z", "nope": "1", "industry": "Mars"}
    )
    assert sorted(f for f, _ in found) == ["from", "industry", "nope", "to", "version"]


def test_a_one_day_range_is_fine(connector):
    assert problems(connector, {"from": "2025-03-01", "to": "2025-03-01"}) == []


# --- reliability --------------------------------------------------------------------------------


def test_reliability_matches_numpy_with_a_reverse_keyed_item(teamwork):
    ids = [i.id for i in teamwork.likert_items("trust")]  # hide_mistakes, guarded are reverse
    rng = np.random.default_rng(1)
    trait = rng.normal(size=60)
    keyed = np.clip(np.round(3.5 + 1.3 * trait[:, None] + rng.normal(size=(60, 4))), 1, 6)
    reverse = np.array([i.reverse for i in teamwork.likert_items("trust")])
    raw = np.where(reverse, 7 - keyed, keyed)
    got = stats.reliability(teamwork, "trust", reliability_sums("trust", ids, raw))
    assert (got.n, got.k) == (60, 4)
    assert got.alpha == pytest.approx(alpha(keyed), abs=1e-12)
    assert got.alpha > 0.7
    for j, item in enumerate(got.items):
        rest = keyed.sum(axis=1) - keyed[:, j]
        assert item.item_rest == pytest.approx(np.corrcoef(keyed[:, j], rest)[0, 1], abs=1e-12)
        assert item.alpha_if_dropped == pytest.approx(alpha(np.delete(keyed, j, axis=1)), abs=1e-12)


def test_reliability_by_hand():
    # Keyed p2 = 4 − raw: pairs (1,1), (2,2), (3,2): var 1, 1/3, total var 7/3.
    q = loader.load(ONE_ITEM, "single.yaml").definition
    raw = np.array([[1, 3], [2, 2], [3, 2]], dtype=float)
    got = stats.reliability(q, "pair", reliability_sums("pair", ["p1", "p2"], raw))
    assert got.alpha == pytest.approx(2 * (1 - (1 + 1 / 3) / (7 / 3)))
    assert got.items[0].item_rest == pytest.approx(np.corrcoef([1, 2, 3], [1, 2, 2])[0, 1])
    assert [i.alpha_if_dropped for i in got.items] == [None, None]  # one item left


def test_reliability_of_one_item_or_one_response_is_none():
    q = loader.load(ONE_ITEM, "single.yaml").definition
    alone = stats.reliability(q, "alone", reliability_sums("alone", ["only"], np.ones((9, 1))))
    assert (alone.n, alone.k, alone.alpha) == (9, 1, None)
    assert [(i.id, i.item_rest, i.alpha_if_dropped) for i in alone.items] == [("only", None, None)]
    single = np.array([[1.0, 3.0]])
    one = stats.reliability(q, "pair", reliability_sums("pair", ["p1", "p2"], single))
    assert (one.n, one.k, one.alpha) == (1, 2, None)
    assert all(i.item_rest is None and i.alpha_if_dropped is None for i in one.items)
    nobody = stats.reliability(q, "pair", {})
    assert (nobody.n, nobody.alpha) == (0, None)


def test_a_constant_rest_has_no_item_rest_correlation(teamwork):
    # hard_feedback + keyed nod_along is always 7: the rest of say_disagree has no variance.
    ids = [i.id for i in teamwork.likert_items("candour")]
    assert ids == ["say_disagree", "hard_feedback", "nod_along"]
    rng = np.random.default_rng(3)
    for n in (3, 122, 192, 363):
        first, second = rng.integers(1, 7, n), rng.integers(1, 7, n)
        raw = np.stack([first, second, second], axis=1).astype(float)
        got = stats.reliability(teamwork, "candour", reliability_sums("candour", ids, raw))
        assert got.items[0].item_rest is None, n
        # An item of zero variance has none either.
        constant = np.stack([first, np.full(n, 4), second], axis=1).astype(float)
        got = stats.reliability(teamwork, "candour", reliability_sums("candour", ids, constant))
        assert got.items[1].item_rest is None, n


def test_reliability_with_no_total_variance_is_none():
    q = loader.load(ONE_ITEM, "single.yaml").definition
    same = np.full((5, 2), 2.0)
    got = stats.reliability(q, "pair", reliability_sums("pair", ["p1", "p2"], same))
    assert got.alpha is None
    assert all(i.item_rest is None for i in got.items)


# --- correlations ---------------------------------------------------------------------------------


def test_correlations_match_numpy():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 25, 50) * 4.0
    b = np.clip(a + rng.normal(0, 20, 50), 0, 100)
    got = stats.correlations(["x", "y"], correlation_sums(a, b))
    assert got.r[0][1] == got.r[1][0] == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    assert got.n == [[50, 50], [50, 50]]
    assert got.r[0][0] == got.r[1][1] == 1.0


@pytest.mark.parametrize("constant", [50.0, 100 / 3, 200 / 3, 250 / 3, 100 / 7, 41.666666666666664])
@pytest.mark.parametrize("n", [2, 3, 33, 1000])
def test_a_constant_score_has_no_correlation(constant, n):
    # Σa² n − (Σa)² is float noise for 100/3, not 0: it must not come out as an r.
    other = np.arange(n) * 7.5 % 100
    got = stats.correlations(["x", "y"], correlation_sums(np.full(n, constant), other))
    assert got.r[0][1] is None
    assert got.n[0][1] == n


def test_correlations_need_two_responses():
    got = stats.correlations(["x", "y"], correlation_sums(np.array([10.0]), np.array([20.0])))
    assert got.r == [[None, None], [None, None]]
    assert stats.correlations(["x", "y"], {}).n == [[0, 0], [0, 0]]


# --- items, segments and the whole report ------------------------------------------------------


def test_likert_item_counts_and_means_raw_and_keyed(teamwork):
    item = teamwork.item("hide_mistakes")  # reverse-keyed, 1–6
    sums = {("v", "hide_mistakes", "1"): 2.0, ("v", "hide_mistakes", "4"): 1.0}
    sums["v", "hide_mistakes", "4.0"] = 1.0  # a float that once arrived counts as its point
    got = stats.item_stats(teamwork, item, sums)
    assert [(c.value, c.count) for c in got.counts] == [
        ("1", 2), ("2", 0), ("3", 0), ("4", 2), ("5", 0), ("6", 0)
    ]  # fmt: skip
    assert got.n == 4
    assert got.mean == 2.5
    assert got.mean_keyed == 4.5
    assert got.reverse is True


def test_a_segment_value_under_min_cell_is_suppressed(teamwork):
    sums = {}
    for value, n in (("Engineering", 5), ("Sales", 4), ("Support", 1)):
        sums["g", "department", value, "n"] = float(n)
        sums["g", "department", value, "scored"] = float(n - 1)
        sums["g", "department", value, "isum"] = 60.0 * (n - 1)
        sums["g", "department", value, "p", "polite"] = float(n - 1)
    got = stats.segment(teamwork, teamwork.item("department"), sums, min_cell=5)
    assert [v.value for v in got.values] == ["Engineering", "Sales", "Support"]
    engineering, sales, support = got.values
    index = engineering.scores[0]
    assert (index.id, index.n, index.mean) == (teamwork.scoring.index.id, 4, 60.0)
    assert msgspec.structs.replace(engineering, scores=[]) == stats.SegmentValue(
        value="Engineering",
        suppressed=False,
        n=5,
        mean_index=60.0,
        profiles={"high_performing": 0, "polite": 4, "low_trust": 0, "capable": 0, "developing": 0},
    )
    for hidden in (sales, support):
        assert hidden.suppressed is True
        assert (hidden.n, hidden.mean_index, hidden.profiles) == (None, None, {})


def test_number_segment_values_sort_as_numbers(teamwork):
    sums = {("g", "team_size", v, "n"): 5.0 for v in ("12", "3", "100", "5")}
    got = stats.segment(teamwork, teamwork.item("team_size"), sums, min_cell=5)
    assert [v.value for v in got.values] == ["3", "5", "12", "100"]
    assert all(v.mean_index is None for v in got.values)  # none scored


def test_a_report_of_no_responses_is_empty_not_an_error(teamwork_loaded):
    now = datetime(2025, 3, 1, tzinfo=UTC)
    got = stats.build_report(
        teamwork_loaded, {}, where=ReportFilter(), quotes=[], min_cell=5, now=now
    )
    assert got.counts == stats.Counts(0, 0, 0)
    assert all(p.count == 0 and p.share is None for p in got.profiles)
    assert got.index.n == 0
    assert all(r.alpha is None for r in got.reliability)
    assert got.segments == [
        stats.Segment(item=i.id, text=i.text, values=[])
        for i in teamwork_loaded.definition.segments
    ]
    assert got.versions == got.timeline == got.quotes == []
    assert [t.profile for t in got.thresholds] == [
        "high_performing",
        "polite",
        "capable",
        "developing",
    ]


def test_the_share_flagged_per_segment_value_counts_both_parts_and_suppresses_small_cells(
    teamwork,
):
    clean = {("n",): 9.0, ("g", "department", "Engineering", "n"): 6.0}
    clean["g", "department", "Sales", "n"] = 3.0
    flagged = {("n",): 3.0, ("q", "too_fast"): 3.0, ("g", "department", "Engineering", "n"): 2.0}
    flagged["g", "department", "Support", "n"] = 1.0
    view = stats.quality_view(
        "clean", clean, flagged, segments=[teamwork.item("department")], min_cell=5
    )
    assert (view.responses, view.flagged, view.left_out) == (12, 3, 3)
    [department] = view.segments
    assert department.values == [
        stats.FlaggedShare(value="Engineering", suppressed=False, n=8, flagged=2, share=0.25),
        stats.FlaggedShare(value="Sales", suppressed=True, n=None, flagged=None, share=None),
        stats.FlaggedShare(value="Support", suppressed=True, n=None, flagged=None, share=None),
    ]
    assert [(f.flag, f.count, f.left_out) for f in view.flags] == [("too_fast", 3, True)]
