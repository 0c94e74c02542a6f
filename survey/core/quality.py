"""Quality flags (pure): signs that a response was careless or not made by a person.

A flag never refuses a response and is never shown to its respondent: it is stored with the
measured values it was decided on, so that reports can leave flagged responses out and the
researcher can apply her own rule. Each flag and its threshold (the questionnaire's `quality`
block, model.QualitySpec) is explained in docs/questionnaire-format.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import msgspec

from survey.core import display
from survey.core.model import Answer, LikertItem, Questionnaire, derived
from survey.core.sums import Sums

# Every flag, with what it means in a sentence (reports and the README say the same).
FLAGS: dict[str, str] = {
    "too_fast": "less time on the form than the questionnaire's floor",
    "unsigned": "sent to the form's address without the form the server gave out",
    "honeypot": "filled in a field that people never see",
    "straightlining": "the same answer over most of the statements in a row",
    "inconsistent": "agreed with statements and with their reverse-keyed opposites alike",
    "attention": "answered an attention item other than its text asked",
    "outlier": "dimension scores far from everyone else's (Mahalanobis distance)",
    "repeat_answers": "the same answers as a response sent shortly before",
    "repeat_browser": "the same browser as an earlier response",
    "retake": "taken again through an earlier result's private link",
}


def as_retake(flags: list[str]) -> list[str]:
    """A retake's flags: it repeats by design, so `retake` says so in place of repeat_*."""
    return [*(f for f in flags if not f.startswith("repeat_") and f != "retake"), "retake"]


class Signals(msgspec.Struct, frozen=True, kw_only=True):
    """What the web form tells about how it was filled in (an API client tells none of it)."""

    seconds: float | None  # on the form (its pages summed), from its signed issue time
    signed: bool  # the form's signed issue time came back intact
    honeypot: bool  # the field people never see was filled in


class Earlier(msgspec.Struct, frozen=True, kw_only=True):
    """What the stored responses say about this one."""

    same_answers: bool = False
    same_browser: bool = False


class Norms(msgspec.Struct, frozen=True):
    """The clean responses' dimension scores: means and the inverse covariance matrix."""

    dimensions: list[str]
    means: list[float]
    inverse: list[list[float]]
    n: int


class Assessment(msgspec.Struct, frozen=True):
    flags: list[str]
    measures: dict[str, float | int | None]


def assess(
    q: Questionnaire,
    answers: Mapping[str, Answer],
    dimensions: Mapping[str, float | None],
    *,
    signals: Signals | None = None,
    order: Sequence[str] | None = None,
    earlier: Earlier | None = None,
    norms: Norms | None = None,
) -> Assessment:
    """The flags a stored response (normalised answers, its scores) gets, and the values
    measured. `order`: the item ids in the order shown, when it was randomised."""
    rules = q.quality
    flags: list[str] = []
    measures: dict[str, float | int | None] = {}
    answered = sum(1 for v in answers.values() if v is not None)

    if signals is not None:
        measures["seconds"] = None if signals.seconds is None else round(signals.seconds, 1)
        floor = max(rules.min_seconds or 0.0, (rules.seconds_per_item or 0.0) * answered)
        if not signals.signed:
            flags.append("unsigned")
        elif signals.seconds is not None and signals.seconds < floor:
            flags.append("too_fast")
        if signals.honeypot:
            flags.append("honeypot")

    plan = _plan(q)
    likert = _in_order(plan.likert, order) if order else plan.likert
    raw = [answers[i.id] for i in likert if i.id in answers]
    run = longest_run(raw)
    numbers = [float(v) for v in raw if isinstance(v, int | float)]
    measures["longstring"] = run
    measures["irv"] = round(_sd(numbers), 3) if len(numbers) > 1 else None
    if run >= rules.min_run and run >= rules.longstring * len(raw):
        flags.append("straightlining")

    gap = _reversed_gap(plan, answers)
    measures["reversed_gap"] = None if gap is None else round(gap, 1)
    if gap is not None and gap >= rules.inconsistency:
        flags.append("inconsistent")

    checks = plan.checks
    if checks:
        # An attention item left blank fails on the form, which showed it; an API client may
        # leave out what it does not use; one the answers did not show fails no one.
        hidden = display.hidden(q, answers) if plan.conditional else set()
        failed = sum(
            1
            for item in checks
            if item.check is not None
            and item.id not in hidden
            and (answers.get(item.id) != item.check.expect)
            and (item.id in answers or signals is not None)
        )
        measures["attention_failed"] = failed
        if failed:
            flags.append("attention")

    if norms is not None:
        distance = mahalanobis(norms, dimensions)
        if distance is not None:
            p = chi2_sf(distance, len(norms.dimensions))
            measures["mahalanobis"] = round(distance, 2)
            if p < rules.outlier_p:
                flags.append("outlier")

    if earlier is not None and earlier.same_answers:
        flags.append("repeat_answers")
    if earlier is not None and earlier.same_browser:
        flags.append("repeat_browser")
    return Assessment(flags, measures)


def _in_order(items: list[LikertItem], order: Sequence[str] | None) -> list[LikertItem]:
    if not order:
        return items
    position = {item_id: n for n, item_id in enumerate(order)}
    return sorted(items, key=lambda i: position.get(i.id, len(position)))


def longest_run(values: Sequence[Answer]) -> int:
    """The longest run of one value, N/A included (0 for none)."""
    best = current = 0
    previous: object = object()
    for value in values:
        current = current + 1 if value == previous else 1
        previous = value
        best = max(best, current)
    return best


def _sd(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def reversed_gap(q: Questionnaire, answers: Mapping[str, Answer]) -> float | None:
    """The mean, over dimensions with answers to both kinds, of the gap between the keyed
    scores (0-100) of the statements and of the reverse-keyed ones. A careful respondent's
    two kinds agree once keyed; someone agreeing with everything scores 100 on one and 0 on
    the other."""
    return _reversed_gap(_plan(q), answers)


def _reversed_gap(plan: _Plan, answers: Mapping[str, Answer]) -> float | None:
    gaps = []
    for items in plan.by_dimension:
        kinds: dict[bool, list[float]] = {True: [], False: []}
        for item_id, low, span, reverse in items:
            value = answers.get(item_id)
            if not isinstance(value, int | float):
                continue  # unanswered, or N/A
            keyed = (low + span - (value - low)) if reverse else value
            kinds[reverse].append(100 * (keyed - low) / span)
        if kinds[True] and kinds[False]:
            gaps.append(abs(_mean(kinds[True]) - _mean(kinds[False])))
    return _mean(gaps) if gaps else None


class _Plan:
    """What assess needs of a questionnaire, worked out once."""

    def __init__(self, q: Questionnaire) -> None:
        self.likert = q.likert_items()
        self.checks = q.checks
        self.conditional = display.conditional(q)
        self.by_dimension = []
        for dimension in q.dimensions:
            items = []
            for item in q.likert_items(dimension.id):
                points = q.scales[item.scale].points
                items.append((item.id, min(points), max(points) - min(points), item.reverse))
            if any(r for *_, r in items) and not all(r for *_, r in items):
                self.by_dimension.append(items)


def _plan(q: Questionnaire) -> _Plan:
    return derived(q, _Plan)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


# --- outliers ------------------------------------------------------------------------------------


def norms_from(dimensions: list[str], sums: Sums) -> Norms | None:
    """Means and inverse covariance of the dimension scores from the report's sums (the pairs'
    sums, over responses scored on both); None when too few or the matrix is singular."""
    k = len(dimensions)
    if k < 2:
        return None
    ordered = sorted(dimensions)

    def pair(a: str, b: str, part: str) -> float:
        first, second = sorted((a, b))
        if part in ("a", "aa") and (first, second) != (a, b):
            part = {"a": "b", "aa": "bb"}[part]
        return sums.get(("c", first, second, part), 0.0)

    partner = {d: ordered[1] if d == ordered[0] else ordered[0] for d in ordered}
    n = min(pair(a, b, "n") for a in ordered for b in ordered if a < b)
    if n < 3:
        return None
    means = [pair(d, partner[d], "a") / pair(d, partner[d], "n") for d in ordered]
    covariance = [[0.0] * k for _ in range(k)]
    for i, a in enumerate(ordered):
        for j, b in enumerate(ordered):
            if i == j:
                m = pair(a, partner[a], "n")
                s, ss = pair(a, partner[a], "a"), pair(a, partner[a], "aa")
                covariance[i][i] = (ss - s * s / m) / (m - 1)
            elif i < j:
                m = pair(a, b, "n")
                sa, sb, sab = pair(a, b, "a"), pair(b, a, "a"), pair(a, b, "ab")
                covariance[i][j] = covariance[j][i] = (sab - sa * sb / m) / (m - 1)
    inverse = invert(covariance)
    if inverse is None:
        return None
    return Norms(ordered, means, inverse, int(n))


def invert(matrix: list[list[float]]) -> list[list[float]] | None:
    """The inverse by Gauss-Jordan elimination with partial pivoting; None when singular."""
    k = len(matrix)
    a = [[*row, *(1.0 if i == j else 0.0 for j in range(k))] for i, row in enumerate(matrix)]
    scale = max((abs(v) for row in matrix for v in row), default=0.0)
    for col in range(k):
        pivot = max(range(col, k), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) <= 1e-12 * max(scale, 1.0):
            return None
        a[col], a[pivot] = a[pivot], a[col]
        lead = a[col][col]
        a[col] = [v / lead for v in a[col]]
        for r in range(k):
            if r != col and a[r][col] != 0.0:
                factor = a[r][col]
                a[r] = [v - factor * w for v, w in zip(a[r], a[col], strict=True)]
    return [row[k:] for row in a]


def mahalanobis(norms: Norms, scores: Mapping[str, float | None]) -> float | None:
    """The squared Mahalanobis distance of a response's scores; None without every score."""
    values = [scores.get(d) for d in norms.dimensions]
    if any(v is None for v in values):
        return None
    diff = [v - m for v, m in zip(values, norms.means, strict=True)]  # type: ignore[operator]
    return sum(
        diff[i] * norms.inverse[i][j] * diff[j] for i in range(len(diff)) for j in range(len(diff))
    )


def chi2_sf(x: float, k: int) -> float:
    """P(X ≥ x) for a chi-square distribution with k degrees of freedom (closed forms)."""
    if x <= 0:
        return 1.0
    half = x / 2
    if k % 2 == 0:
        term = total = 1.0
        for i in range(1, k // 2):
            term *= half / i
            total += term
        return math.exp(-half) * total
    # Odd k: erfc(√(x/2)) + e^(-x/2) Σ_{i=1}^{(k-1)/2} (x/2)^(i-1/2) / Γ(i + 1/2).
    total = math.erfc(math.sqrt(half))
    term = math.exp(-half) * math.sqrt(half) / math.gamma(1.5)
    for i in range(1, (k + 1) // 2):
        total += term
        term *= half / (i + 0.5)
    return min(1.0, total)
