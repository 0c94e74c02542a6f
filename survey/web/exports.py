"""Responses in bulk over HTTP: the CSV and JSONL exports, the item file and R script for
factor analysis in lavaan, and the NDJSON import."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Litestar, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath
from litestar.response import Stream

from survey.core import lavaan
from survey.core.filters import filter_of
from survey.core.model import Loaded
from survey.errors import InvalidSubmission
from survey.flows.export import Format, cfa_files, cfa_script, pooled_export
from survey.flows.ingest import ImportSummary, import_ndjson, nothing_stored, scoring_pool
from survey.web import auth, http
from survey.web.http import P401, P403, P404, P422, P503, Db, problem, questionnaire

# Litestar adds `; charset=utf-8` to text types.
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "cfa": "text/csv",
    "R": "text/x-r",
}

IMPORT_MAX_BODY = 256 * 1024 * 1024


def _group_by(loaded: Loaded, params: dict[str, str]) -> str | None:
    """The `group_by` parameter of the lavaan downloads, taken out of the filter's: a segment
    item or nothing; anything else is a 400 naming it."""
    name = params.pop("group_by", "") or None
    if name is not None:
        try:
            lavaan.segment_item(loaded.definition, name)
        except lavaan.NotASegment as exc:
            problem = {"key": "group_by", "message": str(exc), "source": "query"}
            raise ValidationException(str(exc), extra=[problem]) from None
    return name


def _bom(params: dict[str, str]) -> bool:
    """The CSV export's `bom` parameter, taken out of the filter's: a byte order mark first,
    for Excel; anything but true or false is a 400 naming it."""
    value = params.pop("bom", "false").lower()
    if value not in ("true", "false", "1", "0", ""):
        problem = {"key": "bom", "message": "must be true or false", "source": "query"}
        raise ValidationException("bom must be true or false", extra=[problem])
    return value in ("true", "1")


async def _stream(state: State, request: Request[Any, Any, Any], slug: str, fmt: Format) -> Stream:
    loaded = questionnaire(state, slug)
    params = dict(request.query_params)
    group_by = _group_by(loaded, params) if fmt == "cfa" else None
    bom = _bom(params) if fmt == "csv" else False
    where = filter_of(loaded.definition, params)
    chunks = pooled_export(state.pool, state.settings.db_timeout, loaded, where, fmt, group_by, bom)
    await anext(chunks)  # a database that cannot be reached is a 503, not a cut-off 200
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    # The lavaan script reads the item file by its name: it keeps it, undated.
    filename = cfa_files(slug)[0] if fmt == "cfa" else f"{slug}-responses-{day}.{fmt}"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if http.accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        chunks = http.gzip_stream(chunks)
    # Litestar stops reading the stream when the client hangs up, but leaves it open: close
    # it after the response, so the export's connection goes back to the pool at once.
    return Stream(
        chunks,
        media_type=MEDIA_TYPES[fmt],
        headers=headers,
        background=BackgroundTask(chunks.aclose),
    )


@asynccontextmanager
async def scoring_workers(app: Litestar) -> AsyncGenerator[None, None]:
    """Lifespan: the app's scoring pool for large imports, shut down with the app."""
    with scoring_pool(wait=False) as pool:
        app.state.scoring_pool = pool
        yield


# What the import's OpenAPI body shows: two submissions to the shipped questionnaire.
_IMPORT_EXAMPLE = (
    '{"answers": {"say_why": 5, "same_template": 1}, "consent": true}\n'
    '{"answers": {"say_why": 2, "same_template": 4}, "consent": true, "quote_consent": false}\n'
)


@dataclass
class ImportOperation(Operation):
    """The import handler reads the body as a stream; document what it expects here."""

    def __post_init__(self) -> None:
        # The body is read as NDJSON whatever its declared type: tools that send text say so.
        # The example stands under text/plain, a type that generic clients know how to send.
        lines = Schema(
            type=OpenAPIType.STRING,
            description="One submission per line, as the submit API takes it.",
        )
        self.request_body = RequestBody(
            content={
                "application/x-ndjson": OpenAPIMediaType(schema=lines),
                "text/plain": OpenAPIMediaType(schema=lines, example=_IMPORT_EXAMPLE),
            },
            required=True,
            description=(
                "NDJSON: one `{answers, consent, quote_consent}` object per line; blank lines "
                "are skipped. Up to 256 MB, one line up to 1 MB. An import that would store "
                "nothing (no lines, or every line refused) is a 422 listing every problem."
            ),
        )


P413 = problem(413, "Body over 256 MB")
P400_GROUP = problem(400, "`group_by` names no segment item of the questionnaire")
P422_LAVAAN = problem(422, "A filter is invalid, or the questionnaire has no model lavaan can fit")
_EXPORT_DOC = """Every response the filters select, one {what} per response, streamed oldest
first. Filters as the report's: `from`, `to` (UTC dates), `version`, `include_demo` and any
segment item (`industry=Technology`)."""


_CFA_DOC = """{what} For confirmatory factor analysis in R's lavaan: download the item file
and the script with the same query into one folder. Filters as the CSV export's; `group_by`
names a segment item to compare groups by (a 400 if it is not one)."""
_CFA_CSV_DOC = _CFA_DOC.format(
    what="The item file: `response_id`, the `group_by` item's answer if asked for, then each "
    "scored likert item keyed (reverse-keyed items reversed); N/A and no answer are empty."
)
_CFA_SCRIPT_DOC = _CFA_DOC.format(
    what="The R script: lavaan's model from the questionnaire's dimensions, a one-group CFA "
    "and, with `group_by`, the configural, metric, scalar and strict models compared."
)


def _export_route(fmt: Format, each: str, more: str = "") -> dict[str, Any]:
    """What an export route declares, for `@get`: one `each` per response."""
    return {
        "path": f"/{{slug:str}}/responses.{fmt}",
        "guards": [auth.requires_scope("reports")],
        "media_type": MEDIA_TYPES[fmt],
        "opt": {"skip_compression": True},  # gzip_stream, at a level fit for bulk
        "description": " ".join(filter(None, [_EXPORT_DOC.format(what=each), more])),
        "responses": P401 | P403 | P404 | P422 | P503,
    }


class ExportController(Controller):
    path = "/api/v1/questionnaires"
    tags = ("exports",)
    security = auth.SECURITY

    @get(
        **_export_route(
            "csv",
            "row",
            "Cells a spreadsheet would run as formulas start with `'`. `bom=true` starts the "
            "file with a UTF-8 byte order mark, which Excel needs to read it as UTF-8.",
        )
    )
    async def export_csv(
        self, state: State, request: Request[Any, Any, Any], slug: FromPath[str]
    ) -> Stream:
        """Export the responses as CSV."""
        return await _stream(state, request, slug, "csv")

    @get(**_export_route("jsonl", "JSON object per line"))
    async def export_jsonl(
        self, state: State, request: Request[Any, Any, Any], slug: FromPath[str]
    ) -> Stream:
        """Export the responses as JSON Lines."""
        return await _stream(state, request, slug, "jsonl")

    @get(
        "/{slug:str}/exports/cfa.csv",
        guards=[auth.requires_scope("reports")],
        media_type=MEDIA_TYPES["cfa"],
        opt={"skip_compression": True},
        description=_CFA_CSV_DOC,
        responses=P400_GROUP | P401 | P403 | P404 | P422 | P503,
    )
    async def export_cfa_csv(
        self, state: State, request: Request[Any, Any, Any], slug: FromPath[str]
    ) -> Stream:
        """Export the items for confirmatory factor analysis in R, as CSV."""
        return await _stream(state, request, slug, "cfa")

    @get(
        "/{slug:str}/exports/cfa.R",
        guards=[auth.requires_scope("reports")],
        media_type=MEDIA_TYPES["R"],
        description=_CFA_SCRIPT_DOC,
        responses=P400_GROUP | P401 | P403 | P404 | P422_LAVAAN,
    )
    async def export_cfa_script(
        self, state: State, request: Request[Any, Any, Any], slug: FromPath[str]
    ) -> Response[str]:
        """The lavaan script for the item file with the same filters and `group_by`."""
        loaded = questionnaire(state, slug)
        params = dict(request.query_params)
        group_by = _group_by(loaded, params)
        where = filter_of(loaded.definition, params)
        try:
            text = cfa_script(loaded, where, group_by, datetime.now(UTC).date())
        except lavaan.NotForLavaan as exc:
            raise HTTPException(str(exc), status_code=422) from None
        return Response(
            text,
            media_type=MEDIA_TYPES["R"],
            headers={
                "Content-Disposition": f'attachment; filename="{cfa_files(slug)[1]}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @post(
        "/{slug:str}/responses/import",
        guards=[auth.requires_scope("submit")],
        status_code=200,
        request_max_body_size=IMPORT_MAX_BODY,
        operation_class=ImportOperation,
        responses=P401 | P403 | P404 | P413 | P422 | P503,
    )
    async def import_responses(
        self, state: State, request: Request[Any, Any, Any], db: Db, slug: FromPath[str]
    ) -> ImportSummary:
        """Validate, score and store many submissions at once: NDJSON in, a summary out.

        Every good line is stored (source `import`) in one transaction; each bad one is listed
        with its line number and every problem with it, as the submit API would report them.
        An import that stores nothing (no lines, or none good) is refused as a whole: 422.
        """
        loaded = questionnaire(state, slug)
        summary = await import_ndjson(db, loaded, request.stream(), pool=state.scoring_pool)
        if problems := nothing_stored(summary):
            raise InvalidSubmission(problems)
        return summary
