"""`survey cfa` end to end: responses from a latent trait model imported, the item file and the
lavaan script written, and the script run in R: it must fit every invariance step."""

from __future__ import annotations

import csv
import json
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from survey.cli import main
from survey.core import loader

ROOT = Path(__file__).resolve().parent.parent
TEAMWORK = ROOT / "tests" / "data" / "teamwork.yaml"
# Most departments are large enough to compare; "Other" is not, and the script drops it.
DEPARTMENTS = {
    "Engineering": 0.3,
    "Sales": 0.25,
    "Operations": 0.25,
    "Support": 0.15,
    "Other": 0.05,
}
RESPONSES = 700


@pytest.fixture
def served(tmp_path: Path) -> Path:
    directory = tmp_path / "questionnaires"
    directory.mkdir()
    shutil.copy(TEAMWORK, directory)
    return directory


def run(url: str, served: Path, *args: str):
    env = {"DATABASE_URL": url, "SURVEY_QUESTIONNAIRES_DIR": str(served)}
    return CliRunner().invoke(main, list(args), env=env)


def respondents(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Answers from three correlated traits, one per dimension, the same in every department
    (so every invariance step should hold): 6-point answers cut from trait plus noise,
    reverse-keyed items answered the other way, some optional items skipped or N/A."""
    q = loader.load(TEAMWORK.read_bytes()).definition
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        common = rng.gauss(0, 1)
        traits = {d.id: 0.6 * common + 0.8 * rng.gauss(0, 1) for d in q.dimensions}
        department = rng.choices(list(DEPARTMENTS), list(DEPARTMENTS.values()))[0]
        answers: dict[str, Any] = {"department": department, "team_size": rng.randint(3, 30)}
        for item in q.likert_items():
            if not item.required and rng.random() < 0.08:
                answers[item.id] = "na" if rng.random() < 0.5 else None
                continue
            lean = traits[item.dimension] * (-1 if item.reverse else 1)
            answers[item.id] = min(6, max(1, round(3.5 + 1.1 * lean + rng.gauss(0, 0.8))))
        out.append({k: v for k, v in answers.items() if v is not None})
    return out


def test_cfa_writes_keyed_items_and_a_script_that_r_fits_through_every_invariance_step(
    database_url, served, tmp_path
):
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.fail("Rscript is needed: apt-get install r-base-core r-cran-lavaan", pytrace=False)
    people = respondents(RESPONSES)
    lines = tmp_path / "responses.ndjson"
    lines.write_text("".join(json.dumps({"answers": a, "consent": True}) + "\n" for a in people))
    imported = run(database_url, served, "import", "teamwork", str(lines))
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "cfa"

    result = run(database_url, served, "cfa", "teamwork", "--out", str(out), "--group-by",
                 "department")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert f"wrote {RESPONSES} responses to {out / 'teamwork-cfa.csv'}" in result.stdout
    assert "Rscript teamwork-cfa.R" in result.stdout
    with (out / "teamwork-cfa.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == RESPONSES
    # Imported in order, exported oldest first: row i is respondent i, every item keyed.
    for person, row in zip(people, rows, strict=True):
        assert row["department"] == person["department"]
        for item, flip in (("rely_on", False), ("hide_mistakes", True), ("ask_help", False)):
            answer = person.get(item)
            expected = "" if answer in (None, "na") else str(7 - answer if flip else answer)
            assert row[item] == expected, (item, person, row)

    done = subprocess.run(
        [rscript, "teamwork-cfa.R"], cwd=out, capture_output=True, text=True, timeout=600
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    printed = done.stdout
    assert "== One group: every response" in printed
    assert "Dropped, under 100 responses: Other" in printed
    for step in ("configural", "metric", "scalar", "strict"):
        section = printed.split(f"== Groups by department - {step}", 1)[1].split("==", 1)[0]
        for measure in ("cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr"):
            assert re.search(rf"(?<![\w.]){re.escape(measure)}(?![\w.])", section), (step, measure)
        assert re.search(r"\d\.\d{3}", section), section
    # Keyed items: every standardized loading is positive.
    loadings = printed.split("Standardized loadings", 1)[1].split("Group sizes", 1)[0]
    estimates = [float(m) for m in re.findall(r"^\s*\w+\s+\w+\s+(-?\d\.\d+)", loadings, re.M)]
    assert len(estimates) == 10 and min(estimates) > 0.4, loadings
    # The data are the same model in every department: each step holds.
    table = printed.split("Invariance: the change in fit", 1)[1]
    for step in ("metric", "scalar", "strict"):
        assert re.search(rf"^{step}\s.*\byes$", table, re.M), table


def test_cfa_without_a_group_writes_the_one_group_script(database_url, served, tmp_path):
    result = run(database_url, served, "cfa", "teamwork", "--out", str(tmp_path / "x"))

    assert result.exit_code == 0, result.output
    header = (tmp_path / "x" / "teamwork-cfa.csv").read_text().splitlines()[0]
    assert header.startswith("response_id,rely_on,hide_mistakes,")
    script = (tmp_path / "x" / "teamwork-cfa.R").read_text()
    assert "fit <- fit_model(data)" in script
    assert "configural" not in script
    assert "selected with version=all, quality=all" in script


def test_cfa_by_an_item_that_is_not_a_segment_exits_2_naming_it(database_url, served, tmp_path):
    result = run(database_url, served, "cfa", "teamwork", "--out", str(tmp_path / "x"),
                 "--group-by", "rely_on")  # fmt: skip

    assert result.exit_code == 2
    assert "'rely_on' is not a segment item of teamwork" in result.output
    assert not (tmp_path / "x").exists()


def test_cfa_of_a_questionnaire_lavaan_cannot_read_exits_1_and_writes_nothing(
    database_url, served, tmp_path
):
    text = TEAMWORK.read_text().replace("{id: rely_on,", "{id: for,")
    (served / "teamwork.yaml").write_text(text)

    result = run(database_url, served, "cfa", "teamwork", "--out", str(tmp_path / "x"))

    assert result.exit_code == 1
    assert "R reserved words" in result.output and "for" in result.output
    assert not (tmp_path / "x").exists()


def test_cfa_takes_the_exports_filters(database_url, served, tmp_path):
    lines = tmp_path / "two.ndjson"
    people = [
        {**p, "department": d} for p, d in zip(respondents(2), ["Sales", "Support"], strict=True)
    ]
    lines.write_text("".join(json.dumps({"answers": a, "consent": True}) + "\n" for a in people))
    assert run(database_url, served, "import", "teamwork", str(lines)).exit_code == 0

    result = run(database_url, served, "cfa", "teamwork", "--out", str(tmp_path / "x"),
                 "--segment", "department=Sales", "--group-by", "team_size")  # fmt: skip

    assert result.exit_code == 0, result.output
    with (tmp_path / "x" / "teamwork-cfa.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["team_size"] for r in rows] == [str(people[0]["team_size"])]
    script = (tmp_path / "x" / "teamwork-cfa.R").read_text()
    assert "department=Sales" in script
    assert 'group <- "team_size"' in script
