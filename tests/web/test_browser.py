"""The respondent's journey in a real Chromium: fill in, submit, read, come back, delete.

Sync tests on purpose: the app runs in the live server's own thread, and Playwright's sync API
drives the browser from this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from survey.core import scoring
from survey.core.model import LikertItem, Loaded

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
TIMEOUT = 15_000


class Watched:
    """A page and every console error and uncaught exception it has produced."""

    def __init__(self, context: BrowserContext) -> None:
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


def connector_answers(loaded: Loaded) -> dict[str, int]:
    """A Connector's answers: agree with the good habits, disagree with the collecting ones."""
    answers = {}
    for item in loaded.definition.likert_items():
        collecting = item.dimension == "collecting"
        answers[item.id] = 2 if collecting != item.reverse else 4
    answers["make_intros"] = 5
    return answers


def choose(page: Page, item: LikertItem, label: str) -> None:
    """Click the visible label of one answer, as a person would."""
    page.locator(f"fieldset.q:has(#{item.id})").get_by_text(label, exact=True).click()


def fill_connector(page: Page, loaded: Loaded, consent: bool = True) -> dict[str, int]:
    q = loaded.definition
    answers = connector_answers(loaded)
    for item in q.likert_items():
        labels = q.scales[item.scale].labels
        choose(page, item, labels[q.scales[item.scale].points.index(answers[item.id])])
    page.get_by_label("Which industry do you work in?").select_option("Technology")
    page.get_by_label("Which best describes your role?").select_option("Founder or executive")
    page.get_by_label("How many years of work experience").fill("12")
    page.get_by_label("Where do you do most of your networking?").select_option("Email")
    page.get_by_label("About how many contacts").select_option("500-1,999")
    platforms = page.get_by_role("group", name="Where do you network?")
    platforms.get_by_text("LinkedIn", exact=True).click()
    platforms.get_by_text("Alumni networks", exact=True).click()
    page.get_by_label("What, in your experience, makes someone good at connecting people?").fill(
        "They ask <b>what you need</b> & mean it."
    )
    page.get_by_label("Why do you think some people gather").fill("Numbers look good.\nReach.")
    if consent:
        page.get_by_text("I agree that my answers are stored").click()
    page.get_by_text("you may quote my written answers").click()
    return answers


def expected_profile(loaded: Loaded, answers: dict[str, int]) -> str:
    score = scoring.score(loaded.definition, dict(answers))
    assert score.profile is not None
    return score.profile.label


def test_a_respondent_fills_in_the_form_reads_the_result_comes_back_and_deletes_it(
    context: BrowserContext, live_server: str, questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["connector"]
    watched = Watched(context)
    page = watched.page
    page.goto(f"{live_server}/q/connector")
    answers = fill_connector(page, loaded)
    # Every question is shown: "Always" to make_intros brings in those about introductions.
    n = len(loaded.definition.items)
    expect(page.locator("#progress-bar")).to_have_text(f"{n} of {n} questions answered")

    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_url(f"{live_server}/r/*")
    result_url = page.url
    label = expected_profile(loaded, answers)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Your profile: {label}")
    expect(page.get_by_text("Connector Index:")).to_be_visible()
    expect(page.get_by_role("heading", name="Introductions:")).to_be_visible()
    chart = page.locator("#dimension-chart.js-plotly-plot")
    expect(chart.locator("svg.main-svg").first).to_be_visible()
    expect(chart.locator("g.point")).to_have_count(len(loaded.definition.dimensions))
    expect(page.get_by_role("link", name=result_url)).to_be_visible()

    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Your profile: {label}")
    expect(chart.locator("g.point")).to_have_count(len(loaded.definition.dimensions))

    page.get_by_text("Yes, delete my answers").click()
    page.get_by_role("button", name="Delete my answers").click()
    page.wait_for_url(f"{live_server}/deleted")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your answers were deleted")
    assert watched.errors == [], "the pages logged errors (a CSP violation, a script error?)"

    gone = page.goto(result_url)
    assert gone is not None and gone.status == 404
    expect(page.locator("main")).to_contain_text("not found")
    expect(page.locator("main")).to_contain_text("deleted")


def test_a_missing_required_answer_shows_the_error_beside_it_and_keeps_every_other_answer(
    context: BrowserContext, live_server: str, questionnaires: dict[str, Loaded]
) -> None:
    q = questionnaires["teamwork"].definition
    page = Watched(context).page
    page.goto(f"{live_server}/q/teamwork")
    missing = next(i for i in q.likert_items() if i.required and i.id == "nod_along")
    chosen = {}
    for n, item in enumerate(q.likert_items()):
        if item is missing:
            continue
        label = q.scales[item.scale].labels[n % 6]
        choose(page, item, label)
        chosen[item.id] = label
    page.get_by_label("How many people are on your team?").fill("7")
    page.get_by_label("Department").select_option("Support")
    typed = 'Fewer meetings, "more" <written> decisions & less noise'
    page.get_by_label("If you could change one thing").fill(typed)
    page.get_by_role("button", name="Send my answers").click()

    page.wait_for_load_state()
    assert page.url == f"{live_server}/q/teamwork"
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("There is a problem")
    link = summary.get_by_role("link")
    expect(link).to_have_attribute("href", "#nod_along")
    expect(link).to_contain_text(missing.text)

    group = page.locator("fieldset.q:has(#nod_along)")
    expect(group.locator(".em")).to_have_text("Error: Choose an answer.")
    expect(page.get_by_role("group", name=missing.text)).to_have_attribute(
        "aria-describedby", "nod_along-error"
    )
    for item_id, label in chosen.items():
        radio = page.locator(f"fieldset.q:has(#{item_id})").get_by_label(label, exact=True)
        expect(radio).to_be_checked()
    expect(page.get_by_label("How many people are on your team?")).to_have_value("7")
    expect(page.get_by_label("Department")).to_have_value("Support")
    expect(page.get_by_label("If you could change one thing")).to_have_value(typed)

    link.click()
    expect(page.locator("#nod_along")).to_be_focused()
    page.keyboard.press("ArrowRight")  # radios move and choose with the arrow keys
    expect(page.locator("#nod_along")).not_to_be_focused()
    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_url(f"{live_server}/r/*")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Your profile:")


def test_the_whole_journey_works_with_javascript_disabled(
    browser: Browser, live_server: str, questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["connector"]
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    try:
        page = Watched(context).page
        page.goto(f"{live_server}/q/connector")
        expect(page.locator("#progress-bar")).to_be_hidden()
        fill_connector(page, loaded, consent=False)
        page.get_by_role("button", name="Send my answers").click()
        page.wait_for_load_state()
        expect(page.locator("#error-summary")).to_contain_text("Tick the box to agree")
        expect(page.locator("#_consent")).not_to_be_checked()
        expect(page.get_by_label("How many years of work experience")).to_have_value("12")

        page.get_by_text("I agree that my answers are stored").click()
        page.get_by_role("button", name="Send my answers").click()
        page.wait_for_url(f"{live_server}/r/*")
        result_url = page.url
        label = expected_profile(loaded, connector_answers(loaded))
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Your profile: {label}")
        expect(page.get_by_role("heading", name="Responsiveness:")).to_be_visible()
        expect(page.locator("#dimension-chart svg")).to_have_count(0)  # no script, no chart

        page.get_by_role("button", name="Delete my answers").click()  # not confirmed yet
        expect(page.get_by_role("heading", level=1)).to_have_text("Delete your answers?")
        expect(page.locator("#_confirm-error")).to_be_visible()
        page.get_by_text("Yes, delete my answers").click()
        page.get_by_role("button", name="Delete my answers").click()
        page.wait_for_url(f"{live_server}/deleted")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your answers were deleted")
        gone = page.goto(result_url)
        assert gone is not None and gone.status == 404
    finally:
        context.close()


def submit_connector(page: Page, live_server: str, loaded: Loaded) -> str:
    page.goto(f"{live_server}/q/connector")
    fill_connector(page, loaded)
    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_url(f"{live_server}/r/*")
    return page.url


def test_form_and_result_fit_a_360px_phone_and_are_screenshotted(
    browser: Browser, live_server: str, questionnaires: dict[str, Loaded]
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    result_url = None
    for width in (1280, 360):
        context = browser.new_context(viewport={"width": width, "height": 800})
        try:
            page = Watched(context).page
            page.goto(f"{live_server}/q/connector")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(path=SCREENSHOTS / f"form-{width}.png", full_page=True)
            if result_url is None:
                result_url = submit_connector(page, live_server, questionnaires["connector"])
            else:
                page.goto(result_url)
            chart = page.locator("#dimension-chart.js-plotly-plot svg.main-svg").first
            expect(chart).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(path=SCREENSHOTS / f"result-{width}.png", full_page=True)
        finally:
            context.close()
    for name in ("form-1280", "form-360", "result-1280", "result-360"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000


def serious(page: Page) -> list[str]:
    violations = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def test_axe_finds_no_serious_or_critical_violation_on_the_form_and_the_result(
    context: BrowserContext, live_server: str, questionnaires: dict[str, Loaded]
) -> None:
    page = Watched(context).page
    page.goto(f"{live_server}/q/connector")
    assert serious(page) == []

    page.get_by_role("button", name="Send my answers").click()  # consent missing: errors shown
    page.wait_for_load_state()
    expect(page.locator("#error-summary")).to_be_visible()
    assert serious(page) == []

    submit_connector(page, live_server, questionnaires["connector"])
    expect(page.locator("#dimension-chart svg.main-svg").first).to_be_visible()
    assert serious(page) == []


def test_focus_is_visible_when_answering_with_the_keyboard(
    context: BrowserContext, live_server: str
) -> None:
    page = Watched(context).page
    page.goto(f"{live_server}/q/teamwork")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "rely_on":
            break
    expect(page.locator("#rely_on")).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator("#rely_on")).to_be_checked()
    outline = page.evaluate(
        "getComputedStyle(document.activeElement.closest('label')).outlineStyle"
    )
    assert outline == "solid"


def test_answers_typed_so_far_survive_a_reload_of_the_form(
    context: BrowserContext, live_server: str, questionnaires: dict[str, Loaded]
) -> None:
    q = questionnaires["teamwork"].definition
    page = Watched(context).page
    page.goto(f"{live_server}/q/teamwork")
    rely_on = next(i for i in q.likert_items() if i.id == "rely_on")
    choose(page, rely_on, "Agree")
    page.get_by_label("If you could change one thing").fill("More trust")
    expect(page.locator("#progress-bar")).to_have_text("2 of 13 questions answered")

    page.reload()
    expect(
        page.locator("fieldset.q:has(#rely_on)").get_by_label("Agree", exact=True)
    ).to_be_checked()
    expect(page.get_by_label("If you could change one thing")).to_have_value("More trust")
    expect(page.locator("#progress-bar")).to_have_text("2 of 13 questions answered")


@pytest.mark.parametrize("slug", ["conditional", "paged"], ids=["randomised", "paged"])
def test_answers_survive_a_reload_of_a_randomised_form_and_of_a_page(
    context: BrowserContext, live_server: str, questionnaires: dict[str, Loaded], slug: str
) -> None:
    # Their hidden fields (the order's seed) and buttons (Next) always have a value: the form
    # still counts as untouched and is restored.
    q = questionnaires[slug].definition
    page = Watched(context).page
    page.goto(f"{live_server}/q/{slug}")
    ask_first = next(i for i in q.likert_items() if i.id == "ask_first")
    choose(page, ask_first, "Often")
    page.reload()
    expect(
        page.locator("fieldset.q:has(#ask_first)").get_by_label("Often", exact=True)
    ).to_be_checked()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_conditional_questions_hide_live_with_javascript_and_say_when_to_answer_without(
    browser: Browser, live_server: str, javascript: bool
) -> None:
    context = browser.new_context(java_script_enabled=javascript)
    try:
        watched = Watched(context)
        page = watched.page
        page.goto(f"{live_server}/q/conditional")
        intros = page.locator("fieldset.sec:has(h2:text('Your introductions'))")
        follow = page.locator("div.cond:has(#ask_follow)")
        if javascript:
            expect(intros).to_be_hidden()  # nothing chosen yet: the screening says no
            page.get_by_text("Yes", exact=True).click()
            expect(intros).to_be_visible()
            expect(follow).to_be_hidden()
            page.locator("fieldset.q:has(#ask_first)").get_by_text("Often", exact=True).click()
            expect(follow).to_be_visible()
            page.get_by_text("No", exact=True).click()
            expect(intros).to_be_hidden()
        else:
            expect(intros).to_be_visible()
            expect(intros).to_contain_text("Answer this only if, to “In the last three months")
            expect(follow).to_contain_text("you chose “Sometimes” or above")
            page.get_by_text("No", exact=True).click()
            page.locator("fieldset.q:has(#ask_first)").get_by_text("Often", exact=True).click()
        page.locator("fieldset.q:has(#ask_follow)").get_by_text("Rarely", exact=True).click()
        # Answered while hidden (or shown without script): the server drops it all the same.
        if not javascript:
            page.locator("fieldset.q:has(#intro_consent)").get_by_text("Always", exact=True).click()
        page.get_by_role("button", name="Send my answers").click()
        page.wait_for_url(f"{live_server}/r/*")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your profile: Asker")
        assert watched.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_paged_questionnaire_is_filled_page_by_page_and_resumed_in_another_browser(
    browser: Browser, live_server: str, javascript: bool
) -> None:
    def option(page: Page, item: str, label: str) -> None:
        page.locator(f"fieldset.q:has(#{item})").get_by_text(label, exact=True).click()

    first = browser.new_context(java_script_enabled=javascript)
    second = browser.new_context(java_script_enabled=javascript)
    try:
        page = Watched(first).page
        page.goto(f"{live_server}/q/paged")
        expect(page.locator("#page-of")).to_have_text("Page 1 of 3")
        option(page, "introduces", "Yes")
        option(page, "ask_first", "Often")
        page.get_by_role("button", name="Next").click()
        expect(page.locator("#page-of")).to_have_text("Page 2 of 3")
        expect(page.get_by_role("heading", name="Your introductions")).to_be_visible()
        link = page.locator("#resume a").get_attribute("href")
        assert link is not None and f"{live_server}/d/" in link
        option(page, "intro_consent", "Always")
        page.get_by_role("button", name="Next").click()
        expect(page.locator("#page-of")).to_have_text("Page 3 of 3")
        first.close()  # the respondent leaves after page 2

        watched = Watched(second)
        page = watched.page
        page.goto(link)  # a new browser: no cookie, no storage, only the private link
        expect(page.locator("#page-of")).to_have_text("Page 3 of 3")
        page.get_by_role("button", name="Back").click()
        expect(page.locator("#page-of")).to_have_text("Page 2 of 3")
        expect(page.locator("fieldset.q:has(#intro_consent) input[value='5']")).to_be_checked()
        page.get_by_role("button", name="Back").click()
        expect(page.locator("#page-of")).to_have_text("Page 1 of 3")
        option(page, "introduces", "No")  # now the introductions page does not apply
        page.get_by_role("button", name="Next").click()
        expect(page.locator("#page-of")).to_have_text("Page 3 of 3")
        page.get_by_label("How many years have you worked?").fill("9")
        page.get_by_text("I agree that my answers are stored").click()
        page.get_by_role("button", name="Send my answers").click()
        page.wait_for_url(f"{live_server}/r/*")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your profile: Asker")
        assert watched.errors == []
        assert page.goto(link) is not None and page.locator("h1").inner_text() == "Not found"
    finally:
        second.close()
