"""`survey serve` with two workers, as an operator runs it: its log lines and its /metrics.

The client connects from 127.0.0.2 (loopback, but not the address the server listens on), so
that any client address written to the log would be found.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from survey.core.model import LikertItem
from tests.support import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ADDRESS = "127.0.0.2"


def get(url: str, **kwargs) -> httpx.Response:
    """A request on a new connection from CLIENT_ADDRESS, so the workers share them out."""
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.request(kwargs.pop("method", "GET"), url, **kwargs)


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


def test_serve_writes_json_lines_with_request_ids_and_counts_across_workers(
    empty_database_url, questionnaires, tmp_path
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": empty_database_url,
        "SURVEY_DATA_DIR": str(tmp_path / "data"),
        "SURVEY_QUESTIONNAIRES_DIR": str(ROOT / "questionnaires"),
        "SURVEY_SECRET": "test-secret",
    }
    for variable in ("SURVEY_LOG_FORMAT", "SURVEY_LOG_LEVEL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(variable, None)
    log = tmp_path / "serve.log"
    connector = questionnaires["connector"].definition
    marker = f"answer-marker-{secrets.token_hex(8)}"
    answers = {item.id: 4 for item in connector.items if isinstance(item, LikertItem)}
    answers["why_collect"] = marker

    with log.open("wb") as output:
        # stderr is a file, not a terminal: SURVEY_LOG_FORMAT=auto means JSON.
        process = subprocess.Popen(
            [sys.executable, "-m", "survey", "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(process, f"{base}/readyz", log)

            health = get(f"{base}/healthz", headers={"X-Request-ID": "ops-check-1"})
            submitted = get(
                f"{base}/api/v1/questionnaires/connector/responses?utm_source={marker}",
                method="POST",
                json={"answers": answers, "consent": True},
                headers={"X-Request-ID": "submit-1"},
            )
            rejected = get(
                f"{base}/api/v1/questionnaires/connector/responses",
                method="POST",
                json={"answers": {"why_collect": marker, "no_such_item": 1}, "consent": True},
            )
            for _ in range(20):
                assert get(f"{base}/healthz").status_code == 200
            metrics = get(f"{base}/metrics").text
            [metrics_dir] = Path(tempfile.gettempdir()).glob(f"survey-metrics-{process.pid}-*")
            assert metrics_dir.stat().st_mode & 0o777 == 0o700
            assert list(metrics_dir.glob("*.db"))

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) in (0, -signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    assert health.headers["x-request-id"] == "ops-check-1"
    assert submitted.status_code == 201, submitted.text
    assert rejected.status_code == 422
    assert len(submitted.headers["x-request-id"]) > 0

    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= line.keys(), line
    assert any(line["message"].startswith("serving on") for line in lines)
    assert any("Application startup complete" in line["message"] for line in lines)
    [health_line] = [line for line in lines if line.get("request_id") == "ops-check-1"]
    assert health_line["logger"] == "survey.access"
    assert (health_line["method"], health_line["path"], health_line["status"]) == (
        "GET",
        "/healthz",
        200,
    )
    [submit_line] = [line for line in lines if line.get("request_id") == "submit-1"]
    assert submit_line["path"] == "/api/v1/questionnaires/connector/responses"
    assert submit_line["status"] == 201
    # No answer, no query string, no client address, no result token: anywhere.
    assert marker not in text
    assert CLIENT_ADDRESS not in text
    assert submitted.json()["result_token"] not in text
    assert "Traceback" not in text

    # Every worker's requests are counted, whichever worker answered the scrape.
    healthz = sample(
        metrics, "survey_http_requests_total", method="GET", route="/healthz", status="200"
    )
    assert healthz == 21
    labels = {"questionnaire": "connector", "source": "api"}
    assert sample(metrics, "survey_submissions_total", outcome="accepted", **labels) == 1
    assert sample(metrics, "survey_submissions_total", outcome="rejected", **labels) == 1
    assert sample(metrics, "survey_db_pool_max") == 2 * 10  # two workers' pools
    # The metric files were in a directory of this server's own, removed when it stopped.
    assert not metrics_dir.exists()


@pytest.mark.parametrize("fmt", ["text"])
def test_serve_writes_text_lines_when_asked(empty_database_url, tmp_path, fmt):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": empty_database_url,
        "SURVEY_SECRET": "test-secret",
        "SURVEY_QUESTIONNAIRES_DIR": str(ROOT / "questionnaires"),
        "SURVEY_LOG_FORMAT": fmt,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    # The metric files of a server that died without cleaning up: the next start removes them.
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"survey-metrics-{dead.pid}-"))
    (stale / "counter_1.db").write_bytes(b"")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "survey", "serve", "--port", str(port), "--workers", "1"],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(process, f"http://127.0.0.1:{port}/readyz", log)
            assert not stale.exists()
            get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "text-1"})
            metrics = get(f"http://127.0.0.1:{port}/metrics").text
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    text = log.read_text()
    assert " survey.access [text-1] GET /healthz 200 " in text
    assert not any(line.startswith("{") for line in text.splitlines())
    # One worker, the same multiprocess metrics.
    assert (
        sample(metrics, "survey_http_requests_total", method="GET", route="/healthz", status="200")
        == 1
    )
