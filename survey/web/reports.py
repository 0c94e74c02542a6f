"""The aggregate report as JSON, which the dashboard builds on."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import FromPath

from survey.core import stats
from survey.core.filters import filter_of
from survey.flows.report import load_report
from survey.web import auth
from survey.web.http import P401, P403, P404, P503, Db, problem, questionnaire

P422 = problem(422, "A filter that is unknown or has a bad value; see `errors`")


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
        where = filter_of(loaded.definition, dict(request.query_params))
        return await load_report(db, loaded, where, state.settings.min_cell)
