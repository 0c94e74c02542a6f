"""The JSON API under /api/v1. Handlers decode, call the core and the store, encode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from asyncpg.pool import PoolConnectionProxy
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Link,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import FromPath, HeaderParameter

from survey import auth, intake, store
from survey.errors import (
    InvalidSubmission,
    MalformedBody,
    NotFound,
    Problem,
    UnsupportedMediaType,
    duplicate_key,
    problem_from_validation,
)
from survey.model import Loaded, Submission, parse_submission

# The per-request connection lent by the pool, provided by app.provide_db.
Db = NamedDependency[PoolConnectionProxy]


class ProblemDetails(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details, with the fields at fault in `errors`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[Problem] = []


class QuestionnaireSummary(msgspec.Struct, frozen=True):
    slug: FromPath[str]
    title: str
    version: str
    items: int


class Health(msgspec.Struct, frozen=True):
    status: str


def problem(status: int, description: str) -> ResponseSpec:
    return ResponseSpec(
        ProblemDetails,
        description=description,
        media_type="application/problem+json",
        generate_examples=False,
    )


P400 = {400: problem(400, "Malformed JSON or a body of the wrong shape")}
P401 = {401: problem(401, "No valid researcher token; see WWW-Authenticate")}
P404 = {404: problem(404, "No such questionnaire or result")}
P413 = {413: problem(413, "Body over 1 MB")}
P415 = {415: problem(415, "A body that is not declared as JSON")}
P422 = {422: problem(422, "Well-formed but invalid; every problem is listed in `errors`")}
P429 = {429: problem(429, "Too many submissions; see Retry-After")}
P503 = {503: problem(503, "The database is unavailable; see Retry-After")}

_answer = Schema(
    one_of=[
        Schema(type=OpenAPIType.INTEGER),
        Schema(type=OpenAPIType.NUMBER),
        Schema(type=OpenAPIType.STRING),
        Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING)),
        Schema(type=OpenAPIType.NULL),
    ]
)
SUBMISSION_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    properties={
        "answers": Schema(type=OpenAPIType.OBJECT, additional_properties=_answer),
        "consent": Schema(type=OpenAPIType.BOOLEAN),
        "quote_consent": Schema(type=OpenAPIType.BOOLEAN),
    },
    additional_properties=False,
)


@dataclass
class SubmissionOperation(Operation):
    """The submit handler reads the raw body itself (to tell 400 from 422); document it here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={
                "application/json": OpenAPIMediaType(
                    schema=SUBMISSION_SCHEMA,
                    # The README's: a valid (incomplete) response to the shipped questionnaire.
                    example={"answers": {"say_why": 5, "no_note": 1}, "consent": True},
                )
            },
            required=True,
            description="Answers keyed by item id, and the consents.",
        )
        # The receipt's private token opens the respondent's own result: say so, so that a
        # client (and a stateful API fuzzer) can follow it to the results routes.
        token = {"token": "$response.body#/result_token"}
        created = self.responses["201"] if self.responses else None
        if isinstance(created, OpenAPIResponse):
            created.links = {
                "GetResult": Link(
                    operation_id="ApiV1ResultsTokenGetResult",
                    parameters=token,
                    description="The respondent's own result.",
                ),
                "DeleteResult": Link(
                    operation_id="ApiV1ResultsTokenDeleteResult",
                    parameters=token,
                    description="Erase the respondent's answers.",
                ),
            }


def questionnaire(state: State, slug: str) -> Loaded:
    loaded: Loaded | None = state.questionnaires.get(slug)
    if loaded is None:
        raise NotFound(f"no questionnaire {slug!r}")
    return loaded


def decode_submission(body: bytes) -> Submission:
    try:
        submission, decoded = parse_submission(body)
    except msgspec.ValidationError as exc:
        raise InvalidSubmission([problem_from_validation(exc)]) from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise MalformedBody("malformed JSON: nested too deeply") from exc
    duplicate = duplicate_key(body, SUBMISSION_FIELDS, decoded)
    if duplicate is not None:
        raise InvalidSubmission([duplicate])
    return submission


SUBMISSION_FIELDS = frozenset(Submission.__struct_fields__)


def require_json(request: Request[Any, Any, Any]) -> None:
    """415 for a body declared as anything but JSON; a body with no Content-Type is read as JSON.

    A form or text/plain POST is what another site's page can send without asking (no CORS
    preflight); the API takes what it documents.
    """
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media_type = declared.partition(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"the body must be JSON (Content-Type: application/json), not {media_type!r}"
        )


IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        max_length=255,
        description="Makes a retry return the first result instead of storing a second response.",
    ),
]


class ApiController(Controller):
    path = "/api/v1"
    tags = ("responses",)

    @get("/questionnaires", responses=P503)
    async def list_questionnaires(self, state: State) -> list[QuestionnaireSummary]:
        """Every questionnaire served, with its current version and item count."""
        return [
            QuestionnaireSummary(slug, q.definition.title, q.version, len(q.definition.items))
            for slug, q in sorted(state.questionnaires.items())
        ]

    @get("/questionnaires/{slug:str}", responses=P404)
    async def get_questionnaire(self, state: State, slug: FromPath[str]) -> dict[str, Any]:
        """The definition as JSON, with its `version`."""
        loaded = questionnaire(state, slug)
        definition: dict[str, Any] = msgspec.to_builtins(loaded.definition)
        return {**definition, "version": loaded.version}

    @post(
        "/questionnaires/{slug:str}/responses",
        status_code=201,
        operation_class=SubmissionOperation,
        responses=P400 | P404 | P413 | P415 | P422 | P429 | P503,
        # Counted in survey_submissions_total; the ~450-byte receipt is never worth gzip.
        opt={"submission": "api", "skip_compression": True},
    )
    async def submit(
        self,
        state: State,
        request: Request[Any, Any, Any],
        db: Db,
        slug: FromPath[str],
        idempotency_key: IdempotencyKey = None,
    ) -> intake.Receipt:
        """Score and store one response; 201 only once it is committed."""
        loaded = questionnaire(state, slug)
        require_json(request)
        body = await request.body()
        submission = decode_submission(body)
        # One INSERT, committed on its own before this returns: no BEGIN/COMMIT round trips.
        return await intake.submit(
            db,
            loaded,
            submission,
            source="api",
            secret=state.settings.secret,
            idempotency_key=idempotency_key,
            body=body,
        )

    @get("/results/{token:str}", responses=P404 | P503)
    async def get_result(self, state: State, db: Db, token: FromPath[str]) -> intake.Result:
        """The respondent's own result, by the private token from their submission."""
        row = await store.select_response_by_token(db, intake.token_hash(token))
        if row is None or row.slug not in state.questionnaires:
            raise NotFound("no result for this token (it may have been deleted)")
        return intake.result_of(state.questionnaires[row.slug], row)

    @delete("/results/{token:str}", status_code=204, responses=P404 | P503)
    async def delete_result(self, db: Db, token: FromPath[str]) -> None:
        """Erase the respondent's answers for good."""
        if not await store.delete_response_by_token(db, intake.token_hash(token)):
            raise NotFound("no result for this token (it may have been deleted)")

    @get(
        "/me",
        guards=[auth.requires_token],
        security=auth.SECURITY,
        tags=["researchers"],
        responses=P401 | P503,
    )
    async def me(self, request: Request[Any, Any, Any]) -> auth.Researcher:
        """The researcher a token belongs to, with its scopes: a way to check a token works."""
        researcher: auth.Researcher = request.state.researcher
        return researcher
