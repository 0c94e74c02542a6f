"""The CSV export's columns, and how each answer column must be written to be safe.

Pure: PostgreSQL writes the rows (store.copy_export_csv), and this decides what it must do to
each cell. A cell a spreadsheet would take for a formula is neutralised with a leading `'`. Most
columns cannot hold one: a likert or number item's values are numbers, and a choice item's are
its options, which are known. Only those need no work, so the export checks every version of the
questionnaire that responses may have answered: an item that changed type, or whose options
include one that starts like a formula, gets the general, slower treatment.

The norm tables' downloads (stats.norms) are written here row by row, each cell neutralised.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator

from survey.core.display import randomized
from survey.core.model import (
    ChoiceItem,
    Item,
    LikertItem,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
)
from survey.core.stats import NORM_PERCENTILES, Norm

FIXED_COLUMNS = [
    "id",
    "created_at",
    "version",
    "source",
    "complete",
    "profile",
    "index",
    "quote_consent",
]

# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER)
# The same rule as one regular expression, for PostgreSQL's regexp_replace: the empty match at
# the start of a cell that begins like a formula and is not a plain number, to put `'` in.
NEUTRALISE_PATTERN = f"^(?=[-=+@\\t\\r])(?!{PLAIN_NUMBER}$)"


def neutralise(cell: str) -> str:
    """The cell with a leading `'` if a spreadsheet would take it for a formula.

    That is a cell starting with = + - @, a tab or a carriage return (OWASP's CSV injection
    list), unless the whole cell is a plain number as JSON writes one: `-3` and `-0.5` are
    data, while `+1`, `-1+2` and `=1+1` are not numbers and are neutralised.
    """
    if cell.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


# The quality flags (space-separated names), then the values they were decided on: the
# measures' names as core.quality.assess stores them, each a number or empty.
QUALITY_MEASURES = (
    "seconds",
    "longstring",
    "irv",
    "reversed_gap",
    "attention_failed",
    "mahalanobis",
)
QUALITY_COLUMNS = ("quality_flags", *(f"quality.{m}" for m in QUALITY_MEASURES))


def csv_header(q: Questionnaire) -> list[str]:
    """Fixed columns, then `score.<dimension>` and `answer.<item>` in questionnaire order,
    `item_order` (the ids in the order shown, space-separated) when a section randomises, the
    quality columns, and the channel the survey link named (core.channels)."""
    return [
        *FIXED_COLUMNS,
        *(f"score.{d.id}" for d in q.dimensions),
        *(f"answer.{i.id}" for i in q.items),
        *(["item_order"] if randomized(q) else []),
        *QUALITY_COLUMNS,
        "channel",
    ]


class Cell(enum.Enum):
    """How one answer column is written; every kind gives what `neutralise` would."""

    # Written as stored, untouched: a number (likert or number in every version), or one of
    # a choice's options, none of which starts like a formula.
    VERBATIM = "verbatim"
    # A multi_choice in every version, its options joined with "; ": none starts like a
    # formula, and none holds what JSON escapes (`"`, `\`, control characters) or starts or
    # ends with a bracket, so the joined cell can be cut out of the JSON text of the list.
    OPTIONS = "options"
    # Free text (or a choice with an option that starts like a formula): neutralised.
    TEXT = "text"
    # Any JSON value, since the item changed type between versions: a list joined, then
    # neutralised.
    ANY = "any"


def _plain(option: str) -> bool:
    return not option.startswith(FORMULA_START)


def _cuttable(option: str) -> bool:
    """Whether an option comes out of PostgreSQL's JSON text of a list as it is."""
    return (
        _plain(option)
        and not any(c in option for c in '"\\')
        and all(ord(c) >= 0x20 for c in option)
        and not option.startswith(("[", "]"))
        and not option.endswith(("[", "]"))
    )


def _kind(items: list[Item]) -> Cell:
    """The cell kind for one item id, given its definition in every version that has it."""
    if all(isinstance(i, LikertItem | NumberItem) for i in items):
        return Cell.VERBATIM
    if all(isinstance(i, ChoiceItem) for i in items):
        choices = [i for i in items if isinstance(i, ChoiceItem)]
        plain = all(_plain(o) for i in choices for o in i.options)
        return Cell.VERBATIM if plain else Cell.TEXT
    if all(isinstance(i, MultiChoiceItem) for i in items):
        lists = [i for i in items if isinstance(i, MultiChoiceItem)]
        cuttable = all(_cuttable(o) for i in lists for o in i.options)
        return Cell.OPTIONS if cuttable else Cell.ANY
    if not any(isinstance(i, MultiChoiceItem | LikertItem | NumberItem) for i in items):
        return Cell.TEXT  # text and choice items: always a string
    return Cell.ANY


def answer_cells(
    current: Questionnaire, versions: Iterable[Questionnaire] | None
) -> list[tuple[str, Cell]]:
    """Each answer column of `current` with how to write it, given every version stored.

    `versions` None means some stored version could not be read: every column is then
    written the general way.
    """
    if versions is None:
        return [(i.id, Cell.ANY) for i in current.items]
    seen: dict[str, list[Item]] = {i.id: [i] for i in current.items}
    for version in versions:
        for item in version.items:
            if item.id in seen:
                seen[item.id].append(item)
    return [(item_id, _kind(items)) for item_id, items in seen.items()]


# The norm tables' downloads, long ("tidy"): a row per group, score and whole score; and a row
# per group, score and percentile. `segment` and `value` are empty for everyone.
NORM_COLUMNS = ("score", "score_name", "segment", "value", "n", "whole_score",
                "percent_at_or_below")  # fmt: skip
PERCENTILE_COLUMNS = ("score", "score_name", "segment", "value", "n", "percentile",
                      "whole_score")  # fmt: skip


def _group(norm: Norm) -> list[str]:
    return [norm.id, norm.name, norm.segment or "", norm.value or "", str(norm.n)]


def norm_rows(norms: Iterable[Norm]) -> Iterator[list[str]]:
    """NORM_COLUMNS' rows: the percent of the group at or below each whole score 0-100, to
    4 decimals; every cell neutralised."""
    for norm in norms:
        group = _group(norm)
        for whole, percent in enumerate(norm.at_or_below):
            yield [neutralise(c) for c in (*group, str(whole), f"{percent:.4f}")]


def percentile_rows(norms: Iterable[Norm]) -> Iterator[list[str]]:
    """PERCENTILE_COLUMNS' rows: the lowest whole score at or below which each percentile of
    the group lies; every cell neutralised."""
    for norm in norms:
        group = _group(norm)
        for p in NORM_PERCENTILES:
            if str(p) in norm.percentiles:
                yield [neutralise(c) for c in (*group, str(p), str(norm.percentiles[str(p)]))]
