"""docker-compose.yml and the Dockerfile: valid Compose, and what the README promises of them.

The file is checked against the Compose Specification's JSON schema as check-jsonschema
vendors it (`--builtin-schema vendor.compose-spec`), so no docker is needed; the same file
passes `docker compose config` (Compose v2) and `docker-compose config` (v1).
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def compose_spec() -> Draft202012Validator:
    vendored = files("check_jsonschema.builtin_schemas") / "vendor" / "compose-spec.json"
    schema = json.loads(vendored.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(validator: Draft202012Validator, document: Any) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_the_compose_file_follows_the_compose_specification(compose_spec):
    assert problems(compose_spec, COMPOSE) == []


def test_the_schema_refuses_a_misspelt_compose_file(compose_spec):
    broken = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    broken["services"]["db"]["healthcheck"]["retires"] = broken["services"]["db"][
        "healthcheck"
    ].pop("retries")
    broken["services"]["app"]["depends_on"]["db"]["condition"] = "service_ready"

    found = problems(compose_spec, broken)

    assert any("retires" in p for p in found), found
    assert any(p.startswith("services.app") and "depends_on" in p for p in found), found


def test_postgresql_16_keeps_its_data_in_a_volume_and_has_a_health_check():
    db = COMPOSE["services"]["db"]

    assert db["image"] == "postgres:16"
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"]
    assert "pgdata" in COMPOSE["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_the_app_waits_for_the_database_and_runs_several_workers():
    app = COMPOSE["services"]["app"]
    environment = app["environment"]

    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert environment["DATABASE_URL"].endswith("@db:5432/survey")
    workers = re.fullmatch(r"\$\{SURVEY_WORKERS:-(\d+)\}", environment["SURVEY_WORKERS"])
    assert workers and int(workers[1]) > 1
    assert environment["SURVEY_LOG_FORMAT"] == "json"
    # Secrets come from outside, and the file refuses to start without them.
    assert ":?" in environment["SURVEY_SECRET"]
    assert ":?" in COMPOSE["services"]["db"]["environment"]["POSTGRES_PASSWORD"]


def test_the_image_migrates_then_serves_as_a_user_without_privileges():
    # `survey serve` applies pending migrations before it starts the workers.
    [cmd] = re.findall(r"^CMD (.+)$", DOCKERFILE, re.MULTILINE)
    assert json.loads(cmd)[:2] == ["survey", "serve"]
    assert re.search(r"^USER survey$", DOCKERFILE, re.MULTILINE)
    assert "/healthz" in DOCKERFILE


def test_the_image_has_the_chromium_that_svg_and_pdf_figures_need():
    runtime = DOCKERFILE.rsplit("\nFROM ", 1)[1]  # the last stage is the one that runs
    assert re.search(r"apt-get install [^\n]*\bchromium\b", runtime)
    assert "BROWSER_PATH=/usr/bin/chromium" in runtime
