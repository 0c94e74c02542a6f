"""The dashboard's codebook downloads: printable HTML without script, and CSV, with the
dashboard's filters for the statistics and its guard."""

from __future__ import annotations

import csv
import io
import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from survey.core import codebook, csvcells
from survey.core.model import Loaded
from tests.web.test_dashboard import RESPONSES, XSS, bearer, tokens  # noqa: F401


@pytest.mark.anyio
async def test_the_codebook_needs_the_reports_scope(
    tokens: dict[str, str],  # noqa: F811
    client: AsyncTestClient[Litestar],
) -> None:
    for path in ("/reports/connector/codebook.html", "/reports/connector/codebook.csv"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        response = await client.get(path, headers=bearer(tokens["submit"]))
        assert response.status_code == 403, path


@pytest.mark.anyio
async def test_the_html_codebook_lists_every_item_escaped_with_statistics_and_no_script(
    tokens: dict[str, str],  # noqa: F811
    client: AsyncTestClient[Litestar],
    questionnaires: dict[str, Loaded],
) -> None:
    response = await client.get(
        "/reports/connector/codebook.html",
        params={"include_demo": "true"},
        headers=bearer(tokens["reports"]),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(
        r'attachment; filename="connector-codebook-\d{4}-\d\d-\d\d\.html"', disposition
    )
    html = response.text
    assert "<script" not in html and "@media print" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    q = questionnaires["connector"].definition
    for item in q.items:
        assert f"<code>answer.{item.id}</code>" in html, item.id
        # Jinja escapes quotes and ampersands as well as angle brackets.
        text = item.text.replace("&", "&amp;").replace("'", "&#39;").replace('"', "&#34;")
        assert text in html, item.id
    assert "reverse-keyed" in html and "Answer this only if" in html
    assert f"Statistics from {RESPONSES + 2} responses" in html
    assert "Including synthetic demo responses" in html
    assert "Cronbach" in html
    # The hostile answer is free text, which the codebook never shows; nor any markup.
    assert XSS not in html


@pytest.mark.anyio
async def test_the_csv_codebook_has_a_row_per_export_column_with_statistics(
    tokens: dict[str, str],  # noqa: F811
    client: AsyncTestClient[Litestar],
    questionnaires: dict[str, Loaded],
) -> None:
    response = await client.get(
        "/reports/connector/codebook.csv", headers=bearer(tokens["reports"])
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "connector-codebook-" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == codebook.CSV_COLUMNS
    q = questionnaires["connector"].definition
    assert [r[0] for r in rows[1:]] == csvcells.csv_header(q)
    table = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    first = q.likert_items()[0]
    assert int(table[f"answer.{first.id}"]["n"]) > 0
    assert table[f"score.{first.dimension}"]["alpha"] != ""


@pytest.mark.anyio
async def test_a_filter_that_selects_nothing_gives_a_codebook_without_statistics(
    tokens: dict[str, str],  # noqa: F811
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.get(
        "/reports/connector/codebook.html",
        params={"from": "2001-01-01", "to": "2001-01-02"},
        headers=bearer(tokens["reports"]),
    )
    assert response.status_code == 200
    assert "No statistics: there are no responses that the filters select" in response.text
    assert "<code>answer.say_why</code>" in response.text


@pytest.mark.anyio
async def test_the_dashboard_links_both_codebooks_with_its_filters(
    tokens: dict[str, str],  # noqa: F811
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.get(
        "/reports/connector", params={"include_demo": "true"}, headers=bearer(tokens["reports"])
    )
    assert response.status_code == 200
    html = response.text
    for suffix in ("html", "csv"):
        match = re.search(rf'href="/reports/connector/codebook\.{suffix}\?([^"]*)"', html)
        assert match and "include_demo=true" in match[1], suffix
