"""Researcher controllers: the aggregate report as JSON, which the dashboard builds on."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import FromPath

from survey import auth, db, stats, store
from survey.api import P404, P503, Db, problem, questionnaire
from survey.errors import InvalidQuery
from survey.model import Loaded

P401 = {401: problem(401, "No valid researcher token")}
P403 = {403: problem(403, "The token lacks the `reports` scope")}
P422 = {422: problem(422, "A filter that is unknown or has a bad value; see `errors`")}


def report_filter(loaded: Loaded, params: Mapping[str, str]) -> stats.ReportFilter:
    where, problems = stats.parse_filter(loaded.definition, params)
    if problems:
        raise InvalidQuery(problems)
    return where


async def load_report(
    conn: db.Connection, loaded: Loaded, where: stats.ReportFilter, min_cell: int
) -> stats.Report:
    """Fold new responses into the rollup, sum what the filter selects, and build the report."""
    q = loaded.definition
    shape = stats.shape_of(q)
    await store.update_report_rollup_all(conn, q.slug, shape)
    sums = await store.select_report_sums(conn, q.slug, shape, where)
    quotes = await store.select_quotes(conn, q.slug, stats.text_items(q), where)
    return stats.build_report(
        loaded, sums, where=where, quotes=quotes, min_cell=min_cell, now=datetime.now(UTC)
    )


class ReportController(Controller):
    path = "/api/v1/questionnaires"
    tags = ("reports",)
    guards = [auth.requires_scope("reports")]  # noqa: RUF012 - Litestar's own attribute
    security = auth.SECURITY

    @get("/{slug:str}/report", responses=P401 | P403 | P404 | P422 | P503)
    async def report(
        self, state: State, request: Request[Any, Any, Any], db: Db, slug: FromPath[str]
    ) -> stats.Report:
        """The aggregate report, filtered by `from`, `to` (UTC dates), `version`,
        `include_demo` and any segment item (`industry=Technology`)."""
        loaded = questionnaire(state, slug)
        where = report_filter(loaded, dict(request.query_params))
        return await load_report(db, loaded, where, state.settings.min_cell)
