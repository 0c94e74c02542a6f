"""The aggregate report: fold new responses into the rollup, sum what a filter selects, build."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from survey.core import stats
from survey.core.filters import ReportFilter
from survey.core.model import Loaded
from survey.core.sums import Sums, shape_of
from survey.flows import freezing
from survey.store import db, responses, rollup


async def _sums(
    conn: db.Connection, loaded: Loaded, where: ReportFilter
) -> tuple[Sums, Sums, Sums]:
    """Fold new responses into the rollup; the sums the filter selects, and those of the clean
    and of the flagged responses the other filters select."""
    q = loaded.definition
    shape = shape_of(q)
    await rollup.update_report_rollup_all(conn, q.slug, shape)
    clean, flagged = await rollup.select_report_sums_by_quality(conn, q.slug, shape, where)
    return rollup.selected_sums(clean, flagged, where.clean), clean, flagged


async def load_report(
    conn: db.Connection, loaded: Loaded, where: ReportFilter, min_cell: int
) -> stats.Report:
    """Fold new responses into the rollup, sum what the filter selects, and build the report."""
    q = loaded.definition
    sums, clean, flagged = await _sums(conn, loaded, where)
    quotes = await responses.select_quotes(conn, q.slug, stats.text_items(q), where)
    report = stats.build_report(
        loaded,
        sums,
        where=where,
        quotes=quotes,
        min_cell=min_cell,
        now=datetime.now(UTC),
        split=(clean, flagged),
    )
    frozen = await freezing.freeze_status(conn, loaded, report.versions)
    return msgspec.structs.replace(report, freeze=frozen) if frozen is not None else report


async def load_norms(
    conn: db.Connection, loaded: Loaded, where: ReportFilter, min_cell: int
) -> list[stats.Norm]:
    """The norm tables of the responses the filter selects: everyone's, then each segment
    value's. A group without scores is left out, and so is a segment value's table of a score
    fewer than `min_cell` of its responses have (stats.norms leaves out smaller values)."""
    q = loaded.definition
    sums, _, _ = await _sums(conn, loaded, where)
    by_segment = await responses.select_segment_score_counts(
        conn, q.slug, [i.id for i in q.segments], where
    )
    return [
        n
        for n in stats.norms(q, sums, by_segment, min_cell)
        if n.n > 0 and (n.segment is None or n.n >= min_cell)
    ]
