"""The researcher's dashboard, the offline HTML report and the print figures, end to end.

Responses go in through intake.submit, as the API and the form store them; the dashboard is
read over HTTP and in a real Chromium (the `browser` fixture of tests/web/conftest.py).
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Route, expect

from survey.cli import main
from survey.config import Settings
from survey.core import charts, csvcells, stats
from survey.core.model import (
    Answer,
    ChoiceItem,
    LikertItem,
    Loaded,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
)
from survey.core.submission import Submission
from survey.flows import intake
from survey.flows.researchers import create_token
from survey.store import db, versions

XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"
RESPONSES = 60
RARE = "Healthcare"  # one response: under min_cell (5), so suppressed


def plausible(q: Questionnaire, rng: random.Random) -> dict[str, Answer]:
    """Answers from a latent Connector-ness; industries from the first three options only."""
    lean = rng.random()
    answers: dict[str, Answer] = {}
    for item in q.items:
        match item:
            case LikertItem():
                points = q.scales[item.scale].points
                agree = (1 - lean if item.reverse else lean) + rng.gauss(0, 0.25)
                answers[item.id] = points[min(max(round(agree * (len(points) - 1)), 0), 4)]
            case ChoiceItem():
                answers[item.id] = rng.choice(item.options[:3])
            case MultiChoiceItem():
                answers[item.id] = rng.sample(item.options, 2)
            case NumberItem():
                answers[item.id] = rng.choice([5, 10, 20])
    return answers


async def _seed(url: str, loaded: Loaded, secret: str) -> dict[str, str]:
    """~60 responses, a quotable XSS answer, a rare industry; tokens with and without scope."""
    rng = random.Random(11)
    conn = await db.connect(url)
    try:
        await versions.insert_questionnaire_versions(conn, [loaded])  # as the app's startup does
        q = loaded.definition
        answers = [plausible(q, rng) for _ in range(RESPONSES)]
        for i in range(0, RESPONSES, 10):
            answers[i]["real_connector"] = f"Quote number {i}: answer people."
        submissions = [
            Submission(answers=a, consent=True, quote_consent=i % 10 == 0)
            for i, a in enumerate(answers)
        ]
        hostile = plausible(q, rng) | {"real_connector": XSS, "industry": "Technology"}
        rare = plausible(q, rng) | {"industry": RARE}
        submissions += [
            Submission(answers=hostile, consent=True, quote_consent=True),
            Submission(answers=rare, consent=True),
        ]
        for submission in submissions:
            async with conn.transaction():
                await intake.submit(conn, loaded, submission, source="api", secret=secret)
        _, reports = await create_token(conn, "researcher", ["reports"])
        _, submit = await create_token(conn, "importer", ["submit"])
        return {"reports": reports, "submit": submit}
    finally:
        await conn.close()


@pytest.fixture
def tokens(
    database_url: str, settings: Settings, questionnaires: dict[str, Loaded]
) -> dict[str, str]:
    """The seeded database's researcher tokens. Request it before `browser` (see its docs)."""
    assert settings.secret is not None
    return asyncio.run(_seed(database_url, questionnaires["connector"], settings.secret))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- over HTTP ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_dashboard_sends_a_visitor_to_the_login_and_refuses_other_scopes(
    tokens: dict[str, str], client: AsyncTestClient[Litestar]
) -> None:
    for path in ("/reports/connector?industry=Finance", "/reports/connector/report.html",
                 "/reports/connector/figures/index.svg"):  # fmt: skip
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        location = response.headers["location"]
        assert location.startswith("/reports?next=%2Freports%2Fconnector"), location
    response = await client.get("/reports/connector", headers=bearer(tokens["submit"]))
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]


@pytest.mark.anyio
async def test_the_dashboard_embeds_every_chart_as_data_and_runs_no_inline_script(
    tokens: dict[str, str], client: AsyncTestClient[Litestar], questionnaires: dict[str, Loaded]
) -> None:
    response = await client.get("/reports/connector", headers=bearer(tokens["reports"]))
    assert response.status_code == 200
    page = response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all(" src=" in s for s in scripts)
    assert re.search(r'src="/static/plotly-[\d.]+\.min\.js"', page)
    figures = re.findall(r'<figure class="chart" id="chart-([a-z0-9_-]+)">', page)
    q = questionnaires["connector"].definition
    # profiles, index, dimensions, correlations, the segments' means, timeline, reliability,
    # three quality charts
    assert len(figures) == 10 + len(q.dimensions) + len(q.segments)
    assert page.count("data-figure=") == len(figures)
    assert f"{RESPONSES + 2}</dd>" in page
    # The answer is shown as text and never as markup.
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    for name in ("from", "to", "version", "include_demo", *(s.id for s in q.segments)):
        assert f'name="{name}"' in page, name


@pytest.mark.anyio
async def test_a_bad_filter_shows_the_form_with_the_problem_beside_the_field(
    tokens: dict[str, str], client: AsyncTestClient[Litestar]
) -> None:
    response = await client.get(
        "/reports/connector", params={"from": "yesterday"}, headers=bearer(tokens["reports"])
    )
    assert response.status_code == 422
    assert 'id="f-from-error"' in response.text
    assert "must be a date" in response.text
    assert "data-figure=" not in response.text


@pytest.mark.anyio
async def test_the_html_report_is_a_dated_self_contained_download_with_its_filters(
    tokens: dict[str, str], client: AsyncTestClient[Litestar]
) -> None:
    response = await client.get(
        "/reports/connector/report.html",
        params={"industry": "Technology"},
        headers=bearer(tokens["reports"]),
    )
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="connector-report-\d{8}-\d{4}\.html"', disposition)
    html = response.text
    assert "industry = Technology" in html and "Excluding synthetic demo responses" in html
    assert re.search(r"Generated <time datetime=\"\d{4}-\d\d-\d\dT", html)
    # Nothing is fetched: no external script, style, image or font.
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.DOTALL)
    assert html.count("<script>") == 2 and markup.count("<script") == 0
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)
    assert not re.search(r"<link\b", markup) and "@import" not in markup
    assert len(html) > 4_000_000  # plotly.js is inside
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html


@pytest.mark.anyio
async def test_print_figures_are_valid_svg_and_pdf(
    tokens: dict[str, str], client: AsyncTestClient[Litestar]
) -> None:
    headers = bearer(tokens["reports"])
    svg = await client.get("/reports/connector/figures/index.svg", headers=headers)
    assert svg.status_code == 200, svg.text
    assert svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("width") == str(charts.WIDTH)
    assert "Connector Index" in svg.text
    pdf = await client.get(
        "/reports/connector/figures/segment-industry.pdf",
        params={"include_demo": "true"},
        headers=headers,
    )
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and pdf.content.rstrip().endswith(b"%%EOF")
    for bad in ("nope.svg", "index.png"):
        response = await client.get(f"/reports/connector/figures/{bad}", headers=headers)
        assert response.status_code == 404, bad


@pytest.mark.anyio
async def test_a_figure_without_a_browser_is_a_503_that_names_chromium(
    tokens: dict[str, str], client: AsyncTestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    url = "/reports/connector/figures/index.svg"
    page = await client.get(url, headers=bearer(tokens["reports"]))
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "Figures unavailable" in page.text and "Chromium" in page.text


def test_survey_report_writes_the_same_html_report(
    tokens: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        ["report", "connector", "--out", str(out), "--from", "2000-01-01", "--include-demo"],
        env={"DATABASE_URL": database_url, "SURVEY_QUESTIONNAIRES_DIR": "questionnaires"},
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "Responses from 2000-01-01 to the latest" in html
    assert "Including synthetic demo responses" in html
    assert f"{RESPONSES + 2}</dd>" in html
    bad = CliRunner().invoke(
        main,
        ["report", "connector", "--out", str(out), "--from", "soon"],
        env={"DATABASE_URL": database_url, "SURVEY_QUESTIONNAIRES_DIR": "questionnaires"},
    )
    assert bad.exit_code != 0 and "from: must be a date" in bad.output


async def report_json(
    client: AsyncTestClient[Litestar], token: str, loaded: Loaded, **params: str
) -> dict[str, Any]:
    """The JSON report with the dashboard's defaults (the current version, clean responses)."""
    query = {"version": loaded.version, "quality": "clean", **params}
    response = await client.get(
        "/api/v1/questionnaires/connector/report", params=query, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def section(page: str, id: str) -> str:
    """The <details> element with this id, as text."""
    start = page.index(f'<details class="tablewrap" id="{id}">')
    return page[start : page.index("</details>", start)]


@pytest.mark.anyio
async def test_the_tables_show_alpha_with_its_interval_omega_and_the_segment_figures(
    tokens: dict[str, str], client: AsyncTestClient[Litestar], questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["connector"]
    report = await report_json(client, tokens["reports"], loaded)
    response = await client.get("/reports/connector", headers=bearer(tokens["reports"]))
    assert response.status_code == 200
    reliability = section(response.text, "reliability-table")
    assert "α [95% CI]" in reliability and "ω total" in reliability and "Loading" in reliability
    for rel in report["reliability"]:
        alpha = f"{rel['alpha']:.2f} [{rel['alpha_low']:.2f}, {rel['alpha_high']:.2f}]"
        assert f">{alpha}</td>" in reliability, rel["dimension"]
        assert f">{rel['omega']:.2f}</td>" in reliability
        assert f">{rel['sem']:.1f}</td>" in reliability
        for item in rel["items"]:
            assert f">{item['loading']:.2f}</td>" in reliability
    for method in ("Feldt", "McDonald", "minres", "psych::omega"):
        assert method in reliability, method

    segments = section(response.text, "segment-tables")
    [industry] = [s for s in report["segments"] if s["item"] == "industry"]
    table = segments[segments.index('id="segment-table-industry"') :]
    table = table[: table.index("</table>")]
    for value in industry["values"]:
        row = table[table.index(f'<th scope="row">{value["value"]}</th>') :]
        row = row[: row.index("</tr>")]
        if value["suppressed"]:
            assert value["value"] == RARE
            assert "suppressed (n &lt; 5)" in row and not re.search(r"\d\.\d", row)
            continue
        index = value["scores"][0]
        assert f">{index['n']}</td>" in row
        assert f"{index['mean']:.1f} [{index['low']:.1f}, {index['high']:.1f}]" in row
        assert f"{index['g']:.2f} [{index['g_low']:.2f}, {index['g_high']:.2f}]" in row
        adjusted = "&lt; 0.001" if index["p_adjusted"] < 0.001 else f"{index['p_adjusted']:.3f}"
        assert adjusted in row
    assert 'id="segment-dimensions-industry"' in segments
    for method in ("t distribution", "Hedges' g", "Hedges and Olkin", "Welch's t-test",
                   "Benjamini–Hochberg"):  # fmt: skip
        assert method in segments, method


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.anyio
async def test_the_norm_tables_download_as_long_csv_with_the_dashboards_filters(
    tokens: dict[str, str], client: AsyncTestClient[Litestar], questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["connector"]
    q = loaded.definition
    headers = bearer(tokens["reports"])
    dashboard = await client.get("/reports/connector", headers=headers)
    [link] = re.findall(r'href="(/reports/connector/norms\.csv[^"]*)"', dashboard.text)
    assert link == f"/reports/connector/norms.csv?version={loaded.version}&amp;quality=clean"
    assert 'href="/reports/connector/norm-percentiles.csv?' in dashboard.text

    response = await client.get("/reports/connector/norms.csv", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert re.fullmatch(
        r'attachment; filename="connector-norms-\d{4}-\d\d-\d\d\.csv"',
        response.headers["content-disposition"],
    )
    assert response.text.splitlines()[0] == ",".join(csvcells.NORM_COLUMNS)
    rows = read_csv(response.text)
    report = await report_json(client, tokens["reports"], loaded)
    index = q.scoring.index.id
    everyone = [r for r in rows if r["segment"] == "" and r["score"] == index]
    assert [int(r["whole_score"]) for r in everyone] == list(range(101))
    assert {r["n"] for r in everyone} == {str(report["index"]["n"])}
    assert {r["score_name"] for r in everyone} == {q.scoring.index.name}
    shares = [float(r["percent_at_or_below"]) for r in everyone]
    assert shares == sorted(shares) and shares[-1] == 100.0
    assert {r["score"] for r in rows} == {index, *(d.id for d in q.dimensions)}
    # Each segment value with enough responses, the rare one left out.
    industries = {r["value"] for r in rows if r["segment"] == "industry"}
    shown = {v["value"] for s in report["segments"] if s["item"] == "industry"
             for v in s["values"] if not v["suppressed"]}  # fmt: skip
    assert industries == shown and RARE not in industries and len(industries) == 3
    assert all(int(r["n"]) >= 5 for r in rows if r["segment"])

    # The percentiles: the lowest whole score at or below which each percent lies.
    response = await client.get("/reports/connector/norm-percentiles.csv", headers=headers)
    assert response.status_code == 200
    assert "connector-norm-percentiles-" in response.headers["content-disposition"]
    percentiles = read_csv(response.text)
    assert list(percentiles[0]) == list(csvcells.PERCENTILE_COLUMNS)
    mine = [r for r in percentiles if r["segment"] == "" and r["score"] == index]
    assert [r["percentile"] for r in mine] == ["5", "10", "25", "50", "75", "90", "95"]
    for r in mine:
        first = next(s for s, share in enumerate(shares) if share >= int(r["percentile"]) - 1e-9)
        assert int(r["whole_score"]) == first

    # A filter narrows the groups as it narrows the dashboard.
    narrowed = await client.get(
        "/reports/connector/norms.csv", params={"industry": "Technology"}, headers=headers
    )
    rows = read_csv(narrowed.text)
    technology = await report_json(client, tokens["reports"], loaded, industry="Technology")
    assert {r["value"] for r in rows if r["segment"] == "industry"} == {"Technology"}
    everyone = [r for r in rows if r["segment"] == "" and r["score"] == index]
    assert {r["n"] for r in everyone} == {str(technology["index"]["n"])}
    assert 0 < technology["index"]["n"] < report["index"]["n"]
    bad = await client.get("/reports/connector/norms.csv", params={"from": "soon"}, headers=headers)
    assert bad.status_code in (400, 422)


@pytest.mark.anyio
async def test_the_norm_tables_need_the_reports_scope(
    tokens: dict[str, str], client: AsyncTestClient[Litestar]
) -> None:
    for path in ("/reports/connector/norms.csv", "/reports/connector/norm-percentiles.csv"):
        visitor = await client.get(path, follow_redirects=False)
        assert visitor.status_code == 303, path
        assert visitor.headers["location"].startswith("/reports?next=")
        other = await client.get(path, headers=bearer(tokens["submit"]))
        assert other.status_code == 403, path


def test_norm_cells_that_start_like_a_formula_are_neutralised() -> None:
    norm = stats.Norm(
        id="index", name="=HYPERLINK(1)", segment="team", value="@SUM(A1)", n=5,
        at_or_below=[20.0] * 100 + [100.0], percentiles={"5": 0, "50": 100},
    )  # fmt: skip
    [first, *_] = csvcells.norm_rows([norm])
    assert first == ["index", "'=HYPERLINK(1)", "team", "'@SUM(A1)", "5", "0", "20.0000"]
    assert list(csvcells.percentile_rows([norm])) == [
        ["index", "'=HYPERLINK(1)", "team", "'@SUM(A1)", "5", "5", "0"],
        ["index", "'=HYPERLINK(1)", "team", "'@SUM(A1)", "5", "50", "100"],
    ]


# --- in a browser ------------------------------------------------------------------------------


@pytest.fixture
def chromium(tokens: dict[str, str], browser: Browser) -> Browser:
    """The browser, started once the database is seeded (asyncio.run cannot nest in it)."""
    return browser


def no_dialogs(page: Page) -> list[str]:
    """Fail on any alert: typed text must never run."""
    seen: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return seen


# plotly.js draws every chart in one task, which holds the page for seconds on a slow or busy
# machine (6 to 7 s for 17 charts here while PostgreSQL loaded the other core).
DRAWN_WITHIN_MS = 30_000


def expect_charts_drawn(page: Page, count: int) -> None:
    charts_ = page.locator("figure.chart")
    expect(charts_).to_have_count(count)
    expect(page.locator("figure.chart .js-plotly-plot svg.main-svg").first).to_be_visible(
        timeout=DRAWN_WITHIN_MS
    )
    page.wait_for_function(
        "n => document.querySelectorAll('figure.chart .js-plotly-plot svg.main-svg').length"
        " >= n && [...document.querySelectorAll('figure.chart')].every("
        "f => f.querySelector('.js-plotly-plot svg.main-svg'))",
        arg=count,
    )


def serious(message: ConsoleMessage) -> bool:
    """A console error other than plotly.js's own harmless style injections, which the CSP
    (style-src 'self') refuses: its map library's stylesheet and an empty style attribute.
    Script violations, and every other error, count."""
    return message.type == "error" and not message.text.startswith("Applying inline style")


def offline(route: Route) -> None:
    if route.request.url.startswith(("http:", "https:")):
        route.abort()
    else:
        route.continue_()


@pytest.mark.browser
def test_a_researcher_logs_in_filters_and_opens_the_downloaded_report_offline(
    chromium: Browser,
    tokens: dict[str, str],
    live_server: str,
    questionnaires: dict[str, Loaded],
    tmp_path: Path,
) -> None:
    q = questionnaires["connector"].definition
    count = 10 + len(q.dimensions) + len(q.segments)
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    dialogs = no_dialogs(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if serious(m) else None)

    # The dashboard asks for a login, then comes back.
    page.goto(f"{live_server}/reports/connector")
    expect(page).to_have_url(re.compile(r"/reports\?next="))
    page.get_by_label("Researcher token").fill(tokens["reports"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server}/reports/connector")
    expect_charts_drawn(page, count)

    # The typed answer is text in the quotes and in the timeline's hover label.
    expect(page.locator("#quotes blockquote", has_text=XSS)).to_have_count(1)
    star = page.locator("#chart-timeline .scatterlayer .point").first
    star.hover(force=True)
    hover = page.locator("#chart-timeline .hoverlayer .hovertext")
    expect(hover).to_contain_text(XSS)
    expect(page.locator("img")).to_have_count(0)  # the payload's <img> never became one

    # The rare industry is a row without numbers, in the data and on screen.
    data = page.evaluate(
        "() => document.querySelector('#chart-segment-industry .js-plotly-plot').data"
        ".map(t => ({y: t.y, x: t.x, customdata: t.customdata ?? null, text: t.text ?? null}))"
    )
    rows: list[str] = data[0]["y"]
    [row] = [i for i, label in enumerate(rows) if label.startswith(RARE)]
    assert rows[row] == f"{RARE} · suppressed (n &lt; 5)"
    for trace in data:
        assert trace["x"][row] is None
        assert trace["customdata"] is None or trace["customdata"][row] is None
    expect(page.locator("#chart-segment-industry")).to_contain_text(f"{RARE} · suppressed (n < 5)")

    # A filter, through the form; empty fields stay out of the address, the version it shows
    # (the current one, by default) is named.
    page.get_by_role("combobox", name="Which industry do you work in?").select_option("Technology")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(
        re.compile(r"\?version=[0-9a-f]{12}&industry=Technology&quality=clean$")
    )
    expect_charts_drawn(page, count)
    total = int(page.locator(".stats dd").first.inner_text())
    assert 0 < total < RESPONSES

    # The report downloads with the same filter and opens with the network cut off.
    with page.expect_download() as info:
        page.locator("#download-report").click()
    download = info.value
    assert re.fullmatch(r"connector-report-\d{8}-\d{4}\.html", download.suggested_filename)
    query = parse_qs(urlsplit(download.url).query)
    assert query.pop("industry") == ["Technology"] and list(query) == ["version", "quality"]
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    context.close()

    cut_off = chromium.new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    cut_off.on("request", lambda r: requests.append(r.url))
    cut_off.route("**/*", offline)
    report = cut_off.new_page()
    dialogs += no_dialogs(report)
    report.on("pageerror", lambda e: errors.append(str(e)))
    report.goto(saved.as_uri())
    expect_charts_drawn(report, count)
    expect(report.locator("body")).to_contain_text("industry = Technology")
    expect(report.locator("#quotes blockquote", has_text=XSS)).to_have_count(1)
    report.locator("#chart-timeline .scatterlayer .point").first.hover(force=True)
    expect(report.locator("#chart-timeline .hoverlayer .hovertext")).to_contain_text(XSS)
    expect(report.locator("img")).to_have_count(0)
    assert [url for url in requests if not url.startswith("file:")] == []
    cut_off.close()
    assert dialogs == [] and errors == []


@pytest.mark.browser
def test_the_filters_work_without_javascript(
    chromium: Browser, tokens: dict[str, str], live_server: str
) -> None:
    context = chromium.new_context(java_script_enabled=False)
    context.set_extra_http_headers(bearer(tokens["reports"]))
    page = context.new_page()
    page.goto(f"{live_server}/reports/connector")
    page.get_by_label("Include synthetic demo responses").check()
    page.get_by_label("From (UTC day)").fill("2000-01-01")
    page.get_by_role("button", name="Apply filters").click()
    query = parse_qs(urlsplit(page.url).query)
    assert query["include_demo"] == ["true"] and query["from"] == ["2000-01-01"]
    expect(page.locator(".downloads")).to_contain_text("Including synthetic demo responses")
    expect(page.get_by_label("From (UTC day)")).to_have_value("2000-01-01")
    expect(page.locator("#download-report")).to_have_attribute(
        "href",
        re.compile(
            r"^/reports/connector/report\.html\?from=2000-01-01&version=[0-9a-f]{12}"
            r"&include_demo=true&quality=clean$"
        ),
    )
    context.close()


@pytest.mark.anyio
async def test_the_dashboard_shows_the_current_version_unless_asked_and_says_when_it_mixes(
    tokens: dict[str, str],
    client: AsyncTestClient[Litestar],
    database_url: str,
    questionnaires: dict[str, Loaded],
) -> None:
    loaded = questionnaires["connector"]
    older = msgspec.structs.replace(loaded, version="0123456789ab")
    conn = await db.connect(database_url)
    try:
        await versions.insert_questionnaire_versions(conn, [older])
        answers = plausible(loaded.definition, random.Random(5))
        for _ in range(3):
            await intake.submit(
                conn, older, Submission(answers=answers, consent=True), source="api", secret="s"
            )
    finally:
        await conn.close()
    current = await client.get("/reports/connector", headers=bearer(tokens["reports"]))
    assert current.status_code == 200
    assert f'<option value="{loaded.version}" selected>' in current.text
    assert "mixed-versions" not in current.text
    assert f"{RESPONSES + 2}</dd>" in current.text  # the older version's three are left out
    every = await client.get(
        "/reports/connector", params={"version": "all"}, headers=bearer(tokens["reports"])
    )
    assert '<option value="all" selected>All versions</option>' in every.text
    assert "report.html?version=all" in every.text  # the downloads cover every version too
    assert 'id="mixed-versions"' in every.text and "mix 2 questionnaire versions" in every.text
    # The same answers three times: the second and third are flagged as repeats, and the
    # dashboard counts the responses without flags unless asked, saying what it left out.
    assert f"{RESPONSES + 3}</dd>" in every.text
    assert "2 of" in every.text and "2 repeat answers" in every.text
    flagged_too = await client.get(
        "/reports/connector",
        params={"version": "all", "quality": "all"},
        headers=bearer(tokens["reports"]),
    )
    assert f"{RESPONSES + 5}</dd>" in flagged_too.text
    assert 'id="quality-left-out"' not in flagged_too.text
