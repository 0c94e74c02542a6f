"""Pure scoring (DESIGN §5): validate a submission; item, dimension and index scores; profile."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from fractions import Fraction

from survey.errors import Problem
from survey.model import (
    Answer,
    Band,
    ChoiceItem,
    LikertItem,
    MultiChoiceItem,
    NumberItem,
    Profile,
    Questionnaire,
    Score,
    Submission,
    TextItem,
)


def validate(q: Questionnaire, submission: Submission) -> list[Problem]:
    """Every problem with a submission at once; an empty list means it can be scored."""
    problems: list[Problem] = []
    known = {item.id for item in q.items}
    for item_id in submission.answers:
        if item_id not in known:
            problems.append(Problem(f"answers.{item_id}", "unknown item"))
    for item in q.items:
        value = submission.answers.get(item.id)
        field = f"answers.{item.id}"
        if _is_blank(value):
            if item.required:
                problems.append(Problem(field, "an answer is required"))
            continue
        message = _check_value(q, item, value)
        if message:
            problems.append(Problem(field, message))
    if q.consent and not submission.consent:
        problems.append(Problem("consent", "consent is required to take part"))
    return problems


def _is_blank(value: Answer) -> bool:
    return value is None or value == "" or value == []


def _check_value(q: Questionnaire, item: object, value: Answer) -> str | None:
    match item:
        case LikertItem(scale=scale_id):
            points = q.scales[scale_id].points
            if not _is_int(value) or int(value) not in points:  # type: ignore[arg-type]
                return f"must be one of the scale values {points}"
        case ChoiceItem(options=options):
            if not isinstance(value, str) or value not in options:
                return "must be one of the options"
        case MultiChoiceItem(options=options):
            if not isinstance(value, list) or any(v not in options for v in value):
                return "must be a list of the options"
            if len(set(value)) != len(value):
                return "lists an option twice"
        case NumberItem(min=low, max=high, integer=integer):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return "must be a number"
            # Only floats can be inf or nan; an int is exact however big (isfinite would overflow).
            if isinstance(value, float) and not math.isfinite(value):
                return "must be a finite number"
            if integer and not _is_int(value):
                return "must be a whole number"
            if (low is not None and value < low) or (high is not None and value > high):
                return f"must be between {_fmt(low)} and {_fmt(high)}"
        case TextItem(max_length=limit):
            if not isinstance(value, str):
                return "must be text"
            if len(value) > limit:
                return f"must be at most {limit} characters (got {len(value)})"
            if "\x00" in value:
                return "must not contain NUL characters"
    return None


def _is_int(value: Answer) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _fmt(bound: float | None) -> str:
    if bound is None:
        return "any"
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def normalise(q: Questionnaire, answers: Mapping[str, Answer]) -> dict[str, Answer]:
    """Valid answers as stored: blanks dropped, whole floats on integer items made ints."""
    items = {item.id: item for item in q.items}
    out: dict[str, Answer] = {}
    for item_id, value in answers.items():
        item = items.get(item_id)
        if item is None or _is_blank(value):
            continue
        integral = isinstance(item, LikertItem) or (isinstance(item, NumberItem) and item.integer)
        if integral and isinstance(value, float):
            value = int(value)
        out[item_id] = value
    return out


def item_score(points: list[int], value: int, reverse: bool) -> float:
    """100 · (keyed − m) / (M − m), keyed = m + M − v when reverse-keyed."""
    low, high = min(points), max(points)
    keyed = low + high - value if reverse else value
    return 100.0 * (keyed - low) / (high - low)


def keyed_value(points: list[int], value: int, reverse: bool) -> int:
    return min(points) + max(points) - value if reverse else value


def score(q: Questionnaire, answers: Mapping[str, Answer]) -> Score:
    """Dimension scores, the weighted index and the first matching profile."""
    # Exact arithmetic, rounded to float once at the end: in floats a 7-point scale's
    # (50 + 83.3… + 16.6…)/3 is 49.99999999999999 and fails `at_least: 50`, and
    # 0.28 × 25 items is 7.000000000000001, so 7 answers would not be enough.
    # Each dimension sums whole numbers per scale range and makes one Fraction: this runs
    # on every submission, and Fraction arithmetic per item costs more than the INSERT.
    sums: dict[str, dict[int, int]] = {d.id: {} for d in q.dimensions}  # range → Σ(keyed − m)
    answered = dict.fromkeys(sums, 0)
    counts = dict.fromkeys(sums, 0)
    for section in q.sections:
        for item in section.items:
            if not isinstance(item, LikertItem) or item.dimension not in sums:
                continue
            counts[item.dimension] += 1
            value = answers.get(item.id)
            if not _is_int(value):
                continue
            points = q.scales[item.scale].points
            low, high = min(points), max(points)
            keyed = low + high - int(value) if item.reverse else int(value)  # type: ignore[arg-type]
            by_range = sums[item.dimension]
            by_range[high - low] = by_range.get(high - low, 0) + keyed - low
            answered[item.dimension] += 1

    share = _fraction(q.scoring.min_answered)
    exact: dict[str, Fraction | None] = {}
    for dim, by_range in sums.items():
        n = answered[dim]
        if n == 0 or n * share.denominator < share.numerator * counts[dim]:
            exact[dim] = None
            continue
        common = math.lcm(*by_range)
        total = sum(100 * part * (common // span) for span, part in by_range.items())
        exact[dim] = Fraction(total, common * n)

    index: float | None = None
    weighted = [(_fraction(w), exact.get(d)) for d, w in q.weights.items()]
    if weighted and all(s is not None for _, s in weighted):
        # Σ wᵢ·sᵢ / Σ wᵢ over one common denominator, in whole numbers.
        parts = [
            (w.numerator * s.numerator, w.denominator * s.denominator) for w, s in weighted if s
        ]
        parts += [(0, 1)] * sum(1 for _, s in weighted if s == 0)
        common = math.lcm(*(d for _, d in parts))
        numerator = sum(n * (common // d) for n, d in parts)
        index = float(Fraction(numerator, common) / sum(w for w, _ in weighted))
    dimensions = {d: None if s is None else float(s) for d, s in exact.items()}
    return Score(dimensions, index, profile_for(q, index, dimensions))


@functools.lru_cache(maxsize=256)
def _fraction(value: float) -> Fraction:
    """The decimal the YAML said (0.7, not 0.6999999999999999556): Fraction of its repr."""
    return Fraction(str(value))


def profile_for(
    q: Questionnaire, index: float | None, dimensions: Mapping[str, float | None]
) -> Profile | None:
    """The first profile whose every condition holds; none when the index is null."""
    if index is None:
        return None
    for profile in q.profiles:
        when = profile.when
        if when is None:
            return profile
        if when.index is not None and not when.index.holds(index):
            continue
        if all(c.holds(dimensions.get(d)) for d, c in when.dimensions.items()):
            return profile
    return None


def feedback(bands: list[Band], value: float | None) -> str | None:
    """The text of the first band whose condition holds."""
    if value is None:
        return None
    for band in bands:
        condition = band.condition
        if condition is None or condition.holds(value):
            return band.text
    return None


def percentile(below: int, ties: int, total: int) -> float | None:
    """Share of scored responses below, counting ties as half, in percent."""
    if total == 0:
        return None
    return 100.0 * (below + 0.5 * ties) / total
