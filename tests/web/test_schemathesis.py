"""Schemathesis fuzzes the JSON API against its own OpenAPI document, over real HTTP.

Every operation in the OpenAPI document is called with examples generated from it, valid and
deliberately invalid (schemathesis's examples, coverage and fuzzing phases), against a live
uvicorn server over a real database. Every response must pass all of schemathesis's checks, each
enabled as it is by default: no 5xx, a status the document names, a body, content type and
headers matching the document, invalid input rejected and valid input accepted, authentication
not ignored, a method the document does not name refused with a right `Allow` (only
max_response_time is off: it has no limit unless one is set). Two operations have one check
adjusted, each with the reason beside it. The researcher routes get a bearer token with both
scopes, so that they are exercised past their guard.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from prometheus_client.parser import text_string_to_metric_families
from schemathesis import Case

from survey.config import Settings
from survey.core import loader
from survey.core.model import Loaded
from survey.core.submission import Submission
from survey.core.tokens import new_researcher_token, new_result_token, token_hash
from survey.flows import intake
from survey.store import db, researchers
from survey.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]

# Examples per operation in the fuzzing phase; the coverage phase adds its own boundary cases.
MAX_EXAMPLES = 50

# The researcher token schemathesis sends. It is made here, at import, because the schema and its
# configuration are (the parametrized tests are built from them); each test's database is given
# its hash through the token store, so it is a real token, looked up as any other.
TOKEN = new_researcher_token()

# A stored response's private link, for the results routes to find (a random one meets only
# 404s). A result token derived from an Idempotency-Key is known before the response is stored.
RESULT_TOKEN = new_result_token("schemathesis", "connector", "schemathesis")


def _document() -> dict[str, object]:
    """The OpenAPI document of an app as the tests build it; no database is touched for it."""
    settings = Settings(
        database_url="postgresql://unused@127.0.0.1/unused",
        questionnaires_dir=str(ROOT / "questionnaires"),
        secret="unused",
    )
    app = create_app(settings, loader.load_dir(ROOT / "questionnaires"))
    return app.openapi_schema.to_schema()


DOCUMENT = _document()

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261126,  # the same examples on every run, so that a CI failure can be replayed
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        # A random slug or result token names nothing, so every request would meet a 404 before
        # its body or query was looked at (test_api and test_hostile cover unknown ones): send
        # the shipped questionnaire, and a stored response's private link.
        "parameters": {"path.slug": "connector", "path.token": RESULT_TOKEN},
        "auth": {"openapi": {"bearer": {"bearer": TOKEN}}},
        "operations": [
            {
                # A submission may match the document's schema and still break its
                # questionnaire's rules (an unknown item, a value off the scale, consent
                # missing), which one schema for every questionnaire cannot express: the
                # document's 422. Such a body is rightly refused, so positive_data_acceptance
                # counts 422 as an answer to schema-valid data here, and only here.
                "include-path": "/api/v1/questionnaires/{slug}/responses",
                "include-method": "POST",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "403", "404", "422", "429"]
                    }
                },
            },
            {
                # The bulk import's body is NDJSON text: a string that matches the document may
                # still hold no good submission, and an import that stores nothing is the
                # document's 422 listing every problem. Schema-violating bodies are refused as
                # any other operation's are.
                "include-path": "/api/v1/questionnaires/{slug}/responses/import",
                "include-method": "POST",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "403", "404", "413", "422"]
                    }
                },
            },
        ],
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@schemathesis.serializer("application/x-ndjson")
def ndjson(_: schemathesis.SerializationContext, value: object) -> bytes:
    """The bulk import's body: the document calls it a string (NDJSON text), sent as it is;
    anything else the negative phase makes goes as JSON, which the import must refuse cleanly."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


async def _prepare(database_url: str, connector: Loaded) -> None:
    conn = await db.connect(database_url)
    try:
        await researchers.insert_token(
            conn, "schemathesis", token_hash(TOKEN), ["reports", "submit"]
        )
        submission = Submission(answers={"say_why": 4}, consent=True)
        receipt = await intake.submit(
            conn,
            connector,
            submission,
            source="api",
            secret="schemathesis",
            idempotency_key="schemathesis",
        )
        assert receipt.result_token == RESULT_TOKEN
    finally:
        await conn.close()


@pytest.fixture
def api(live_server: str, database_url: str, questionnaires: dict[str, Loaded]) -> str:
    """The live server's base URL; its database knows the researcher token and holds one
    response, whose private link is RESULT_TOKEN."""
    asyncio.run(_prepare(database_url, questionnaires["connector"]))
    return live_server


def answered(api: str, method: str, route: str, status: int) -> float:
    """How many requests the server has answered so, from its Prometheus counters."""
    labels = {"method": method, "route": route, "status": str(status)}
    return sum(
        sample.value
        for family in text_string_to_metric_families(httpx.get(f"{api}/metrics").text)
        for sample in family.samples
        if sample.name == "survey_http_requests_total" and sample.labels == labels
    )


def test_schemathesis_run_from_its_command_line_passes_every_phase(api: str) -> None:
    """`st run` as a user runs it against a served document, with a token of both scopes:
    every check but positive_data_acceptance (a schema-valid submission may break its
    questionnaire's rules), every phase run, the stateful one following the document's links
    from a submission to its private result (no other way leads to a stored one's token)."""
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "run", f"{api}/schema/openapi.json",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "-H", f"Authorization: Bearer {TOKEN}", "--seed", "20261205", "--no-color",
        "--max-examples", "150",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)

    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    phases = done.stdout.split("Test Phases:", 1)[1].split("\n\n", 1)[0]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ +{phase}", phases), phases

    # Which links a stateful run follows is drawn at random, and over the whole document it
    # may reach none in a run (it did once in about five): stateful runs with other seeds, until
    # one has followed a submission's link to its private result.
    results = "/api/v1/results/{token}"
    followed = []
    for seed in ("20261205", "1", "2", "3", "4"):
        before = answered(api, "GET", results, 200) + answered(api, "DELETE", results, 204)
        again = [*command, "--phases", "stateful"]
        again[again.index("--seed") + 1] = seed
        done = subprocess.run(again, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        followed.append(
            answered(api, "GET", results, 200) + answered(api, "DELETE", results, 204) - before
        )
        if followed[-1] > 0:
            break
    assert followed[-1] > 0, followed


def test_the_document_fuzzed_is_the_one_the_server_serves(api: str) -> None:
    served = httpx.get(f"{api}/schema/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == DOCUMENT


@schema.parametrize()
# One server and database serve every example of an operation, on purpose: what examples store
# stays for the next, as it would in production.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_keeps_to_its_openapi_document(case: Case, api: str) -> None:
    case.call_and_validate(base_url=api)


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/results/anything", "DELETE, GET, OPTIONS"),
        ("/api/v1/questionnaires/connector/responses", "OPTIONS, POST"),
        ("/q/connector", "GET, OPTIONS, POST"),
        ("/reports", "GET, OPTIONS, POST"),
    ],
)
def test_options_lists_every_method_of_a_path(api: str, path: str, methods: str) -> None:
    """Litestar 2 listed only the methods registered first (litestar#4169); schemathesis's
    allow_header_conformance found it on the results route."""
    response = httpx.options(f"{api}{path}", timeout=30)
    assert response.status_code == 204
    assert response.headers["allow"] == methods
