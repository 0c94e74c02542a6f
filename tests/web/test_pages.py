"""The respondent's pages over HTTP, against real PostgreSQL: form, result, delete, errors."""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from markupsafe import escape
from plotly.offline import get_plotlyjs_version

from survey.core import display, scoring
from survey.core.charts import score_text
from survey.core.model import Loaded
from survey.core.submission import Submission
from survey.flows import intake
from survey.store import responses
from survey.web.assets import PLOTLY_JS, STATIC, asset_url
from survey.web.forms import submission_from_form

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Litestar]


async def form_token(client: Client, path: str) -> str:
    """Open a page with a form, as a browser would; the CSRF cookie stays in the client."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert match, "the page has no CSRF field"
    assert client.cookies.get("csrftoken") == match[1]
    return match[1]


def likert_form(loaded: Loaded, value: int = 4) -> dict[str, Any]:
    return {item.id: str(value) for item in loaded.definition.likert_items()}


async def submit(client: Client, slug: str, fields: dict[str, Any]) -> httpx.Response:
    token = await form_token(client, f"/q/{slug}")
    return await client.post(
        f"/q/{slug}", data={"_csrf_token": token, **fields}, follow_redirects=False
    )


async def submitted(client: Client, slug: str, fields: dict[str, Any]) -> str:
    """Submit a valid form; the private result path it redirects to."""
    response = await submit(client, slug, fields)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/r/[A-Za-z0-9_-]{32,}", location)
    return location


def text_of(page: httpx.Response) -> str:
    """The visible text of a page, whitespace collapsed, entities decoded."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))


# --- the list and the form --------------------------------------------------------------------


async def test_the_home_page_lists_every_questionnaire_with_a_link_to_its_form(
    client: Client, questionnaires: dict[str, Loaded]
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for slug, loaded in questionnaires.items():
        assert f'href="/q/{slug}"' in page.text
        assert str(escape(loaded.definition.title)) in page.text


async def test_the_form_has_a_fieldset_and_legend_per_likert_item_with_every_scale_label(
    client: Client, questionnaires: dict[str, Loaded]
) -> None:
    q = questionnaires["connector"].definition
    page = await client.get("/q/connector")
    assert page.status_code == 200
    body = page.text
    assert body.count('<fieldset class="sec"') == len(q.sections) + 1  # and the consent
    for item in q.likert_items():
        group = re.search(
            rf"<fieldset class=q>\s*<legend>{re.escape(str(escape(item.text)))}"
            rf"(.*?)</fieldset>",
            body,
            re.S,
        )
        assert group, item.id
        radios = re.findall(
            rf"<label><input type=radio name={item.id} [^>]*>([^<]+)</label>", group[1]
        )
        assert radios == q.scales[item.scale].labels
    assert body.count("type=radio") == sum(
        len(q.scales[i.scale].labels) + (q.scales[i.scale].na is not None) for i in q.likert_items()
    )


async def test_the_form_has_selects_checkboxes_numbers_with_bounds_and_textareas_with_limits(
    client: Client,
) -> None:
    body = (await client.get("/q/connector")).text
    assert '<label for="industry">Which industry do you work in?</label>' in body
    assert re.search(r"<select id=industry name=industry>\s*<option value=\"\">", body)
    assert body.count("type=checkbox name=platforms") == 8
    assert re.search(r"type=number id=years_experience [^>]*min=\"0\" max=\"60\" step=\"1\"", body)
    assert re.search(r"<textarea id=why_collect name=why_collect rows=4 maxlength=2000", body)
    assert "Up to 2,000 characters." in body
    assert "type=checkbox name=_consent" in body
    assert "you may quote my written answers anonymously" in body
    assert 'name="_csrf_token"' in body
    # Every control the respondent fills in has a label tied to it.
    for control in re.findall(r"<(?:select|textarea|input class=\"num\"[^>]*?) id=(\w+)", body):
        assert f'<label for="{control}">' in body


async def test_a_questionnaire_without_consent_has_no_consent_checkbox(client: Client) -> None:
    body = (await client.get("/q/teamwork")).text
    assert "_consent" not in body
    assert "(required)" in body  # teamwork marks its required items
    assert re.search(r'type=number id=team_size [^>]*min="1" max="500"', body)


async def test_the_form_page_and_its_stylesheet_weigh_under_30_kb(client: Client) -> None:
    page = await client.get("/q/connector")
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text)
    assert stylesheet
    css = await client.get(stylesheet[1])
    assert css.status_code == 200
    assert len(page.content) + len(css.content) < 30_000
    # And no JavaScript is needed: the one script only adds a progress count.
    assert re.findall(r"<script[^>]*>", page.text) == [
        f'<script src="{asset_url("form.js")}" defer>'
    ]


async def test_unknown_questionnaires_get_an_html_404_page(client: Client) -> None:
    page = await client.get("/q/no-such-survey")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is no survey at this address." in page.text
    assert "content-security-policy" in page.headers


# --- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/q/connector", "/q/nope", "/deleted"])
async def test_pages_send_a_csp_without_inline_script_nosniff_and_no_referrer(
    client: Client, path: str
) -> None:
    page = await client.get(path)
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_no_page_has_inline_script(client: Client, questionnaires: dict[str, Loaded]) -> None:
    fields = {**likert_form(questionnaires["connector"]), "_consent": "yes"}
    result = await submitted(client, "connector", fields)
    for path in ["/", "/q/connector", "/q/teamwork", result, "/deleted"]:
        body = (await client.get(path)).text
        for tag in re.findall(r"<script[^>]*>", body):
            assert re.search(r' src="/static/[^"]+"', tag), (path, tag)
        assert not re.search(r"\son\w+=", body), path  # no inline event handlers either


# --- CSRF -----------------------------------------------------------------------------------------


async def test_a_form_post_without_the_csrf_token_is_refused_with_an_html_page(
    client: Client, conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    await form_token(client, "/q/connector")
    fields = {**likert_form(questionnaires["connector"]), "_consent": "yes"}
    page = await client.post("/q/connector", data=fields)
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "This form has expired" in page.text
    assert await conn.fetchval("SELECT count(*) FROM response") == 0


async def test_a_form_post_with_a_forged_token_is_refused(client: Client) -> None:
    await form_token(client, "/q/connector")
    forged = "0" * 64 + "1" * 64
    page = await client.post("/q/connector", data={"_csrf_token": forged, "_consent": "yes"})
    assert page.status_code == 403


async def test_the_json_api_needs_no_csrf_token_and_sets_no_csrf_cookie(client: Client) -> None:
    response = await client.post(
        "/api/v1/questionnaires/teamwork/responses", json={"answers": {"rely_on": 5}}
    )
    assert response.status_code in (201, 422)  # judged on its content, not refused
    assert response.headers["content-type"].startswith("application/")
    assert "set-cookie" not in response.headers
    listing = await client.get("/api/v1/questionnaires")
    assert "set-cookie" not in listing.headers


# --- submitting ------------------------------------------------------------------------------


async def test_a_valid_form_is_stored_as_a_web_response_with_typed_answers(
    client: Client, conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["connector"]
    fields = {
        **likert_form(loaded),
        "industry": "Technology",
        "years_experience": "12",
        "platforms": ["LinkedIn", "Alumni networks"],
        "real_connector": "Line one\r\nline two",
        "why_collect": "",
        "_consent": "yes",
        "_quote_consent": "yes",
    }
    result = await submitted(client, "connector", fields)
    row = await conn.fetchrow("SELECT source, answers, quote_consent, complete FROM response")
    assert row["source"] == "web"
    assert row["complete"] and row["quote_consent"]
    answers = row["answers"]
    assert answers["say_why"] == 4 and answers["years_experience"] == 12
    assert answers["platforms"] == ["LinkedIn", "Alumni networks"]
    assert answers["real_connector"] == "Line one\nline two"
    assert "why_collect" not in answers and "role" not in answers
    assert (await client.get(result)).status_code == 200


async def test_a_not_applicable_choice_is_offered_stored_and_left_out_of_the_score(
    client: Client, conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["teamwork"]
    q = loaded.definition
    page = await client.get("/q/teamwork")
    for item in q.likert_items():
        assert f'name={item.id} value="na"' in page.text
    assert ">Does not apply</label>" in page.text
    trust = [i.id for i in q.likert_items("trust")]
    fields = {**likert_form(loaded, 6), trust[0]: "na", "team_size": "7", "department": "Support"}
    result = await submitted(client, "teamwork", fields)

    row = await conn.fetchrow("SELECT answers, dimensions FROM response")
    assert row["answers"][trust[0]] == "na"
    # The mean of the other trust items' scores, all answered at the top of the scale.
    others = [i for i in q.likert_items("trust")[1:]]
    expected = sum(0.0 if i.reverse else 100.0 for i in others) / len(others)
    assert row["dimensions"]["trust"] == pytest.approx(expected)
    shown = await client.get(result)
    assert shown.status_code == 200
    # Sent back with the form when something else is wrong: the N/A choice stays ticked.
    required = next(i.id for i in q.likert_items() if i.required and i.id != trust[0])
    del fields[required]
    again = await submit(client, "teamwork", fields)
    assert again.status_code == 422
    assert f'name={trust[0]} value="na" checked' in again.text


async def test_a_randomised_section_is_shown_in_the_seeds_order_which_is_stored_and_kept(
    client: Client, conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    q = questionnaires["conditional"].definition
    page = await client.get("/q/conditional")
    seed = int(re.search(r'name="_order" value="(\d+)"', page.text)[1])  # type: ignore[index]
    expected = display.item_order(q, seed)
    assert expected is not None
    shown = re.findall(r"<(?:input|textarea|select) [^>]*name=(\w+)", page.text)
    assert list(dict.fromkeys(n for n in shown if not n.startswith("_"))) == expected
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    fields = {"_csrf_token": token, "_order": str(seed), "introduces": "Yes", "ask_first": "4"}
    # A problem (intro_consent is required once introductions are shown): the same order again.
    again = await client.post("/q/conditional", data=fields)
    assert again.status_code == 422
    assert f'name="_order" value="{seed}"' in again.text
    done = await client.post(
        "/q/conditional", data={**fields, "intro_consent": "5"}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    # Stored: the order shown, less the questions these answers hid (no channel was chosen, so
    # ask_events; intro_followup asks about a channel too).
    stored = await conn.fetchval("SELECT item_order FROM response")
    assert stored == [i for i in expected if i not in {"ask_events", "intro_followup"}]


async def test_a_missing_required_answer_shows_the_form_again_with_every_answer_kept(
    client: Client, conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    fields = likert_form(questionnaires["teamwork"], 5)
    del fields["nod_along"]
    fields.update(team_size="7", department="Support", one_change="Fewer <b>meetings</b>")
    page = await submit(client, "teamwork", fields)

    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Error: " in page.text
    summary = re.search(r'<div class="es" id="error-summary"(.*?)</div>', page.text, re.S)
    assert summary
    assert re.findall(r'href="#([^"]+)"', summary[1]) == ["nod_along"]
    beside = re.search(
        r'<fieldset class="q err" aria-describedby="nod_along-error">\s*<legend>'
        r'In meetings, people nod along.*?</legend>\s*<p class="em" id="nod_along-error">'
        r'<span class="vh">Error:</span> Choose an answer.</p>',
        page.text,
        re.S,
    )
    assert beside, "the message is not beside the question"
    assert "name=nod_along value=1 id=nod_along>" in page.text  # the link's target
    for item_id in fields.keys() & {i.id for i in questionnaires["teamwork"].definition.items}:
        if item_id in ("team_size", "department", "one_change"):
            continue
        assert f"name={item_id} value=5 checked>" in page.text, item_id
    assert 'value="7"' in page.text
    assert "<option selected>Support</option>" in page.text
    assert "Fewer &lt;b&gt;meetings&lt;/b&gt;</textarea>" in page.text
    assert await conn.fetchval("SELECT count(*) FROM response") == 0


async def test_missing_consent_is_reported_beside_the_checkbox_and_nothing_is_stored(
    client: Client, conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    page = await submit(client, "connector", {**likert_form(questionnaires["connector"])})
    assert page.status_code == 422
    assert 'href="#_consent"' in page.text
    assert '<p class="em" id="_consent-error">' in page.text
    assert 'id=_consent aria-describedby="_consent-error">' in page.text
    assert await conn.fetchval("SELECT count(*) FROM response") == 0


async def test_every_problem_is_listed_at_once_and_bad_values_are_kept_as_typed(
    client: Client, questionnaires: dict[str, Loaded]
) -> None:
    fields = {
        **likert_form(questionnaires["connector"]),
        "say_why": "9",
        "years_experience": "61",
        "why_collect": "x" * 2001,
        "industry": "Astrology",
    }
    page = await submit(client, "connector", fields)
    assert page.status_code == 422
    targets = re.findall(r'<li><a href="#([^"]+)">', page.text)
    assert targets == ["say_why", "industry", "years_experience", "why_collect", "_consent"]
    shown = text_of(page)
    assert "Enter a number between 0 and 60." in shown
    assert "The answer must be at most 2000 characters (got 2001)." in shown
    assert 'value="61"' in page.text
    assert "x" * 2001 + "</textarea>" in page.text


async def test_what_a_respondent_typed_is_escaped_when_the_form_comes_back(
    client: Client,
) -> None:
    attack = '</textarea><script>alert("x")</script><img src=x onerror=alert(1)>'
    page = await submit(client, "connector", {"real_connector": attack, "years_experience": attack})
    assert page.status_code == 422
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    assert f"{escape(attack)}</textarea>" in page.text
    assert f'value="{escape(attack)}"' in page.text


# --- the result -------------------------------------------------------------------------------


async def test_the_result_shows_the_profile_index_every_dimension_with_feedback_and_chart_data(
    client: Client, questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["connector"]
    fields = {**likert_form(loaded, 4), "_consent": "yes"}
    page = await client.get(await submitted(client, "connector", fields))
    assert page.status_code == 200
    q = loaded.definition
    answers = {k: int(v) for k, v in likert_form(loaded, 4).items()}
    score = scoring.score(q, answers)
    assert score.profile is not None
    shown = text_of(page)
    assert f"Your profile: {score.profile.label}" in shown
    assert score.profile.summary.split(".")[0] in shown
    assert f"Connector Index: {score_text(score.index)} out of 100" in shown
    for dimension in q.dimensions:
        value = score.dimensions[dimension.id]
        assert f"{dimension.name}: {score_text(value)}" in shown
        feedback = scoring.feedback(dimension.feedback, value)
        assert feedback and " ".join(feedback.split()) in shown
    assert "Bookmark this page" in shown
    assert 'action="/r/' in page.text and "name=_confirm" in page.text

    figure_attr = re.search(r'data-figure="([^"]+)"', page.text)
    assert figure_attr
    figure = json.loads(html.unescape(figure_attr[1]))
    bars = {
        name: x for trace in figure["data"] for name, x in zip(trace["y"], trace["x"], strict=True)
    }
    assert bars == {d.name: round(score.dimensions[d.id] or 0, 1) for d in q.dimensions}
    assert f'src="/static/plotly-{get_plotlyjs_version()}.min.js"' in page.text
    assert page.headers["cache-control"] == "no-store"


async def test_an_incomplete_response_gets_a_result_without_a_profile(client: Client) -> None:
    page = await client.get(
        await submitted(client, "connector", {"say_why": "5", "_consent": "yes"})
    )
    assert page.status_code == 200
    shown = text_of(page)
    assert "Too few questions were answered to give you a profile." in shown
    assert "Too few of these questions were answered for a score." in shown
    assert "comparison with everyone else" not in shown


async def add_responses(conn: asyncpg.Connection, loaded: Loaded, values: list[int]) -> None:
    """Other people's scored responses, each answering every likert item with one value."""
    for value in values:
        answers = {i.id: value for i in loaded.definition.likert_items()}
        async with conn.transaction():
            await intake.submit(
                conn,
                loaded,
                Submission(answers=dict(answers), consent=True),
                source="api",
                secret="s",
            )


async def test_the_percentile_appears_once_30_scored_responses_exist_with_n(
    client: Client, conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["teamwork"]
    # 28 others, and then this respondent: 29 scored responses.
    await add_responses(conn, loaded, [1] * 10 + [6] * 18)
    mine = await submitted(client, "teamwork", likert_form(loaded, 4))
    assert "once at least 30 people have answered" in text_of(await client.get(mine))

    await add_responses(conn, loaded, [4])  # one more, tied with this respondent
    shown = text_of(await client.get(mine))

    def index(value: int) -> float:
        answers = {i.id: value for i in loaded.definition.likert_items()}
        result = scoring.score(loaded.definition, dict(answers)).index
        assert result is not None
        return result

    others = [index(v) for v in [1] * 10 + [6] * 18 + [4]]
    own = index(4)
    below = sum(i < own for i in others)
    ties = sum(i == own for i in others) + 1  # counting this respondent, as the scoring rules say
    expected = int(100 * (below + ties / 2) / 30 + 0.5)
    assert (
        f"higher than {expected}% of the 30 people who have answered this survey so far "
        "(n = 30, ties counted as half)" in shown
    )


# --- deleting ---------------------------------------------------------------------------------


async def test_deleting_needs_the_confirmation_ticked(
    client: Client, conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    result = await submitted(client, "teamwork", likert_form(questionnaires["teamwork"]))
    token = await form_token(client, result)
    page = await client.post(f"{result}/delete", data={"_csrf_token": token})
    assert page.status_code == 422
    assert "Delete your answers?" in page.text
    assert 'href="#_confirm"' in page.text
    assert await conn.fetchval("SELECT count(*) FROM response") == 1


async def test_deleting_erases_the_answers_and_the_private_link_then_gives_404(
    client: Client, conn: asyncpg.Connection, questionnaires: dict[str, Loaded]
) -> None:
    result = await submitted(client, "teamwork", likert_form(questionnaires["teamwork"]))
    token = await form_token(client, result)
    done = await client.post(
        f"{result}/delete", data={"_csrf_token": token, "_confirm": "yes"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/deleted"
    assert "Your answers were deleted" in (await client.get("/deleted")).text
    assert await conn.fetchval("SELECT count(*) FROM response") == 0

    gone = await client.get(result)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("text/html")
    assert "not found, or its answers have been deleted" in gone.text
    again = await client.post(f"{result}/delete", data={"_csrf_token": token, "_confirm": "yes"})
    assert again.status_code == 404


# --- errors -----------------------------------------------------------------------------------


async def test_unknown_page_paths_get_html_and_the_api_keeps_problem_json(client: Client) -> None:
    page = await client.get("/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    api = await client.get("/api/v1/questionnaires/no-such")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"


async def test_an_unexpected_error_on_a_page_shows_an_html_500_without_details(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(responses, "select_response_by_token", broken)
    page = await client.get("/r/" + "a" * 32)
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in page.text
    assert "SELECT" not in page.text and "Traceback" not in page.text
    assert "content-security-policy" in page.headers


# --- static files -----------------------------------------------------------------------------


async def test_plotly_js_comes_from_the_plotly_package_gzipped_and_cached_for_a_year(
    client: Client,
) -> None:
    url = asset_url("plotly.js")
    assert re.fullmatch(r"/static/plotly-\d+\.\d+\.\d+\.min\.js", url)
    response = await client.get(url, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"].startswith("text/javascript")
    assert int(response.headers["content-length"]) < len(response.content) / 2
    assert response.content == PLOTLY_JS.read_bytes()  # httpx undid the gzip
    assert "set-cookie" not in response.headers

    plain = await client.get(url, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == PLOTLY_JS.read_bytes()


async def test_the_gzip_on_the_wire_is_compressed_once(client: Client) -> None:
    request = client.build_request("GET", asset_url("survey.css"))
    request.headers["accept-encoding"] = "gzip"
    response = await client.send(request, stream=True)
    raw = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    assert gzip.decompress(raw) == (STATIC / "survey.css").read_bytes()


async def test_stylesheets_and_scripts_have_content_hashed_urls(client: Client) -> None:
    for name in ("survey.css", "form.js", "result.js", "chart.css"):
        url = asset_url(name)
        assert re.fullmatch(rf"/static/{re.escape(name)}\?v=[0-9a-f]{{12}}", url)
        response = await client.get(url)
        assert response.status_code == 200
        assert "immutable" in response.headers["cache-control"]
    assert (await client.get("/static/nope.js")).status_code == 404
    assert (await client.get("/static/..%2Fpages.py")).status_code == 404


# --- the form decoder -------------------------------------------------------------------------


def test_form_fields_become_the_submission_the_api_takes(
    questionnaires: dict[str, Loaded],
) -> None:
    q = questionnaires["connector"].definition
    form = {
        "say_why": "4",
        "same_template": "x",
        "years_experience": "12",
        "platforms": "LinkedIn",
        "industry": "Technology",
        "real_connector": "a\r\nb",
        "why_collect": "   ",
        "not_an_item": "ignored",
        "_consent": "yes",
        "_csrf_token": "t",
    }
    submission = submission_from_form(q, form)
    assert submission == Submission(
        answers={
            "say_why": 4,
            "same_template": "x",
            "industry": "Technology",
            "years_experience": 12,
            "platforms": ["LinkedIn"],
            "real_connector": "a\nb",
        },
        consent=True,
        quote_consent=False,
    )
    assert submission_from_form(q, {"years_experience": "2.5"}).answers == {"years_experience": 2.5}


async def test_a_paged_questionnaire_goes_page_by_page_keeps_a_draft_and_submits_at_the_end(
    client: Client, conn: asyncpg.Connection
) -> None:
    first = await client.get("/q/paged")
    assert "Page 1 of 3" in first.text and ">Next</button>" in first.text
    assert "_consent" not in first.text  # the consent is asked on the last page
    token = re.search(r'name="_csrf_token" value="([^"]+)"', first.text)[1]  # type: ignore[index]

    async def post(path: str, fields: dict[str, Any]) -> httpx.Response:
        return await client.post(
            path, data={"_csrf_token": token, **fields}, follow_redirects=False
        )

    missing = await post("/q/paged", {"_go": "next", "introduces": "Yes"})
    assert missing.status_code == 422 and "Page 1 of 3" in missing.text
    assert await conn.fetchval("SELECT count(*) FROM draft") == 0

    saved = await post("/q/paged", {"_go": "next", "introduces": "Yes", "ask_first": "4"})
    assert saved.status_code == 303
    match = re.fullmatch(r"/d/([A-Za-z0-9_-]{32})/1\?saved=1", saved.headers["location"])
    assert match, saved.headers["location"]
    resume = match[1]
    assert await conn.fetchval("SELECT count(*) FROM response") == 0
    stored = await conn.fetchrow("SELECT token_hash, answers, page FROM draft")
    assert stored["token_hash"] == hashlib.sha256(resume.encode()).digest()  # never the token
    assert stored["answers"] == {"introduces": "Yes", "ask_first": 4} and stored["page"] == 1

    second = await client.get(saved.headers["location"])
    assert "Page 2 of 3" in second.text and f"/d/{resume}</a>" in second.text
    assert (
        "/d/"
        not in (await client.get(f"/d/{resume}/1"))
        .text.split("<form")[0]
        .split('id="resume"')[0][-1:]
    )  # the link is shown once: not without ?saved
    back = await post(f"/d/{resume}/1", {"_go": "back", "intro_consent": "5"})
    assert back.headers["location"] == f"/d/{resume}/0"
    page_one = await client.get(f"/d/{resume}/0")
    assert re.search(r'name=introduces value="Yes"[^>]* checked', page_one.text)
    assert re.search(r"name=ask_first value=4[^>]* checked", page_one.text)
    ahead = await post(f"/d/{resume}/0", {"_go": "next", "introduces": "Yes", "ask_first": "4"})
    assert ahead.headers["location"] == f"/d/{resume}/1"
    kept = await client.get(f"/d/{resume}/1")
    assert re.search(r"name=intro_consent value=5[^>]* checked", kept.text)  # Back kept it
    last = await post(f"/d/{resume}/1", {"_go": "next", "intro_consent": "5"})
    assert last.headers["location"] == f"/d/{resume}/2"
    page_three = await client.get(f"/d/{resume}/2")
    assert "Send my answers" in page_three.text and "_consent" in page_three.text
    refused = await post(f"/d/{resume}/2", {"_go": "next", "years": "12"})
    assert refused.status_code == 422 and "Tick the box to agree" in refused.text
    done = await post(f"/d/{resume}/2", {"_go": "next", "years": "12", "_consent": "yes"})
    assert re.fullmatch(r"/r/[A-Za-z0-9_-]{32,}", done.headers["location"])
    row = await conn.fetchrow("SELECT answers, source FROM response")
    assert row["source"] == "web"
    assert row["answers"] == {"introduces": "Yes", "ask_first": 4, "intro_consent": 5, "years": 12}
    assert await conn.fetchval("SELECT count(*) FROM draft") == 0  # erased on submit
    gone = await client.get(f"/d/{resume}")
    assert gone.status_code == 404


async def test_a_page_its_answers_do_not_show_is_skipped_and_an_expired_draft_is_gone(
    client: Client, conn: asyncpg.Connection
) -> None:
    token = await form_token(client, "/q/paged")
    skip = await client.post(
        "/q/paged",
        data={"_csrf_token": token, "_go": "next", "introduces": "No", "ask_first": "2"},
        follow_redirects=False,
    )
    resume = skip.headers["location"].split("/")[2]
    assert skip.headers["location"] == f"/d/{resume}/2?saved=1"  # no introductions page
    assert (await client.get(f"/d/{resume}/1", follow_redirects=False)).headers[
        "location"
    ] == f"/d/{resume}/2"
    await conn.execute("UPDATE draft SET expires_at = now() - interval '1 second'")
    expired = await client.get(f"/d/{resume}")
    assert expired.status_code == 404 and "has expired" in expired.text


async def test_a_non_finite_number_for_a_hidden_item_is_dropped_not_a_server_error(
    client: Client, conn: asyncpg.Connection
) -> None:
    token = await form_token(client, "/q/paged")
    for value in ("inf", "nan", "1e400"):
        response = await client.post(
            "/q/paged",
            data={"_csrf_token": token, "_go": "next", "introduces": "No", "ask_first": "3",
                  "intro_consent": value},
            follow_redirects=False,
        )  # fmt: skip
        assert response.status_code == 303, response.text


async def test_a_draft_whose_page_is_gone_goes_to_a_page_that_is_there(
    client: Client, conn: asyncpg.Connection
) -> None:
    token = await form_token(client, "/q/paged")
    saved = await client.post(
        "/q/paged",
        data={"_csrf_token": token, "_go": "next", "introduces": "Yes", "ask_first": "3"},
        follow_redirects=False,
    )
    resume = saved.headers["location"].split("/")[2]
    # As if the questionnaire had changed: the page reached no longer exists, an item is gone.
    await conn.execute(
        """UPDATE draft SET page = 9, answers = answers || '{"gone_item": 1}'::jsonb"""
    )
    again = await client.get(f"/d/{resume}", follow_redirects=False)
    assert again.headers["location"] == f"/d/{resume}/9"
    moved = await client.get(f"/d/{resume}/9", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == f"/d/{resume}/0"
    page = await client.get(f"/d/{resume}/0")
    assert page.status_code == 200 and "gone_item" not in page.text


async def start_draft(client: Client) -> tuple[str, Any]:
    """A paged response saved after its first page, with Yes to introductions: its resume
    token and a function that posts a page of it."""
    token = await form_token(client, "/q/paged")

    async def post(path: str, fields: dict[str, Any]) -> httpx.Response:
        return await client.post(
            path, data={"_csrf_token": token, **fields}, follow_redirects=False
        )

    saved = await post("/q/paged", {"_go": "next", "introduces": "Yes", "ask_first": "4"})
    return saved.headers["location"].split("/")[2], post


async def test_draft_pages_are_private_and_reached_in_order(
    client: Client, conn: asyncpg.Connection
) -> None:
    resume, post = await start_draft(client)
    page = await client.get(f"/d/{resume}/1")
    assert page.headers["x-robots-tag"] == "noindex"
    assert page.headers["cache-control"] == "private, no-store"
    assert '<meta name="robots" content="noindex">' in page.text
    # Page 2 comes after page 1's Next, which checks page 1: not by its address before that.
    ahead = await client.get(f"/d/{resume}/2", follow_redirects=False)
    assert ahead.status_code == 303 and ahead.headers["location"] == f"/d/{resume}/1"
    skipped = await post(f"/d/{resume}/2", {"_go": "next", "years": "3", "_consent": "yes"})
    assert skipped.headers["location"] == f"/d/{resume}/1"
    assert await conn.fetchval("SELECT count(*) FROM response") == 0


async def test_back_keeps_only_answers_that_pass_their_checks(
    client: Client, conn: asyncpg.Connection
) -> None:
    resume, post = await start_draft(client)
    await post(f"/d/{resume}/1", {"_go": "next", "intro_consent": "5"})
    # A NUL cannot be stored in jsonb; a number out of range is not an answer either.
    back = await post(f"/d/{resume}/2", {"_go": "back", "story": "a\x00b", "years": "500"})
    assert back.status_code == 303 and back.headers["location"] == f"/d/{resume}/1"
    answers = await conn.fetchval("SELECT answers FROM draft")
    assert answers == {"introduces": "Yes", "ask_first": 4, "intro_consent": 5}
    kept = await post(f"/d/{resume}/1", {"_go": "next", "intro_consent": "5"})
    again = await post(f"/d/{resume}/2", {"_go": "back", "story": "Kept.", "years": "12"})
    assert kept.status_code == again.status_code == 303
    answers = await conn.fetchval("SELECT answers FROM draft")
    assert answers["story"] == "Kept." and answers["years"] == 12


async def test_the_last_page_sent_twice_gives_one_response_and_then_the_spent_link(
    client: Client, conn: asyncpg.Connection
) -> None:
    resume, post = await start_draft(client)
    await post(f"/d/{resume}/1", {"_go": "next", "intro_consent": "5"})
    fields = {"_go": "next", "years": "12", "_consent": "yes"}
    first = await post(f"/d/{resume}/2", fields)
    second = await post(f"/d/{resume}/2", fields)
    assert first.status_code == 303 and first.headers["location"].startswith("/r/")
    assert second.status_code == 404 and "the answers were sent" in second.text
    assert await conn.fetchval("SELECT count(*) FROM response") == 1


async def test_a_respondent_deletes_the_answers_saved_so_far(
    client: Client, conn: asyncpg.Connection
) -> None:
    resume, post = await start_draft(client)
    page = await client.get(f"/d/{resume}/1")
    assert f'action="/d/{resume}/delete"' in page.text
    unconfirmed = await post(f"/d/{resume}/delete", {})
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.text
    assert f'href="/d/{resume}"' in unconfirmed.text  # the way back to the answers
    assert await conn.fetchval("SELECT count(*) FROM draft") == 1
    done = await post(f"/d/{resume}/delete", {"_confirm": "yes"})
    assert done.status_code == 303 and done.headers["location"] == "/deleted?draft=1"
    assert await conn.fetchval("SELECT count(*) FROM draft") == 0
    assert (
        "The answers you had saved have been erased" in (await client.get("/deleted?draft=1")).text
    )
    assert (await client.get(f"/d/{resume}")).status_code == 404
    assert (await post(f"/d/{resume}/delete", {"_confirm": "yes"})).status_code == 404
