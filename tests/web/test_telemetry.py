"""Request ids, log lines and /metrics, through the app on a real database.

The log lines are those the real handler would write: survey.logs' JSON formatter and
request-id filter on a handler of the root logger, as `survey serve` sets them up.
`tests/test_serve_telemetry.py` checks the same through `survey serve` and its workers.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from survey import logs
from survey.core.model import LikertItem, Loaded
from survey.web.app import create_app

pytestmark = pytest.mark.anyio

SUBMIT = "/api/v1/questionnaires/connector/responses"


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every line the app logged during the test, each parsed as the one JSON object it must be.

    Only the app's loggers (`survey.*`): the test client logs the URLs it requests.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestIdFilter())
    survey = logging.getLogger("survey")
    level = survey.level
    survey.addHandler(handler)
    survey.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    survey.removeHandler(handler)
    survey.setLevel(level)


def full_answers(loaded: Loaded, text: str) -> dict[str, Any]:
    answers: dict[str, Any] = {
        item.id: 4 for item in loaded.definition.items if isinstance(item, LikertItem)
    }
    return answers | {"why_collect": text, "industry": "Technology"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def requests_total(text: str, method: str, route: str, status: int) -> float:
    labels = frozenset({"method": method, "route": route, "status": str(status)}.items())
    return samples(text).get(("survey_http_requests_total", labels), 0.0)


# --- request ids and log lines -----------------------------------------------------------------


async def test_a_request_id_sent_is_echoed_and_on_every_log_line_of_that_request(app, log_lines):
    @get("/test/logs-a-line", sync_to_thread=False)
    def logs_a_line() -> str:
        logging.getLogger("survey.web.pages").warning("inside the handler")
        return "ok"

    app.register(logs_a_line)
    async with AsyncTestClient(app=app) as client:
        response = await client.get(
            "/test/logs-a-line?industry=Technology", headers={"X-Request-ID": "req-abc.123"}
        )
        other = await client.get("/healthz")

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-abc.123"
    lines = [line for line in log_lines() if line.get("request_id") == "req-abc.123"]
    inside, access = lines
    assert inside["message"] == "inside the handler"
    assert inside["logger"] == "survey.web.pages"
    assert inside["level"] == "warning"
    assert access["logger"] == "survey.access"
    assert access["method"] == "GET"
    assert access["path"] == "/test/logs-a-line"  # the query string is never logged
    assert access["status"] == 200
    assert access["duration_ms"] >= 0
    assert {"timestamp", "level", "logger", "message"} <= access.keys()
    assert "industry" not in json.dumps(log_lines())
    # Another request has an id of its own, generated.
    generated = other.headers["x-request-id"]
    assert generated != "req-abc.123"
    assert len(generated) == 16
    assert [line["path"] for line in log_lines() if line.get("request_id") == generated] == [
        "/healthz"
    ]


@pytest.mark.parametrize(
    "sent", ["", "two words", "a" * 129, 'quote"d', "new\nline", "ünïcode", "-leading-dash"]
)
async def test_an_unsafe_request_id_is_replaced_by_a_generated_one(client, sent):
    response = await client.get("/healthz", headers={"X-Request-ID": sent.encode()})

    assert response.status_code == 200
    assert response.headers["x-request-id"] != sent
    assert len(response.headers["x-request-id"]) == 16


async def test_answers_and_client_addresses_never_reach_the_logs(client, questionnaires, log_lines):
    marker = f"marker-{secrets.token_hex(8)}"
    rejected_marker = f"marker-{secrets.token_hex(8)}"
    connector = questionnaires["connector"]

    accepted = await client.post(
        SUBMIT, json={"answers": full_answers(connector, marker), "consent": True}
    )
    rejected = await client.post(
        SUBMIT, json={"answers": {"why_collect": rejected_marker, "no_such_item": rejected_marker}}
    )
    shown = await client.get(f"/r/{accepted.json()['result_token']}")

    assert accepted.status_code == 201, accepted.text
    assert rejected.status_code == 422
    assert shown.status_code == 200
    output = json.dumps(log_lines())
    assert marker not in output
    assert rejected_marker not in output
    assert "testclient" not in output  # the test client's address
    # The private result link is a secret too: its token is masked in the access line.
    assert accepted.json()["result_token"] not in output
    paths = [line["path"] for line in log_lines() if line["logger"] == "survey.access"]
    assert paths == [SUBMIT, SUBMIT, "/r/***"]


async def test_an_unrouted_path_gets_a_request_id_and_an_access_line(client, log_lines):
    response = await client.get("/no/such/page", headers={"X-Request-ID": "lost-1"})

    assert response.status_code == 404
    assert response.headers["x-request-id"] == "lost-1"
    [access] = [line for line in log_lines() if line.get("request_id") == "lost-1"]
    assert (access["path"], access["status"]) == ("/no/such/page", 404)


def test_an_exception_is_logged_on_one_line_with_its_traceback():
    formatter = logs.JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("survey").makeRecord(
            "survey", logging.ERROR, __file__, 1, "failed: %s", ("x",), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()

    line = formatter.format(record)

    assert "\n" not in line
    entry = msgspec.json.decode(line)
    assert entry["message"] == "failed: x"
    assert entry["level"] == "error"
    assert "ValueError: boom" in entry["exception"]
    assert "request_id" not in entry  # logged outside any request


def test_text_lines_carry_the_request_id_in_brackets():
    record = logging.makeLogRecord({"name": "survey.access", "msg": "GET /healthz 200 1.0ms"})
    record.request_id = "req-9"

    assert (
        logs.TextFormatter()
        .format(record)
        .endswith(" survey.access [req-9] GET /healthz 200 1.0ms")
    )


# --- metrics ------------------------------------------------------------------------------------


async def test_metrics_count_requests_by_route_template_and_status(client):
    before = (await client.get("/metrics")).text
    for _ in range(3):
        assert (await client.get("/api/v1/questionnaires/connector")).status_code == 200
    assert (await client.get("/api/v1/questionnaires/nope")).status_code == 404
    assert (await client.get("/no/such/page")).status_code == 404
    response = await client.get("/metrics")
    after = response.text

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    route = "/api/v1/questionnaires/{slug}"
    assert requests_total(after, "GET", route, 200) - requests_total(before, "GET", route, 200) == 3
    assert requests_total(after, "GET", route, 404) - requests_total(before, "GET", route, 404) == 1
    assert requests_total(after, "GET", "unmatched", 404) == 1
    assert requests_total(after, "GET", "/metrics", 200) >= 1
    # Route templates only, never a raw path.
    assert "/api/v1/questionnaires/connector" not in after
    assert "/api/v1/questionnaires/nope" not in after
    assert "/no/such/page" not in after
    histogram = frozenset({"method": "GET", "route": route, "status": "200", "le": "+Inf"}.items())
    assert samples(after)[("survey_http_request_duration_seconds_bucket", histogram)] == 3


async def test_metrics_count_accepted_and_rejected_submissions(client, questionnaires):
    connector = questionnaires["connector"]

    await client.post(SUBMIT, json={"answers": full_answers(connector, "x"), "consent": True})
    await client.post(SUBMIT, json={"answers": full_answers(connector, "y"), "consent": True})
    await client.post(SUBMIT, json={"answers": {"no_such_item": 1}})
    await client.post(SUBMIT, content=b"{not json")
    await client.post("/api/v1/questionnaires/nope/responses", json={"answers": {}})
    text = (await client.get("/metrics")).text

    def submissions(outcome: str) -> float:
        labels = {"questionnaire": "connector", "source": "api", "outcome": outcome}
        return samples(text).get(("survey_submissions_total", frozenset(labels.items())), 0.0)

    assert submissions("accepted") == 2
    assert submissions("rejected") == 2
    assert "nope" not in text  # an unknown questionnaire never becomes a label


async def test_metrics_show_the_connection_pool(client, settings):
    text = (await client.get("/metrics")).text
    values = {name: value for (name, labels), value in samples(text).items() if not labels}

    assert values["survey_db_pool_max"] == settings.pool_size
    assert 1 <= values["survey_db_pool_size"] <= settings.pool_size
    assert 0 <= values["survey_db_pool_in_use"] <= values["survey_db_pool_size"]


async def test_metrics_are_not_in_the_openapi_document(client):
    schema = (await client.get("/schema/openapi.json")).json()

    assert "/metrics" not in schema["paths"]


async def test_with_a_metrics_token_metrics_need_it(settings, questionnaires):
    token = secrets.token_urlsafe(16)
    app: Litestar = create_app(
        msgspec.structs.replace(settings, metrics_token=token), questionnaires
    )

    async with AsyncTestClient(app=app) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})

    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert right.status_code == 200
    assert "survey_http_requests_total" in right.text


async def test_a_result_token_is_masked_even_where_no_route_parsed_it(client, log_lines):
    token = f"S3cr3t{secrets.token_hex(12)}"

    answers = [
        await client.get(f"/r/{token}/delete"),  # a link preview fetching the delete link
        await client.patch(f"/r/{token}"),
        await client.put(f"/api/v1/results/{token}"),
        await client.get(f"/api/v1/results/{token}/more"),
    ]

    assert [a.status_code for a in answers] == [405, 405, 405, 404]
    assert token not in json.dumps(log_lines())
    paths = [line["path"] for line in log_lines() if line["logger"] == "survey.access"]
    assert paths == ["/r/***/delete", "/r/***", "/api/v1/results/***", "/api/v1/results/***/more"]
