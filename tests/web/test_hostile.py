"""Hostile input, table by table, drawn from what survey platforms have been caught out by.

SQL injection in every field, header, query parameter and path segment; script payloads in
answers and in a questionnaire's own text; `</script>` in data that ends up in a page; NUL bytes,
which PostgreSQL text and jsonb refuse; numbers too big for a double, NaN and Infinity; JSON
nested past the decoder's depth; bodies over the limit, streamed without a length; bodies
declared as something other than JSON; duplicate JSON keys; path traversal, encoded; CSV formula
injection through a questionnaire's options.

Each case gets its own 4xx with the field at fault named, or its value is stored and comes back
inert: escaped in HTML, JSON in a data attribute, neutralised in CSV. Either way no 5xx, and no
row is half-written: the tables are counted before and after. The API's ordinary bad-input
table is in test_api.py; this one is the hostile one.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from markupsafe import escape

from survey.config import Settings
from survey.core import charts, loader
from survey.core.model import Loaded
from survey.flows.researchers import create_token
from survey.web.app import create_app

pytestmark = pytest.mark.anyio

HOSTILE_YAML = Path(__file__).resolve().parents[1] / "data" / "hostile.yaml"
SUBMIT = "/api/v1/questionnaires/{slug}/responses"
JSON = {"Content-Type": "application/json"}

# What an attacker hopes a page will run; none may appear in a page as markup.
MARKUP = re.compile(
    r"<script>alert|<img src=x|<svg onload|<iframe|<b onmouseover|<style>body|<a href=javascript",
    re.IGNORECASE,
)


async def count(conn: asyncpg.Connection, table: str = "response") -> int:
    n: int = await conn.fetchval(f"SELECT count(*) FROM {table}")  # a fixed name, not input
    return n


async def counts(conn: asyncpg.Connection) -> tuple[int, int, int]:
    """Everything a request could half-write: responses, rollup rows, tokens."""
    return (
        await count(conn, "response"),
        await count(conn, "report_rollup"),
        await count(conn, "researcher_token"),
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert body["status"] == response.status_code
    assert all(e["message"] for e in body["errors"])
    return sorted(e["field"] for e in body["errors"])


# --- 1. submission bodies ---------------------------------------------------------------------

DEEP = 100_000
BAD_BODIES: list[tuple[str, bytes, dict[str, str], int, list[str], str]] = [
    # (case, body, headers, status, fields in `errors`, text in `detail` or a message)
    ("sqli in a choice", b'{"answers": {"industry": "Technology\' OR \'1\'=\'1"}, "consent": true}',
     JSON, 422, ["answers.industry"], "options"),
    ("sqli as an item id", b'{"answers": {"say_why\' OR 1=1--": 5}, "consent": true}', JSON, 422,
     ["answers.say_why' OR 1=1--"], "unknown item"),
    ("sqli as a top-level key",
     b'{"answers": {}, "consent": true, "\'; DROP TABLE response;--": 1}', JSON, 422, ["$"],
     "unknown field"),
    ("sqli in a multi choice",
     b'{"answers": {"platforms": ["LinkedIn\'); DROP TABLE response;--"]}, "consent": true}', JSON,
     422, ["answers.platforms"], "options"),
    ("NUL in free text", b'{"answers": {"why_collect": "fine\\u0000then"}, "consent": true}', JSON,
     422, ["answers.why_collect"], "NUL"),
    ("NUL in a choice", b'{"answers": {"industry": "Technology\\u0000"}, "consent": true}', JSON,
     422, ["answers.industry"], "options"),
    ("NUL in a multi choice", b'{"answers": {"platforms": ["\\u0000"]}, "consent": true}', JSON,
     422, ["answers.platforms"], "options"),
    ("NUL in an item id", b'{"answers": {"say_why\\u0000": 5}, "consent": true}', JSON, 422,
     ["answers.say_why\x00"], "unknown item"),
    ("NUL as a top-level key", b'{"answers": {}, "consent": true, "\\u0000": 1}', JSON, 422, ["$"],
     "unknown field"),
    ("a lone surrogate", b'{"answers": {"why_collect": "\\ud800"}, "consent": true}', JSON, 400, [],
     "malformed JSON"),
    ("1e400 on a number item", b'{"answers": {"years_experience": 1e400}, "consent": true}', JSON,
     422, ["answers[...]"], "out of range"),
    ("-1e400 on a likert item", b'{"answers": {"say_why": -1e400}, "consent": true}', JSON, 422,
     ["answers[...]"], "out of range"),
    ("10**400 on a number item", b'{"answers": {"years_experience": 1' + b"0" * 400 + b"}, "
     b'"consent": true}', JSON, 422, ["answers.years_experience"], "between 0 and 60"),
    ("-10**400 on a likert item",
     b'{"answers": {"say_why": -1' + b"0" * 400 + b'}, "consent": true}', JSON, 422,
     ["answers.say_why"], "scale values"),
    ("NaN", b'{"answers": {"years_experience": NaN}, "consent": true}', JSON, 400, [],
     "malformed JSON"),
    ("Infinity", b'{"answers": {"say_why": Infinity}, "consent": true}', JSON, 400, [],
     "malformed JSON"),
    ("-Infinity", b'{"answers": {"say_why": -Infinity}, "consent": true}', JSON, 400, [],
     "malformed JSON"),
    ("arrays nested 100,000 deep", b'{"answers": {"why_collect": ' + b"[" * DEEP + b"]" * DEEP
     + b'}, "consent": true}', JSON, 400, [], "nested too deeply"),
    ("objects nested 100,000 deep", b'{"answers": {"why_collect": ' + b'{"a": ' * DEEP + b"1"
     + b"}" * DEEP + b'}, "consent": true}', JSON, 400, [], "nested too deeply"),
    ("arrays nested 200 deep", b'{"answers": {"why_collect": ' + b"[" * 200 + b"]" * 200
     + b'}, "consent": true}', JSON, 422, ["answers.why_collect"], "must be text"),
    ("a duplicate answer", b'{"answers": {"say_why": 1, "say_why": 5}, "consent": true}', JSON, 422,
     ["answers.say_why"], "more than once"),
    ("a duplicate consent", b'{"answers": {"say_why": 5}, "consent": false, "consent": true}', JSON,
     422, ["consent"], "more than once"),
    ("a duplicate answers object", b'{"answers": {"nope": 1}, "answers": {"say_why": 5}, '
     b'"consent": true}', JSON, 422, ["answers"], "more than once"),
    ("text/plain", b'{"answers": {"say_why": 5}, "consent": true}', {"Content-Type": "text/plain"},
     415, [], "application/json"),
    ("a form", b"answers=1&consent=true",
     {"Content-Type": "application/x-www-form-urlencoded"}, 415, [], "application/json"),
    ("multipart", b'--x\r\nContent-Disposition: form-data; name="answers"\r\n\r\n{}\r\n--x--\r\n',
     {"Content-Type": "multipart/form-data; boundary=x"}, 415, [], "application/json"),
    ("XML", b"<answers><say_why>5</say_why></answers>", {"Content-Type": "application/xml"}, 415,
     [], "application/json"),
    ("an empty JSON body", b"", JSON, 400, [], "malformed JSON"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "headers", "status", "fields", "says"),
    [pytest.param(b, h, s, f, t, id=c) for c, b, h, s, f, t in BAD_BODIES],
)
async def test_a_hostile_submission_gets_its_own_4xx_naming_the_fault_and_stores_nothing(
    client, conn, body, headers, status, fields, says
):
    before = await counts(conn)
    response = await client.post(SUBMIT.format(slug="connector"), content=body, headers=headers)
    assert response.status_code == status, response.text[:500]
    assert problem_fields(response) == sorted(fields)
    problem = response.json()
    messages = [problem["detail"] or "", *(e["message"] for e in problem["errors"])]
    assert any(says in m for m in messages), problem
    assert "Traceback" not in response.text
    assert await counts(conn) == before
    # The table is still there, and still takes a good submission.
    good = await client.post(SUBMIT.format(slug="connector"), json={"answers": {}, "consent": True})
    assert good.status_code == 201


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.api+json", None],
)
async def test_json_under_any_name_for_json_is_taken(client, conn, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"answers": {"say_why": 5}, "consent": true}'
    response = await client.post(SUBMIT.format(slug="connector"), content=body, headers=headers)
    assert response.status_code == 201, response.text
    assert await count(conn) == 1


SQL_TEXT = [
    "'); DROP TABLE response; --",
    "' OR '1'='1",
    "1; SELECT pg_sleep(10) --",
    "$1, $2) --",
    "\\'; COPY response TO '/tmp/x'; --",
    "E'\\x00'",
]


@pytest.mark.parametrize("text", SQL_TEXT)
async def test_sql_in_free_text_is_stored_verbatim_as_data(client, conn, text):
    body = {"answers": {"why_collect": text, "say_why": 5}, "consent": True}
    response = await client.post(SUBMIT.format(slug="connector"), json=body)
    assert response.status_code == 201, response.text
    stored = await conn.fetchval("SELECT answers->>'why_collect' FROM response")
    assert stored == text
    assert await count(conn) == 1


@pytest.mark.parametrize("key", ["' OR '1'='1", "k'); DROP TABLE response; --", "$1", "%s%s%s"])
async def test_sql_in_an_idempotency_key_is_only_a_key(client, conn, key):
    body = {"answers": {"say_why": 5}, "consent": True}
    url = SUBMIT.format(slug="connector")
    first = await client.post(url, json=body, headers={"Idempotency-Key": key})
    again = await client.post(url, json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["id"] == again.json()["id"]
    assert await conn.fetchval("SELECT idempotency_key FROM response") == key
    assert await count(conn) == 1


async def test_an_idempotency_key_over_255_characters_is_a_400_naming_the_header(client, conn):
    response = await client.post(
        SUBMIT.format(slug="connector"),
        json={"answers": {}, "consent": True},
        headers={"Idempotency-Key": "k" * 256},
    )
    assert response.status_code == 400, response.text
    assert problem_fields(response) == ["idempotency-key"]
    assert "255" in response.json()["errors"][0]["message"]
    assert await count(conn) == 0


async def test_a_body_streamed_past_the_limit_without_a_length_is_413_and_nothing_is_stored(
    live_server, conn
):
    """Chunked, so no Content-Length announces it: the server must count as it reads."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"answers": {"why_collect": "'
        for _ in range(40):
            yield b"x" * 65_536  # 2.5 MB in all
        yield b'"}, "consent": true}'

    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{live_server}{SUBMIT.format(slug='connector')}", content=chunks(), headers=JSON
        )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await count(conn) == 0


# --- 2. the web form --------------------------------------------------------------------------


async def form_post(client: AsyncTestClient[Litestar], slug: str, fields: dict[str, Any]):
    page = await client.get(f"/q/{slug}")
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    stamp = re.search(r'name=_t value="([^"]+)"', page.text)
    assert match and stamp, "the form has no CSRF field or no issue time"
    # As a browser sends it back: with the form's signed issue time (else it is flagged).
    data = {"_csrf_token": match[1], "_t": stamp[1], **fields}
    return await client.post(f"/q/{slug}", data=data, follow_redirects=False)


BAD_FORMS = [
    # (case, field, typed, what the page says beside the field)
    ("NUL in free text", "why_collect", "fine\x00then", "NUL"),
    ("sqli in a choice", "industry", "Technology' OR '1'='1", "one of the options"),
    ("1e400 as a number", "years_experience", "1e400", "Enter a number"),
    ("NaN as a number", "years_experience", "NaN", "Enter a number"),
    ("-inf as a number", "years_experience", "-inf", "Enter a number"),
    ("twenty digits", "years_experience", "9" * 20, "between 0 and 60"),
    ("sqli as a number", "years_experience", "1; DROP TABLE response", "Enter a number"),
    ("sqli as a likert value", "say_why", "5' OR '1'='1", "one of the scale values"),
]


@pytest.mark.parametrize(
    ("field", "typed", "says"), [pytest.param(f, t, s, id=c) for c, f, t, s in BAD_FORMS]
)
async def test_a_hostile_form_answer_is_shown_back_beside_its_field_and_nothing_is_stored(
    client, conn, field, typed, says
):
    before = await counts(conn)
    response = await form_post(client, "connector", {"_consent": "on", field: typed})
    assert response.status_code == 422, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    error = re.search(rf'id="{field}-error"[^>]*>(.*?)</p>', response.text, re.DOTALL)
    assert error, f"no error beside {field}"
    assert says in html.unescape(error[1])
    assert await counts(conn) == before


# --- 3. report and export filters -------------------------------------------------------------

FILTER_URLS = [
    "/api/v1/questionnaires/{slug}/report",
    "/api/v1/questionnaires/{slug}/responses.csv",
    "/api/v1/questionnaires/{slug}/responses.jsonl",
]
BAD_FILTERS = [
    # (case, slug, query parameters, field at fault)
    ("sqli in a segment", "connector", {"industry": "Technology' OR '1'='1"}, "industry"),
    ("sqli in version", "connector", {"version": "' OR 1=1--"}, "version"),
    ("sqli after a date", "connector", {"from": "2024-01-01' OR '1'='1"}, "from"),
    ("sqli as a date", "connector", {"to": "2024-01-01; DROP TABLE response"}, "to"),
    ("sqli in include_demo", "connector", {"include_demo": "true' --"}, "include_demo"),
    ("sqli as a parameter name", "connector", {"' OR 1=1--": "x"}, "' OR 1=1--"),
    ("NUL in a segment", "connector", {"industry": "\x00"}, "industry"),
    ("NUL in a date", "connector", {"from": "\x00"}, "from"),
    ("sqli as a number", "teamwork", {"team_size": "1; DROP TABLE response"}, "team_size"),
    ("NaN as a number", "teamwork", {"team_size": "NaN"}, "team_size"),
    ("Infinity as a number", "teamwork", {"team_size": "Infinity"}, "team_size"),
    ("1e400 as a number", "teamwork", {"team_size": "1e400"}, "team_size"),
]


@pytest.fixture
async def researcher(conn) -> str:
    _, token = await create_token(conn, "researcher", ["reports"])
    return token


@pytest.mark.parametrize("url", FILTER_URLS, ids=["report", "csv", "jsonl"])
@pytest.mark.parametrize(
    ("slug", "params", "field"), [pytest.param(s, p, f, id=c) for c, s, p, f in BAD_FILTERS]
)
async def test_a_hostile_filter_is_a_422_naming_it_and_changes_nothing(
    client, conn, researcher, url, slug, params, field
):
    stored = await client.post(
        SUBMIT.format(slug="connector"), json={"answers": {}, "consent": True}
    )
    assert stored.status_code == 201
    before = await counts(conn)
    response = await client.get(url.format(slug=slug), params=params, headers=bearer(researcher))
    assert response.status_code == 422, response.text[:500]
    assert problem_fields(response) == [field]
    assert await counts(conn) == before


# --- 4. paths: traversal and injection in slugs and tokens ------------------------------------

TRAVERSALS = [
    "/api/v1/questionnaires/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/v1/questionnaires/%2e%2e%2f%2e%2e%2fsurvey%2fapp.py",
    "/api/v1/questionnaires/connector%27%20OR%20%271%27%3D%271",
    "/api/v1/questionnaires/connector%00",
    "/api/v1/questionnaires/..%252F..%252Fetc%252Fpasswd",
    "/api/v1/results/..%2F..%2Fetc%2Fpasswd",
    "/api/v1/results/%27%20OR%20%271%27%3D%271",
    "/api/v1/results/%2e%2e",
    "/q/..%2F..%2F..%2Fetc%2Fpasswd",
    "/q/%2e%2e%2f%2e%2e%2fsurvey%2fapp.py",
    "/q/connector%27--",
    "/r/..%2Fq%2Fconnector",
    "/r/%27%20OR%20%271%27%3D%271",
    "/static/..%2F..%2Fapp.py",
    "/static/%2e%2e%2fapp.py",
    "/static/..%5c..%5capp.py",
    "/static/survey.css%00.py",
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_traversal_and_injection_in_a_path_find_nothing(client, conn, path):
    stored = await client.post(
        SUBMIT.format(slug="connector"), json={"answers": {}, "consent": True}
    )
    assert stored.status_code == 201
    before = await counts(conn)
    response = await client.get(path)
    assert response.status_code == 404, (path, response.status_code, response.text[:300])
    for leak in ("root:", "import ", "def ", "Traceback", "SELECT"):
        assert leak not in response.text, (path, leak)
    if path.startswith("/api/v1/results/"):
        erased = await client.delete(path)
        assert erased.status_code == 404
    assert await counts(conn) == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/questionnaires/..%2Fconnector/report",
        "/api/v1/questionnaires/connector%27%20OR%201%3D1--/responses.csv",
        "/reports/..%2F..%2Fetc%2Fpasswd",
        "/reports/connector%27--/report.html",
        "/reports/connector/figures/..%2F..%2F..%2Fetc%2Fpasswd",
    ],
)
async def test_traversal_behind_a_researcher_token_finds_nothing(client, researcher, path):
    response = await client.get(path, headers=bearer(researcher))
    assert response.status_code == 404, (path, response.status_code, response.text[:300])
    assert "root:" not in response.text


# --- 5. the bulk import -----------------------------------------------------------------------


async def test_hostile_import_lines_are_each_refused_with_the_reason_and_the_rest_stored(
    client, conn
):
    _, token = await create_token(conn, "importer", ["submit"])
    required = (
        b'"rely_on": 4, "hide_mistakes": 2, "say_disagree": 4, "nod_along": 3, '
        b'"keep_promises": 4, "dropped_actions": 2'
    )

    def line(more: bytes) -> bytes:
        return b'{"answers": {' + required + more + b"}}"

    lines = [
        line(b""),  # 1: good
        line(b', "one_change": "a\\u0000b"'),  # 2: NUL
        line(b', "rely_on": 1'),  # 3: a duplicate key
        line(b', "one_change": ' + b"[" * DEEP + b"]" * DEEP),  # 4: too deep
        line(b', "team_size": 1e400'),  # 5: out of range
        line(b', "team_size": NaN'),  # 6: not JSON
        line(b", \"department\": \"Sales' OR '1'='1\""),  # 7: not an option
        line(b', "one_change": "\'); DROP TABLE response; --"'),  # 8: good, stored as text
    ]
    response = await client.post(
        "/api/v1/questionnaires/teamwork/responses/import",
        content=b"\n".join(lines),
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text[:500]
    summary = response.json()
    assert summary["accepted"] == 2
    rejected = {r["line"]: r["errors"] for r in summary["rejected"]}
    assert sorted(rejected) == [2, 3, 4, 5, 6, 7]
    assert rejected[2] == [
        {"field": "answers.one_change", "message": "must not contain NUL characters"}
    ]
    assert rejected[3] == [{"field": "answers.rely_on", "message": "is given more than once"}]
    assert rejected[4][0]["message"] == "malformed JSON: nested too deeply"
    assert "out of range" in rejected[5][0]["message"]
    assert rejected[6][0]["message"].startswith("malformed JSON")
    assert rejected[7][0]["field"] == "answers.department"
    assert await count(conn) == 2
    stored = await conn.fetchval(
        "SELECT answers->>'one_change' FROM response WHERE answers ? 'one_change'"
    )
    assert stored == "'); DROP TABLE response; --"


# --- 6. script in a questionnaire's text and in answers: stored, shown inert ------------------


@pytest.fixture(scope="module")
def hostile() -> Loaded:
    return loader.load(HOSTILE_YAML.read_bytes(), str(HOSTILE_YAML))


@pytest.fixture
async def hostile_client(
    settings: Settings, questionnaires: dict[str, Loaded], hostile: Loaded
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(settings, {**questionnaires, "hostile": hostile})
    async with AsyncTestClient(app=app) as client:
        yield client


SCRIPT_ANSWER = "</script><script>alert('answer')</script><img src=x onerror=alert(1)>"


def data_figures(page: str) -> Iterator[Any]:
    """Each chart's figure, from its data attribute, as the page's script would read it."""
    for raw in re.findall(r'data-figure="([^"]*)"', page):
        assert "<" not in raw and ">" not in raw  # escaped, so `</script>` cannot end anything
        yield json.loads(html.unescape(raw))


def assert_inert(page: str, where: str) -> None:
    found = MARKUP.search(page)
    assert found is None, (
        f"{where}: markup from input in the page: {page[found.start() - 80 :][:200]}"
    )


async def test_a_questionnaire_full_of_script_is_shown_as_text_everywhere(
    hostile_client, conn, hostile
):
    q = hostile.definition
    client = hostile_client
    _, token = await create_token(conn, "researcher", ["reports"])

    home = await client.get("/")
    assert home.status_code == 200
    assert_inert(home.text, "/")
    assert str(escape(q.title)) in home.text

    form = await client.get("/q/hostile")
    assert form.status_code == 200
    assert_inert(form.text, "/q/hostile")
    for text in (q.title, q.items[0].text, q.items[1].text, q.scales["hostile5"].labels[0]):
        assert str(escape(text)) in form.text, text
    assert "script-src 'self'" in form.headers["content-security-policy"]

    answers = {"share_first": "5", "share_often": "4", "place": q.items[2].options[1],
               "free": SCRIPT_ANSWER, "_consent": "on", "_quote_consent": "on"}  # fmt: skip
    posted = await form_post(client, "hostile", answers)
    assert posted.status_code == 303, posted.text[:500]
    result = await client.get(posted.headers["location"])
    assert result.status_code == 200
    assert_inert(result.text, "result")
    (figure,) = data_figures(result.text)
    # Plotly reads a subset of HTML in labels: the name goes in escaped, to be shown as text.
    assert figure["data"][0]["y"] == [charts.text(q.dimensions[0].name)]
    assert str(escape(q.profiles[0].label)) in result.text

    dashboard = await client.get("/reports/hostile", headers=bearer(token))
    assert dashboard.status_code == 200, dashboard.text[:500]
    assert_inert(dashboard.text, "dashboard")
    assert str(escape(SCRIPT_ANSWER)) in dashboard.text  # the quote, as text
    labels = json.dumps(list(data_figures(dashboard.text)), ensure_ascii=False)
    assert q.dimensions[0].name not in labels
    assert charts.text(q.dimensions[0].name) in labels
    assert charts.text(q.scales["hostile5"].labels[3]) in labels

    report = await client.get("/reports/hostile/report.html", headers=bearer(token))
    assert report.status_code == 200
    assert_inert(report.text, "report.html")
    assert str(escape(SCRIPT_ANSWER)) in report.text
    list(data_figures(report.text))

    api = await client.get("/api/v1/questionnaires/hostile")
    assert api.status_code == 200
    assert api.headers["content-type"].startswith("application/json")
    assert api.json()["title"] == q.title  # JSON carries the text as it is: data, not a page

    exported = await client.get(
        "/api/v1/questionnaires/hostile/responses.csv", headers=bearer(token)
    )
    assert exported.status_code == 200
    (row,) = csv.DictReader(io.StringIO(exported.text, newline=""))
    assert row["answer.place"] == "'" + q.items[2].options[1]  # `=cmd|...` neutralised
    assert row["answer.free"] == SCRIPT_ANSWER  # CSV is data; nothing to escape
    assert await count(conn) == 1
