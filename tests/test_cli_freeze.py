"""`survey freeze` on a real database: the lock, then the report and the exports naming it,
and saying so once the questionnaire's scoring changes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

from tests.test_cli_data import fetch, line, run, teamwork
from tests.test_cli_data import served as served  # the fixture


def test_a_freeze_is_named_by_the_report_and_exports_until_the_scoring_changes(
    database_url, served, tmp_path
):
    responses = tmp_path / "responses.ndjson"
    responses.write_text("\n".join(line(teamwork(n)) for n in range(1, 7)))
    assert run(database_url, served, "import", "teamwork", str(responses)).exit_code == 0
    plan = tmp_path / "plan.md"
    plan.write_text("H1: trust predicts follow-through.\n")

    frozen = run(database_url, served, "freeze", "teamwork", "--plan", str(plan), "--json")
    assert frozen.exit_code == 0, frozen.output
    lock = json.loads(frozen.stdout)
    assert re.fullmatch(r"[0-9a-f]{64}", lock["hash"])
    assert lock["plan_sha256"] == hashlib.sha256(plan.read_bytes()).hexdigest()
    assert lock["plan_name"] == "plan.md"
    [stored] = fetch(database_url, "SELECT hash, plan_name FROM preregistration")
    assert stored == {"hash": lock["hash"], "plan_name": "plan.md"}  # the plan itself is not kept

    def exported(fmt: str) -> str:
        out = tmp_path / f"out.{fmt}"
        result = run(database_url, served, "export", "teamwork", "--format", fmt, "--out", str(out))
        assert result.exit_code == 0, result.output
        return out.read_text()

    rows = list(csv.DictReader(io.StringIO(exported("csv"))))
    assert len(rows) == 6
    assert {(r["freeze_hash"], r["instrument_changed"]) for r in rows} == {(lock["hash"], "false")}
    lines = [json.loads(x) for x in exported("jsonl").splitlines()]
    assert {(x["freeze_hash"], x["instrument_changed"]) for x in lines} == {(lock["hash"], False)}
    report = tmp_path / "report.html"
    assert run(database_url, served, "report", "teamwork", "--out", str(report)).exit_code == 0
    assert lock["hash"] in report.read_text()
    assert "scores as it did when frozen" in report.read_text()

    # Reworded: the same instrument. Rescored: the exports and the report say it changed,
    # and a new freeze has another hash.
    path = served / "teamwork.yaml"
    path.write_text(path.read_text().replace("How well does your team", "How well does the team"))
    assert {r["instrument_changed"] for r in csv.DictReader(io.StringIO(exported("csv")))} == {
        "false"
    }
    path.write_text(path.read_text().replace("min_answered: 0.5", "min_answered: 0.6"))
    # The rows already stored were scored under the frozen rules; one sent now is not.
    more = tmp_path / "more.ndjson"
    more.write_text(line(teamwork(4)))
    assert run(database_url, served, "import", "teamwork", str(more)).exit_code == 0
    changed = list(csv.DictReader(io.StringIO(exported("csv"))))
    assert {r["freeze_hash"] for r in changed} == {lock["hash"]}
    assert sorted(r["instrument_changed"] for r in changed) == ["false"] * 6 + ["true"]
    lines = [json.loads(x) for x in exported("jsonl").splitlines()]
    assert sorted(x["instrument_changed"] for x in lines) == [False] * 6 + [True]
    assert run(database_url, served, "report", "teamwork", "--out", str(report)).exit_code == 0
    assert "scoring has changed since it was frozen" in report.read_text()
    again = json.loads(run(database_url, served, "freeze", "teamwork", "--json").stdout)
    assert again["rules_hash"] != lock["rules_hash"]
    assert run(database_url, served, "report", "teamwork", "--out", str(report)).exit_code == 0
    assert "latest of 2 locks" in report.read_text()


def test_without_a_freeze_the_exports_have_no_freeze_columns(database_url, served, tmp_path):
    responses = tmp_path / "responses.ndjson"
    responses.write_text(line(teamwork(3)))
    assert run(database_url, served, "import", "teamwork", str(responses)).exit_code == 0
    out = tmp_path / "out.csv"
    assert run(database_url, served, "export", "teamwork", "--out", str(out)).exit_code == 0
    assert "freeze_hash" not in out.read_text().splitlines()[0]


def test_freezing_an_unknown_questionnaire_fails_naming_it(database_url, served: Path):
    result = run(database_url, served, "freeze", "nope")
    assert result.exit_code != 0 and "nope" in result.stderr
