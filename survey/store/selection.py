"""The responses a filter covers, as the SQL condition that exports and quotes share.

(The report's sums select the same responses in store.rollup, in one statement with fixed
parameters over both the responses and the rollup's days.)
"""

from __future__ import annotations

from typing import Any

from survey.core import channels
from survey.core.filters import ReportFilter


def where_sql(slug: str, where: ReportFilter, alias: str = "") -> tuple[str, list[Any]]:
    """The WHERE condition selecting the responses (`alias`.* when given) to a questionnaire
    that a filter covers, and its arguments, numbered from $1.

    Only the conditions in use are written (from fixed text: nothing from the input but
    placeholder numbers), so that the planner sees the real selectivity and reads the
    (slug, created_at) index in order instead of sorting every row first.
    """
    args: list[Any] = [slug, list(where.sources)]
    r = f"{alias}." if alias else ""
    conditions = [f"{r}slug = $1", f"{r}source = ANY($2::text[])"]
    if where.from_day is not None:
        args.append(where.from_day)
        conditions.append(f"{r}created_at >= ${len(args)}::date::timestamp AT TIME ZONE 'UTC'")
    if where.to_day is not None:
        args.append(where.to_day)
        conditions.append(f"{r}created_at < (${len(args)}::date + 1)::timestamp AT TIME ZONE 'UTC'")
    if where.version is not None:
        args.append(where.version)
        conditions.append(f"{r}version = ${len(args)}")
    if where.clean is not None:
        conditions.append(f"cardinality({r}flags) {'=' if where.clean else '>'} 0")
    for item, value in where.segments:
        if item == channels.SEGMENT:  # a column of its own
            args.append(value)
            conditions.append(f"{r}channel = ${len(args)}")
            continue
        args += [item, value]
        conditions.append(f"{r}answers ->> ${len(args) - 1} = ${len(args)}")
    return " AND ".join(conditions), args
