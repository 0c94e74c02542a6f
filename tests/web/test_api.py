"""The JSON API against a real database: scoring, errors, idempotency, results."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from survey.core.model import (
    ChoiceItem,
    LikertItem,
    Loaded,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    TextItem,
)
from tests.support import exact_scores, shown_items

pytestmark = pytest.mark.anyio


def random_answers(q: Questionnaire, rng: random.Random, share: float) -> dict[str, Any]:
    """Each optional item answered with probability `share`; every value valid."""
    answers: dict[str, Any] = {}
    for item in q.items:
        if not item.required and rng.random() > share:
            continue
        match item:
            case LikertItem(scale=scale):
                na = q.scales[scale].na is not None and rng.random() < 0.15
                answers[item.id] = "na" if na else rng.choice(q.scales[scale].points)
            case ChoiceItem(options=options):
                answers[item.id] = rng.choice(options)
            case MultiChoiceItem(options=options):
                answers[item.id] = rng.sample(options, rng.randint(1, len(options)))
            case NumberItem(min=low, max=high):
                answers[item.id] = rng.randint(int(low or 0), int(high if high is not None else 99))
            case TextItem():
                answers[item.id] = rng.choice(["", "Listening first.", "<b>bold</b> & 'quotes'"])
    return answers


def full_answers(q: Questionnaire, value: str = "max") -> dict[str, Any]:
    pick = max if value == "max" else min
    return {i.id: pick(q.scales[i.scale].points) for i in q.likert_items()}


async def count_responses(conn) -> int:
    return await conn.fetchval("SELECT count(*) FROM response")


async def test_the_list_names_every_questionnaire_with_its_version_and_item_count(
    client, questionnaires
):
    response = await client.get("/api/v1/questionnaires")
    assert response.status_code == 200
    listed = {q["slug"]: q for q in response.json()}
    connector = questionnaires["connector"]
    assert listed["connector"] == {
        "slug": "connector",
        "title": connector.definition.title,
        "version": connector.version,
        "items": len(connector.definition.items),
    }
    assert "teamwork" in listed


async def test_a_definition_comes_back_as_json_with_its_version(client, questionnaires):
    response = await client.get("/api/v1/questionnaires/teamwork")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == questionnaires["teamwork"].version
    assert body["scales"]["agree6"]["values"] == [1, 2, 3, 4, 5, 6]
    assert body["sections"][0]["items"][0]["type"] == "likert"
    # What would tell a script how to pass the quality checks is not published.
    assert "quality" not in body
    assert not any("check" in i for s in body["sections"] for i in s["items"])


@pytest.mark.parametrize("slug", ["connector", "teamwork", "conditional"])
async def test_api_scores_match_design_on_random_partial_answer_sets(client, questionnaires, slug):
    loaded: Loaded = questionnaires[slug]
    q = loaded.definition
    rng = random.Random(f"scores-{slug}")
    exercised: Counter[str] = Counter()
    for n in range(40):
        answers = random_answers(q, rng, share=rng.choice([1.0, 0.9, 0.7, 0.5, 0.2]))
        body = {"answers": answers, "consent": True}
        response = await client.post(f"/api/v1/questionnaires/{slug}/responses", json=body)
        assert response.status_code == 201, (n, response.json())
        got = response.json()
        exact_dims, exact_index = exact_scores(q, answers)
        dims = {k: None if v is None else float(v) for k, v in exact_dims.items()}
        index = None if exact_index is None else float(exact_index)
        shown = shown_items(q, answers)
        assert got["ignored"] == [k for k, v in answers.items() if k not in shown and v != ""]
        exercised.update(
            na="na" in answers.values(), ignored=bool(got["ignored"]), skipped=len(answers) < 10
        )
        assert got["version"] == loaded.version
        for dim, expected in dims.items():
            if expected is None:
                assert got["dimensions"][dim] is None, (n, dim)
            else:
                assert got["dimensions"][dim] == pytest.approx(expected, abs=0.05 + 1e-9), (n, dim)
        if index is None:
            assert got["index"] is None
            assert got["complete"] is False
            assert got["profile"] is None
        else:
            assert got["index"] == pytest.approx(index, abs=0.05 + 1e-9)
            assert got["complete"] is True
            assert got["profile"] is not None
    if slug != "teamwork":  # the questionnaires with N/A answers and display conditions
        assert exercised["na"] and exercised["ignored"] and exercised["skipped"], exercised


async def test_full_precision_is_stored_while_the_api_rounds(client, conn, questionnaires):
    q = questionnaires["teamwork"].definition
    # trust: rely_on=4 → 60, hide_mistakes (reverse) 2 → keyed 5 → 80, ask_help=3 → 40,
    # guarded (reverse) 4 → keyed 3 → 40: mean 55.
    # candour: say_disagree=5 → 80, hard_feedback=6 → 100, nod_along (reverse) 3 → 4 → 60: 80.
    # follow_through: keep_promises=5 → 80, dropped_actions (reverse) 1 → 6 → 100,
    # flag_early=2 → 20: mean 66.666…; index (2·55 + 80 + 66.666…) / 4 = 64.1666…
    answers = {
        "rely_on": 4, "hide_mistakes": 2, "ask_help": 3, "guarded": 4,
        "say_disagree": 5, "hard_feedback": 6, "nod_along": 3,
        "keep_promises": 5, "dropped_actions": 1, "flag_early": 2,
    }  # fmt: skip
    assert {i.id for i in q.likert_items()} == set(answers)
    response = await client.post(
        "/api/v1/questionnaires/teamwork/responses", json={"answers": answers}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["dimensions"] == {"trust": 55.0, "candour": 80.0, "follow_through": 66.7}
    assert body["index"] == 64.2
    row = await conn.fetchrow("SELECT dimensions, index_score FROM response")
    assert row["dimensions"]["follow_through"] == pytest.approx(200 / 3, abs=1e-12)
    assert row["index_score"] == pytest.approx(64.1666666666, abs=1e-9)


async def test_the_private_link_shows_the_result_and_delete_erases_it(client, conn, questionnaires):
    q = questionnaires["connector"].definition
    posted = await client.post(
        "/api/v1/questionnaires/connector/responses",
        json={"answers": full_answers(q), "consent": True},
    )
    receipt = posted.json()
    assert receipt["result_url"] == f"/r/{receipt['result_token']}"
    assert len(receipt["result_token"]) >= 22  # at least 128 bits, url-safe base64
    token_in_db = await conn.fetchval(
        "SELECT count(*) FROM response WHERE result_token_hash = $1::text::bytea",
        receipt["result_token"],
    )
    assert token_in_db == 0  # only the hash is stored
    shown = await client.get(f"/api/v1/results/{receipt['result_token']}")
    assert shown.status_code == 200
    assert shown.json()["id"] == receipt["id"]
    assert shown.json()["index"] == receipt["index"]
    assert (await client.delete(f"/api/v1/results/{receipt['result_token']}")).status_code == 204
    assert await count_responses(conn) == 0
    gone = await client.get(f"/api/v1/results/{receipt['result_token']}")
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert (await client.delete(f"/api/v1/results/{receipt['result_token']}")).status_code == 404


BAD_SUBMISSIONS = [
    # (description, body, status, fields named in `errors`)
    ("malformed JSON", b'{"answers": {', 400, []),
    ("not JSON at all", b"answers=1", 400, []),
    ("answers not an object", b'{"answers": 5, "consent": true}', 422, ["answers"]),
    ("unknown top-level field", b'{"answers": {}, "consent": true, "x": 1}', 422, ["$"]),
    ("unknown item", b'{"answers": {"nope": 1}, "consent": true}', 422, ["answers.nope"]),
    ("likert off the scale", b'{"answers": {"say_why": 6}, "consent": true}', 422,
     ["answers.say_why"]),
    ("likert as text", b'{"answers": {"say_why": "5"}, "consent": true}', 422, ["answers.say_why"]),
    ("likert as bool", b'{"answers": {"say_why": true}, "consent": true}', 422,
     ["answers.say_why"]),
    ("likert as object", b'{"answers": {"say_why": {"$gt": 1}}, "consent": true}', 422,
     ["answers.say_why"]),
    ("choice not an option", b'{"answers": {"industry": "Piracy"}, "consent": true}', 422,
     ["answers.industry"]),
    ("number out of range", b'{"answers": {"years_experience": 61}, "consent": true}', 422,
     ["answers.years_experience"]),
    ("number not whole", b'{"answers": {"years_experience": 2.5}, "consent": true}', 422,
     ["answers.years_experience"]),
    ("huge number", b'{"answers": {"years_experience": 1e308}, "consent": true}', 422,
     ["answers.years_experience"]),
    ("multi choice with a stranger", b'{"answers": {"platforms": ["LinkedIn", "Myspace"]}, '
     b'"consent": true}', 422, ["answers.platforms"]),
    ("text too long", b'{"answers": {"why_collect": "' + b"x" * 2001 + b'"}, "consent": true}', 422,
     ["answers.why_collect"]),
    ("consent missing", b'{"answers": {"say_why": 5}}', 422, ["consent"]),
    ("several problems at once", b'{"answers": {"say_why": 9, "nope": 1}}', 422,
     ["answers.nope", "answers.say_why", "consent"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [pytest.param(b, s, f, id=d) for d, b, s, f in BAD_SUBMISSIONS],
)
async def test_bad_submissions_get_their_status_and_name_the_field(
    client, conn, body, status, fields
):
    response = await client.post(
        "/api/v1/questionnaires/connector/responses",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert sorted(e["field"] for e in problem["errors"]) == sorted(fields)
    assert all(e["message"] for e in problem["errors"])
    assert await count_responses(conn) == 0


async def test_an_unknown_questionnaire_is_404(client):
    response = await client.post("/api/v1/questionnaires/nope/responses", json={"answers": {}})
    assert response.status_code == 404
    assert response.json()["status"] == 404
    assert (await client.get("/api/v1/questionnaires/nope")).status_code == 404


async def test_a_body_over_one_megabyte_is_413_and_nothing_is_stored(client, conn):
    body = b'{"answers": {"why_collect": "' + b"x" * (1024 * 1024) + b'"}, "consent": true}'
    response = await client.post(
        "/api/v1/questionnaires/connector/responses",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await count_responses(conn) == 0


async def test_twenty_concurrent_retries_with_one_key_store_one_response(
    live_server, conn, questionnaires
):
    q = questionnaires["connector"].definition
    body = {"answers": full_answers(q), "consent": True}
    headers = {"Idempotency-Key": "retry-7f3a"}
    url = f"{live_server}/api/v1/questionnaires/connector/responses"
    async with httpx.AsyncClient(timeout=30) as http:
        responses = await asyncio.gather(
            *[http.post(url, json=body, headers=headers) for _ in range(20)]
        )
        assert [r.status_code for r in responses] == [201] * 20
        assert len({r.json()["id"] for r in responses}) == 1
        assert len({r.json()["result_token"] for r in responses}) == 1
        assert await count_responses(conn) == 1

        # The token a retry returns opens the result, although only its hash is stored.
        token = responses[0].json()["result_token"]
        assert (await http.get(f"{live_server}/api/v1/results/{token}")).status_code == 200

        other = {"answers": full_answers(q, "min"), "consent": True}
        conflict = await http.post(url, json=other, headers=headers)
        assert conflict.status_code == 422
        assert "Idempotency-Key" in conflict.json()["title"]
        assert await count_responses(conn) == 1

        fresh = await http.post(url, json=other, headers={"Idempotency-Key": "another"})
        assert fresh.status_code == 201
        assert await count_responses(conn) == 2


async def test_the_openapi_document_names_every_status_of_the_submit_route(client):
    schema = (await client.get("/schema/openapi.json")).json()
    submit = schema["paths"]["/api/v1/questionnaires/{slug}/responses"]["post"]
    assert set(submit["responses"]) >= {"201", "400", "404", "413", "422", "429", "503"}
    assert "answers" in submit["requestBody"]["content"]["application/json"]["schema"]["properties"]
    results = schema["paths"]["/api/v1/results/{token}"]
    assert set(results["get"]["responses"]) >= {"200", "404", "503"}
    assert set(results["delete"]["responses"]) >= {"204", "404", "503"}


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_when_the_database_refuses_connections_submissions_get_503_with_retry_after(
    client, server_url, database_url, questionnaires
):
    import asyncpg

    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        q = questionnaires["teamwork"].definition
        response = await client.post(
            "/api/v1/questionnaires/teamwork/responses", json={"answers": full_answers(q)}
        )
        assert response.status_code == 503
        assert response.headers["retry-after"].isdigit()
        assert response.json()["status"] == 503
        assert "Traceback" not in response.text
        assert (await client.get("/readyz")).status_code == 503
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
    # Service comes back by itself.
    response = await client.post(
        "/api/v1/questionnaires/teamwork/responses", json={"answers": full_answers(q)}
    )
    assert response.status_code == 201


async def test_too_many_submissions_from_one_client_get_429_with_retry_after(
    settings, questionnaires
):
    import msgspec
    from litestar.testing import AsyncTestClient

    from survey.web.app import create_app

    limited = create_app(msgspec.structs.replace(settings, rate_limit=3), questionnaires)
    body = {"answers": full_answers(questionnaires["teamwork"].definition)}
    async with AsyncTestClient(app=limited) as client:
        statuses = []
        for _ in range(4):
            r = await client.post("/api/v1/questionnaires/teamwork/responses", json=body)
            statuses.append(r.status_code)
        assert statuses == [201, 201, 201, 429]
        assert int(r.headers["retry-after"]) > 0
        assert r.headers["content-type"].startswith("application/problem+json")
        # Reading is not limited.
        assert (await client.get("/api/v1/questionnaires")).status_code == 200
