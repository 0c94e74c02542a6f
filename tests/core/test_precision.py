"""A result's precision: bands, profile certainty and reliable change, against exact normal
probabilities and a NumPy simulation."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from survey.core import precision, scoring
from survey.core.loader import load
from survey.core.model import Score

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = load((ROOT / "questionnaires" / "connector.yaml").read_bytes()).definition
SEMS = {"personalization": 8.0, "responsiveness": 9.0, "generosity": 7.5, "introductions": 10.0,
        "relationship_care": 8.5, "collecting": 9.0}  # fmt: skip


def known() -> precision.Precision:
    weights = CONNECTOR.weights
    total = sum(weights.values())
    index_sem = math.sqrt(sum((w / total * SEMS[d]) ** 2 for d, w in weights.items()))
    return precision.Precision(index_sem=index_sem, sems=SEMS, n=dict.fromkeys(SEMS, 500))


def result(index: float, collecting: float | None) -> Score:
    dims = {d: 60.0 for d in CONNECTOR.weights} | {"collecting": collecting}
    return Score(dims, index, scoring.profile_for(CONNECTOR, index, dims))


def test_a_result_near_both_cuts_splits_between_four_profiles_exactly() -> None:
    p = known()
    got = {c.profile: c.probability for c in precision.certainty(CONNECTOR, result(69.0, 41.0), p)}
    normal = NormalDist()
    high = 1 - normal.cdf((70 - 69) / p.index_sem)  # index at least 70
    low_c = normal.cdf((40 - 41) / SEMS["collecting"])  # collecting below 40
    assert sum(got.values()) == pytest.approx(1.0, abs=1e-12)
    assert got["connector"] == pytest.approx(high * low_c, abs=1e-9)
    assert got["busy_connector"] == pytest.approx(high * (1 - low_c), abs=1e-9)
    mid_c = normal.cdf((70 - 41) / SEMS["collecting"]) - low_c  # collecting 40 to 70
    assert got["mixed"] == pytest.approx(
        (normal.cdf((70 - 69) / p.index_sem) - normal.cdf((40 - 69) / p.index_sem)) * mid_c,
        abs=1e-9,
    )


@pytest.mark.parametrize(("index", "collecting"), [(69.0, 41.0), (55.0, 72.0), (20.0, 10.0)])
def test_certainty_equals_a_simulation_of_measurement_error(index, collecting) -> None:
    p = known()
    got = {
        c.profile: c.probability
        for c in precision.certainty(CONNECTOR, result(index, collecting), p)
    }
    rng = np.random.default_rng(1)
    draws = 40_000
    indexes = index + rng.normal(0, p.index_sem, draws)
    collected = collecting + rng.normal(0, SEMS["collecting"], draws)
    counts: dict[str, int] = {}
    for i, c in zip(indexes, collected, strict=True):
        chosen = scoring.profile_for(CONNECTOR, float(i), {"collecting": float(c)})
        counts[chosen.id] = counts.get(chosen.id, 0) + 1
    for profile, count in counts.items():
        assert got.get(profile, 0.0) == pytest.approx(count / draws, abs=0.01)


def test_a_result_far_from_the_cuts_is_certain_and_not_borderline() -> None:
    chances = precision.certainty(CONNECTOR, result(95.0, 5.0), known())
    assert chances[0].profile == "connector" and chances[0].probability > 0.99
    assert not precision.borderline(chances)
    near = precision.certainty(CONNECTOR, result(70.5, 20.0), known())
    assert precision.borderline(near)


def test_a_blank_collecting_score_is_certain_about_that_axis() -> None:
    chances = precision.certainty(CONNECTOR, result(80.0, None), known())
    assert [c.profile for c in chances] == ["reach_unknown"]


def test_no_certainty_before_the_sems_are_known() -> None:
    unknown = precision.Precision(
        index_sem=None, sems=dict.fromkeys(SEMS), n=dict.fromkeys(SEMS, 3)
    )
    assert precision.certainty(CONNECTOR, result(69.0, 41.0), unknown) is None


def test_band_is_plus_minus_1_96_sem_within_0_to_100() -> None:
    b = precision.band(50.0, 5.0)
    assert (b.low, b.high) == pytest.approx((50 - 1.959964 * 5, 50 + 1.959964 * 5), abs=1e-5)
    assert precision.band(98.0, 5.0).high == 100.0
    assert precision.band(50.0, None) is None


def test_reliable_change_index() -> None:
    p = known()
    changes = precision.changes(
        CONNECTOR, (50.0, {"collecting": 40.0}), (70.0, {"collecting": 45.0}), p
    )
    index = changes[0]
    assert index.change == 20.0
    assert index.rci == pytest.approx(20 / (math.sqrt(2) * p.index_sem))
    assert index.reliable
    collecting = next(c for c in changes if c.id == "collecting")
    assert collecting.rci == pytest.approx(5 / (math.sqrt(2) * 9.0)) and not collecting.reliable
    blank = next(c for c in changes if c.id == "generosity")
    assert blank.change is None and blank.rci is None and not blank.reliable
