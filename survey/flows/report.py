"""The aggregate report: fold new responses into the rollup, sum what a filter selects, build."""

from __future__ import annotations

from datetime import UTC, datetime

from survey.core import stats
from survey.core.filters import ReportFilter
from survey.core.model import Loaded
from survey.core.sums import shape_of
from survey.store import db, responses, rollup


async def load_report(
    conn: db.Connection, loaded: Loaded, where: ReportFilter, min_cell: int
) -> stats.Report:
    """Fold new responses into the rollup, sum what the filter selects, and build the report."""
    q = loaded.definition
    shape = shape_of(q)
    await rollup.update_report_rollup_all(conn, q.slug, shape)
    clean, flagged = await rollup.select_report_sums_by_quality(conn, q.slug, shape, where)
    sums = rollup.selected_sums(clean, flagged, where.clean)
    quotes = await responses.select_quotes(conn, q.slug, stats.text_items(q), where)
    return stats.build_report(
        loaded,
        sums,
        where=where,
        quotes=quotes,
        min_cell=min_cell,
        now=datetime.now(UTC),
        split=(clean, flagged),
    )
