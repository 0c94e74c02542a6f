"""Pure scoring: validate a submission; item, dimension and index scores; profile."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import NamedTuple

from survey.core import display
from survey.core.model import (
    NA,
    Answer,
    Band,
    ChoiceItem,
    Item,
    LikertItem,
    MultiChoiceItem,
    NumberItem,
    Profile,
    Questionnaire,
    Score,
    TextItem,
    derived,
)
from survey.core.submission import Submission
from survey.errors import Problem


def validate(q: Questionnaire, submission: Submission) -> list[Problem]:
    """Every problem with a submission at once; an empty list means it can be scored."""
    problems: list[Problem] = []
    plan = _plan(q)
    answers = submission.answers
    if not answers.keys() <= plan.by_id.keys():
        unknown = [i for i in answers if i not in plan.by_id]
        problems += [Problem(f"answers.{i}", "unknown item") for i in unknown]
    # Every likert item answered with one of its scale's values, the usual case, is seen at
    # once a scale at a time; then only the other items are looked at one by one.
    checks = plan.other_checks if _all_on_scale(plan, answers) else plan.checks
    if plan.conditional:
        # Only the items shown are checked (and required): the others' answers are dropped.
        hidden = display.hidden(q, answers)
        checks = [check for check in checks if check.item.id not in hidden]
    for item, kind, allowed, limit in checks:
        value = answers.get(item.id)
        # The common valid answers are recognised at once; anything else takes the general
        # path below, which names what is wrong.
        if kind is _SCALE:
            if value.__class__ is int and value in allowed:
                continue
        elif kind is _OPTION:
            if value.__class__ is str and value and value in allowed:
                continue
        elif (
            kind is _TEXT
            and isinstance(value, str)
            and 0 < len(value) <= limit
            and "\x00" not in value
        ):
            continue
        if _is_blank(value):
            if item.required:
                problems.append(Problem(f"answers.{item.id}", "an answer is required"))
            continue
        message = _check_value(q, item, value)
        if message:
            problems.append(Problem(f"answers.{item.id}", message))
    if q.consent and not submission.consent:
        problems.append(Problem("consent", "consent is required to take part"))
    return problems


_INT = frozenset((int,))


def _all_on_scale(plan: _Plan, answers: Mapping[str, Answer]) -> bool:
    """Whether every likert item has a whole number (not a bool) on its scale as its answer."""
    for ids, points in plan.by_scale:
        values = list(map(answers.get, ids))
        if not (_INT.issuperset(map(type, values)) and points.issuperset(values)):
            return False
    return True


def _is_blank(value: Answer) -> bool:
    return value is None or value == "" or value == []


def _check_value(q: Questionnaire, item: Item, value: Answer) -> str | None:
    match item:
        case LikertItem(scale=scale_id):
            scale = q.scales[scale_id]
            points = scale.points
            if value == NA:
                return None if scale.na is not None else f"{NA!r} is not an answer on this scale"
            if not _is_int(value) or int(value) not in points:  # type: ignore[arg-type]
                if scale.na is not None:
                    return f"must be one of the scale values {points} or {NA!r}"
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
    """Valid answers as stored: blanks and answers to items not shown dropped, whole floats on
    integer items made ints."""
    plan = _plan(q)
    if plan.conditional:
        kept = _normalised(plan, answers)
        hidden = display.hidden(q, kept)
        return {k: v for k, v in kept.items() if k not in hidden}
    return _normalised(plan, answers)


def ignored(q: Questionnaire, answers: Mapping[str, Answer]) -> list[str]:
    """The items answered that are not shown, given the answers: their answers are dropped."""
    if not _plan(q).conditional:
        return []
    hidden = display.hidden(q, answers)
    return [k for k, v in answers.items() if k in hidden and not _is_blank(v)]


def _normalised(plan: _Plan, answers: Mapping[str, Answer]) -> dict[str, Answer]:
    items, integral = plan.by_id, plan.integral
    values = answers.values()
    kinds = set(map(type, values))
    if (
        kinds <= _STORED_AS_IS
        and answers.keys() <= items.keys()
        and "" not in values
        and (list not in kinds or [] not in values)
    ):
        return dict(answers)  # no blank, no float, no unknown item: nothing to change
    out: dict[str, Answer] = {}
    for item_id, value in answers.items():
        if item_id not in items or value is None or value == "" or value == []:
            continue
        if value.__class__ is float and item_id in integral and value.is_integer():
            value = int(value)
        out[item_id] = value
    return out


# Answers that normalise keeps as they are, when not blank.
_STORED_AS_IS = frozenset((int, str, list))


# What validate can check an item's answer against at once: a likert item's scale values, a
# choice's options, a text item's length limit; other items take the general path.
_SCALE, _OPTION, _TEXT, _OTHER = "scale", "option", "text", "other"


class _Check(NamedTuple):
    """What validate's quick look checks an item's answer against."""

    item: Item
    kind: str
    allowed: frozenset[object]  # a likert item's scale values, a choice's options
    limit: int  # a text item's length


def _check(q: Questionnaire, item: Item) -> _Check:
    if isinstance(item, LikertItem):
        return _Check(item, _SCALE, frozenset(q.scales[item.scale].points), 0)
    if isinstance(item, ChoiceItem):
        return _Check(item, _OPTION, frozenset(item.options), 0)
    if isinstance(item, TextItem):
        return _Check(item, _TEXT, frozenset(), item.max_length)
    return _Check(item, _OTHER, frozenset(), 0)


class _Keyed(NamedTuple):
    """A likert item that counts towards a dimension, as score() adds it up."""

    id: str
    at: int  # the dimension's position
    low: int  # the scale's least and greatest values
    high: int
    reverse: bool
    span: int  # high - low


class _Run(NamedTuple):
    """Items next to each other in _Plan.items alike but for their ids: whole-number answers
    to a run add up to Σ(keyed − low) at once."""

    at: int
    low: int
    high: int
    reverse: bool
    span: int
    start: int  # the run is _Plan.items[start:stop]
    stop: int


class _Weight(NamedTuple):
    """A dimension's weight in the index, as a fraction."""

    at: int | None  # the dimension's position (None: no such dimension)
    numerator: int
    denominator: int


class _Plan:
    """What scoring needs from a questionnaire, worked out once: likert items as whole numbers."""

    def __init__(self, q: Questionnaire) -> None:
        self.all_items = q.items
        self.by_id = {item.id: item for item in self.all_items}
        self.checks = [_check(q, item) for item in self.all_items]
        self.other_checks = [check for check in self.checks if check.kind is not _SCALE]
        # (likert item ids, their scale's values) a scale at a time, for validate's first look.
        by_scale: dict[str, list[str]] = {}
        for item in q.likert_items():
            by_scale.setdefault(item.scale, []).append(item.id)
        self.by_scale = [(ids, frozenset(q.scales[s].points)) for s, ids in by_scale.items()]
        # Items whose answers are whole numbers: a whole float is stored as an int.
        self.integral = frozenset(
            item.id
            for item in self.all_items
            if isinstance(item, LikertItem) or (isinstance(item, NumberItem) and item.integer)
        )
        self.conditional = display.conditional(q)
        self.dimensions = [d.id for d in q.dimensions]
        position = {d: n for n, d in enumerate(self.dimensions)}
        items: list[_Keyed] = []
        self.counts = [0] * len(self.dimensions)
        for item in q.likert_items():
            if item.dimension not in position:
                continue
            points = q.scales[item.scale].points
            low, high = min(points), max(points)
            at = position[item.dimension]
            items.append(_Keyed(item.id, at, low, high, item.reverse, high - low))
            self.counts[at] += 1
        items.sort(key=lambda i: i[1:])  # by dimension, then alike items together
        self.items = items
        self.item_ids = [i.id for i in items]
        self.groups: list[_Run] = []
        for start, (_, at, low, high, reverse, span) in enumerate(items):
            if self.groups and self.groups[-1][:5] == (at, low, high, reverse, span):
                self.groups[-1] = self.groups[-1]._replace(stop=start + 1)
            else:
                self.groups.append(_Run(at, low, high, reverse, span, start, start + 1))
        share = Fraction(str(q.scoring.min_answered))
        self.share = (share.numerator, share.denominator)
        weights = {d: Fraction(str(w)) for d, w in q.weights.items()}
        self.weights = [
            _Weight(position.get(d), w.numerator, w.denominator) for d, w in weights.items()
        ]
        total = sum(weights.values(), Fraction(0))
        self.total_weight = (total.numerator, total.denominator)


def _plan(q: Questionnaire) -> _Plan:
    return derived(q, _Plan)


def score(q: Questionnaire, answers: Mapping[str, Answer]) -> Score:
    """Dimension scores, the weighted index and the first matching profile.

    Exact: every score is a ratio of whole numbers, divided once at the end (Python's int/int
    division rounds correctly). In running floats a 7-point scale's (50 + 83.3… + 16.6…)/3 is
    49.99999999999999 and fails `at_least: 50`, and 0.28 × 25 items is 7.000000000000001.
    """
    plan = _plan(q)
    size = len(plan.dimensions)
    sums: list[dict[int, int]] = [{} for _ in range(size)]  # per dimension: span → Σ(keyed − m)
    answered = [0] * size
    # Items that do not apply: answered N/A, or not shown.
    not_applicable = [0] * size
    if plan.conditional:
        hidden = display.hidden(q, answers)
        for item in plan.items:
            if item.id in hidden:
                not_applicable[item.at] += 1
        if hidden:
            # An answer to an item not shown is not scored, whether or not it was dropped yet.
            answers = {k: v for k, v in answers.items() if k not in hidden}
    values = list(map(answers.get, plan.item_ids))
    if _INT.issuperset(map(type, values)):
        # Every item answered with a whole number: each run of alike items sums at once.
        for at, low, high, reverse, span, start, stop in plan.groups:
            n = stop - start
            total: int = sum(values[start:stop])  # type: ignore[arg-type]
            by_span = sums[at]
            part = high * n - total if reverse else total - low * n
            by_span[span] = by_span.get(span, 0) + part
            answered[at] += n
    else:
        for (_, at, low, high, reverse, span), value in zip(plan.items, values, strict=True):
            if value.__class__ is not int:
                if value == NA:
                    not_applicable[at] += 1
                    continue
                if value is None or not _is_int(value):
                    continue
                value = int(value)  # type: ignore[arg-type]
            keyed = low + high - value if reverse else value
            by_span = sums[at]
            by_span[span] = by_span.get(span, 0) + keyed - low
            answered[at] += 1

    share_num, share_den = plan.share
    exact: list[tuple[int, int] | None] = []  # (numerator, denominator) per dimension
    for at in range(size):
        n = answered[at]
        # N/A answers do not count: the share is of the items that apply.
        if n == 0 or n * share_den < share_num * (plan.counts[at] - not_applicable[at]):
            exact.append(None)
            continue
        common = math.lcm(*sums[at])
        total = sum(100 * part * (common // span) for span, part in sums[at].items())
        exact.append((total, common * n))

    index: float | None = None
    weighted = [(num, den, exact[at] if at is not None else None) for at, num, den in plan.weights]
    if weighted and all(s is not None for _, _, s in weighted):
        # Σ wᵢ·sᵢ over one common denominator, then ÷ Σ wᵢ, all in whole numbers.
        parts = [(num * s[0], den * s[1]) for num, den, s in weighted if s is not None]
        common = math.lcm(*(d for _, d in parts))
        numerator = sum(n * (common // d) for n, d in parts)
        total_num, total_den = plan.total_weight
        index = (numerator * total_den) / (common * total_num)
    dimensions = {
        d: None if s is None else s[0] / s[1] for d, s in zip(plan.dimensions, exact, strict=True)
    }
    return Score(dimensions, index, profile_for(q, index, dimensions))


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


def validate_page(
    q: Questionnaire, answers: Mapping[str, Answer], items: list[Item]
) -> list[Problem]:
    """The problems with the answers to one page's items, given every answer so far (which
    decides what is shown): what validate would say about those items."""
    fields = {f"answers.{item.id}" for item in items}
    return [p for p in validate(q, Submission(answers=dict(answers))) if p.field in fields]
