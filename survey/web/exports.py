"""Responses in bulk over HTTP: the CSV and JSONL exports, and the NDJSON import."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Litestar, Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath
from litestar.response import Stream

from survey.core.filters import filter_of
from survey.errors import InvalidSubmission
from survey.flows.export import Format, pooled_export
from survey.flows.ingest import ImportSummary, import_ndjson, nothing_stored, scoring_pool
from survey.web import auth, http
from survey.web.http import P401, P403, P404, P422, P503, Db, problem, questionnaire

# Litestar adds `; charset=utf-8` to text types.
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv", "jsonl": "application/x-ndjson"}

IMPORT_MAX_BODY = 256 * 1024 * 1024


async def _stream(state: State, request: Request[Any, Any, Any], slug: str, fmt: Format) -> Stream:
    loaded = questionnaire(state, slug)
    where = filter_of(loaded.definition, dict(request.query_params))
    chunks = pooled_export(state.pool, state.settings.db_timeout, loaded, where, fmt)
    await anext(chunks)  # a database that cannot be reached is a 503, not a cut-off 200
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    headers = {
        "Content-Disposition": f'attachment; filename="{slug}-responses-{day}.{fmt}"',
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
_EXPORT_DOC = """Every response the filters select, one {what} per response, streamed oldest
first. Filters as the report's: `from`, `to` (UTC dates), `version`, `include_demo` and any
segment item (`industry=Technology`)."""


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

    @get(**_export_route("csv", "row", "Cells a spreadsheet would run as formulas start with `'`."))
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
