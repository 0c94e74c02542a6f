"""`survey import`, `survey export` and `survey demo` through click's CliRunner, on a real
database: what they store and write, their messages and exit codes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from survey.cli import main
from survey.core import loader, scoring
from survey.core.submission import Submission
from survey.flows import ingest
from survey.store import db, exports

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A questionnaires directory with connector.yaml and the test questionnaire."""
    directory = tmp_path / "questionnaires"
    directory.mkdir()
    shutil.copy(ROOT / "questionnaires" / "connector.yaml", directory)
    shutil.copy(ROOT / "tests" / "data" / "teamwork.yaml", directory)
    return directory


def run(url: str, served: Path, *args: str, input: bytes | None = None):
    env = {"DATABASE_URL": url, "SURVEY_QUESTIONNAIRES_DIR": str(served)}
    return CliRunner().invoke(main, list(args), env=env, input=input)


def fetch(url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        conn = await db.connect(url)
        try:
            return [dict(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return asyncio.run(go())


def line(answers: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"answers": answers, "consent": True, **extra})


def teamwork(value: int = 4, **more: Any) -> dict[str, Any]:
    items = ["rely_on", "hide_mistakes", "say_disagree", "nod_along", "keep_promises"]
    return {**dict.fromkeys(items, value), "dropped_actions": value, **more}


# --- demo ---------------------------------------------------------------------------------------


def test_demo_stores_plausible_scored_responses_marked_as_demo(database_url, served):
    result = run(
        database_url,
        served,
        "demo",
        "connector",
        "--responses",
        "600",
        "--days",
        "10",
        "--seed",
        "4",
    )

    assert result.exit_code == 0, result.output
    assert "added 600 demo responses to connector" in result.stdout
    rows = fetch(database_url, "SELECT * FROM response")
    assert len(rows) == 600
    assert {r["source"] for r in rows} == {"demo"}
    assert not any(r["folded"] is False for r in rows)  # in the report sums already
    loaded = loader.load((served / "connector.yaml").read_bytes(), "connector.yaml")
    q = loaded.definition
    assert {r["version"] for r in rows} == {loaded.version}
    for row in rows:
        # Valid as a submission, already in stored form, and scored as the core scores it.
        answers = row["answers"]
        assert scoring.validate(q, Submission(answers=answers, consent=True)) == []
        assert scoring.normalise(q, answers) == answers
        score = scoring.score(q, answers)
        assert row["dimensions"] == score.dimensions
        assert row["index_score"] == score.index
        assert row["profile"] == (score.profile.id if score.profile else None)
    # Plausible: mostly complete, every profile, answers spread over the scale, segments and
    # some text, and more responses lately.
    complete = sum(r["complete"] for r in rows)
    assert 0.8 * len(rows) < complete < len(rows)
    assert set(Counter(r["profile"] for r in rows)) >= {p.id for p in q.profiles} - {"connector"}
    assert set(Counter(r["answers"].get("say_why") for r in rows)) >= {1, 2, 3, 4, 5}
    assert sum("industry" in r["answers"] for r in rows) > 0.8 * len(rows)
    assert 0 < sum("real_connector" in r["answers"] for r in rows) < 0.2 * len(rows)
    assert any(r["quote_consent"] for r in rows)
    now = datetime.now(UTC)
    times = sorted(r["created_at"] for r in rows)
    assert now - timedelta(days=10, minutes=1) < times[0] < times[-1] <= now
    assert sum(t > now - timedelta(days=5) for t in times) > 0.55 * len(rows)  # 63% expected


def test_demo_dimensions_correlate_as_one_trait_and_collecting_runs_against_it(
    database_url, served
):
    run(database_url, served, "demo", "connector", "--responses", "1500", "--seed", "5")
    rows = fetch(database_url, "SELECT dimensions FROM response WHERE complete")

    def r(a: str, b: str) -> float:
        pairs = [(row["dimensions"][a], row["dimensions"][b]) for row in rows]
        xs, ys = zip(*[(x, y) for x, y in pairs if x is not None and y is not None], strict=True)
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        sxx = sum((x - mx) ** 2 for x in xs)
        syy = sum((y - my) ** 2 for y in ys)
        return float(sxy / (sxx * syy) ** 0.5)

    assert r("personalization", "generosity") > 0.3
    assert r("introductions", "collecting") < -0.1


def test_demo_with_a_seed_gives_the_same_answers(database_url, served):
    for _ in range(2):
        result = run(database_url, served, "demo", "teamwork", "--responses", "50", "--seed", "7")
        assert result.exit_code == 0, result.output

    rows = fetch(database_url, "SELECT answers FROM response")
    counts = Counter(json.dumps(r["answers"], sort_keys=True) for r in rows)
    assert sum(counts.values()) == 100
    assert set(counts.values()) == {2}


def test_demo_of_an_unknown_questionnaire_exits_1_naming_the_served_ones(database_url, served):
    result = run(database_url, served, "demo", "nope")

    assert result.exit_code == 1
    assert "no questionnaire 'nope'" in result.stderr
    assert "connector" in result.stderr


def test_demo_migrates_an_empty_database_first(empty_database_url, served):
    result = run(empty_database_url, served, "demo", "teamwork", "--responses", "3")

    assert result.exit_code == 0, result.output
    assert len(fetch(empty_database_url, "SELECT id FROM response")) == 3


# --- import ---------------------------------------------------------------------------------------


def test_import_stores_the_good_lines_lists_the_bad_ones_and_exits_1(
    database_url, served, tmp_path
):
    path = tmp_path / "responses.ndjson"
    path.write_text(
        "\n".join(
            [
                line(teamwork(5)),
                "{not json",
                "",
                line({"rely_on": 7}),
                line(teamwork(2, one_change="More time.")),
            ]
        )
        + "\n"
    )

    result = run(database_url, served, "import", "teamwork", str(path))

    assert result.exit_code == 1
    assert result.stdout.strip().splitlines()[-1] == "accepted 2, rejected 2"
    errors = [x for x in result.stderr.splitlines() if x.startswith("line ")]
    assert errors[0].startswith("line 2: $: malformed JSON")
    assert any(e.startswith("line 4: answers.rely_on: must be one of the scale") for e in errors)
    assert "line 4: answers.keep_promises: an answer is required" in errors
    assert {e.split(":")[0] for e in errors} == {"line 2", "line 4"}
    rows = fetch(database_url, "SELECT * FROM response ORDER BY answers ->> 'rely_on'")
    assert [r["answers"] for r in rows] == [teamwork(2, one_change="More time."), teamwork(5)]
    assert {r["source"] for r in rows} == {"import"}


def test_import_of_only_good_lines_exits_0(database_url, served, tmp_path):
    path = tmp_path / "good.ndjson"
    path.write_text("\n".join(line(teamwork(n)) for n in range(1, 7)))

    result = run(database_url, served, "import", "teamwork", str(path))

    assert result.exit_code == 0, result.output
    assert "accepted 6, rejected 0" in result.stdout
    assert "importing" in result.stderr  # the progress bar's label
    assert len(fetch(database_url, "SELECT id FROM response")) == 6


def test_import_of_a_file_with_no_submissions_exits_1_saying_so(database_url, served, tmp_path):
    path = tmp_path / "empty.ndjson"
    path.write_text("\n\n")

    result = run(database_url, served, "import", "teamwork", str(path))

    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: {path} holds no submissions: one JSON submission a line"
    )


def test_import_json_prints_the_summary_alone_without_a_progress_bar(
    database_url, served, tmp_path
):
    path = tmp_path / "responses.ndjson"
    path.write_text("\n".join([line(teamwork(5)), "{not json", line({"rely_on": 7})]) + "\n")

    result = run(database_url, served, "import", "teamwork", "--json", str(path))

    assert result.exit_code == 1
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    assert summary["accepted"] == 1
    assert summary["rejected_count"] == 2
    assert [r["line"] for r in summary["rejected"]] == [2, 3]
    assert summary["rejected"][0]["errors"][0]["field"] == "$"
    assert summary["rejected"][0]["errors"][0]["message"].startswith("malformed JSON")
    assert {"field": "answers.keep_promises", "message": "an answer is required"} in summary[
        "rejected"
    ][1]["errors"]
    assert len(fetch(database_url, "SELECT id FROM response")) == 1


def test_import_json_of_only_good_lines_exits_0(database_url, served):
    body = "\n".join(line(teamwork(n)) for n in range(1, 4)).encode()

    result = run(database_url, served, "import", "teamwork", "--json", "-", input=body)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"accepted": 3, "rejected": [], "rejected_count": 0}


def test_import_reads_stdin_for_a_dash(database_url, served):
    body = "\n".join(line(teamwork(n)) for n in range(1, 4)).encode()

    result = run(database_url, served, "import", "teamwork", "-", input=body)

    assert result.exit_code == 0, result.output
    assert "accepted 3, rejected 0" in result.stdout


def test_import_into_an_unknown_questionnaire_exits_1_and_stores_nothing(
    database_url, served, tmp_path
):
    path = tmp_path / "x.ndjson"
    path.write_text(line(teamwork()))

    result = run(database_url, served, "import", "nope", str(path))

    assert result.exit_code == 1
    assert "no questionnaire 'nope'" in result.stderr


def test_import_lists_at_most_the_first_rejections_and_counts_the_rest(
    database_url, served, tmp_path, monkeypatch
):
    monkeypatch.setattr(ingest, "MAX_LISTED", 2)
    path = tmp_path / "bad.ndjson"
    path.write_text("\n".join(["[]"] * 5))

    result = run(database_url, served, "import", "teamwork", str(path))

    assert result.exit_code == 1
    assert [x.split(":")[0] for x in result.stderr.splitlines() if x.startswith("line ")] == [
        "line 1",
        "line 2",
    ]
    assert "... and 3 more rejected lines" in result.stderr
    assert "accepted 0, rejected 5" in result.stdout


# --- export ---------------------------------------------------------------------------------------


def seed_responses(url: str, served: Path, tmp_path: Path) -> None:
    path = tmp_path / "seed.ndjson"
    path.write_text(
        "\n".join(
            [
                line(teamwork(5, department="Sales", one_change="=HYPERLINK(1)")),
                line(teamwork(3, department="Support")),
            ]
        )
    )
    assert run(url, served, "import", "teamwork", str(path)).exit_code == 0
    assert run(url, served, "demo", "teamwork", "--responses", "20").exit_code == 0


def test_export_writes_csv_with_every_response_the_filter_selects(database_url, served, tmp_path):
    seed_responses(database_url, served, tmp_path)
    out = tmp_path / "out.csv"

    result = run(database_url, served, "export", "teamwork", "--out", str(out))

    assert result.exit_code == 0, result.output
    assert "wrote 2 responses to" in result.stdout
    rows = list(csv.DictReader(io.StringIO(out.read_text(), newline="")))
    assert [r["source"] for r in rows] == ["import", "import"]  # demo left out by default
    assert {r["answer.department"] for r in rows} == {"Sales", "Support"}
    assert "'=HYPERLINK(1)" in {r["answer.one_change"] for r in rows}
    assert not (tmp_path / "out.csv.part").exists()

    with_demo = tmp_path / "all.csv"
    result = run(
        database_url, served, "export", "teamwork", "--include-demo", "--out", str(with_demo)
    )
    assert "wrote 22 responses" in result.stdout
    stored = {str(r["id"]) for r in fetch(database_url, "SELECT id FROM response")}
    assert {r["id"] for r in csv.DictReader(io.StringIO(with_demo.read_text()))} == stored

    only_sales = tmp_path / "sales.csv"
    result = run(
        database_url,
        served,
        "export",
        "teamwork",
        "--segment",
        "department=Sales",
        "--out",
        str(only_sales),
    )
    assert result.exit_code == 0, result.output
    assert len(list(csv.DictReader(io.StringIO(only_sales.read_text())))) == 1


def test_export_writes_jsonl_to_stdout_for_a_dash(database_url, served, tmp_path):
    seed_responses(database_url, served, tmp_path)

    result = run(database_url, served, "export", "teamwork", "--format", "jsonl", "--out", "-")

    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["answers"].get("department") for x in lines] == ["Sales", "Support"]
    assert lines[0]["answers"]["one_change"] == "=HYPERLINK(1)"  # verbatim: JSON is data
    assert "wrote 2 responses to -" in result.stderr


def test_export_names_its_file_after_the_questionnaire_by_default(
    database_url, served, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)

    result = run(database_url, served, "export", "teamwork", "--format", "jsonl")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "teamwork-responses.jsonl").read_text() == ""


def test_export_with_a_bad_filter_exits_1_naming_each_problem(database_url, served, tmp_path):
    out = tmp_path / "x.csv"

    result = run(
        database_url,
        served,
        "export",
        "teamwork",
        "--from",
        "soon",
        "--segment",
        "colour=red",
        "--out",
        str(out),
    )

    assert result.exit_code == 1
    assert "from: must be a date" in result.stderr
    assert "colour: not a filter" in result.stderr
    assert not out.exists()


def test_export_of_a_large_table_reports_progress_and_matches_the_count(
    database_url, served, tmp_path
):
    assert run(database_url, served, "demo", "teamwork", "--responses", "12000").exit_code == 0
    out = tmp_path / "big.jsonl"

    result = run(
        database_url,
        served,
        "export",
        "teamwork",
        "--include-demo",
        "--format",
        "jsonl",
        "--out",
        str(out),
    )

    assert result.exit_code == 0, result.output
    assert "exporting to" in result.stderr
    assert len(out.read_bytes().splitlines()) == 12_000


def test_a_csv_export_split_over_two_connections_is_the_same_file(
    database_url, served, tmp_path, monkeypatch
):
    assert run(database_url, served, "demo", "teamwork", "--responses", "3000").exit_code == 0
    alone, shared = tmp_path / "alone.csv", tmp_path / "shared.csv"
    export = ["export", "teamwork", "--include-demo", "--out"]
    assert run(database_url, served, *export, str(alone)).exit_code == 0
    # As a large export does, in ranges of about 200 rows (exports.copy_export_csv).
    monkeypatch.setattr(exports, "EXPORT_RANGE_ROWS", 200)
    monkeypatch.setattr(exports, "_EDGE_SAMPLE_PERCENT", 100)
    calls = []
    copy_range = exports._copy_range

    async def counted(*args):
        calls.append(args[0])
        return await copy_range(*args)

    monkeypatch.setattr(exports, "_copy_range", counted)

    result = run(database_url, served, *export, str(shared))

    assert result.exit_code == 0, result.output
    assert len(calls) >= 10 and len({id(conn) for conn in calls}) == 2
    assert shared.read_bytes() == alone.read_bytes()
    assert len(shared.read_bytes().splitlines()) == 3_001


def test_export_keeps_only_the_questionnaire_version_asked_for(database_url, served, tmp_path):
    seed_responses(database_url, served, tmp_path)
    version = loader.load((served / "teamwork.yaml").read_bytes()).version
    this, other = tmp_path / "this.jsonl", tmp_path / "other.jsonl"
    export = ["export", "teamwork", "--format", "jsonl", "--questionnaire-version"]

    result = run(database_url, served, *export, version, "--out", str(this))

    assert result.exit_code == 0, result.output
    assert len(this.read_text().splitlines()) == 2
    assert "deprecated" not in result.stderr

    result = run(database_url, served, *export, "0123456789ab", "--out", str(other))

    assert result.exit_code == 0, result.output
    assert other.read_text() == ""


def test_export_still_takes_the_old_version_option_with_a_note_on_stderr(
    database_url, served, tmp_path
):
    seed_responses(database_url, served, tmp_path)
    out = tmp_path / "old.jsonl"
    export = ["export", "teamwork", "--format", "jsonl", "--out", str(out)]

    result = run(database_url, served, *export, "--version", "0123456789ab")

    assert result.exit_code == 0, result.output
    assert out.read_text() == ""  # the filter applied: no response has that version
    note = [x for x in result.stderr.splitlines() if "deprecated" in x]
    assert note == ["warning: --version is deprecated here; use --questionnaire-version"]
    assert "deprecated" not in result.stdout


def test_report_filters_by_questionnaire_version_under_either_name(database_url, served, tmp_path):
    seed_responses(database_url, served, tmp_path)
    version = loader.load((served / "teamwork.yaml").read_bytes()).version
    out = tmp_path / "report.html"
    report = ["report", "teamwork", "--out", str(out)]

    result = run(database_url, served, *report, "--questionnaire-version", version)

    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 2 responses" in result.stdout

    old = run(database_url, served, *report, "--version", "0123456789ab")

    assert old.exit_code == 0, old.output
    assert f"wrote {out}: 0 responses" in old.stdout
    assert "--version is deprecated here; use --questionnaire-version" in old.stderr


def test_both_names_of_the_version_filter_with_different_hashes_are_a_usage_error(
    database_url, served, tmp_path
):
    out = tmp_path / "x.csv"

    result = run(
        database_url,
        served,
        "export",
        "teamwork",
        "--questionnaire-version",
        "0123456789ab",
        "--version",
        "ba9876543210",
        "--out",
        str(out),
    )

    assert result.exit_code == 2
    assert "not --version as well" in result.stderr
    assert not out.exists()


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*")}


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """Where an export writes, with an older export in it."""
    directory = tmp_path / "exports"
    directory.mkdir()
    (directory / "older.csv").write_text("id\n")
    return directory


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_to_an_unreachable_database_exits_69_and_leaves_the_directory_as_it_was(
    served, out_dir, fmt
):
    before = snapshot(out_dir)

    result = run(
        "postgresql://postgres@127.0.0.1:1/x",
        served,
        "export",
        "teamwork",
        "--format",
        fmt,
        "--out",
        str(out_dir / f"teamwork.{fmt}"),
    )

    assert result.exit_code == 69, result.output
    assert result.stderr.splitlines()[-1].startswith("error: cannot reach the database at ")
    assert snapshot(out_dir) == before


def test_export_whose_embedded_database_cannot_start_exits_69_and_leaves_no_file(
    served, out_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(out_dir)  # the default output file would be made here
    data_dir = tmp_path / "not-a-directory"
    data_dir.write_text("")
    before = snapshot(out_dir)
    env = {"DATABASE_URL": None, "SURVEY_DATA_DIR": str(data_dir)}
    env["SURVEY_QUESTIONNAIRES_DIR"] = str(served)

    result = CliRunner().invoke(main, ["export", "teamwork"], env=env)

    assert result.exit_code == 69, result.output
    assert "error: could not start the embedded PostgreSQL" in result.stderr
    assert snapshot(out_dir) == before


def terminate(url: str, pid: int) -> None:
    """End a session from another one, as an operator or a failover would."""
    rows = fetch(url, "SELECT pg_terminate_backend($1) AS ended", pid)
    assert rows == [{"ended": True}]


def test_a_csv_export_cut_off_by_the_server_midway_exits_69_and_leaves_no_file(
    database_url, served, out_dir, tmp_path, monkeypatch
):
    seed_responses(database_url, served, tmp_path)
    before = snapshot(out_dir)
    copy_range = exports._copy_range
    seen = []

    async def cut_off(conn, *args):
        seen.extend(p.name for p in out_dir.glob("*.part"))
        await asyncio.to_thread(terminate, database_url, conn.get_server_pid())
        return await copy_range(conn, *args)

    monkeypatch.setattr(exports, "_copy_range", cut_off)

    result = run(database_url, served, "export", "teamwork", "--out", str(out_dir / "t.csv"))

    assert seen == ["t.csv.part"]  # the header was written when the server ended the session
    assert result.exit_code == 69, result.output
    assert "Traceback" not in result.output
    assert snapshot(out_dir) == before


def test_a_jsonl_export_cut_off_by_the_server_midway_exits_69_and_leaves_no_file(
    database_url, served, out_dir, tmp_path, monkeypatch
):
    seed_responses(database_url, served, tmp_path)
    before = snapshot(out_dir)
    select_batches = exports.select_export_batches
    seen = []

    async def cut_off(conn, *args):
        seen.extend(p.name for p in out_dir.glob("*.part"))
        await asyncio.to_thread(terminate, database_url, conn.get_server_pid())
        async for rows in select_batches(conn, *args):
            yield rows

    monkeypatch.setattr(exports, "select_export_batches", cut_off)
    out = str(out_dir / "t.jsonl")

    result = run(database_url, served, "export", "teamwork", "--format", "jsonl", "--out", out)

    assert seen == ["t.jsonl.part"]
    assert result.exit_code == 69, result.output
    assert "Traceback" not in result.output
    assert snapshot(out_dir) == before


def test_export_into_a_missing_directory_exits_1_naming_the_file(database_url, served, tmp_path):
    out = tmp_path / "nowhere" / "t.csv"

    result = run(database_url, served, "export", "teamwork", "--out", str(out))

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: cannot write {out}.part: No such file or directory"
    ]
    assert not out.parent.exists()


def test_export_bom_starts_a_csv_with_a_byte_order_mark(database_url, served, tmp_path):
    path = tmp_path / "good.ndjson"
    path.write_text(line(teamwork(3)))
    assert run(database_url, served, "import", "teamwork", str(path)).exit_code == 0
    out = tmp_path / "excel.csv"
    result = run(database_url, served, "export", "teamwork", "--bom", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert len(list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))) == 1
