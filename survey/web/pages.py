"""The respondent's pages: the list, the form, the result, deleting one's answers.

Server-rendered HTML that works without JavaScript. Handlers read the form, call the intake
flow, and render a template; errors raised here reach survey.web.errors, which renders
`error.html` for page paths.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from survey.config import Settings
from survey.core import display
from survey.core.charts import dimension_chart, dimension_views
from survey.core.model import Loaded
from survey.errors import InvalidSubmission, NotFound
from survey.flows import intake
from survey.store import db as database
from survey.store.responses import StoredResponse
from survey.web import http
from survey.web.forms import (
    CONFIRM,
    CONSENT,
    ORDER,
    QUOTE_CONSENT,
    FieldError,
    field_errors,
    form_values,
    order_seed,
    submission_from_form,
)
from survey.web.http import NO_SURVEY, Db

FormData = Annotated[dict[str, str | list[str]], Body(media_type=RequestEncodingType.URL_ENCODED)]

NO_RESULT = "This result was not found, or its answers have been deleted."


def _form_page(
    loaded: Loaded,
    form: Mapping[str, str | list[str]],
    errors: list[FieldError],
    status_code: int = 200,
) -> Template:
    q = loaded.definition
    # A respondent's own order of the randomised sections, kept when the form comes back.
    seed = order_seed(form) if ORDER in form else secrets.randbelow(2**31)
    if not display.randomized(q):
        seed = None
    return Template(
        "form.html",
        context={
            "q": q,
            "sections": display.ordered(q, seed),
            "order": seed,
            # Mark whichever kind of question is rarer: "(required)" or "(optional)".
            "mark_required": 2 * sum(item.required for item in q.items) < len(q.items),
            "values": form_values(q, form),
            "consent": CONSENT in form,
            "quote_consent": QUOTE_CONSENT in form,
            "summary": errors,
            "errors": {e.target: e.message for e in errors},
        },
        status_code=status_code,
    )


async def _stored_result(
    state: State, conn: database.Connection, token: str
) -> tuple[Loaded, StoredResponse]:
    found = await intake.find_result(conn, state.questionnaires, token)
    if found is None:
        raise NotFound(NO_RESULT)
    return found


@get("/")
async def index(state: State) -> Template:
    """Every questionnaire served."""
    served = [loaded.definition for _, loaded in sorted(state.questionnaires.items())]
    return Template("index.html", context={"questionnaires": served})


@get("/q/{slug:str}")
async def show_form(state: State, slug: FromPath[str]) -> Template:
    return _form_page(http.questionnaire(state, slug, NO_SURVEY), {}, [])


@post("/q/{slug:str}", status_code=303, opt={"submission": "web"})
async def submit_form(state: State, db: Db, slug: FromPath[str], data: FormData) -> Response[Any]:
    """Score and store the answers, then show the result; on a problem, the form again."""
    loaded = http.questionnaire(state, slug, NO_SURVEY)
    submission = submission_from_form(loaded.definition, data)
    try:
        async with db.transaction():
            receipt = await intake.submit(
                db,
                loaded,
                submission,
                source="web",
                secret=state.settings.secret,
                item_order=display.item_order(loaded.definition, order_seed(data)),
            )
    except InvalidSubmission as exc:
        errors = field_errors(loaded.definition, exc.problems)
        return _form_page(loaded, data, errors, status_code=422)
    return Redirect(receipt.result_url, status_code=303)


@get("/r/{token:str}")
async def show_result(
    state: State, db: Db, request: Request[Any, Any, Any], token: FromPath[str]
) -> Template:
    loaded, row = await _stored_result(state, db, token)
    q = loaded.definition
    dimensions = dimension_views(q, row.dimensions)
    profile = next((p for p in q.profiles if p.id == row.profile), None)
    return Template(
        "result.html",
        context={
            "q": q,
            "row": row,
            "profile": profile,
            "dimensions": dimensions,
            "chart": dimension_chart(q, dimensions),
            "standing": await intake.standing(db, q.slug, row.index_score),
            "token": token,
            "error": False,
            "link": str(request.base_url).rstrip("/") + f"/r/{token}",
        },
        headers={"X-Robots-Tag": "noindex"},
    )


@post("/r/{token:str}/delete", status_code=303)
async def delete_result(
    state: State, db: Db, token: FromPath[str], data: FormData
) -> Response[Any]:
    """Erase the answers once the respondent has ticked the confirmation."""
    if CONFIRM not in data:
        loaded, _ = await _stored_result(state, db, token)
        context = {"q": loaded.definition, "token": token, "error": True}
        return Template("delete.html", context=context, status_code=422)
    if not await intake.delete_result(db, token):
        raise NotFound(NO_RESULT)
    return Redirect("/deleted", status_code=303)


@get("/deleted")
async def deleted() -> Template:
    return Template("deleted.html")


def router(settings: Settings) -> Router:
    """The pages, behind CSRF protection (the JSON API stays outside it)."""
    return Router(
        "/",
        route_handlers=[index, show_form, submit_form, show_result, delete_result, deleted],
        middleware=[http.csrf_middleware(settings)],
        after_request=http.secure,
        include_in_schema=False,
    )
