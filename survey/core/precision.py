"""How sure one respondent's result is: score bands from the standard error of measurement,
the profile's certainty, and the reliable change between two takes (pure).

Classical test theory: an observed score is the true score plus an error with SD the SEM
(survey.core.stats.reliability: the dimension's SD times √(1 − α), over the clean responses
to the questionnaire's version). The index is a weighted mean of dimension scores whose
errors are taken as independent, so its SEM is √Σ(wᵢ/W)²·SEMᵢ².

- Band: score ± 1.96 SEM, cut to 0–100: where the true score lies, 95% of the time.
- Certainty: the probability of each profile when the index and the dimensions the profiles
  name each lie at their observed score plus a normal error of their SEM, independently (as
  they are when those dimensions are not part of the index, as in connector.yaml; when one is,
  the figure leaves out their shared error). The profiles' conditions cut each score's line
  at a few points: each cell of those cuts has an exact normal probability, and the profile
  its representative point gets.
- Reliable change (Jacobson & Truax 1991): RCI = (after − before) / (√2 · SEM); |RCI| ≥ 1.96
  is more change than measurement error makes 95% of the time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import pairwise, product
from statistics import NormalDist

import msgspec

from survey.core import scoring, stats
from survey.core.model import Questionnaire, Score
from survey.core.sums import Sums

# Complete responses a dimension needs before its SEM is trusted on a result page.
MIN_N = 100
Z95 = 1.959963984540054
# A profile less likely than this is reported as borderline.
BORDERLINE = 0.8

_NORMAL = NormalDist()


class Precision(msgspec.Struct, frozen=True, kw_only=True):
    """The SEM of the index and of each dimension (None where not yet known), and the
    complete responses each rests on."""

    index_sem: float | None
    sems: dict[str, float | None]
    n: dict[str, int]


def precision_from(q: Questionnaire, sums: Sums) -> Precision:
    """The SEMs from the report's sums (the clean responses to one version)."""
    sems: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for d in q.dimensions:
        found = stats.reliability(q, d.id, sums, omega=False)
        counts[d.id] = found.n
        sems[d.id] = found.sem if found.n >= MIN_N else None
    weights = q.weights
    total = sum(weights.values())
    index_sem = None
    if all(sems.get(d) is not None for d in weights):
        index_sem = math.sqrt(sum((w / total * (sems[d] or 0.0)) ** 2 for d, w in weights.items()))
    return Precision(index_sem=index_sem, sems=sems, n=counts)


class Band(msgspec.Struct, frozen=True):
    low: float
    high: float


def band(score: float | None, sem: float | None) -> Band | None:
    """Where the true score lies 95% of the time: score ± 1.96 SEM within 0–100."""
    if score is None or sem is None:
        return None
    return Band(max(0.0, score - Z95 * sem), min(100.0, score + Z95 * sem))


class Chance(msgspec.Struct, frozen=True):
    profile: str  # a profile id
    probability: float


def certainty(q: Questionnaire, score: Score, precision: Precision) -> list[Chance] | None:
    """Each profile's probability given measurement error, most likely first (profiles that
    cannot come up left out); None when a score the profiles name has no SEM yet."""
    if score.index is None or not q.profiles:
        return None
    named = sorted(
        {d for p in q.profiles if p.when is not None for d in p.when.dimensions}
        & {d.id for d in q.dimensions}
    )
    uses_index = any(p.when is not None and p.when.index is not None for p in q.profiles)
    axes: list[tuple[str | None, list[tuple[float, float]]]] = []  # None: the index
    if uses_index:
        if precision.index_sem is None:
            return None
        axes.append((None, _cells(_cuts(q, None), score.index, precision.index_sem)))
    for d in named:
        value = score.dimensions.get(d)
        if value is None:
            continue  # a blank score is known to be blank
        sem = precision.sems.get(d)
        if sem is None:
            return None
        axes.append((d, _cells(_cuts(q, d), value, sem)))
    chances: dict[str, float] = {}
    for cell in product(*(cells for _, cells in axes)):
        probability = math.prod(p for _, p in cell)
        if probability == 0.0:
            continue
        index = score.index
        dimensions: dict[str, float | None] = dict(score.dimensions)
        for (name, _), (point, _) in zip(axes, cell, strict=True):
            if name is None:
                index = point
            else:
                dimensions[name] = point
        chosen = scoring.profile_for(q, index, dimensions)
        if chosen is not None:
            chances[chosen.id] = chances.get(chosen.id, 0.0) + probability
    return sorted(
        (Chance(id, p) for id, p in chances.items()), key=lambda c: (-c.probability, c.profile)
    )


def _cuts(q: Questionnaire, dimension: str | None) -> list[float]:
    """Every point where a profile's condition on the index (None) or a dimension changes."""
    points: set[float] = set()
    for p in q.profiles:
        if p.when is None:
            continue
        condition = p.when.index if dimension is None else p.when.dimensions.get(dimension)
        if condition is not None:
            points.update(x for x in (condition.at_least, condition.below) if x is not None)
    return sorted(points)


def _cells(cuts: list[float], value: float, sem: float) -> list[tuple[float, float]]:
    """The line cut at `cuts` into [a, b) cells: a point inside each, and the probability
    that value + N(0, sem) falls in it."""
    edges = [-math.inf, *cuts, math.inf]
    out = []
    for a, b in pairwise(edges):
        inside = (a + b) / 2 if math.isfinite(a) and math.isfinite(b) else (
            b - 1.0 if math.isfinite(b) else a + 1.0 if math.isfinite(a) else value
        )  # fmt: skip
        p = _below(b, value, sem) - _below(a, value, sem)
        out.append((inside, p))
    return out


def _below(x: float, mean: float, sd: float) -> float:
    if x == math.inf:
        return 1.0
    if x == -math.inf:
        return 0.0
    return _NORMAL.cdf((x - mean) / sd) if sd > 0 else float(mean < x)


def borderline(chances: list[Chance] | None) -> bool:
    """True when the most likely profile is less likely than BORDERLINE."""
    return bool(chances) and chances[0].probability < BORDERLINE  # type: ignore[index]


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One score's change since an earlier take."""

    id: str  # the index's id or a dimension's
    before: float | None
    after: float | None
    change: float | None
    rci: float | None  # None without a SEM or either score

    @property
    def reliable(self) -> bool:
        return self.rci is not None and abs(self.rci) >= Z95


def changes(
    q: Questionnaire,
    before: tuple[float | None, Mapping[str, float | None]],
    after: tuple[float | None, Mapping[str, float | None]],
    precision: Precision,
) -> list[Change]:
    """The index's and each dimension's change between two takes, with its RCI."""
    rows = [(q.scoring.index.id, before[0], after[0], precision.index_sem)]
    rows += [
        (d.id, before[1].get(d.id), after[1].get(d.id), precision.sems.get(d.id))
        for d in q.dimensions
    ]
    out = []
    for id, first, second, sem in rows:
        difference = None if first is None or second is None else second - first
        rci = (
            difference / (math.sqrt(2) * sem)
            if difference is not None and sem is not None and sem > 0
            else None
        )
        out.append(Change(id=id, before=first, after=second, change=difference, rci=rci))
    return out
