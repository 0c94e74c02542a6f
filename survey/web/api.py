"""The JSON API under /api/v1. Handlers decode, call a flow or the store, encode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
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

from survey.core import submission
from survey.errors import NotFound, UnsupportedMediaType
from survey.flows import intake
from survey.web import auth
from survey.web.http import (
    P400,
    P401,
    P404,
    P413,
    P415,
    P422,
    P429,
    P503,
    Db,
    questionnaire,
)

NO_RESULT = "no result for this token (it may have been deleted)"


class QuestionnaireSummary(msgspec.Struct, frozen=True):
    slug: FromPath[str]
    title: str
    version: str
    items: int


# One schema per kind of JSON value: `number` covers whole numbers too, and an `integer` beside
# it would make a whole number match two of the oneOf's schemas (invalid).
_answer = Schema(
    one_of=[
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
                    example={"answers": {"say_why": 5, "same_template": 1}, "consent": True},
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
        """The definition as JSON, with its `version`; without the quality thresholds and the
        attention items' expected answers, which would tell a script how to pass them."""
        loaded = questionnaire(state, slug)
        definition: dict[str, Any] = msgspec.to_builtins(loaded.definition)
        definition.pop("quality", None)
        for section in definition["sections"]:
            for item in section["items"]:
                item.pop("check", None)
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
        sent = submission.decode(body)
        # One INSERT, committed on its own before this returns: no BEGIN/COMMIT round trips.
        return await intake.submit(
            db,
            loaded,
            sent,
            source="api",
            secret=state.settings.secret,
            idempotency_key=idempotency_key,
            body=body,
        )

    @get("/results/{token:str}", responses=P404 | P503)
    async def get_result(self, state: State, db: Db, token: FromPath[str]) -> intake.Result:
        """The respondent's own result, by the private token from their submission."""
        found = await intake.find_result(db, state.questionnaires, token)
        if found is None:
            raise NotFound(NO_RESULT)
        return intake.result_of(*found)

    @delete("/results/{token:str}", status_code=204, responses=P404 | P503)
    async def delete_result(self, db: Db, token: FromPath[str]) -> None:
        """Erase the respondent's answers for good."""
        if not await intake.delete_result(db, token):
            raise NotFound(NO_RESULT)

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
