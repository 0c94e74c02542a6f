"""The report's sufficient statistics: the rollup's keys, and their sums computed in Python.

A report never reads responses one by one. Each response contributes numbers under keys, the
store keeps their sums per (questionnaire, version, UTC day, source, clean) in `report_rollup`,
and `stats` builds every figure of the report from the sums over the days, versions, sources
and quality a filter selects (clean: no quality flag). Every key is additive: folded sums,
rows not yet folded and deletions (their contribution negated) combine by plain addition.
The keys, one table for SQL and Python:

    key                            each response adds                      for
    ("n",)                         1                                       responses
    ("q", flag)                    1 per quality flag it has                flags by reason
    ("qt", day, flag)              1 per flag, under its UTC day            flags over time
    ("qs", source, flag)           1 per flag, under its source             flags by channel
    ("t", day)                     1, under its UTC day (YYYY-MM-DD)       responses per day
    ("ver", version)               1, under its questionnaire version      responses per version
    ("scored",)                    1 if it has an index                    complete responses
    ("p", profile)                 1 under its profile, if any             profile counts
    ("i", index)                   1 under its index to 4 decimals         index distribution
    ("v", item, value)             1 per value answered (each option       answer counts
                                   chosen, for a multi-choice item)
    ("d", dimension, score)        1 under the score to 4 decimals         score distributions
    ("r", dimension)               1 if every likert item of the           reliability: n
                                   dimension is answered (complete case)
    ("r", dimension, item)         the item's raw value, complete cases    reliability: Σx
    ("r", dimension, a, b)         a's value × b's (a ≤ b), complete cases reliability: Σxy
    ("c", a, b, part)              for dimensions a < b both scored:       correlations
                                   part n → 1, a, b, aa, bb, ab → the
                                   scores, their squares and product
    ("g", item, value, part)       for a segment item's value: part        segments
                                   n → 1, scored → 1 if complete,
                                   isum → the index (0 if none),
                                   isq → its square (0 if none)
    ("gd", item, value, dim, part) for a dimension scored: n → 1,           segments' means,
                                   s → the score, ss → its square          their intervals
    ("g", item, value, "p", prof)  1 per segment value and profile         segments' profiles
    (segment items include "_channel": the channel a response's link named, when it named one)

Numbers and values are keyed by their text as PostgreSQL prints them (value_text,
rounded_text); pairs of items and of dimensions in code-point order (COLLATE "C" in SQL).
`store.rollup` computes the same sums in SQL when it folds stored rows; a bulk load computes
them here, in the scoring workers, for the rows it is about to store, so the first report after
a large import has nothing left to fold. `tests/store/test_rollup.py` holds the two to the same
sums, key for key.
"""

from __future__ import annotations

import operator
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from itertools import combinations, compress
from operator import methodcaller
from types import NoneType
from typing import cast

import msgspec

from survey.core.model import (
    NA,
    Answer,
    ChoiceItem,
    LikertItem,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    Score,
)

Key = tuple[str, ...]
# The sums over the responses a filter selects, as stats reads them.
Sums = Mapping[Key, float]
# A rollup row's place: version, UTC day, source, clean (no quality flag).
Place = tuple[str, date, str, bool]
# The sums of rows about to be stored, per place, as a bulk load adds them to the rollup.
SumsByPlace = dict[Place, dict[Key, float]]


class ReportShape(msgspec.Struct, frozen=True, kw_only=True):
    """What the store counts, from the questionnaire: item ids by role, as SQL arrays."""

    counted: list[str]  # likert, choice and number items: a count per value
    multi: list[str]  # multi_choice items: a count per option chosen
    reliability_dims: list[str]  # parallel to reliability_items
    reliability_items: list[str]
    segments: list[str]
    # Which key table the rollup was summed with: a rollup of an older one is folded again
    # (a shape stored before this field reads as 1).
    keys: int = 1


# The key table's edition: 2 added each segment value's index squares and dimension moments.
KEYS = 2


# The channel's segment id (channels.SEGMENT): SQL sums it from the response's channel column.
CHANNEL = "_channel"


def shape_of(q: Questionnaire) -> ReportShape:
    likert = q.likert_items()
    return ReportShape(
        keys=KEYS,
        counted=[i.id for i in q.items if isinstance(i, LikertItem | ChoiceItem | NumberItem)],
        multi=[i.id for i in q.items if isinstance(i, MultiChoiceItem)],
        reliability_dims=[i.dimension for i in likert],
        reliability_items=[i.id for i in likert],
        segments=[*(i.id for i in q.segments), CHANNEL],
    )


_FOUR = Decimal("0.0001")
_WIDE = Context(prec=400)  # room for any float8 to four decimals
_ROUNDED: dict[float, str] = {}


def rounded_text(x: float) -> str:
    """`round(x::numeric, 4)::text` as PostgreSQL prints it.

    PostgreSQL turns a float8 into numeric through its 15 significant digits, then rounds
    half away from zero; binary rounding of the float itself would differ on ties.
    """
    text = _ROUNDED.get(x)
    if text is None:
        d = Decimal(f"{x:.15g}").quantize(_FOUR, rounding=ROUND_HALF_UP, context=_WIDE)
        text = f"{abs(d) if d.is_zero() else d:f}"  # numeric has no negative zero
        if len(_ROUNDED) > 100_000:
            _ROUNDED.clear()
        _ROUNDED[x] = text
    return text


def value_text(value: object) -> str | None:
    """A stored answer (or option) as `#>> '{}'` prints it; None unless a number or string.

    A float goes through its JSON text, which jsonb keeps as a decimal: 1e-07 prints as
    0.0000001 and 2.0 as 2.0.
    """
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[return-value]
    if cls is int:
        return str(value)
    if cls is float:
        d = Decimal(msgspec.json.encode(value).decode())
        return f"{abs(d) if d.is_zero() else d:f}"
    return None


class _Plan:
    """The shape's item lists, as the sums need them."""

    def __init__(self, shape: ReportShape) -> None:
        self.counted = shape.counted
        self.multi = shape.multi
        items: dict[str, list[str]] = defaultdict(list)
        for dim, item in zip(shape.reliability_dims, shape.reliability_items, strict=True):
            items[dim].append(item)
        # Pairs are keyed in code-point order, as the SQL's COLLATE "C" and stats.py order them.
        self.reliability = [(dim, sorted(set(its))) for dim, its in items.items()]
        self.segments = shape.segments


class Folder:
    """Gathers scored rows, then sums them column by column: `add` each, then take `sums()`."""

    def __init__(self, shape: ReportShape) -> None:
        self.plan = _Plan(shape)
        self.groups: defaultdict[Place, list[tuple[dict[str, Answer], Score]]] = defaultdict(list)
        self.flags: defaultdict[Place, Counter[str]] = defaultdict(Counter)

    def add(
        self,
        version: str,
        created_at: datetime,
        source: str,
        answers: dict[str, Answer],
        score: Score,
        flags: Iterable[str] = (),
        channel: str | None = None,
    ) -> None:
        day = created_at.astimezone(UTC).date()
        flags = list(flags)
        place = (version, day, source, not flags)
        if channel is not None:  # a segment like the items (channels.SEGMENT)
            answers = {**answers, CHANNEL: channel}
        self.groups[place].append((answers, score))
        if flags:
            self.flags[place].update(flags)

    def sums(self) -> SumsByPlace:
        """Every key's sum for each (version, day, source, clean) seen."""
        out = {}
        for place, rows in self.groups.items():
            if rows:
                sums = out[place] = _sums(self.plan, place, rows)
                for flag, count in self.flags[place].items():
                    sums["q", flag] = sums["qt", place[1].isoformat(), flag] = float(count)
                    sums["qs", place[2], flag] = float(count)
        return out


def _sums(
    plan: _Plan, place: Place, rows: list[tuple[dict[str, Answer], Score]]
) -> dict[Key, float]:
    """The sums of the key table above over one place's rows."""
    version, day, _, _ = place
    answers = [a for a, _ in rows]
    scores = [s for _, s in rows]
    sums: dict[Key, float] = {}
    n = float(len(rows))
    sums["n",] = sums["t", day.isoformat()] = sums["ver", version] = n
    indexes = [s.index for s in scores]
    complete = [i for i in indexes if i is not None]
    if complete:
        sums["scored",] = float(len(complete))
    _count_rounded(sums, ("i",), complete)
    profiles = [s.profile.id if s.profile is not None else None for s in scores]
    _count(sums, ("p",), profiles)
    for item in plan.counted:
        _count(sums, ("v", item), map(methodcaller("get", item), answers))
    for item in plan.multi:
        chosen = map(methodcaller("get", item), answers)
        _count(sums, ("v", item), [o for c in chosen if c.__class__ is list for o in c])
    dimensions = [s.dimensions for s in scores]
    names = sorted({name for d in dimensions for name in d})
    columns = [list(map(methodcaller("get", name), dimensions)) for name in names]
    for item in plan.segments:
        texts = _texts(list(map(methodcaller("get", item), answers)))
        _segment(sums, item, texts, indexes, profiles)
        _segment_scores(sums, item, texts, dict(zip(names, columns, strict=True)))
    for name, column in zip(names, columns, strict=True):
        _count_rounded(sums, ("d", name), column)
    _dimension_pairs(sums, names, columns)
    for dim, items in plan.reliability:
        _item_products(
            sums, dim, items, [list(map(methodcaller("get", i), answers)) for i in items]
        )
    return sums


def _count(sums: dict[Key, float], prefix: Key, values: Iterable[object]) -> None:
    """Count each value under its text (value_text); None and other kinds are not counted.

    Counted as they are, then each distinct value made text: unless there is a float, which
    Python counts together with the int it equals (2.0 and 2) where PostgreSQL prints 2.0.
    """
    values = list(values)
    counts: Counter[object]
    if float in set(map(type, values)):  # the values': a Counter keeps the first of 2 and 2.0
        counts = Counter(map(value_text, values))
    else:
        counts = Counter(values)
    for value, count in counts.items():
        text = value_text(value)
        if text is not None:
            key = (*prefix, text)
            sums[key] = sums.get(key, 0.0) + count


def _count_rounded(sums: dict[Key, float], prefix: Key, values: Iterable[float | None]) -> None:
    """Count each number under its text rounded to four decimals (rounded_text)."""
    for value, count in Counter(values).items():
        if value is not None:
            key = (*prefix, rounded_text(value))
            sums[key] = sums.get(key, 0.0) + count


def _texts(values: list[Answer]) -> list[str | None]:
    """value_text of each value (None for a missing one), quickly when they are all the same
    kind: the texts of ints and strings are themselves, a float's is not."""
    kinds = set(map(type, values))
    if kinds <= {str, NoneType}:
        return values  # type: ignore[return-value]
    if kinds <= {int, NoneType}:
        return [None if v is None else str(v) for v in values]
    return [value_text(v) for v in values]


def _segment(
    sums: dict[Key, float],
    item: str,
    texts: list[str | None],
    indexes: list[float | None],
    profiles: list[str | None],
) -> None:
    """Per value of a segment item: responses, complete ones, the index's sum, and profiles."""
    scored = [
        (t, i) for t, i in zip(texts, indexes, strict=True) if t is not None and i is not None
    ]
    isum: defaultdict[str, float] = defaultdict(float)
    isq: defaultdict[str, float] = defaultdict(float)
    for text, index in scored:
        isum[text] += index
        isq[text] += index * index
    complete = Counter(t for t, _ in scored)
    for value, n in Counter(texts).items():
        if value is not None:
            sums["g", item, value, "n"] = float(n)
            sums["g", item, value, "scored"] = float(complete[value])
            sums["g", item, value, "isum"] = isum[value]
            sums["g", item, value, "isq"] = isq[value]
    for (value, profile), n in Counter(zip(texts, profiles, strict=True)).items():
        if value is not None and profile is not None:
            sums["g", item, value, "p", profile] = float(n)


def _segment_scores(
    sums: dict[Key, float],
    item: str,
    texts: list[str | None],
    columns: dict[str, list[float | None]],
) -> None:
    """Per value of a segment item: each dimension's count, sum and sum of squares."""
    for dim, column in columns.items():
        for text, score in zip(texts, column, strict=True):
            if text is None or score is None:
                continue
            for part, value in (("n", 1.0), ("s", score), ("ss", score * score)):
                key = ("gd", item, text, dim, part)
                sums[key] = sums.get(key, 0.0) + value


def _item_products(
    sums: dict[Key, float], dim: str, items: list[str], columns: list[list[Answer]]
) -> None:
    """A dimension's complete cases (every item answered on the scale, none N/A): their
    count, the sum of each item and of each product of two items."""
    if any(None in column or NA in column for column in columns):
        complete = [
            None not in values and NA not in values for values in zip(*columns, strict=True)
        ]
        columns = [list(compress(column, complete)) for column in columns]
    if not columns[0]:
        return
    floats = [list(map(float, column)) for column in columns]  # type: ignore[arg-type]
    sums["r", dim] = float(len(floats[0]))
    for i, a in enumerate(items):
        sums["r", dim, a] = sum(floats[i])
        for j in range(i, len(items)):
            sums["r", dim, a, items[j]] = sum(map(operator.mul, floats[i], floats[j]))


def _dimension_pairs(
    sums: dict[Key, float], names: list[str], columns: list[list[float | None]]
) -> None:
    """For each pair of dimensions both scored: the count, sums, squares and products."""
    scored = [[v is not None for v in column] for column in columns]
    gaps = [not all(column) for column in scored]
    for i, j in combinations(range(len(names)), 2):
        xs, ys = cast(list[float], columns[i]), cast(list[float], columns[j])
        if gaps[i] or gaps[j]:
            both = list(map(operator.and_, scored[i], scored[j]))
            xs, ys = list(compress(xs, both)), list(compress(ys, both))
            if not xs:
                continue
        a, b = names[i], names[j]
        for part, value in (
            ("n", float(len(xs))), ("a", sum(xs)), ("b", sum(ys)),
            ("aa", sum(map(operator.mul, xs, xs))),
            ("bb", sum(map(operator.mul, ys, ys))),
            ("ab", sum(map(operator.mul, xs, ys))),
        ):  # fmt: skip
            sums["c", a, b, part] = value


def merge(into: SumsByPlace, more: SumsByPlace) -> None:
    """Add `more`'s sums to `into`'s."""
    for place, sums in more.items():
        target = into.setdefault(place, {})
        for key, value in sums.items():
            target[key] = target.get(key, 0.0) + value


def rows_of(slug_sums: SumsByPlace) -> list[list[object]]:
    """The sums as [version, day, source, clean, key, value] rows, for
    store.add_to_report_rollup."""
    return [
        [version, day.isoformat(), source, clean, list(key), value]
        for (version, day, source, clean), sums in slug_sums.items()
        for key, value in sums.items()
    ]
