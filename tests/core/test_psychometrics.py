"""Reliability as R's psych gives it: α, Feldt's interval, ω total and the SEM on the SAPA
project's bfi data (2,800 people, 25 items, gaps left as they are), against the values psych
2.2.9 printed (tests/data/bfi_psych.json, with its provenance; tests/data/bfi_psych.R makes it).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from survey.core import factor, scoring, stats
from survey.core.loader import load
from survey.core.sums import Folder, shape_of

DATA = Path(__file__).resolve().parents[1] / "data"
PSYCH = json.loads((DATA / "bfi_psych.json").read_text())
SCALES = {"A": "agreeableness", "C": "conscientiousness", "E": "extraversion",
          "N": "neuroticism", "O": "openness"}  # fmt: skip


@pytest.fixture(scope="module")
def bfi() -> dict[str, stats.Reliability]:
    """The report's reliability per dimension, from the sums of every bfi row."""
    loaded = load((DATA / "bfi.yaml").read_bytes())
    q = loaded.definition
    folder = Folder(shape_of(q))
    with (DATA / "bfi.csv").open(newline="") as file:
        for row in csv.DictReader(file):
            answers = scoring.normalise(
                q, {key.lower(): int(value) for key, value in row.items() if value != ""}
            )
            folder.add(
                loaded.version, datetime(2026, 1, 1, tzinfo=UTC), "import", answers,
                scoring.score(q, answers),
            )  # fmt: skip
    sums: dict[tuple[str, ...], float] = {}
    for place in folder.sums().values():
        for key, value in place.items():
            sums[key] = sums.get(key, 0.0) + value
    return {scale: stats.reliability(q, dim, sums) for scale, dim in SCALES.items()}


@pytest.mark.parametrize("scale", list(SCALES))
def test_alpha_its_feldt_interval_omega_and_sem_equal_psychs(
    bfi: dict[str, stats.Reliability], scale: str
) -> None:
    got, expected = bfi[scale], PSYCH[scale]
    assert got.n == expected["n"]
    assert got.alpha == pytest.approx(expected["alpha"], abs=1e-6)
    assert got.alpha_low == pytest.approx(expected["alpha_low"], abs=1e-6)
    assert got.alpha_high == pytest.approx(expected["alpha_high"], abs=1e-6)
    assert got.omega == pytest.approx(expected["omega_total"], abs=1e-4)
    assert got.sem == pytest.approx(expected["sem"], abs=1e-4)
    loadings = [i.loading for i in got.items]
    assert loadings == pytest.approx(expected["loadings"], abs=1e-4)


def test_minres_is_the_fixed_point_of_its_residuals() -> None:
    """At the minres solution the off-diagonal residuals' gradient, diag(λλᵀ + Ψ − R), is 0,
    and no small change of a loading makes the squared residuals smaller."""
    rng = np.random.default_rng(3)
    true = np.array([0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    r = np.outer(true, true) + rng.normal(0, 0.02, (6, 6))
    r = (r + r.T) / 2
    np.fill_diagonal(r, 1.0)
    loadings = np.array(factor.minres_loadings(r.tolist()))

    def residuals(x: np.ndarray) -> float:
        off = r - np.outer(x, x)
        return float((off[np.triu_indices(6, 1)] ** 2).sum())

    best = residuals(loadings)
    for i in range(6):
        for step in (1e-4, -1e-4):
            moved = loadings.copy()
            moved[i] += step
            assert residuals(moved) >= best
    assert loadings == pytest.approx(true, abs=0.05)


def test_omega_of_a_constant_item_is_not_given() -> None:
    assert factor.correlations_from([[1.0, 0.5], [0.5, 0.0]]) is None
