"""A result's precision on its page: bands, the profile's certainty, the borderline sentence,
and a retake through the private link showing the change with its RCI. Over HTTP, and in
Chromium with JavaScript on and off."""

from __future__ import annotations

import asyncio
import random
import re

import pytest
from playwright.sync_api import Browser, expect

from survey.core import precision, scoring
from survey.core.demo import DemoPlan
from survey.core.filters import filter_of
from survey.core.model import Loaded
from survey.core.submission import Submission
from survey.core.sums import shape_of
from survey.flows import intake
from survey.flows.report import load_report
from survey.store import db, rollup, versions
from tests.web.test_browser import fill_connector

SECRET = "test-secret-not-for-production"


async def _seed(url: str, loaded: Loaded, count: int) -> str:
    """`count` demo respondents through the submit flow, folded into the report; then one
    whose Connector Index sits just under the 70 cut, far from the collecting cuts: its token."""
    q = loaded.definition
    plan, rng = DemoPlan(q, 3), random.Random(3)
    conn = await db.connect(url)
    try:
        await versions.insert_questionnaire_versions(conn, [loaded])
        near = None
        for _ in range(count):
            answers, _ = plan.respondent(rng)
            await intake.submit(conn, loaded, Submission(answers=answers, consent=True),
                                source="api", secret=SECRET)  # fmt: skip
        while near is None:
            answers, _ = plan.respondent(rng)
            score = scoring.score(q, scoring.normalise(q, answers))
            collecting = score.dimensions.get("collecting")
            if (
                score.index is not None
                and 68.5 <= score.index < 70
                and collecting is not None
                and (collecting < 30 or 50 < collecting < 60)
            ):
                near = await intake.submit(conn, loaded, Submission(answers=answers, consent=True),
                                           source="api", secret=SECRET)  # fmt: skip
        await rollup.update_report_rollup_all(conn, q.slug, shape_of(q))
    finally:
        await conn.close()
    intake._precision.clear()  # the live server's process: read the new SEMs now
    return near.result_token


@pytest.fixture
def near_cut(settings, questionnaires) -> str:
    return asyncio.run(_seed(settings.database_url, questionnaires["connector"], 260))


@pytest.mark.anyio
async def test_before_enough_answers_the_page_says_precision_comes_later(client, questionnaires):
    loaded = questionnaires["connector"]
    answers = {i.id: 3 for i in loaded.definition.likert_items()}
    response = await client.post(
        "/api/v1/questionnaires/connector/responses", json={"answers": answers, "consent": True}
    )
    page = await client.get(response.json()["result_url"])
    assert f"once at least {precision.MIN_N} people" in page.text
    assert "How sure this profile is" not in page.text


@pytest.mark.anyio
async def test_a_borderline_result_says_so_and_a_retake_shows_its_change(
    client, conn, near_cut, questionnaires
):
    page = await client.get(f"/r/{near_cut}")
    text = page.text
    assert "Your result is borderline." in text
    shares = [int(x) for x in re.findall(r"<strong>(\d+)%</strong>", text)]
    assert len(shares) >= 2 and abs(sum(shares) - 100) <= 2 and max(shares) < 80
    assert re.search(
        r"most likely lies between <strong>\d+(\.\d)?</strong> and <strong>\d+(\.\d)?</strong>",
        text,
    )

    form = await client.get(f"/r/{near_cut}/again")
    assert form.headers["cache-control"] == "private, no-store"
    assert f'name=_again value="{near_cut}"' in form.text
    loaded = questionnaires["connector"]
    answers = {i.id: 5 if i.dimension != "collecting" and not i.reverse else 1
               for i in loaded.definition.likert_items()}  # fmt: skip
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)[1]
    fields = {k: str(v) for k, v in answers.items()}
    stamp = re.search(r'name=_t value="([^"]+)"', form.text)[1]
    fields |= {"_consent": "on", "_again": near_cut, "_csrf_token": csrf, "_t": stamp}
    sent = await client.post("/q/connector", data=fields, follow_redirects=False)
    assert sent.status_code == 303
    later = sent.headers["location"]
    result = (await client.get(later)).text
    assert "Since you last took it" in result
    assert re.search(
        r"Connector Index</th><td>[\d.]+</td><td>[\d.]+</td><td>\+[\d.]+</td>"
        r"<td>Yes \(RCI \d+\.\d\)",
        result,
    )
    row = await conn.fetchrow("SELECT retake_of, flags FROM response WHERE retake_of IS NOT NULL")
    assert "retake" in row["flags"] and not any(f.startswith("repeat_") for f in row["flags"])

    # Reports count retakes as a reason to leave a response out, and leave them out by default.
    everyone = await load_report(conn, loaded, filter_of(loaded.definition, {"quality": "all"}), 5)
    clean = await load_report(conn, loaded, filter_of(loaded.definition, {"quality": "clean"}), 5)
    retakes = next(f for f in everyone.quality.flags if f.flag == "retake")
    assert retakes.count == 1
    assert next(f for f in clean.quality.flags if f.flag == "retake").left_out
    assert clean.counts.total < everyone.counts.total

    # Deleting the earlier response removes the link: the later result no longer compares.
    deleted = await client.post(
        f"/r/{near_cut}/delete", data={"_confirm": "on", "_csrf_token": csrf}
    )
    assert deleted.status_code in (200, 303)
    assert await conn.fetchval("SELECT count(*) FROM response WHERE retake_of IS NOT NULL") == 0
    assert "Since you last took it" not in (await client.get(later)).text


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False])
def test_in_chromium_a_borderline_result_and_a_retake_read_the_same_with_or_without_script(
    near_cut: str, browser: Browser, live_server: str, questionnaires, javascript: bool
) -> None:
    context = browser.new_context(java_script_enabled=javascript)
    try:
        page = context.new_page()
        page.goto(f"{live_server}/r/{near_cut}")
        expect(page.locator(".borderline")).to_contain_text("Your result is borderline.")
        expect(page.locator("#certainty li")).not_to_have_count(0)
        expect(page.locator("[data-band]").first).to_contain_text("between")
        page.get_by_role("link", name="Take it again").click()
        page.wait_for_url(f"{live_server}/r/{near_cut}/again")
        fill_connector(page, questionnaires["connector"])
        page.get_by_role("button", name="Send my answers").click()
        page.wait_for_url(re.compile(r".*/r/[^/]+$"))
        assert near_cut not in page.url
        change = page.locator("#change")
        expect(change).to_contain_text("Since you last took it")
        expect(change.locator("tr[data-score=connector_index] td").last).to_have_text(
            re.compile(r"(Yes|No) \(RCI -?\d+\.\d\)")
        )
    finally:
        context.close()


@pytest.mark.anyio
async def test_a_paged_retake_keeps_its_link_in_the_draft_until_the_last_page(client, conn):
    async def post(path: str, fields: dict) -> object:
        return await client.post(path, data={"_csrf_token": csrf, **fields}, follow_redirects=False)

    first = await client.get("/q/paged")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', first.text)[1]
    pages = [
        {"_go": "next", "introduces": "Yes", "ask_first": "4"},
        {"_go": "next", "intro_consent": "5"},
        {"_go": "next", "years": "12", "_consent": "yes"},
    ]

    async def walk(start: dict) -> str:
        sent = await post("/q/paged", {**pages[0], **start})
        resume = re.match(r"/d/([^/]+)/", sent.headers["location"])[1]
        await post(f"/d/{resume}/1", pages[1])
        done = await post(f"/d/{resume}/2", pages[2])
        return done.headers["location"].removeprefix("/r/")

    earlier = await walk({})
    form = await client.get(f"/r/{earlier}/again")
    assert "Page 1 of 3" in form.text and f'name=_again value="{earlier}"' in form.text
    later = await walk({"_again": earlier})
    linked = await conn.fetchval(
        "SELECT count(*) FROM response WHERE retake_of IS NOT NULL AND 'retake' = ANY(flags)"
    )
    assert linked == 1
    assert "Since you last took it" in (await client.get(f"/r/{later}")).text
    # A retake's link to a result that is not there any more makes an ordinary response.
    plain = await walk({"_again": "not-a-token"})
    assert plain != later
    assert await conn.fetchval("SELECT count(*) FROM response WHERE retake_of IS NOT NULL") == 1
