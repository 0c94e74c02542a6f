"""The researcher's login at /reports: a researcher token in, a signed session cookie out.

GET /reports is the login form, or, once logged in, the list of dashboards. POST /reports checks
the token (it needs the `reports` scope) and sets the session cookie; POST /reports/logout
clears it. Both forms carry CSRF tokens, like the respondent's pages.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter
from litestar.response import Redirect, Template

from survey.config import Settings
from survey.core import tokens
from survey.errors import Unauthorized
from survey.store import researchers
from survey.web import auth, http
from survey.web.http import Db

LANDING = "connector"


class LoginForm(msgspec.Struct, frozen=True):
    # Not forbid_unknown_fields: the form also carries the CSRF middleware's `_csrf_token`.
    token: str = ""
    next: str = ""


def _page(
    state: State,
    researcher: auth.Researcher | None,
    next_: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    served = sorted((slug, q.definition.title) for slug, q in state.questionnaires.items())
    return Template(
        "reports/login.html",
        context={
            "researcher": researcher,
            "questionnaires": served if researcher else [],
            "next": auth.safe_next(next_) or "",
            "error": error,
        },
        status_code=status_code,
    )


def _landing(state: State, next_: str) -> str:
    """Where a login goes: the page that sent the researcher here, else a dashboard or the list."""
    if target := auth.safe_next(next_):
        return target
    return f"/reports/{LANDING}" if LANDING in state.questionnaires else auth.LOGIN_PATH


@get("/")
async def login_page(
    request: Request[Any, Any, Any],
    state: State,
    next_: Annotated[str | None, QueryParameter(name="next")] = None,
) -> Template:
    """The login form, or the dashboards for a researcher already logged in."""
    try:
        row = await auth.researcher_of(request)
    except Unauthorized:
        return _page(state, None, next_)
    if "reports" not in row.scopes:
        return _page(state, None, next_)
    return _page(state, auth.Researcher(row.name, row.scopes), next_)


@post("/", status_code=303)
async def login(
    request: Request[Any, Any, Any],
    state: State,
    db: Db,
    data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    """Exchange a token with the `reports` scope for a session cookie."""
    token = data.token.strip()
    row = await researchers.select_token_by_hash(db, tokens.token_hash(token)) if token else None
    if row is None:
        error = "That token is not valid: check that it is complete, or ask for a new one."
        return _page(state, None, data.next, error, 401)
    if "reports" not in row.scopes:
        error = "That token cannot open the reports; ask for one with the reports scope."
        return _page(state, None, data.next, error, 403)
    await researchers.update_token_used(db, row.id)
    response = Redirect(_landing(state, data.next), status_code=303)
    response.set_cookie(
        auth.SESSION_COOKIE,
        tokens.new_session(state.settings.secret, row.id, time.time()),
        max_age=tokens.SESSION_SECONDS,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@post("/logout", status_code=303)
async def logout() -> Redirect:
    """End this browser's session (the token itself stays valid; `survey token revoke` ends it)."""
    response = Redirect(auth.LOGIN_PATH, status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


def router(settings: Settings) -> Router:
    """The login pages, behind the same CSRF protection as the respondent's pages."""
    return Router(
        auth.LOGIN_PATH,
        route_handlers=[login_page, login, logout],
        middleware=[http.csrf_middleware(settings)],
        after_request=http.secure,
        include_in_schema=False,
    )
