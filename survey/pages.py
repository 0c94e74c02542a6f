"""The respondent's pages: the list, the form, the result, deleting one's answers.

Server-rendered HTML that works without JavaScript. Handlers decode the form, call intake and the
store, and render a template; errors raised here reach app.py, which renders `error.html` for
page paths.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import hmac
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
import plotly
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Request, Response, Router, get, post
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import Body, FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig
from plotly.offline import get_plotlyjs_version

from survey import charts, compress, db, intake, scoring, store
from survey.api import Db
from survey.charts import go
from survey.config import Settings
from survey.errors import FiguresUnavailable, InvalidSubmission, NotFound, Problem
from survey.model import (
    Answer,
    Item,
    LikertItem,
    Loaded,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    Submission,
    TextItem,
)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"

# The percentile means little against a handful of others.
MIN_FOR_PERCENTILE = 30

# Form fields that are not answers start with "_"; item ids cannot.
CONSENT, QUOTE_CONSENT, CONFIRM = "_consent", "_quote_consent", "_confirm"

# Pages run no inline script and may not be framed; no page links out with its URL (the result
# page's URL is the private link).
SECURITY_HEADERS = {
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

FormData = Annotated[dict[str, str | list[str]], Body(media_type=RequestEncodingType.URL_ENCODED)]


# --- templates --------------------------------------------------------------------------------


def _paragraphs(text: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _score(value: float | None) -> str:
    """Scores as the API rounds them, without a trailing `.0`."""
    return "–" if value is None else _num(round(value, 1))


def _kind(item: Item) -> str:
    tag = type(item).__struct_config__.tag
    return str(tag)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(paragraphs=_paragraphs, num=_num, score=_score, kind=_kind)
    env.globals.update(asset=asset_url, plotly_style_ids=plotly_style_ids)
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))


# --- static files -----------------------------------------------------------------------------


@functools.cache
def _assets() -> dict[str, Path]:
    files = {path.name: path for path in STATIC.iterdir() if path.is_file()}
    files[f"plotly-{get_plotlyjs_version()}.min.js"] = PLOTLY_JS
    return files


@functools.cache
def _asset(name: str) -> tuple[bytes, bytes]:
    """A static file and its gzip, compressed once per process (plotly.js is 4.8 MB)."""
    raw = _assets()[name].read_bytes()
    return raw, gzip.compress(raw, compresslevel=9, mtime=0)


@functools.cache
def asset_url(name: str) -> str:
    """A URL that changes with the content, so it may be cached for good."""
    if name == "plotly.js":
        return f"/static/plotly-{get_plotlyjs_version()}.min.js"
    digest = hashlib.sha256(_asset(name)[0]).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


@functools.cache
def plotly_style_ids() -> tuple[str, ...]:
    """Ids of the <style> elements plotly.js adds on load unless an element with the id exists.

    The bundle carries maplibre's CSS for map charts and injects it as an inline style, which
    the CSP blocks (and a console error says so); the result page holds empty elements with
    these ids so that plotly.js leaves it out. Its own rules it skips thanks to chart.css.
    """
    source = PLOTLY_JS.read_text(encoding="utf-8")
    pattern = r'getElementById\("([0-9a-f]{64})"\)\)\{var \w+=document\.createElement\("style"\)'
    return tuple(re.findall(pattern, source))


MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript"}


@get(
    "/static/{name:str}",
    include_in_schema=False,
    # Sent already compressed; the compression middleware must leave it alone.
    opt={"skip_compression": True},
)
async def static_asset(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
    if name not in _assets():
        raise NotFound("no such file")
    raw, packed = _asset(name)
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    media_type = MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
    if compress.accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type=media_type, headers=headers)
    return Response(raw, media_type=media_type, headers=headers)


# --- the form ---------------------------------------------------------------------------------


def submission_from_form(q: Questionnaire, form: Mapping[str, str | list[str]]) -> Submission:
    """Form fields → the same Submission the API takes; what cannot be converted stays text.

    Empty fields are absent (the form parser drops them); a value that does not parse is kept
    as typed, so validation names the problem beside the field.
    """
    answers: dict[str, Answer] = {}
    for item in q.items:
        raw = form.get(item.id)
        if raw is None:
            continue
        value = _answer(item, raw)
        if value is not None:
            answers[item.id] = value
    return Submission(
        answers=answers,
        consent=CONSENT in form,
        quote_consent=QUOTE_CONSENT in form,
    )


def _answer(item: Item, raw: str | list[str]) -> Answer:
    if isinstance(item, MultiChoiceItem):
        return [raw] if isinstance(raw, str) else list(raw)
    if isinstance(raw, list):
        return raw  # one value expected, several sent: validation says so
    match item:
        case LikertItem():
            return int(raw) if re.fullmatch(r"-?\d{1,9}", raw.strip()) else raw
        case NumberItem():
            return _number(raw.strip())
        case TextItem():
            # Browsers send CRLF; `maxlength` counts a line break as one character.
            text = raw.replace("\r\n", "\n")
            return text if text.strip() else None
        case _:
            return raw


def _number(text: str) -> Answer:
    if not text:
        return None
    if re.fullmatch(r"[-+]?\d{1,15}", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


class FieldError(msgspec.Struct, frozen=True):
    target: str  # the id of the first control of the question, for the summary's link
    label: str
    message: str


def field_errors(q: Questionnaire, problems: list[Problem]) -> list[FieldError]:
    """Problems as the page shows them, in the order of the form."""
    by_field = {p.field: p.message for p in problems}
    errors = []
    for item in q.items:
        message = by_field.get(f"answers.{item.id}")
        if message is not None:
            errors.append(FieldError(item.id, item.text, _message(item, message)))
    if "consent" in by_field:
        errors.append(
            FieldError(CONSENT, "Consent", "Tick the box to agree, or you cannot take part.")
        )
    return errors


def _message(item: Item, message: str) -> str:
    if message == "an answer is required":
        match item:
            case MultiChoiceItem():
                return "Choose at least one option."
            case NumberItem():
                return "Enter a number."
            case TextItem():
                return "Enter an answer."
            case _:
                return "Choose an answer."
    if isinstance(item, NumberItem):
        if message == "must be a whole number":
            return "Enter a whole number."
        if message.startswith("must be between"):
            return f"Enter a number between {_num(item.min)} and {_num(item.max)}."
        return "Enter a number."
    return f"The answer {message}."


def _form_values(q: Questionnaire, form: Mapping[str, str | list[str]]) -> dict[str, Any]:
    """What was typed, to fill the form in again: a list per multi-choice item, else a string."""
    values: dict[str, Any] = {}
    for item in q.items:
        raw = form.get(item.id)
        if raw is None:
            continue
        many = isinstance(item, MultiChoiceItem)
        if many:
            values[item.id] = [raw] if isinstance(raw, str) else raw
        else:
            values[item.id] = raw if isinstance(raw, str) else raw[0]
    return values


def _form_page(
    loaded: Loaded,
    form: Mapping[str, str | list[str]],
    errors: list[FieldError],
    status_code: int = 200,
) -> Template:
    q = loaded.definition
    return Template(
        "form.html",
        context={
            "q": q,
            # Mark whichever kind of question is rarer: "(required)" or "(optional)".
            "mark_required": 2 * sum(item.required for item in q.items) < len(q.items),
            "values": _form_values(q, form),
            "consent": CONSENT in form,
            "quote_consent": QUOTE_CONSENT in form,
            "summary": errors,
            "errors": {e.target: e.message for e in errors},
        },
        status_code=status_code,
    )


# --- the result -------------------------------------------------------------------------------


class DimensionView(msgspec.Struct, frozen=True):
    id: str
    name: str
    description: str
    score: float | None
    feedback: str | None
    in_index: bool


class Standing(msgspec.Struct, frozen=True):
    percentile: float
    n: int

    @property
    def percent(self) -> int:
        """The percentile as a whole number, halves rounded up."""
        return int(self.percentile + 0.5)


def dimension_views(q: Questionnaire, scores: Mapping[str, float | None]) -> list[DimensionView]:
    weights = q.weights
    return [
        DimensionView(
            d.id,
            d.name,
            d.description,
            scores.get(d.id),
            scoring.feedback(d.feedback, scores.get(d.id)),
            d.id in weights,
        )
        for d in q.dimensions
    ]


def dimension_chart(q: Questionnaire, dimensions: list[DimensionView]) -> str:
    """A horizontal bar per scored dimension, as Plotly figure JSON for the page to draw."""
    index_name = q.scoring.index.name
    shown = [d for d in dimensions if d.score is not None]
    groups = [
        (f"Part of the {index_name}", "#1d4ed8", [d for d in shown if d.in_index]),
        ("Not in the index", "#b45309", [d for d in shown if not d.in_index]),
    ]
    fig = go.Figure()
    for name, colour, group in groups:
        if not group:
            continue
        fig.add_trace(
            go.Bar(
                name=name,
                orientation="h",
                x=[round(d.score or 0.0, 1) for d in group],
                # Plotly reads a subset of HTML in labels; the author's text is shown as text.
                y=[charts.text(d.name) for d in group],
                marker={"color": colour},
                text=[_score(d.score) for d in group],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}: %{x:.1f}<extra></extra>",
            )
        )
    fig.update_layout(
        template="none",
        height=120 + 44 * len(shown),
        margin={"l": 8, "r": 36, "t": 8, "b": 40},
        font={"family": "system-ui, sans-serif", "size": 14, "color": "#1f2937"},
        xaxis={"range": [0, 100], "title": {"text": "Score (0–100)"}, "fixedrange": True},
        yaxis={
            "categoryorder": "array",
            "categoryarray": [charts.text(d.name) for d in reversed(shown)],
            "automargin": True,
            "fixedrange": True,
        },
        showlegend=any(not d.in_index for d in shown) and any(d.in_index for d in shown),
        legend={"orientation": "h", "x": 0, "y": -0.25},
        barmode="overlay",
    )
    return fig.to_json() or "{}"


async def _standing(conn: db.Connection, slug: str, index: float | None) -> Standing | None:
    """Where the index stands among every scored response, once there are enough."""
    if index is None:
        return None
    below, ties, total = await store.select_index_rank(conn, slug, index)
    share = scoring.percentile(below, ties, total)
    if total < MIN_FOR_PERCENTILE or share is None:
        return None
    return Standing(share, total)


async def _stored_result(
    state: State, conn: db.Connection, token: str
) -> tuple[Loaded, store.StoredResponse]:
    row = await store.select_response_by_token(conn, intake.token_hash(token))
    if row is None or row.slug not in state.questionnaires:
        raise NotFound("This result was not found, or its answers have been deleted.")
    return state.questionnaires[row.slug], row


# --- handlers ---------------------------------------------------------------------------------


def questionnaire(state: State, slug: str) -> Loaded:
    loaded: Loaded | None = state.questionnaires.get(slug)
    if loaded is None:
        raise NotFound("There is no survey at this address.")
    return loaded


@get("/")
async def index(state: State) -> Template:
    """Every questionnaire served."""
    served = [loaded.definition for _, loaded in sorted(state.questionnaires.items())]
    return Template("index.html", context={"questionnaires": served})


@get("/q/{slug:str}")
async def show_form(state: State, slug: FromPath[str]) -> Template:
    return _form_page(questionnaire(state, slug), {}, [])


@post("/q/{slug:str}", status_code=303, opt={"submission": "web"})
async def submit_form(state: State, db: Db, slug: FromPath[str], data: FormData) -> Response[Any]:
    """Score and store the answers, then show the result; on a problem, the form again."""
    loaded = questionnaire(state, slug)
    submission = submission_from_form(loaded.definition, data)
    try:
        async with db.transaction():
            receipt = await intake.submit(
                db, loaded, submission, source="web", secret=state.settings.secret
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
            "standing": await _standing(db, q.slug, row.index_score),
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
    if not await store.delete_response_by_token(db, intake.token_hash(token)):
        raise NotFound("This result was not found, or its answers have been deleted.")
    return Redirect("/deleted", status_code=303)


@get("/deleted")
async def deleted() -> Template:
    return Template("deleted.html")


async def secure(response: Response[Any]) -> Response[Any]:
    """The security headers every page sends (an `after_request` hook)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def csrf_middleware(settings: Settings) -> DefineMiddleware:
    """CSRF protection for every form: one key derived from the service secret, one cookie."""
    assert settings.secret is not None
    secret = hmac.new(settings.secret.encode(), b"csrf", "sha256").hexdigest()
    csrf = CSRFConfig(secret=secret, cookie_httponly=True, cookie_samesite="lax")
    return DefineMiddleware(CSRFMiddleware, config=csrf)


def router(settings: Settings) -> Router:
    """The pages, behind CSRF protection (the JSON API stays outside it)."""
    return Router(
        "/",
        route_handlers=[index, show_form, submit_form, show_result, delete_result, deleted],
        middleware=[csrf_middleware(settings)],
        after_request=secure,
        include_in_schema=False,
    )


# --- error pages ------------------------------------------------------------------------------

# Paths that answer in JSON whatever goes wrong.
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
