"""Demo data that looks like a real self-report scale, so that reports have something to show."""

from __future__ import annotations

from pathlib import Path

from benchmarks.demo_quality import demo_sums
from survey.core import loader, stats

ROOT = Path(__file__).resolve().parents[2]


def test_demo_data_has_the_reliability_and_skew_of_real_scales() -> None:
    loaded = loader.load((ROOT / "questionnaires" / "connector.yaml").read_bytes())
    q = loaded.definition
    sums, _, _ = demo_sums(loaded, 5000)
    collecting = {d.id for d in q.dimensions} - set(q.weights)
    for dimension in q.dimensions:
        alpha = stats.reliability(q, dimension.id, sums).alpha
        assert alpha is not None and 0.65 <= alpha <= 0.85, (dimension.id, alpha)
        means = [stats.item_stats(q, i, sums).mean_keyed for i in q.likert_items(dimension.id)]
        mid = 3.0  # the 1-5 agree scale's midpoint
        average = sum(m for m in means if m is not None) / len(means)
        # Towards the desirable end: more Connector habits, fewer Collector ones.
        assert (average < mid) if dimension.id in collecting else (average > mid), dimension.id
    # Some stop part-way: later items are answered less often than the first.
    items = q.likert_items()
    assert stats.item_stats(q, items[-1], sums).n < stats.item_stats(q, items[0], sums).n
