"""The CSV and JSONL exports over HTTP: content against the stored rows, formula neutralisation,
hostile text passed through as data, the scope guard, filters, and streaming in chunks."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import msgspec
import pytest

from survey.core import csvcells, display
from survey.core.csvcells import neutralise
from survey.core.model import Loaded, Questionnaire
from survey.core.submission import Submission
from survey.flows import intake
from survey.flows.export import EXPORT_BATCH
from survey.flows.ingest import insert_demo
from survey.flows.researchers import create_token
from survey.store import exports, responses

pytestmark = pytest.mark.anyio

CSV = "/api/v1/questionnaires/{slug}/responses.csv"
JSONL = "/api/v1/questionnaires/{slug}/responses.jsonl"
FORMULAS = ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=cmd", "\r=cmd"]
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(1)>"


async def token(conn, scopes: tuple[str, ...] = ("reports",), name: str = "researcher") -> str:
    _, secret = await create_token(conn, name, list(scopes))
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def submit(client, slug: str, answers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"answers": answers, "consent": True, **extra}
    response = await client.post(f"/api/v1/questionnaires/{slug}/responses", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def connector_answers(q, value: int = 4) -> dict[str, Any]:
    return {i.id: value for i in q.likert_items()}


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def parse_jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# --- the pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", [*FORMULAS, "-", "+", "=", "@", "-1-", "--3", "-3 ", "- 3"])
def test_cells_a_spreadsheet_would_run_get_a_leading_apostrophe(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-3", "-0.5", "-12.25e3", "0", "42", "Hello", "", "a=b", "'=x"])
def test_plain_numbers_and_ordinary_text_are_left_alone(cell):
    assert neutralise(cell) == cell


def test_the_csv_header_names_every_dimension_and_item_in_questionnaire_order(questionnaires):
    q = questionnaires["connector"].definition

    header = csvcells.csv_header(q)

    assert header[:8] == csvcells.FIXED_COLUMNS
    assert header[8 : 8 + len(q.dimensions)] == [f"score.{d.id}" for d in q.dimensions]
    answers = header[8 + len(q.dimensions) : -len(csvcells.QUALITY_COLUMNS) - 1]
    assert answers == [f"answer.{i.id}" for i in q.items]
    assert header[-1] == "channel"
    assert header[-len(csvcells.QUALITY_COLUMNS) - 1 : -1] == [
        "quality_flags",
        "quality.seconds",
        "quality.longstring",
        "quality.irv",
        "quality.reversed_gap",
        "quality.attention_failed",
        "quality.mahalanobis",
    ]


# --- content --------------------------------------------------------------------------------------


async def test_csv_export_holds_every_stored_response_with_its_scores_and_answers(
    client, conn, questionnaires
):
    q = questionnaires["connector"].definition
    full = {
        **connector_answers(q, 5),
        "industry": "Technology",
        "years_experience": 12,
        "platforms": ["LinkedIn", "Email"],
        "real_connector": "Listening, then introducing.",
    }
    first = await submit(client, "connector", full, quote_consent=True)
    second = await submit(client, "connector", {"say_why": 2})  # too little to score
    secret = await token(conn)

    response = await client.get(CSV.format(slug="connector"), headers=bearer(secret))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="connector-responses-')
    assert disposition.endswith('.csv"')
    rows = parse_csv(response.text)
    assert list(rows[0]) == csvcells.csv_header(q)
    assert [r["id"] for r in rows] == [first["id"], second["id"]]
    stored = {
        str(r["id"]): r
        for r in await conn.fetch(
            "SELECT id, created_at, version, source, index_score, profile, dimensions FROM response"
        )
    }
    row = rows[0]
    assert datetime.fromisoformat(row["created_at"]) == stored[first["id"]]["created_at"]
    assert row["version"] == questionnaires["connector"].version
    assert row["source"] == "api"
    assert row["complete"] == "true"
    assert row["quote_consent"] == "true"
    assert row["profile"] == first["profile"]["id"]
    assert float(row["index"]) == stored[first["id"]]["index_score"]  # full precision
    for d in q.dimensions:
        assert float(row[f"score.{d.id}"]) == stored[first["id"]]["dimensions"][d.id]
    assert row["answer.say_why"] == "5"
    assert row["answer.industry"] == "Technology"
    assert row["answer.years_experience"] == "12"
    assert row["answer.platforms"] == "LinkedIn; Email"
    assert row["answer.real_connector"] == "Listening, then introducing."
    assert row["answer.why_collect"] == ""
    empty = rows[1]
    assert (empty["complete"], empty["index"], empty["profile"]) == ("false", "", "")
    assert empty["answer.say_why"] == "2"
    assert empty["answer.same_template"] == ""


async def test_jsonl_export_holds_the_stored_answers_and_scores_exactly(
    client, conn, questionnaires
):
    q = questionnaires["connector"].definition
    answers = {**connector_answers(q, 3), "platforms": ["Email", "LinkedIn"], "industry": "Other"}
    receipt = await submit(client, "connector", answers)
    secret = await token(conn)

    response = await client.get(JSONL.format(slug="connector"), headers=bearer(secret))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"].endswith('.jsonl"')
    [line] = parse_jsonl(response.text)
    row = await conn.fetchrow("SELECT * FROM response")
    assert line == {
        "id": receipt["id"],
        "created_at": line["created_at"],
        "version": row["version"],
        "source": "api",
        "complete": True,
        "profile": row["profile"],
        "index": row["index_score"],
        "quote_consent": False,
        "dimensions": row["dimensions"],
        "answers": answers,
        # Every likert item answered 3 (connector_answers): flagged, with the measures.
        "quality_flags": row["flags"],
        "quality": row["quality"],
    }
    assert line["quality_flags"] == ["straightlining"]
    assert line["quality"]["longstring"] == len(q.likert_items())
    assert datetime.fromisoformat(line["created_at"]) == row["created_at"]


async def test_an_export_is_oldest_first(client, conn, questionnaires):
    q = questionnaires["teamwork"].definition
    answers = {i.id: 4 for i in q.likert_items()}
    ids = [(await submit(client, "teamwork", answers))["id"] for _ in range(3)]
    # Store them out of order: the export must sort by time, not by insertion or id.
    now = datetime.now(UTC)
    for n, id in enumerate(ids):
        await conn.execute(
            "UPDATE response SET created_at = $1 WHERE id = $2::uuid",
            now - timedelta(hours=n),
            id,
        )
    secret = await token(conn)

    response = await client.get(JSONL.format(slug="teamwork"), headers=bearer(secret))

    assert [line["id"] for line in parse_jsonl(response.text)] == ids[::-1]


async def test_formula_cells_are_neutralised_in_csv_and_verbatim_in_jsonl(
    client, conn, questionnaires
):
    q = questionnaires["connector"].definition
    for text in FORMULAS:
        await submit(client, "connector", {**connector_answers(q), "why_collect": text})
    secret = await token(conn)

    as_csv = await client.get(CSV.format(slug="connector"), headers=bearer(secret))
    as_jsonl = await client.get(JSONL.format(slug="connector"), headers=bearer(secret))

    assert [r["answer.why_collect"] for r in parse_csv(as_csv.text)] == ["'" + t for t in FORMULAS]
    assert [r["answers"]["why_collect"] for r in parse_jsonl(as_jsonl.text)] == FORMULAS


async def test_negative_numbers_are_data_not_formulas(client, conn, questionnaires):
    loaded = questionnaires["teamwork"]
    q = loaded.definition
    # A number item with a negative range is not in the shipped files: store one directly.
    await submit(client, "teamwork", {i.id: 4 for i in q.likert_items()})
    await conn.execute(
        """UPDATE response SET answers = answers || '{"team_size": -3}',
                               dimensions = dimensions || '{"trust": -0.5}'"""
    )
    secret = await token(conn)

    response = await client.get(CSV.format(slug="teamwork"), headers=bearer(secret))

    [row] = parse_csv(response.text)
    assert row["answer.team_size"] == "-3"
    assert row["score.trust"] == "-0.5"


async def test_answers_of_another_type_than_the_item_now_has_are_exported_and_neutralised(
    client, conn, questionnaires
):
    # An earlier version had `say_why` as a text item, `industry` as a number and
    # `platforms` as a choice; a response to it is exported under today's columns.
    q = questionnaires["connector"].definition
    await submit(client, "connector", connector_answers(q))
    earlier = msgspec.to_builtins(q)
    for section in earlier["sections"]:
        for item in section["items"]:
            if item["id"] == "say_why":
                item.update(type="text", max_length=100)
                for key in ("scale", "dimension", "reverse"):
                    item.pop(key, None)
            elif item["id"] == "industry":
                item.update(type="number")
                for key in ("options", "segment"):
                    item.pop(key, None)
            elif item["id"] == "platforms":
                item.update(type="choice", options=["@x", "Email"])
    msgspec.convert(earlier, Questionnaire)  # a valid definition
    await conn.execute(
        "INSERT INTO questionnaire_version (slug, version, title, definition)"
        " VALUES ('connector', 'earlier', $1, $2)",
        q.title,
        earlier,
    )
    await conn.execute(
        """UPDATE response SET version = 'earlier',
                               answers = answers || '{"say_why": "=1+1", "industry": 3,
                                                      "platforms": "@x"}'"""
    )
    secret = await token(conn)

    response = await client.get(CSV.format(slug="connector"), headers=bearer(secret))

    [row] = parse_csv(response.text)
    assert row["answer.say_why"] == "'=1+1"
    assert row["answer.industry"] == "3"
    assert row["answer.platforms"] == "'@x"
    assert row["answer.same_template"] == "4"


async def test_a_script_in_free_text_comes_out_verbatim_as_data_in_both_exports(
    client, conn, questionnaires
):
    q = questionnaires["connector"].definition
    await submit(client, "connector", {**connector_answers(q), "real_connector": HOSTILE})
    secret = await token(conn)

    as_csv = await client.get(CSV.format(slug="connector"), headers=bearer(secret))
    as_jsonl = await client.get(JSONL.format(slug="connector"), headers=bearer(secret))

    assert parse_csv(as_csv.text)[0]["answer.real_connector"] == HOSTILE
    assert parse_jsonl(as_jsonl.text)[0]["answers"]["real_connector"] == HOSTILE
    for response in (as_csv, as_jsonl):
        # Served as a download a browser does not sniff into HTML.
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-disposition"].startswith("attachment")


async def test_text_with_quotes_commas_and_newlines_round_trips_through_csv(
    client, conn, questionnaires
):
    q = questionnaires["connector"].definition
    text = 'Line one, "quoted"\nline two; \\ backslash é ✓'
    await submit(client, "connector", {**connector_answers(q), "real_connector": text})
    secret = await token(conn)

    response = await client.get(CSV.format(slug="connector"), headers=bearer(secret))

    assert parse_csv(response.text)[0]["answer.real_connector"] == text


async def test_an_empty_export_is_the_csv_header_alone_and_an_empty_jsonl(
    client, conn, questionnaires
):
    secret = await token(conn)

    as_csv = await client.get(CSV.format(slug="connector"), headers=bearer(secret))
    as_jsonl = await client.get(JSONL.format(slug="connector"), headers=bearer(secret))

    assert as_csv.status_code == as_jsonl.status_code == 200
    header = csvcells.csv_header(questionnaires["connector"].definition)
    assert as_csv.text == ",".join(header) + "\n"
    assert as_jsonl.text == ""


# --- filters --------------------------------------------------------------------------------------


async def test_filters_select_as_the_report_does(client, conn, questionnaires):
    q = questionnaires["connector"].definition
    tech = await submit(client, "connector", {**connector_answers(q), "industry": "Technology"})
    await submit(client, "connector", {**connector_answers(q), "industry": "Healthcare"})
    old = await submit(client, "connector", {**connector_answers(q), "industry": "Technology"})
    await conn.execute(
        "UPDATE response SET created_at = '2024-01-10T23:30:00Z' WHERE id = $1::uuid", old["id"]
    )
    await conn.execute("UPDATE response SET source = 'demo' WHERE id <> $1::uuid", old["id"])
    secret = await token(conn)

    async def ids(query: str) -> list[str]:
        url = JSONL.format(slug="connector") + query
        response = await client.get(url, headers=bearer(secret))
        assert response.status_code == 200, response.text
        return [line["id"] for line in parse_jsonl(response.text)]

    assert await ids("") == [old["id"]]  # demo responses only when asked for
    assert len(await ids("?include_demo=true")) == 3
    assert await ids("?include_demo=true&industry=Technology") == [old["id"], tech["id"]]
    assert await ids("?include_demo=true&from=2024-01-10&to=2024-01-10") == [old["id"]]
    assert await ids("?include_demo=true&to=2024-01-09") == []
    assert await ids("?include_demo=true&from=2024-01-11&industry=Technology") == [tech["id"]]
    assert await ids("?version=000000000000") == []


async def test_a_bad_filter_is_a_422_listing_each_problem(client, conn):
    secret = await token(conn)

    response = await client.get(
        CSV.format(slug="connector") + "?from=yesterday&colour=red", headers=bearer(secret)
    )

    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"from", "colour"}


async def test_an_unknown_questionnaire_is_a_404(client, conn):
    secret = await token(conn)

    response = await client.get(CSV.format(slug="nope"), headers=bearer(secret))

    assert response.status_code == 404


# --- access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [CSV, JSONL])
async def test_without_a_token_an_export_is_401(client, url):
    response = await client.get(url.format(slug="connector"))

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("url", [CSV, JSONL])
async def test_a_token_without_the_reports_scope_is_403(client, conn, url):
    secret = await token(conn, ("submit",))

    response = await client.get(url.format(slug="connector"), headers=bearer(secret))

    assert response.status_code == 403


@pytest.mark.parametrize("url", [CSV, JSONL])
async def test_a_revoked_token_is_401(client, conn, url):
    secret = await token(conn)
    await conn.execute("UPDATE researcher_token SET revoked_at = now()")

    response = await client.get(url.format(slug="connector"), headers=bearer(secret))

    assert response.status_code == 401


# --- streaming ------------------------------------------------------------------------------------


async def asgi_get(
    app, url: str, headers: dict[str, str], hang_up_after: int | None = None
) -> tuple[int, list[bytes]]:
    """GET through the ASGI interface, keeping each body message as the app sent it; with
    `hang_up_after`, the client disconnects once that many non-empty ones have arrived."""
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    requested = False
    done = anyio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client stays until the response is complete, or hangs up
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()
        if hang_up_after is not None and sum(1 for m in sent if m.get("body")) == hang_up_after:
            done.set()

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, [m["body"] for m in sent if m["type"] == "http.response.body" and m["body"]]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_a_large_export_streams_a_batch_at_a_time(app, client, conn, questionnaires, fmt):
    count = 20_000
    await insert_demo(conn, questionnaires["connector"], count, days=30, seed=1)
    secret = await token(conn)
    url = (CSV if fmt == "csv" else JSONL).format(slug="connector") + "?include_demo=true"

    # The app runs in the test client's event loop (its pool belongs to that loop).
    status, chunks = client.blocking_portal.call(
        asgi_get, app, url, {"authorization": f"Bearer {secret}"}
    )

    assert status == 200
    body = b"".join(chunks)
    assert body.count(b"\n") == count + (1 if fmt == "csv" else 0)
    # Many body messages, none more than a small part: the export is never held whole.
    # JSONL goes a cursor batch at a time; CSV as PostgreSQL's COPY hands it over.
    parts = count // EXPORT_BATCH if fmt == "jsonl" else 20
    assert len(chunks) >= parts
    assert max(len(c) for c in chunks) < 1.5 * len(body) / parts


async def insert_response(pool: Any, loaded: Loaded) -> str:
    """A response stored on a connection of the app's own pool (in the app's event loop)."""
    new = responses.NewResponse(
        id=uuid.uuid4(),
        slug=loaded.definition.slug,
        version=loaded.version,
        source="api",
        answers=connector_answers(loaded.definition),
        dimensions={},
        index_score=None,
        profile=None,
        quote_consent=False,
        result_token_hash=uuid.uuid4().bytes,
    )
    async with pool.acquire() as conn:
        await responses.insert_response(conn, new)
    return str(new.id)


def split_exports(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    """Make a CSV export of more than `rows` rows go over two connections, in ranges of
    `rows`, as a large one does (exports.copy_export_csv)."""
    monkeypatch.setattr(exports, "EXPORT_RANGE_ROWS", rows)
    monkeypatch.setattr(exports, "_EDGE_SAMPLE_PERCENT", 100)


@pytest.mark.parametrize(
    ("fmt", "gzipped", "after", "split"),  # hang up after this many body messages
    [
        ("csv", False, 2, False),
        ("csv", False, 5, False),
        ("csv", True, 2, False),
        ("csv", True, 5, False),
        ("csv", False, 2, True),
        ("csv", True, 5, True),
        ("jsonl", False, 2, False),  # 12,000 rows are three batches
        ("jsonl", True, 2, False),
    ],
)
async def test_an_export_the_client_abandons_gives_its_connection_back(
    app, client, conn, questionnaires, caplog, monkeypatch, fmt, gzipped, after, split
):
    caplog.set_level(logging.WARNING)
    if split:
        split_exports(monkeypatch, 500)
    await insert_demo(conn, questionnaires["connector"], 12_000, days=30, seed=2)
    secret = await token(conn)
    url = (CSV if fmt == "csv" else JSONL).format(slug="connector")
    headers = {"Authorization": f"Bearer {secret}"}
    if gzipped:
        headers["Accept-Encoding"] = "gzip"

    _, bodies = client.blocking_portal.call(
        asgi_get, app, url + "?include_demo=true", headers, after
    )

    pool = app.state.pool
    for _ in range(100):
        if pool.get_idle_size() == pool.get_size():
            break
        await anyio.sleep(0.05)
    assert pool.get_idle_size() == pool.get_size()
    # No query or transaction left running on the server (a COPY cut off by closing its
    # connection ends when the server next writes to it), and nothing went wrong on the way.
    for _ in range(100):
        busy = await conn.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND state <> 'idle'"""
        )
        if busy == 0:
            break
        await anyio.sleep(0.05)
    assert busy == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    # And the service goes on: the next export works, and the abandoned one stopped early.
    whole = await client.get(url + "?include_demo=true", headers=bearer(secret))
    assert whole.status_code == 200
    assert sum(len(body) for body in bodies) < len(whole.content)  # it stopped early


async def test_a_csv_export_split_over_two_connections_is_the_same_bytes(
    app, client, conn, questionnaires, monkeypatch
):
    await insert_demo(conn, questionnaires["connector"], 3_000, days=30, seed=3)
    secret = await token(conn)
    url = CSV.format(slug="connector") + "?include_demo=true"
    alone = await client.get(url, headers=bearer(secret))
    split_exports(monkeypatch, 100)  # about thirty ranges
    late: list[str] = []
    keep = exports._copy_range
    loaded = questionnaires["connector"]

    used: list[int] = []

    async def copy_range(conn: Any, *args: Any) -> int:
        # A response that arrives once the export has begun is not in it, on either connection.
        if not late:
            late.append(await insert_response(app.state.pool, loaded))
        used.append(id(conn))
        return await keep(conn, *args)

    monkeypatch.setattr(exports, "_copy_range", copy_range)

    shared = await client.get(url, headers=bearer(secret))

    assert shared.status_code == alone.status_code == 200
    assert shared.content == alone.content
    assert shared.text.count("\n") == 3_001
    assert len(used) >= 20 and len(set(used)) == 2  # ranges, on two connections
    assert late and late[0] not in shared.text
    assert late[0] in (await client.get(url, headers=bearer(secret))).text
    assert app.state.pool.get_idle_size() == app.state.pool.get_size()


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("identity", False),
        ("gzip;q=0", False),
        ("br", False),
    ],
)
async def test_an_export_is_gzipped_when_the_client_accepts_it(
    client, conn, questionnaires, accept, gzipped
):
    await insert_demo(conn, questionnaires["connector"], 300, days=30, seed=4)
    secret = await token(conn)
    url = CSV.format(slug="connector") + "?include_demo=true"

    plain = await client.get(url, headers={**bearer(secret), "Accept-Encoding": "identity"})
    async with client.stream(
        "GET", url, headers={**bearer(secret), "Accept-Encoding": accept}
    ) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])

    assert "content-encoding" not in plain.headers
    assert response.headers.get("content-encoding") == ("gzip" if gzipped else None)
    assert "Accept-Encoding" in response.headers["vary"]
    assert (gzip.decompress(raw) if gzipped else raw) == plain.content
    assert len(parse_csv(plain.text)) == 300


async def test_the_order_a_randomised_section_was_shown_in_is_exported(
    client, conn, questionnaires
) -> None:
    loaded = questionnaires["conditional"]
    order = display.item_order(loaded.definition, 1234)
    assert order is not None
    answers = {"introduces": "No", "ask_first": 3, "ask_follow": 3}
    await intake.submit(
        conn, loaded, Submission(answers=answers), source="web", secret="s", item_order=order
    )
    await submit(client, "conditional", answers)  # through the API: no order
    secret = await token(conn)

    csv_export = await client.get(CSV.format(slug="conditional"), headers=bearer(secret))
    rows = parse_csv(csv_export.text)
    assert list(rows[0])[-2 - len(csvcells.QUALITY_COLUMNS)] == "item_order"  # then channel
    assert [r["item_order"] for r in rows] == [" ".join(order), ""]
    jsonl = await client.get(JSONL.format(slug="conditional"), headers=bearer(secret))
    lines = parse_jsonl(jsonl.text)
    assert lines[0]["item_order"] == order and "item_order" not in lines[1]

    await submit(client, "connector", connector_answers(questionnaires["connector"].definition))
    plain = await client.get(CSV.format(slug="connector"), headers=bearer(secret))
    assert "item_order" not in plain.text.partition("\n")[0]


async def test_a_csv_export_for_excel_starts_with_a_byte_order_mark_and_nothing_else_does(
    client, conn, questionnaires
):
    q = questionnaires["connector"].definition
    await submit(client, "connector", {**connector_answers(q, 4), "industry": "Technology"})
    secret = await token(conn)
    url = CSV.format(slug="connector")
    plain = await client.get(url, headers=bearer(secret))
    excel = await client.get(url, params={"bom": "true"}, headers=bearer(secret))
    assert excel.status_code == 200
    assert excel.content.startswith(b"\xef\xbb\xbf") and not plain.content.startswith(b"\xef")
    assert excel.content[3:] == plain.content  # the same file after the mark
    rows = list(csv.DictReader(io.StringIO(excel.content.decode("utf-8-sig"))))
    assert list(rows[0]) == csvcells.csv_header(q) and len(rows) == 1
    bad = await client.get(url, params={"bom": "maybe"}, headers=bearer(secret))
    assert bad.status_code == 400 and "bom" in bad.text
    jsonl = await client.get(JSONL.format(slug="connector"), params={"bom": "true"},
                             headers=bearer(secret))  # fmt: skip
    assert jsonl.status_code in (400, 422)  # not a JSONL parameter: a filter it is not
