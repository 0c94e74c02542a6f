"""The respondent's pages: the list, the form, the result, deleting one's answers.

Server-rendered HTML that works without JavaScript. Handlers read the form, call the intake
flow, and render a template; errors raised here reach survey.web.errors, which renders
`error.html` for page paths.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from survey.config import Settings
from survey.core import channels, display, precision, quality, scoring, tokens
from survey.core.charts import dimension_chart, dimension_views, number_text
from survey.core.model import Answer, Loaded
from survey.core.submission import Submission
from survey.errors import InvalidSubmission, NotFound
from survey.flows import intake, paging
from survey.store import db as database
from survey.store.drafts import Draft
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


# The form's signed issue time, its honeypot, and the browser cookie (quality flags).
STAMP, HONEYPOT = "_t", "_website"
# A retake's form: the private link of the result it takes again.
AGAIN = "_again"
# The form's field for the channel its link named (`?src=`), checked (core.channels).
SOURCE = "_src"
BROWSER_COOKIE = "survey_browser"
BROWSER_DAYS = 365
UNTIMED_AFTER = 24 * 3600.0  # seconds after which a form's time on it is not counted


def _with_browser(request: Request[Any, Any, Any], page: Template) -> Template:
    """Give a browser that has none a random id in an HttpOnly cookie: only its keyed hash is
    stored with a response, to notice the same browser answering again."""
    if BROWSER_COOKIE not in request.cookies:
        page.set_cookie(
            BROWSER_COOKIE,
            tokens.new_browser_id(),
            max_age=BROWSER_DAYS * 86400,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
    return page


def _browser(state: State, request: Request[Any, Any, Any], slug: str) -> bytes | None:
    browser_id = request.cookies.get(BROWSER_COOKIE)
    return tokens.browser_hash(state.settings.secret, slug, browser_id) if browser_id else None


def _signals(
    state: State, slug: str, data: Mapping[str, str | list[str]], before: Draft | None = None
) -> quality.Signals:
    """How this form (or page) was filled in, added to the pages before it."""
    stamp = data.get(STAMP)
    seconds = tokens.stamp_seconds(
        state.settings.secret, slug, stamp if isinstance(stamp, str) else "", time.time()
    )
    signed = seconds is not None
    if seconds is not None and seconds > UNTIMED_AFTER:
        seconds = None  # a form left open for days: its time says nothing
    if before is None:
        return quality.Signals(seconds=seconds, signed=signed, honeypot=bool(data.get(HONEYPOT)))
    return quality.Signals(
        seconds=before.seconds + (seconds or 0.0),
        signed=signed and not before.unsigned,
        honeypot=bool(data.get(HONEYPOT)) or before.honeypot,
    )


def _form_page(
    loaded: Loaded,
    form: Mapping[str, str | list[str]],
    errors: list[FieldError],
    status_code: int = 200,
    *,
    page: int = 0,
    token: str | None = None,
    known: Mapping[str, Answer] | None = None,
    seed: int | None = None,
    resume: str | None = None,
    secret: str,
) -> Template:
    """The form, or with `paging: section` one page of it (`known`: the answers so far). It
    carries the time it was given out, signed; a form sent back with a problem keeps its own."""
    q = loaded.definition
    sent = form.get(STAMP)
    stamp = (
        sent
        if isinstance(sent, str) and sent
        else tokens.form_stamp(secret, q.slug, int(time.time()))
    )
    if token is None:
        # A respondent's own order of the randomised sections, kept when the form comes back.
        seed = order_seed(form) if ORDER in form else secrets.randbelow(2**31)
    if not display.randomized(q):
        seed = None
    sections = display.ordered(q, seed)
    paged = display.paged(q)
    last = send = True
    if paged:
        answers = known or {}
        section, items = sections[page]
        on_page = {item.id for item in display.page_items(q, page, answers)}
        sections = [(section, [item for item in items if item.id in on_page])]
        # The consents go on a page that may be the last; its button says Send only when no
        # answer on it can bring another page.
        last = display.next_page(q, page, answers) is None
        send = display.surely_last(q, page, answers)
    again = form.get(AGAIN)
    again = again if isinstance(again, str) and again and token is None else None
    source = form.get(SOURCE)
    source = channels.checked(q, source) if isinstance(source, str) and token is None else None
    return Template(
        "form.html",
        # A draft's page, or a retake's form (which carries the earlier result's link).
        headers=PRIVATE if token or again else None,
        context={
            "q": q,
            "again": again,
            "source": source,
            "sections": sections,
            # Conditions on these are applied live on the page; others the server has applied.
            "on_page": {item.id for _, items in sections for item in items},
            "order": seed,
            "paged": paged,
            "page": page,
            "pages": len(q.sections),
            "last": last,
            "send": send,
            "token": token,
            "resume": resume,
            "action": f"/d/{token}/{page}" if token else f"/q/{q.slug}",
            "stamp": stamp,
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


def _as_form(answers: Mapping[str, Answer]) -> dict[str, str | list[str]]:
    """Stored answers as the form's fields would carry them."""
    return {k: _field(v) for k, v in answers.items() if v is not None}


def _field(value: Answer) -> str | list[str]:
    if isinstance(value, list):
        return [str(x) for x in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number_text(value)
    return str(value)


async def _page_post(
    state: State,
    db: database.Connection,
    loaded: Loaded,
    data: Mapping[str, str | list[str]],
    *,
    page: int,
    token: str | None,
    saved: Mapping[str, Answer],
    seed: int | None,
    before: Draft | None = None,
    browser: bytes | None = None,
    retake_of: uuid.UUID | None = None,
    channel: str | None = None,
) -> Response[Any]:
    """A page sent: Back keeps its answers and goes back; Next checks them, keeps them and goes
    on, or from the last page submits the whole response."""
    q = loaded.definition
    signals = _signals(state, q.slug, data, before)
    retake_of = before.retake_of if before is not None else retake_of
    channel = before.channel if before is not None else channel
    days = state.settings.draft_days
    items = display.page_items(q, page, saved)
    answers = paging.merged(saved, items, submission_from_form(q, data).answers)

    def again(errors: list[FieldError]) -> Template:
        fields = {**_as_form(answers), **{k: v for k, v in data.items() if k.startswith("_")}}
        return _form_page(
            loaded,
            fields,
            errors,
            422,
            page=page,
            token=token,
            known=answers,
            seed=seed,
            secret=state.settings.secret,
        )

    problems = scoring.validate_page(q, answers, items)
    if data.get("_go") == "back" and token is not None:
        # Back keeps what would be accepted; an answer with a problem is not stored half-checked.
        answers = paging.without(answers, problems)
        back = display.previous_page(q, page, answers)
        await paging.save(db, token, loaded, answers, back, seed, days, signals, retake_of, channel)
        return Redirect(f"/d/{token}/{back}", status_code=303)
    if problems:
        return again(field_errors(q, problems))
    after = display.next_page(q, page, answers)
    if after is None:
        submission = Submission(
            answers=answers, consent=CONSENT in data, quote_consent=QUOTE_CONSENT in data
        )
        try:
            receipt = await paging.finish(
                db,
                token,
                loaded,
                submission,
                secret=state.settings.secret,
                item_order=display.item_order(q, seed, answers),
                signals=signals,
                browser_hash=browser,
                retake_of=retake_of,
                channel=channel,
            )
        except InvalidSubmission as exc:
            return again(field_errors(q, exc.problems))
        except paging.DraftGone as exc:
            # The last page sent twice: the first one submitted and erased the draft.
            raise NotFound(NO_DRAFT) from exc
        return Redirect(receipt.result_url, status_code=303)
    first_save = token is None
    token = token or paging.new_token()
    await paging.save(db, token, loaded, answers, after, seed, days, signals, retake_of, channel)
    return Redirect(f"/d/{token}/{after}" + ("?saved=1" if first_save else ""), status_code=303)


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
async def show_form(state: State, request: Request[Any, Any, Any], slug: FromPath[str]) -> Template:
    loaded = http.questionnaire(state, slug, NO_SURVEY)
    channel = channels.channel_of(loaded.definition, request.query_params)
    form: dict[str, str | list[str]] = {SOURCE: channel} if channel else {}
    page = _form_page(loaded, form, [], secret=state.settings.secret)
    return _with_browser(request, page)


@post("/q/{slug:str}", status_code=303, opt={"submission": "web"})
async def submit_form(
    state: State, db: Db, request: Request[Any, Any, Any], slug: FromPath[str], data: FormData
) -> Response[Any]:
    """Score and store the answers, then show the result; on a problem, the form again. With
    `paging: section`, the first page: kept as a draft, on to the next page."""
    loaded = http.questionnaire(state, slug, NO_SURVEY)
    if display.paged(loaded.definition):
        seed = order_seed(data) if display.randomized(loaded.definition) else None
        return await _page_post(
            state,
            db,
            loaded,
            data,
            page=0,
            token=None,
            saved={},
            seed=seed,
            browser=_browser(state, request, loaded.definition.slug),
            retake_of=await _retake_of(state, db, slug, data),
            channel=_channel(loaded, data),
        )
    submission = submission_from_form(loaded.definition, data)
    retake_of = await _retake_of(state, db, slug, data)
    try:
        async with db.transaction():
            receipt = await intake.submit(
                db,
                loaded,
                submission,
                source="web",
                secret=state.settings.secret,
                item_order=display.item_order(
                    loaded.definition, order_seed(data), submission.answers
                ),
                signals=_signals(state, slug, data),
                browser_hash=_browser(state, request, slug),
                retake_of=retake_of,
                channel=_channel(loaded, data),
            )
    except InvalidSubmission as exc:
        errors = field_errors(loaded.definition, exc.problems)
        return _form_page(loaded, data, errors, status_code=422, secret=state.settings.secret)
    return Redirect(receipt.result_url, status_code=303)


def _channel(loaded: Loaded, data: Mapping[str, str | list[str]]) -> str | None:
    """The channel the form carries from its link, checked again."""
    sent = data.get(SOURCE)
    return channels.checked(loaded.definition, sent if isinstance(sent, str) else None)


async def _retake_of(
    state: State, conn: database.Connection, slug: str, data: FormData
) -> uuid.UUID | None:
    """The earlier response a retake's form names by its private link, if still there and to
    the same questionnaire; a link that opens nothing makes an ordinary response."""
    again = data.get(AGAIN)
    if not isinstance(again, str) or not again:
        return None
    found = await intake.find_result(conn, state.questionnaires, again)
    if found is None or found[1].slug != slug:
        return None
    return found[1].id


@get("/r/{token:str}/again")
async def take_again(
    state: State, db: Db, request: Request[Any, Any, Any], token: FromPath[str]
) -> Template:
    """The form once more, linked to the earlier result so that the new one shows the change."""
    loaded, _ = await _stored_result(state, db, token)
    form: dict[str, str | list[str]] = {AGAIN: token}
    return _with_browser(request, _form_page(loaded, form, [], secret=state.settings.secret))


# A draft's pages are private, like a result: never indexed, never kept by a proxy.
PRIVATE = {"X-Robots-Tag": "noindex", "Cache-Control": "private, no-store"}

NO_DRAFT = (
    "This link to unfinished answers was not found: it has expired, or the answers were sent."
)


async def _draft(state: State, conn: database.Connection, token: str) -> tuple[Loaded, Draft]:
    draft = await paging.find(conn, token)
    if draft is None or draft.slug not in state.questionnaires:
        raise NotFound(NO_DRAFT)
    loaded: Loaded = state.questionnaires[draft.slug]
    # Answers to items the questionnaire no longer has (it changed since) are let go.
    ids = {item.id for item in loaded.definition.items}
    kept = {k: v for k, v in draft.answers.items() if k in ids}
    return loaded, msgspec.structs.replace(draft, answers=kept)


@get("/d/{token:str}")
async def resume_draft(state: State, db: Db, token: FromPath[str]) -> Response[Any]:
    """The private resume link: on to the page the respondent was at."""
    _, draft = await _draft(state, db, token)
    return Redirect(f"/d/{token}/{draft.page}", status_code=303)


@get("/d/{token:str}/{page:int}")
async def show_page(
    state: State,
    db: Db,
    request: Request[Any, Any, Any],
    token: FromPath[str],
    page: FromPath[int],
) -> Response[Any]:
    """One page of a multi-page questionnaire, with the answers kept so far."""
    loaded, draft = await _draft(state, db, token)
    q = loaded.definition
    # Pages after the draft's are reached by Next, which checks the pages before them.
    reachable = 0 <= page <= draft.page and page < len(q.sections)
    if not (reachable and display.page_shown(q, page, draft.answers)):
        # The page the draft was at, if it is still one (the questionnaire may have changed
        # since), else the first: never back to a page refused here.
        at = draft.page
        if not (0 <= at < len(q.sections) and display.page_shown(q, at, draft.answers)):
            at = 0
        if at == page:
            raise NotFound(NO_DRAFT)
        return Redirect(f"/d/{token}/{at}", status_code=303)
    saved = request.query_params.get("saved") is not None
    link = str(request.base_url).rstrip("/") + f"/d/{token}" if saved else None
    return _form_page(
        loaded,
        _as_form(draft.answers),
        [],
        page=page,
        token=token,
        known=draft.answers,
        seed=draft.item_seed,
        resume=link,
        secret=state.settings.secret,
    )


@post("/d/{token:str}/{page:int}", status_code=303, opt={"submission": "web"})
async def submit_page(
    state: State,
    db: Db,
    request: Request[Any, Any, Any],
    token: FromPath[str],
    page: FromPath[int],
    data: FormData,
) -> Response[Any]:
    """A page sent back: kept, and on to the next page (or back, or to the result)."""
    loaded, draft = await _draft(state, db, token)
    if not 0 <= page < len(loaded.definition.sections):
        raise NotFound(NO_DRAFT)
    if page > draft.page:
        return Redirect(f"/d/{token}/{draft.page}", status_code=303)
    return await _page_post(
        state,
        db,
        loaded,
        data,
        page=page,
        token=token,
        saved=draft.answers,
        seed=draft.item_seed,
        before=draft,
        browser=_browser(state, request, loaded.definition.slug),
    )


@get("/r/{token:str}")
async def show_result(
    state: State, db: Db, request: Request[Any, Any, Any], token: FromPath[str]
) -> Template:
    loaded, row = await _stored_result(state, db, token)
    q = loaded.definition
    dimensions = dimension_views(q, row.dimensions)
    profile = next((p for p in q.profiles if p.id == row.profile), None)
    sure = await intake.certainty_of(db, loaded, row)
    return Template(
        "result.html",
        context={
            "q": q,
            "row": row,
            "profile": profile,
            "dimensions": dimensions,
            "chart": dimension_chart(q, dimensions),
            "standing": await intake.standing(db, q.slug, row.index_score),
            "sure": sure,
            "bands": {
                q.scoring.index.id: precision.band(row.index_score, sure.sems.index_sem),
                **{
                    d.id: precision.band(row.dimensions.get(d.id), sure.sems.sems.get(d.id))
                    for d in q.dimensions
                },
            },
            "labels": {p.id: p.label for p in q.profiles},
            "names": {q.scoring.index.id: q.scoring.index.name}
            | {d.id: d.name for d in q.dimensions},
            "min_n": precision.MIN_N,
            "again": True,
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


@post("/d/{token:str}/delete", status_code=303)
async def delete_draft(state: State, db: Db, token: FromPath[str], data: FormData) -> Response[Any]:
    """Erase the answers saved so far once the respondent has ticked the confirmation."""
    if CONFIRM not in data:
        loaded, _ = await _draft(state, db, token)
        context = {"q": loaded.definition, "token": token, "error": True, "draft": True}
        return Template("delete.html", context=context, status_code=422, headers=PRIVATE)
    if not await paging.discard(db, token):
        raise NotFound(NO_DRAFT)
    return Redirect("/deleted?draft=1", status_code=303)


@get("/deleted")
async def deleted(request: Request[Any, Any, Any]) -> Template:
    return Template("deleted.html", context={"draft": "draft" in request.query_params})


def router(settings: Settings) -> Router:
    """The pages, behind CSRF protection (the JSON API stays outside it)."""
    return Router(
        "/",
        route_handlers=[
            index,
            show_form,
            submit_form,
            resume_draft,
            show_page,
            submit_page,
            show_result,
            delete_result,
            take_again,
            delete_draft,
            deleted,
        ],
        middleware=[http.csrf_middleware(settings)],
        after_request=http.secure,
        include_in_schema=False,
    )
