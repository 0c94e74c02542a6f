"""The lavaan downloads over HTTP: the item file keyed and filtered as the CSV export is, the R
script for it, `group_by` checked (a 400 naming it), the reports scope, and the dashboard's
links to both."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from survey.core import lavaan, loader
from survey.flows.researchers import create_token
from survey.web.app import create_app

pytestmark = pytest.mark.anyio

CSV = "/api/v1/questionnaires/{slug}/exports/cfa.csv"
SCRIPT = "/api/v1/questionnaires/{slug}/exports/cfa.R"
TEAMWORK = Path(__file__).resolve().parents[1] / "data" / "teamwork.yaml"


async def token(conn, scopes: tuple[str, ...] = ("reports",), name: str = "researcher") -> str:
    _, secret = await create_token(conn, name, list(scopes))
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def submit(client, answers: dict[str, Any]) -> str:
    body = {"answers": answers, "consent": True}
    response = await client.post("/api/v1/questionnaires/teamwork/responses", json=body)
    assert response.status_code == 201, response.text
    receipt: str = response.json()["id"]
    return receipt


def teamwork(value: int, department: str) -> dict[str, Any]:
    items = ["rely_on", "hide_mistakes", "say_disagree", "nod_along", "keep_promises"]
    return {**dict.fromkeys(items, value), "dropped_actions": value, "department": department}


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_the_item_file_holds_each_response_keyed_with_its_group(client, conn, questionnaires):
    q = questionnaires["teamwork"].definition
    first = await submit(client, {**teamwork(2, "Sales"), "ask_help": "na"})
    second = await submit(client, teamwork(5, "Support"))
    secret = await token(conn)

    response = await client.get(
        CSV.format(slug="teamwork"), params={"group_by": "department"}, headers=bearer(secret)
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="teamwork-cfa.csv"'
    assert response.headers["cache-control"] == "no-store"
    got = rows(response.text)
    assert list(got[0]) == lavaan.columns(q, "department")
    assert [r["response_id"] for r in got] == [first, second]
    assert [r["department"] for r in got] == ["Sales", "Support"]
    assert (got[0]["rely_on"], got[0]["hide_mistakes"], got[0]["nod_along"]) == ("2", "5", "5")
    assert (got[1]["rely_on"], got[1]["hide_mistakes"], got[1]["nod_along"]) == ("5", "2", "2")
    assert got[0]["ask_help"] == "" and got[0]["guarded"] == ""  # N/A, and not answered


async def test_the_item_file_takes_the_exports_filters(client, conn):
    await submit(client, teamwork(2, "Sales"))
    kept = await submit(client, teamwork(5, "Support"))
    secret = await token(conn)

    response = await client.get(
        CSV.format(slug="teamwork"),
        params={"department": "Support", "quality": "all", "version": "all"},
        headers={**bearer(secret), "Accept-Encoding": "gzip"},
    )

    assert response.status_code == 200, response.text
    assert [r["response_id"] for r in rows(response.text)] == [kept]
    assert "response_id,rely_on," in response.text  # no group column unless asked for


async def test_the_script_reads_the_item_file_and_tests_invariance_by_the_group(
    client, conn, questionnaires
):
    secret = await token(conn)
    loaded = questionnaires["teamwork"]

    response = await client.get(
        SCRIPT.format(slug="teamwork"),
        params={"group_by": "department", "department": "Sales"},
        headers=bearer(secret),
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/x-r; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="teamwork-cfa.R"'
    text = response.text
    assert f"questionnaire teamwork, version {loaded.version}" in text
    assert "department=Sales" in text  # the filters it was made with
    assert 'read.csv("teamwork-cfa.csv", na.strings = ""' in text
    assert 'group <- "department"' in text
    assert "print(lavTestLRT(configural, metric, scalar, strict))" in text


async def test_without_group_by_the_script_fits_one_group(client, conn):
    secret = await token(conn)

    response = await client.get(SCRIPT.format(slug="teamwork"), headers=bearer(secret))

    assert response.status_code == 200
    assert "fit <- fit_model(data)" in response.text
    assert "configural" not in response.text


@pytest.mark.parametrize("url", [CSV, SCRIPT])
@pytest.mark.parametrize("name", ["rely_on", "nope"])
async def test_group_by_anything_but_a_segment_item_is_a_400_naming_it(client, conn, url, name):
    secret = await token(conn)

    response = await client.get(
        url.format(slug="teamwork"), params={"group_by": name}, headers=bearer(secret)
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["errors"] == [
        {
            "field": "group_by",
            "message": f"'{name}' is not a segment item of teamwork "
            "(segment items: team_size, department)",
        }
    ]


async def test_the_script_of_a_questionnaire_lavaan_cannot_read_is_a_422(
    settings, questionnaires, conn
):
    text = TEAMWORK.read_text().replace("slug: teamwork", "slug: reserved")
    reserved = loader.load(text.replace("{id: rely_on,", "{id: for,"), "reserved.yaml")
    app = create_app(settings, {**questionnaires, "reserved": reserved})
    secret = await token(conn)

    async with AsyncTestClient(app=app) as client:
        script = await client.get(SCRIPT.format(slug="reserved"), headers=bearer(secret))
        items = await client.get(CSV.format(slug="reserved"), headers=bearer(secret))

    assert script.status_code == 422
    assert "R reserved words" in script.json()["detail"]
    assert "for" in script.json()["detail"]
    assert items.status_code == 200  # the items themselves are fine for a model of one's own
    assert items.text.startswith("response_id,for,")


@pytest.mark.parametrize("url", [CSV, SCRIPT])
async def test_a_bad_filter_is_a_422_as_for_the_csv_export(client, conn, url):
    secret = await token(conn)

    response = await client.get(
        url.format(slug="teamwork"), params={"from": "yesterday"}, headers=bearer(secret)
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "from"


@pytest.mark.parametrize("url", [CSV, SCRIPT])
async def test_the_downloads_need_a_token_with_the_reports_scope(client, conn, url):
    submitter = await token(conn, ("submit",), "submitter")

    assert (await client.get(url.format(slug="teamwork"))).status_code == 401
    forbidden = await client.get(url.format(slug="teamwork"), headers=bearer(submitter))
    assert forbidden.status_code == 403
    assert (await client.get(url.format(slug="nope"), headers=bearer(submitter))).status_code in (
        403,
        404,
    )


async def test_a_gzip_client_gets_the_item_file_compressed(client, conn):
    await submit(client, teamwork(3, "Sales"))
    secret = await token(conn)

    response = await client.get(
        CSV.format(slug="teamwork"), headers={**bearer(secret), "Accept-Encoding": "gzip"}
    )

    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert len(rows(response.text)) == 1  # httpx has decompressed it


async def test_the_dashboard_links_the_item_file_and_script_with_its_filters(client, conn):
    secret = await token(conn)

    response = await client.get("/reports/teamwork", headers=bearer(secret))

    assert response.status_code == 200
    links = {
        html.unescape(href)
        for href in re.findall(
            r'href="(/api/v1/questionnaires/teamwork/exports/[^"]+)"', response.text
        )
    }
    filters = response.text.split("responses.csv?", 1)[1].split('"', 1)[0]
    assert filters.startswith("version=")  # the dashboard's filters: its version, clean ones
    expected = {f"/api/v1/questionnaires/teamwork/exports/{what}?{html.unescape(filters)}{by}"
                for what in ("cfa.csv", "cfa.R")
                for by in ("", "&group_by=team_size", "&group_by=department")}  # fmt: skip
    assert links == expected
