"""The bulk import over HTTP: NDJSON in, every good line stored with its score, every bad line
reported with its number and reasons, and the scope guard."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from typing import Any

import httpx
import pytest

from survey.core import scoring
from survey.core.submission import Submission
from survey.flows import ingest
from survey.flows.ingest import ScoringPool, import_ndjson, lines_of
from survey.flows.researchers import create_token
from survey.store import versions
from survey.web import exports

pytestmark = pytest.mark.anyio

IMPORT = "/api/v1/questionnaires/{slug}/responses/import"


async def token(conn, scopes: tuple[str, ...] = ("submit",), name: str = "importer") -> str:
    _, secret = await create_token(conn, name, list(scopes))
    return secret


def headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-ndjson"}


def line(answers: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"answers": answers, "consent": True, **extra})


def teamwork(value: int = 4, **more: Any) -> dict[str, Any]:
    required = ["rely_on", "hide_mistakes", "say_disagree", "nod_along", "keep_promises"]
    return {**dict.fromkeys(required, value), "dropped_actions": value, **more}


async def post(client, secret: str, body: str | bytes, slug: str = "teamwork"):
    return await client.post(IMPORT.format(slug=slug), content=body, headers=headers(secret))


async def test_good_and_bad_lines_mixed_every_good_one_stored_every_bad_one_reported(
    client, conn, questionnaires
):
    secret = await token(conn)
    body = "\n".join(
        [
            line(teamwork(6, team_size=8)),  # 1 good
            line(teamwork(1), quote_consent=True),  # 2 good
            "",  # 3 blank: skipped, but counted
            '{"answers": {"rely_on": 4',  # 4 malformed JSON
            line({"rely_on": 9, "colour": "red"}),  # 5 off the scale, unknown, missing
            "   ",  # 6 blank
            json.dumps({"answers": teamwork(), "consent": True, "extra": 1}),  # 7 unknown field
            json.dumps({"answers": [1, 2]}),  # 8 wrong shape
            line(teamwork(3, one_change="Shorter meetings.")),  # 9 good
            "[1, 2, 3]",  # 10 not an object
            line(teamwork(2)),  # 11 good, and no newline at the end
        ]
    )

    response = await post(client, secret, body)

    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["accepted"] == 4
    assert summary["rejected_count"] == 5
    rejected = {r["line"]: r["errors"] for r in summary["rejected"]}
    assert sorted(rejected) == [4, 5, 7, 8, 10]
    assert rejected[4][0]["field"] == "$"
    assert rejected[4][0]["message"].startswith("malformed JSON")
    assert {e["field"] for e in rejected[5]} == {
        "answers.colour",
        "answers.rely_on",
        "answers.hide_mistakes",
        "answers.say_disagree",
        "answers.nod_along",
        "answers.keep_promises",
        "answers.dropped_actions",
    }
    assert "extra" in rejected[7][0]["message"]
    assert rejected[8] == [{"field": "answers", "message": "Expected `object`, got `array`"}]
    assert rejected[10][0]["field"] == "$"

    rows = await conn.fetch("SELECT * FROM response ORDER BY index_score DESC")
    assert len(rows) == 4
    assert {r["source"] for r in rows} == {"import"}
    assert {r["version"] for r in rows} == {questionnaires["teamwork"].version}
    assert rows[0]["answers"] == teamwork(6, team_size=8)
    assert len({r["result_token_hash"] for r in rows}) == 4
    assert all(len(r["result_token_hash"]) == 32 for r in rows)
    assert [r["answers"] for r in rows if r["quote_consent"]] == [teamwork(1)]


async def test_imported_scores_are_the_ones_the_core_computes(client, conn, questionnaires):
    loaded = questionnaires["connector"]
    q = loaded.definition
    answer_sets = [
        {i.id: (n + k) % 5 + 1 for k, i in enumerate(q.likert_items())} for n in range(7)
    ]
    answer_sets.append({"say_why": 5})  # too few answers: stored, but incomplete
    secret = await token(conn)

    response = await post(
        client, secret, "\n".join(line(a) for a in answer_sets) + "\n", slug="connector"
    )

    assert response.json() == {"accepted": 8, "rejected": [], "rejected_count": 0}
    stored = {
        json.dumps(r["answers"], sort_keys=True): r
        for r in await conn.fetch("SELECT * FROM response")
    }
    for answers in answer_sets:
        # Stored as shown: answers to questions hidden by an earlier answer are dropped.
        kept = scoring.normalise(q, Submission(answers=answers).answers)
        row = stored[json.dumps(kept, sort_keys=True)]
        score = scoring.score(q, kept)
        assert row["dimensions"] == score.dimensions
        assert row["index_score"] == score.index
        assert row["complete"] == (score.index is not None)
        assert row["profile"] == (score.profile.id if score.profile else None)


async def test_answers_are_normalised_as_the_submit_api_stores_them(client, conn):
    secret = await token(conn)

    response = await post(client, secret, line(teamwork(4.0, team_size=12.0, department="")))

    assert response.json()["accepted"] == 1
    answers = await conn.fetchval("SELECT answers FROM response")
    assert answers == teamwork(4, team_size=12)
    assert all(type(v) is int for v in answers.values())


async def test_a_file_of_windows_lines_with_a_byte_order_mark_imports(client, conn):
    secret = await token(conn)
    body = "\ufeff" + "\r\n".join([line(teamwork(5)), "", line(teamwork(2))]) + "\r\n"

    response = await post(client, secret, body.encode())

    assert response.json() == {"accepted": 2, "rejected": [], "rejected_count": 0}


@pytest.mark.parametrize("body", [b"", b"\n  \n\r\n"], ids=["empty", "blank lines"])
async def test_an_import_with_no_lines_is_refused_as_a_problem(client, conn, body):
    secret = await token(conn)

    response = await post(client, secret, body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "body", "message": "no submissions: send one JSON submission a line"}
    ]


async def test_an_import_whose_every_line_is_refused_is_a_422_listing_each_and_stores_nothing(
    client, conn
):
    secret = await token(conn)
    body = "\n".join([line({"rely_on": 9}), "", "[1, 2]"])

    response = await post(client, secret, body)

    assert response.status_code == 422
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields[0].startswith("line 1: ") and fields[-1].startswith("line 3")
    assert await conn.fetchval("SELECT count(*) FROM response") == 0


async def test_a_line_over_the_limit_is_rejected_by_number_and_the_rest_kept(
    client, conn, monkeypatch
):
    monkeypatch.setattr(ingest, "MAX_LINE", 200)
    secret = await token(conn)
    long = line(teamwork(4, one_change="x" * 300))
    body = "\n".join([line(teamwork(5)), long, line(teamwork(3))])

    response = await post(client, secret, body)

    summary = response.json()
    assert summary["accepted"] == 2
    assert summary["rejected"] == [
        {"line": 2, "errors": [{"field": "$", "message": "line longer than 200 bytes"}]}
    ]


async def test_lines_split_across_body_chunks_are_put_back_together(live_server, conn):
    secret = await token(conn)
    text = "\n".join(line(teamwork(n % 6 + 1)) for n in range(50)).encode()

    async def chunks():
        for start in range(0, len(text), 7):  # boundaries inside every line
            yield text[start : start + 7]

    async with httpx.AsyncClient(base_url=live_server) as http:
        response = await http.post(
            IMPORT.format(slug="teamwork"), content=chunks(), headers=headers(secret)
        )

    assert response.json() == {"accepted": 50, "rejected": [], "rejected_count": 0}


async def test_lines_are_numbered_across_chunks_counting_blank_ones_and_too_long_ones_are_none():
    async def chunks(*parts: bytes):
        for part in parts:
            yield part

    got = [
        item
        async for item in lines_of(
            chunks(b"ab", b"c\n\n  \nd", b"", b"ef\n0123456789", b"0123", b"\nlast"), 10
        )
    ]

    assert got == [(1, b"abc"), (4, b"def"), (5, None), (6, b"last")]


async def test_more_lines_than_one_copy_batch_are_all_stored(client, conn, monkeypatch):
    monkeypatch.setattr(ingest, "IMPORT_BATCH", 7)
    secret = await token(conn)
    body = "\n".join(line(teamwork(n % 6 + 1)) if n % 10 else "nope" for n in range(1, 101))

    response = await post(client, secret, body)

    summary = response.json()
    assert summary["accepted"] == 90
    assert [r["line"] for r in summary["rejected"]] == list(range(10, 101, 10))
    assert await conn.fetchval("SELECT count(*) FROM response") == 90


async def test_only_the_first_rejected_lines_are_listed_but_all_are_counted(
    client, conn, monkeypatch
):
    monkeypatch.setattr(ingest, "MAX_LISTED", 3)
    secret = await token(conn)

    response = await post(client, secret, "\n".join(["x"] * 10 + [line(teamwork())]))

    summary = response.json()
    assert summary["accepted"] == 1
    assert summary["rejected_count"] == 10
    assert [r["line"] for r in summary["rejected"]] == [1, 2, 3]


async def test_an_unknown_questionnaire_is_a_404(client, conn):
    secret = await token(conn)

    response = await post(client, secret, line(teamwork()), slug="nope")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_without_a_token_the_import_is_401_and_stores_nothing(client, conn):
    response = await client.post(IMPORT.format(slug="teamwork"), content=line(teamwork()))

    assert response.status_code == 401
    assert await conn.fetchval("SELECT count(*) FROM response") == 0


async def test_a_token_without_the_submit_scope_is_403(client, conn):
    secret = await token(conn, ("reports",))

    response = await post(client, secret, line(teamwork()))

    assert response.status_code == 403
    assert await conn.fetchval("SELECT count(*) FROM response") == 0


async def test_a_body_over_1_mb_is_taken_on_this_route(client, conn):
    secret = await token(conn)
    body = "\n".join([line(teamwork(4))] * 20_000)
    assert len(body) > 1024 * 1024

    response = await post(client, secret, body)

    assert response.status_code == 200
    assert response.json()["accepted"] == 20_000


async def test_a_body_announced_over_the_import_limit_is_413_before_it_is_read(app, client, conn):
    secret = await token(conn)
    sent: list[dict[str, Any]] = []

    async def asgi_post() -> None:
        path = IMPORT.format(slug="teamwork")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"authorization", f"Bearer {secret}".encode()),
                (b"content-length", str(exports.IMPORT_MAX_BODY + 1).encode()),
            ],
            "client": ("127.0.0.1", 1234),
            "server": ("testserver", 80),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": True}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)

    # The app runs in the test client's event loop (its pool belongs to that loop).
    client.blocking_portal.call(asgi_post)

    assert sent[0]["status"] == 413
    assert await conn.fetchval("SELECT count(*) FROM response") == 0


async def test_a_large_import_scored_in_worker_processes_stores_the_same_rows_in_file_order(
    conn, questionnaires
):
    # Batches of 7 lines: the first POOL_AFTER in a thread, the rest in the scoring pool.
    loaded = questionnaires["teamwork"]
    await versions.insert_questionnaire_versions(conn, [loaded])
    body = "\n".join(
        line(teamwork(n % 6 + 1, team_size=n)) if n % 10 else "nope" for n in range(1, 141)
    ).encode()

    async def chunks():
        yield body

    pool = ScoringPool(workers=2)
    try:
        summary = await import_ndjson(conn, loaded, chunks(), batch=7, pool=pool)
    finally:
        pool.shutdown()

    assert summary.accepted == 126
    assert [r.line for r in summary.rejected] == list(range(10, 141, 10))
    rows = await conn.fetch(
        "SELECT answers, dimensions, index_score FROM response ORDER BY created_at"
    )
    sizes = [n for n in range(1, 141) if n % 10]
    assert [row["answers"]["team_size"] for row in rows] == sizes  # in the file's order
    for row, n in zip(rows, sizes, strict=True):
        expected = scoring.score(loaded.definition, teamwork(n % 6 + 1, team_size=n))
        assert row["index_score"] == expected.index
        assert row["dimensions"] == expected.dimensions


async def test_a_scoring_pool_whose_workers_died_is_replaced_and_the_import_still_stores_all(
    conn, questionnaires
):
    loaded = questionnaires["teamwork"]
    await versions.insert_questionnaire_versions(conn, [loaded])
    body = "\n".join(line(teamwork(n % 6 + 1)) for n in range(1, 61)).encode()

    async def chunks():
        yield body

    pool = ScoringPool(workers=2)
    try:
        first = await import_ndjson(conn, loaded, chunks(), batch=5, pool=pool)
        broken = pool.executor
        for process in list(broken._processes.values()):  # as the OOM killer would
            # Once one is killed, the executor may take the others down itself, first.
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.join()
        second = await import_ndjson(conn, loaded, chunks(), batch=5, pool=pool)
    finally:
        pool.shutdown()

    assert first.accepted == second.accepted == 60
    assert pool.executor is not broken
    assert await conn.fetchval("SELECT count(*) FROM response") == 120
