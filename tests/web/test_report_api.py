"""GET /api/v1/questionnaires/{slug}/report over HTTP: the guard, the filters, the JSON."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest

from survey.core.filters import filter_of
from survey.flows.report import load_report
from survey.flows.researchers import create_token
from survey.store import researchers

pytestmark = pytest.mark.anyio

URL = "/api/v1/questionnaires/connector/report"


async def new_token(conn, name: str = "alice", scopes: tuple[str, ...] = ("reports",)) -> str:
    _, token = await create_token(conn, name, list(scopes))
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def check_problem(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def fill(client, n: int = 30) -> None:
    rng = random.Random("report-api")
    for _ in range(n):
        answers: dict[str, Any] = {"say_why": rng.randint(1, 5), "same_template": rng.randint(1, 5)}
        answers["industry"] = rng.choice(["Technology", "Healthcare"])
        answers["real_connector"] = "<script>alert(1)</script>"
        body = {"answers": answers, "consent": True, "quote_consent": rng.random() < 0.5}
        posted = await client.post("/api/v1/questionnaires/connector/responses", json=body)
        assert posted.status_code == 201, posted.text


def without_time(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "generated_at"}


async def test_the_report_without_a_token_is_401(client):
    body = check_problem(await client.get(URL), 401)
    assert "errors" not in body or body["errors"] == []


async def test_the_report_with_a_bad_token_is_401(client, conn):
    await new_token(conn)
    check_problem(await client.get(URL, headers=bearer("cs_not-a-token")), 401)


async def test_the_report_with_a_token_lacking_the_reports_scope_is_403(client, conn):
    token = await new_token(conn, "submitter", ("submit",))
    check_problem(await client.get(URL, headers=bearer(token)), 403)


async def test_the_report_with_a_revoked_token_is_401(client, conn):
    token = await new_token(conn)
    assert (await client.get(URL, headers=bearer(token))).status_code == 200
    assert await researchers.update_token_revoked(conn, "alice")
    check_problem(await client.get(URL, headers=bearer(token)), 401)


@pytest.mark.parametrize(
    "query", ["", "?industry=Technology", "?from=2000-01-01&to=2999-12-31&include_demo=true"]
)
async def test_the_report_is_the_json_of_load_report(client, conn, questionnaires, query):
    await fill(client)
    token = await new_token(conn)
    response = await client.get(URL + query, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    got = response.json()

    loaded = questionnaires["connector"]
    params = dict(p.split("=") for p in query.lstrip("?").split("&") if p)
    where = filter_of(loaded.definition, params)
    expected = await load_report(conn, loaded, where, 5)
    assert without_time(got) == without_time(msgspec.json.decode(msgspec.json.encode(expected)))
    assert got["counts"]["total"] == (30 if "industry" not in params else expected.counts.total)
    # Quoted text travels as data; the dashboard escapes it.
    assert {q["text"] for q in got["quotes"]} == {"<script>alert(1)</script>"}


async def test_a_bad_filter_is_422_naming_every_one(client, conn):
    token = await new_token(conn)
    response = await client.get(
        URL + "?colour=red&from=yesterday&version=latest&industry=Mars", headers=bearer(token)
    )
    body = check_problem(response, 422)
    assert sorted(e["field"] for e in body["errors"]) == ["colour", "from", "industry", "version"]


async def test_the_report_of_an_unknown_questionnaire_is_404(client, conn):
    token = await new_token(conn)
    response = await client.get("/api/v1/questionnaires/nope/report", headers=bearer(token))
    check_problem(response, 404)
