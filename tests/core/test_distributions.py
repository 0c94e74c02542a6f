"""The F quantiles behind α's confidence interval, and the interval and SEM, against SciPy and
NumPy on raw rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from survey.core import scoring, stats
from survey.core.distributions import betainc, f_ppf, t_quantile_975
from survey.core.loader import load
from survey.core.sums import Folder, shape_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("p", "d1", "d2"),
    [(0.025, 19, 76), (0.975, 19, 76), (0.025, 4999, 34993), (0.975, 4999, 34993),
     (0.5, 2, 3), (0.975, 1, 1), (0.025, 999_999, 6_999_993), (0.975, 2, 2)],
)  # fmt: skip
def test_the_f_quantile_equals_scipys(p: float, d1: int, d2: int) -> None:
    assert f_ppf(p, d1, d2) == pytest.approx(scipy_stats.f.ppf(p, d1, d2), rel=1e-9)


@pytest.mark.parametrize(("a", "b", "x"), [(0.5, 0.5, 0.3), (2, 3, 0.9), (50, 200, 0.2)])
def test_the_incomplete_beta_equals_scipys(a: float, b: float, x: float) -> None:
    assert betainc(a, b, x) == pytest.approx(scipy_stats.beta.cdf(x, a, b), rel=1e-10)


def feldt(alpha: float, n: int, k: int) -> tuple[float, float]:
    df1, df2 = n - 1, (n - 1) * (k - 1)
    return (
        1 - (1 - alpha) * scipy_stats.f.ppf(0.975, df1, df2),
        1 - (1 - alpha) * scipy_stats.f.ppf(0.025, df1, df2),
    )


@pytest.mark.parametrize("slug", ["teamwork", "conditional"])
def test_alpha_its_interval_and_the_sem_equal_numpy_on_the_raw_rows(slug: str) -> None:
    """Answers from a latent trait, with gaps and N/A; the report's figures from its sums
    against NumPy and SciPy on the complete cases themselves."""
    folder_q = load((ROOT / "tests" / "data" / f"{slug}.yaml").read_bytes())
    q = folder_q.definition
    rng = random.Random(5)
    folder = Folder(shape_of(q))
    rows = []
    for n in range(400):
        trait = rng.gauss(0, 1)
        answers: dict[str, object] = {}
        if slug == "conditional":
            answers["introduces"] = "Yes"
            answers["channels"] = ["Events", "Online"]  # every question shown
        for item in q.likert_items():
            points = q.scales[item.scale].points
            if rng.random() < 0.08:
                continue  # a gap
            if q.scales[item.scale].na is not None and rng.random() < 0.05:
                answers[item.id] = "na"
                continue
            x = (len(points) - 1) / 2 + trait * (-1 if item.reverse else 1) + rng.gauss(0, 1)
            answers[item.id] = points[min(len(points) - 1, max(0, round(x)))]
        answers = scoring.normalise(q, answers)
        score = scoring.score(q, answers)
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n)
        folder.add(folder_q.version, at, "api", answers, score)
        rows.append(answers)
    sums: dict[tuple[str, ...], float] = {}
    for place in folder.sums().values():
        for key, value in place.items():
            sums[key] = sums.get(key, 0.0) + value
    checked = 0
    for dimension in q.dimensions:
        items = q.likert_items(dimension.id)
        got = stats.reliability(q, dimension.id, sums)
        complete = [r for r in rows if all(isinstance(r.get(i.id), int) for i in items)]
        if len(items) < 2 or len(complete) < 3:
            continue
        keyed = np.array(
            [
                [
                    (min(p) + max(p) - r[i.id] if i.reverse else r[i.id] - 0)
                    for i in items
                    for p in [q.scales[i.scale].points]
                ]
                for r in complete
            ],
            dtype=float,
        )
        k = len(items)
        cov = np.cov(keyed, rowvar=False, ddof=1)
        alpha = k / (k - 1) * (1 - np.trace(cov) / cov.sum())
        assert got.n == len(complete)
        assert got.alpha == pytest.approx(alpha, abs=0.001)
        low, high = feldt(alpha, len(complete), k)
        assert got.alpha_low == pytest.approx(low, abs=0.001)
        assert got.alpha_high == pytest.approx(high, abs=0.001)
        spans = np.array(
            [max(q.scales[i.scale].points) - min(q.scales[i.scale].points) for i in items]
        )
        lows = np.array([min(q.scales[i.scale].points) for i in items])
        scores = 100 * ((keyed - lows) / spans).mean(axis=1)
        sem = scores.std(ddof=1) * np.sqrt(1 - alpha)
        assert got.sem == pytest.approx(sem, abs=0.001)
        checked += 1
    assert checked >= 2


def test_item_sd_floor_ceiling_na_share_and_weak_items_equal_numpy_on_raw_rows() -> None:
    loaded = load((ROOT / "tests" / "data" / "conditional.yaml").read_bytes())
    q = loaded.definition
    rng = random.Random(9)
    folder = Folder(shape_of(q))
    rows = []
    for n in range(300):
        answers: dict[str, object] = {"introduces": "Yes", "channels": ["Events"]}
        trait = rng.gauss(0, 1)
        for item in q.likert_items():
            points = q.scales[item.scale].points
            roll = rng.random()
            if roll < 0.1:
                continue
            # One item answered at random, the others from the trait: that one comes out weak.
            lean = trait * (-1 if item.reverse else 1) + rng.gauss(0, 0.7)
            x = points[min(len(points) - 1, max(0, round(2 + lean)))]
            answers[item.id] = (
                "na" if roll < 0.15 else (rng.choice(points) if item.id == "intro_skip" else x)
            )
        answers = scoring.normalise(q, answers)
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n)
        folder.add(loaded.version, at, "api", answers, scoring.score(q, answers))
        rows.append(answers)
    sums: dict[tuple[str, ...], float] = {}
    for place in folder.sums().values():
        for key, value in place.items():
            sums[key] = sums.get(key, 0.0) + value
    for item in q.likert_items():
        got = stats.item_stats(q, item, sums)
        values = np.array([r[item.id] for r in rows if isinstance(r.get(item.id), int)], float)
        na = sum(1 for r in rows if r.get(item.id) == "na")
        points = q.scales[item.scale].points
        assert got.sd == pytest.approx(values.std(ddof=1), abs=0.001)
        assert got.floor == pytest.approx(np.mean(values == min(points)), abs=0.001)
        assert got.ceiling == pytest.approx(np.mean(values == max(points)), abs=0.001)
        assert got.na_share == pytest.approx(na / (len(values) + na), abs=0.001)
    for dimension in q.dimensions:
        rel = stats.reliability(q, dimension.id, sums)
        for row in rel.items:
            expected = (row.item_rest is not None and row.item_rest < 0.30) or (
                rel.alpha is not None
                and row.alpha_if_dropped is not None
                and row.alpha_if_dropped > rel.alpha
            )
            assert row.weak == expected, row
            assert row.weak == (row.id == "intro_skip"), row


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 29, 30, 99, 1_000, 123_456, 2_000_000])
def test_the_t_quantile_equals_scipys(df: int) -> None:
    assert t_quantile_975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=1e-9)
