"""How an error is answered: one status per domain error, as problem+json for the API and
the ops endpoints, and as an HTML page (or, for a missing login, a redirect) for pages."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, TooManyRequestsException, ValidationException
from litestar.response import Template

from survey import logs
from survey.errors import (
    DatabaseUnavailable,
    FiguresUnavailable,
    Forbidden,
    IdempotencyConflict,
    InvalidQuery,
    InvalidSubmission,
    MalformedBody,
    NotFound,
    Problem,
    SurveyError,
    Unauthorized,
    UnsupportedMediaType,
)
from survey.web import auth
from survey.web.http import SECURITY_HEADERS, ProblemDetails

log = logging.getLogger("survey")

RETRY_AFTER = "5"

# Each domain error maps to one status, in this one place.
STATUS: dict[type[SurveyError], tuple[int, str]] = {
    MalformedBody: (400, "Malformed request body"),
    Unauthorized: (401, "Unauthorized"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    InvalidQuery: (422, "Invalid query"),
    InvalidSubmission: (422, "Invalid submission"),
    IdempotencyConflict: (422, "Idempotency-Key reused with a different body"),
    DatabaseUnavailable: (503, "Database unavailable"),
    FiguresUnavailable: (503, "Figures unavailable"),
}


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    errors: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[ProblemDetails]:
    return Response(
        ProblemDetails(title=title, status=status, detail=detail, errors=errors or []),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def on_survey_error(request: Request[Any, Any, Any], exc: SurveyError) -> Response[Any]:
    if isinstance(exc, Unauthorized) and wants_html(request):
        return auth.login_redirect(request)  # a page asks for a login, then comes back
    status, title = next(v for k, v in STATUS.items() if isinstance(exc, k))
    errors = exc.problems if isinstance(exc, InvalidSubmission) else None
    if isinstance(exc, MalformedBody):
        detail = str(exc)
    elif isinstance(exc, DatabaseUnavailable):
        log.warning("database unavailable: %s", exc)
        detail = "The database cannot be reached right now; please retry shortly."
    else:
        detail = str(exc)
    headers = {"Retry-After": RETRY_AFTER} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="survey"'}
    if wants_html(request):
        return error_page(request, status, exc, headers)
    return problem_response(status, title, detail, errors, headers)


def on_unreachable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return on_survey_error(request, DatabaseUnavailable(str(exc)))


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    headers = dict(exc.headers or {})
    if isinstance(exc, TooManyRequestsException) and "RateLimit-Reset" in headers:
        headers["Retry-After"] = headers["RateLimit-Reset"]
    if wants_html(request):
        return error_page(request, exc.status_code, exc, headers)
    title = exc.detail if exc.status_code != 400 else "Bad request"
    return problem_response(exc.status_code, title, exc.detail, _fields(exc), headers or None)


def _fields(exc: HTTPException) -> list[Problem] | None:
    """The parameters Litestar's validation refused (its `extra`), named as the client sent them:
    a header by its header name (`idempotency-key`), anything else by its own."""
    if not isinstance(exc, ValidationException) or not isinstance(exc.extra, list):
        return None
    problems = []
    for error in exc.extra:
        if isinstance(error, dict) and "message" in error:
            key = str(error.get("key", "$"))
            field = key.replace("_", "-") if error.get("source") == "header" else key
            problems.append(Problem(field, str(error["message"])))
    return problems or None


def on_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The traceback goes to the log, never to the client.
    path = logs.logged_path(request.scope)  # a result link's token stays out of the log
    log.exception("unhandled error on %s %s", request.method, path, exc_info=exc)
    if wants_html(request):
        return error_page(request, 500)
    return problem_response(500, "Internal server error")


# --- error pages ------------------------------------------------------------------------------

_MACHINE_PATHS = re.compile(r"^/(api|schema|healthz|readyz)(/|$)")

_ERROR_TEXT = {
    400: ("Something is wrong with that request", "Go back and try again."),
    403: (
        "This form has expired",
        "For your safety each form can only be sent from the page it came from. Go back, "
        "reload the page and send it again.",
    ),
    404: ("Page not found", "Check the address, or start again from the list of surveys."),
    405: ("Page not found", "Check the address, or start again from the list of surveys."),
    413: ("That was too much text", "Go back and shorten your answers."),
    429: ("Too many submissions", "Please wait a minute, then try again."),
    503: ("The service is busy", "Your answers were not saved. Please try again in a minute."),
}


def wants_html(request: Request[Any, Any, Any]) -> bool:
    """Pages answer errors with an HTML page; the API and ops endpoints with problem+json."""
    return not _MACHINE_PATHS.match(request.url.path)


def error_page(
    request: Request[Any, Any, Any],
    status: int,
    exc: Exception | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    """The HTML page for an error; our own NotFound and FiguresUnavailable messages are shown,
    nothing else is."""
    title, text = _ERROR_TEXT.get(
        status, ("Something went wrong", "Sorry, this is a fault on our side. Please try again.")
    )
    if isinstance(exc, NotFound):
        title, text = "Not found", str(exc)
    elif isinstance(exc, FiguresUnavailable):
        title, text = "Figures unavailable", str(exc)
    return Template(
        "error.html",
        context={"status": status, "title": title, "text": text},
        status_code=status,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )
