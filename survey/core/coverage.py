"""Whether a profile list says what every result means: no value falls through unnoticed.

Scores run from 0 to 100, and every condition's bounds cut that range into intervals on which
each condition is either true or false throughout. So the combinations a response can have
are finitely many cells: an interval of the index crossed with an interval (or a blank) of
each dimension the profiles test. A cell is reachable when some scores in it are possible at
once: a dimension in the index is never blank when there is an index, and the index is the
weighted mean of its dimensions, so "index 70 or more" cannot meet "every indexed dimension
under 40". Each reachable cell must be chosen by a profile that has conditions; a profile
without any (an empty or missing `when`) would take whatever nobody wrote a rule for.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

from survey.core.model import Condition, Profile, Questionnaire
from survey.errors import Problem

LOW, HIGH = Fraction(0), Fraction(100)
_SHOWN = 12  # cells named in one problem; the rest are counted


@dataclass(frozen=True)
class Cell:
    """Scores from `low` up to `high` (`high` included only when `closed`), or a blank."""

    low: Fraction
    high: Fraction
    closed: bool
    blank: bool = False

    @property
    def value(self) -> float | None:
        """A score in the cell: every condition holds for all of the cell or none of it."""
        return None if self.blank else float(self.low)

    def __str__(self) -> str:
        if self.blank:
            return "blank"
        low, high = f"{float(self.low):g}", f"{float(self.high):g}"
        if self.low == self.high:
            return low
        if self.low == LOW and self.high == HIGH:
            return "any score"
        if self.low == LOW:
            return f"under {high}" if not self.closed else f"{low} to {high}"
        if self.high == HIGH and self.closed:
            return f"{low} or more"
        return f"{low} to under {high}"


def cells(bounds: set[float], blank: bool) -> list[Cell]:
    """The intervals of 0–100 that `bounds` cut, and a blank when the value can be missing."""
    cuts = sorted({LOW, HIGH, *(Fraction(b) for b in bounds if LOW < b < HIGH)})
    found = [Cell(a, b, b == HIGH) for a, b in itertools.pairwise(cuts)]
    return [*found, Cell(HIGH, HIGH, True, blank=True)] if blank else found


def _bounds(conditions: list[Condition]) -> set[float]:
    return {
        bound
        for condition in conditions
        for bound in (condition.at_least, condition.below)
        if bound is not None
    }


def _conditional(profile: Profile) -> bool:
    when = profile.when
    return when is not None and (when.index is not None or bool(when.dimensions))


def _holds(profile: Profile, index: Cell, dimensions: dict[str, Cell]) -> bool:
    when = profile.when
    if when is None:
        return True
    if when.index is not None and not when.index.holds(index.value):
        return False
    return all(c.holds(dimensions[name].value) for name, c in when.dimensions.items())


def _meets(a: Cell, b: tuple[Fraction, Fraction, bool]) -> bool:
    """Whether a cell and the closed-below interval `b` share a point."""
    low, high = max(a.low, b[0]), min(a.high, b[1])
    if low < high:
        return True
    return low == high and (low < a.high or a.closed) and (low < b[1] or b[2])


def reachable(q: Questionnaire, index: Cell, dimensions: dict[str, Cell]) -> bool:
    """Whether a response can have an index in `index` and each dimension in its cell."""
    weights = {name: Fraction(w) for name, w in q.weights.items() if w > 0}
    total = sum(weights.values())
    low = high = Fraction(0)
    closed = True
    for name, weight in weights.items():
        cell = dimensions.get(name)
        if cell is not None and cell.blank:
            return False  # an indexed dimension without a score leaves no index
        low += weight * (cell.low if cell else LOW)
        high += weight * (cell.high if cell else HIGH)
        closed = closed and (cell.closed if cell else True)
    return _meets(index, (low / total, high / total, closed))


def problems(q: Questionnaire) -> list[Problem]:
    """Cells no conditional profile chooses, and profiles that no cell reaches."""
    if not q.profiles or not q.weights:
        return []
    if len(q.profiles) == 1 and not _conditional(q.profiles[0]):
        return []  # one profile for everyone says so plainly
    known = {d.id for d in q.dimensions}
    tested = list(dict.fromkeys(name for p in q.profiles if p.when for name in p.when.dimensions))
    if any(name not in known for name in tested):
        return []  # reported as an unknown dimension
    index_cells = cells(
        _bounds([p.when.index for p in q.profiles if p.when and p.when.index]), False
    )
    axes = [
        cells(
            _bounds(
                [
                    p.when.dimensions[name]
                    for p in q.profiles
                    if p.when and name in p.when.dimensions
                ]
            ),
            blank=True,
        )
        for name in tested
    ]
    chosen: set[int] = set()
    unruled: list[str] = []
    catch_all: dict[int, list[str]] = {}
    for index in index_cells:
        for combination in itertools.product(*axes):
            dimensions = dict(zip(tested, combination, strict=True))
            if not reachable(q, index, dimensions):
                continue
            first = next(
                (n for n, p in enumerate(q.profiles) if _holds(p, index, dimensions)), None
            )
            where = describe(q, index, dimensions)
            if first is None:
                unruled.append(where)
                continue
            chosen.add(first)
            if not _conditional(q.profiles[first]):
                catch_all.setdefault(first, []).append(where)
    found = []
    if unruled:
        found.append(Problem("profiles", f"no profile holds for {_some(unruled)}"))
    for n, profile in enumerate(q.profiles):
        path = f"profiles[{n}]"
        if n in catch_all:
            found.append(
                Problem(
                    f"{path}.when",
                    f"{profile.id!r} has no conditions, so it takes values no rule was written "
                    f"for: {_some(catch_all[n])}; give them a profile of their own and "
                    f"{profile.id!r} a `when`",
                )
            )
        elif n not in chosen:
            found.append(
                Problem(
                    path,
                    f"{profile.id!r} is never chosen: the profiles before it hold for every "
                    "result it holds for",
                )
            )
    return found


def describe(q: Questionnaire, index: Cell, dimensions: dict[str, Cell]) -> str:
    """`index 40 to under 70, collecting blank`."""
    parts = [f"{q.scoring.index.id} {index}"]
    parts += [f"{name} {cell}" for name, cell in dimensions.items()]
    return ", ".join(parts)


def _some(cells_: list[str]) -> str:
    shown = "; ".join(cells_[:_SHOWN])
    more = len(cells_) - _SHOWN
    return f"{shown} (and {more} more)" if more > 0 else shown
