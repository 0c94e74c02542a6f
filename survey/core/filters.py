"""Which responses a report or export covers: the filter, read from query parameters (pure)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from urllib.parse import urlencode

import msgspec

from survey.core import channels
from survey.core.model import ChoiceItem, NumberItem, Questionnaire
from survey.errors import InvalidQuery, Problem

# The sources a report counts unless asked to include the synthetic `demo` responses.
SOURCES = ("web", "api", "import")
# `version=all`: every questionnaire version, said outright (the dashboard's default is one).
ALL_VERSIONS = "all"
# The filter's own parameters; any other name is a segment item.
NAMES = ("from", "to", "version", "include_demo", "quality", "channel")
# `channel`: the responses whose survey link named this channel, as the segment
# channels.SEGMENT, an id no item's can be.
# `quality`: the responses without a quality flag, those with one, or every response.
QUALITIES = ("clean", "flagged", "all")


class ReportFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which responses a report covers. Days are UTC dates, both ends included."""

    from_day: date | None = None
    to_day: date | None = None
    version: str | None = None
    sources: tuple[str, ...] = SOURCES
    segments: tuple[tuple[str, str], ...] = ()
    quality: str = "all"

    @property
    def clean(self) -> bool | None:
        """True for clean responses only, False for flagged only, None for every response."""
        return {"clean": True, "flagged": False}.get(self.quality)


def parse_filter(
    q: Questionnaire, params: Mapping[str, str], quality: str = "all"
) -> tuple[ReportFilter, list[Problem]]:
    """Query parameters → a filter, and every problem with them (unknown names, bad values);
    `quality` when the parameters do not say."""
    problems: list[Problem] = []
    quality = params.get("quality") or quality
    if quality not in QUALITIES:
        problems.append(Problem("quality", "must be clean, flagged or all"))
    segments = {i.id: i for i in q.segments}
    from_day = _day(params.get("from"), "from", problems)
    to_day = _day(params.get("to"), "to", problems)
    version = params.get("version") or None
    if version == ALL_VERSIONS:
        version = None
    if version is not None and not re.fullmatch(r"[0-9a-f]{12}", version):
        problems.append(Problem("version", "must be a 12-digit hex version"))
    include_demo = params.get("include_demo", "false").lower()
    if include_demo not in ("true", "false", "1", "0", ""):
        problems.append(Problem("include_demo", "must be true or false"))
    chosen: list[tuple[str, str]] = []
    channel = params.get("channel") or ""
    if channel and not channels.is_name(channel):
        problems.append(Problem("channel", "must be a channel's name (lowercase, digits, - _)"))
    elif channel:
        chosen.append((channels.SEGMENT, channel))
    for name, value in params.items():
        if name in NAMES:
            continue
        item = segments.get(name)
        if item is None:
            problems.append(
                Problem(
                    name,
                    "not a filter: use from, to, version, quality, channel or a segment item",
                )
            )
        elif value == "":
            continue
        elif isinstance(item, ChoiceItem) and value not in item.options:
            problems.append(Problem(name, "not one of the item's options"))
        elif isinstance(item, NumberItem) and not is_number(value):
            problems.append(Problem(name, "must be a number"))
        else:
            chosen.append(
                (name, canonical_number(value) if isinstance(item, NumberItem) else value)
            )
    if from_day and to_day and from_day > to_day:
        problems.append(Problem("from", "must not be after `to`"))
    sources = (*SOURCES, "demo") if include_demo in ("true", "1") else SOURCES
    where = ReportFilter(
        from_day=from_day,
        to_day=to_day,
        version=version,
        sources=sources,
        segments=tuple(chosen),
        quality=quality,
    )
    return where, problems


def _day(value: str | None, field: str, problems: list[Problem]) -> date | None:
    if not value:
        return None
    try:
        # The whole value: `2024-01-01' OR '1'='1` is not a date with something after it.
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        problems.append(Problem(field, "must be a date, YYYY-MM-DD"))
        return None


def is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def canonical_number(value: str) -> str:
    """As JSONB prints it: 5, not 5.0, so that the filter matches the stored answer."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def filter_of(q: Questionnaire, params: Mapping[str, str], quality: str = "all") -> ReportFilter:
    """parse_filter, raising InvalidQuery with every problem."""
    where, problems = parse_filter(q, params, quality)
    if problems:
        raise InvalidQuery(problems)
    return where


def query_of(where: ReportFilter) -> str:
    """The filter as a canonical query string, for links ('' for none)."""
    params: list[tuple[str, str]] = []
    if where.from_day:
        params.append(("from", where.from_day.isoformat()))
    if where.to_day:
        params.append(("to", where.to_day.isoformat()))
    params.append(("version", where.version or ALL_VERSIONS))
    if "demo" in where.sources:
        params.append(("include_demo", "true"))
    params.append(("quality", where.quality))
    params.extend(
        ("channel" if item == channels.SEGMENT else item, value) for item, value in where.segments
    )
    return urlencode(params)
