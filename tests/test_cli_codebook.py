"""`survey codebook` through click's CliRunner: HTML or CSV, to stdout or a file, with the
statistics of the responses when the database has any, and without the database at all."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from survey.cli import main
from survey.core import codebook, csvcells, loader

ROOT = Path(__file__).resolve().parent.parent
TEAMWORK = loader.load((ROOT / "tests" / "data" / "teamwork.yaml").read_bytes()).definition


@pytest.fixture
def served(tmp_path: Path) -> Path:
    directory = tmp_path / "questionnaires"
    directory.mkdir()
    shutil.copy(ROOT / "tests" / "data" / "teamwork.yaml", directory)
    return directory


def run(url: str, served: Path, *args: str):
    env = {"DATABASE_URL": url, "SURVEY_QUESTIONNAIRES_DIR": str(served)}
    return CliRunner().invoke(main, list(args), env=env)


def test_codebook_without_the_database_lists_every_item_as_html_on_stdout(served):
    # An address nothing listens on: --no-stats never connects.
    result = run("postgresql://nobody@127.0.0.1:1/none", served, "codebook", "teamwork",
                 "--no-stats")  # fmt: skip
    assert result.exit_code == 0, result.output
    html = result.stdout
    assert html.startswith("<!doctype html>") and "<script" not in html
    for item in TEAMWORK.items:
        assert f"<code>answer.{item.id}</code>" in html
    assert "No statistics: made without the responses" in html


def test_codebook_of_an_empty_database_has_no_statistics(database_url, served, tmp_path):
    out = tmp_path / "book.csv"
    result = run(database_url, served, "codebook", "teamwork", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stderr and "no statistics" in result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["variable"] for r in rows] == csvcells.csv_header(TEAMWORK)
    assert all(r["n"] == "" for r in rows)
    assert not list(tmp_path.glob("*.part"))


def test_codebook_gives_the_statistics_of_the_responses_stored(database_url, served, tmp_path):
    demo = run(database_url, served, "demo", "teamwork", "--responses", "120", "--seed", "3")
    assert demo.exit_code == 0, demo.output
    csv_out = run(database_url, served, "codebook", "teamwork", "--format", "csv",
                  "--include-demo")  # fmt: skip
    assert csv_out.exit_code == 0, csv_out.output
    rows = {r["variable"]: r for r in csv.DictReader(io.StringIO(csv_out.stdout))}
    assert tuple(next(csv.reader(io.StringIO(csv_out.stdout)))) == codebook.CSV_COLUMNS
    assert int(rows["answer.rely_on"]["n"]) > 0 and rows["answer.rely_on"]["item_rest"]
    assert rows["score.trust"]["alpha"] and rows["answer.hide_mistakes"]["reverse"] == "yes"

    out = tmp_path / "book.html"
    html_out = run(database_url, served, "codebook", "teamwork", "--out", str(out),
                   "--include-demo")  # fmt: skip
    assert html_out.exit_code == 0, html_out.output
    html = out.read_text()
    assert "Statistics from 120 responses" in html and "Cronbach" in html
    # Without --include-demo the demo responses are left out, as in the other reports.
    without = run(database_url, served, "codebook", "teamwork")
    assert without.exit_code == 0 and "No statistics: there are no responses" in without.stdout


def test_codebook_of_an_unknown_questionnaire_exits_1(database_url, served):
    result = run(database_url, served, "codebook", "nothing", "--no-stats")
    assert result.exit_code == 1 and "no questionnaire 'nothing'" in result.stderr


def test_codebook_takes_html_or_csv_only(database_url, served):
    result = run(database_url, served, "codebook", "teamwork", "--format", "pdf")
    assert result.exit_code == 2
