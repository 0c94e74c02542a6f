"""The docs against the code (STYLE rule 8): every documented command and setting exists, the
format doc's examples hold, and no link or path leads out of the repository."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import get_args
from urllib.parse import unquote

import click
import jsonschema
import msgspec
import pytest
import yaml

from survey import config
from survey.cli import Exit, main
from survey.config import Settings
from survey.core import loader, schema, scoring
from survey.core.model import Item

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
VARIABLE = re.compile(r"(?<![A-Z0-9_])(?:SURVEY_[A-Z0-9_]+|DATABASE_URL)\b")


def table(heading: str) -> list[list[str]]:
    """The rows of the first table under `## heading`, each a list of stripped cells."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert len(rows) > 2, f"no table under ## {heading}"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def code(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one `code` span: {cell!r}"
    return match[1]


def leaves(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    """Every command by its words after `survey`, subcommands of groups included."""
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= leaves(command, f"{prefix}{name} ")
        else:
            found[prefix + name] = command
    return found


def command_words(usage: str) -> str:
    """`survey token create NAME` → `token create`: the leading lowercase words."""
    return " ".join(re.match(r"survey((?: [a-z][a-z-]*)+)", usage)[1].split())


SETTINGS = {code(row[0]): row for row in table("Settings")}
COMMANDS = {command_words(code(row[0])): code(row[0]) for row in table("Commands")}
WHAT_COMMANDS_DO = {command_words(code(row[0])): row[1] for row in table("Commands")}
ALL_COMMANDS = leaves(main)


def test_the_readme_tables_are_found():
    assert "DATABASE_URL" in SETTINGS
    assert "serve" in COMMANDS


@pytest.mark.parametrize("variable", sorted(config.ENVIRONMENT.values()))
def test_every_setting_is_in_the_readme_settings_table(variable):
    assert variable in SETTINGS


@pytest.mark.parametrize("variable", sorted(SETTINGS))
def test_every_variable_in_the_settings_table_is_read_by_the_code(variable):
    assert variable in config.ENVIRONMENT.values()


def test_every_survey_variable_named_anywhere_in_the_readme_is_a_setting():
    assert set(VARIABLE.findall(README)) <= set(config.ENVIRONMENT.values())


def test_every_survey_variable_named_in_the_code_is_a_setting():
    named = {
        variable
        for path in (ROOT / "survey").rglob("*.py")
        for variable in VARIABLE.findall(path.read_text())
    }
    assert named <= set(config.ENVIRONMENT.values())


def test_every_setting_is_read_from_its_variable():
    environ = {
        "DATABASE_URL": "postgresql://u@db/x",
        "SURVEY_DATA_DIR": "/var/lib/survey",
        "SURVEY_QUESTIONNAIRES_DIR": "/etc/survey",
        "SURVEY_SECRET": "s3",
        "SURVEY_MIN_CELL": "7",
        "SURVEY_WORKERS": "3",
        "SURVEY_RATE_LIMIT": "0",
        "SURVEY_DB_TIMEOUT": "2.5",
        "SURVEY_POOL_SIZE": "4",
        "SURVEY_REDIS_URL": "redis://cache:6379/1",
        "SURVEY_LOG_FORMAT": "json",
        "SURVEY_LOG_LEVEL": "debug",
        "SURVEY_METRICS_TOKEN": "m3",
        "SURVEY_DRAFT_DAYS": "7",
    }
    assert set(environ) == set(config.ENVIRONMENT.values())

    settings = config.from_env(environ)

    for name, variable in config.ENVIRONMENT.items():
        expected = msgspec.convert({name: environ[variable]}, Settings, strict=False)
        assert getattr(settings, name) == getattr(expected, name) != getattr(Settings(), name)


@pytest.mark.parametrize(
    "variable", [row for row, cells in SETTINGS.items() if cells[1].startswith("`")]
)
def test_each_documented_default_is_the_default_in_the_code(variable):
    name = next(n for n, v in config.ENVIRONMENT.items() if v == variable)
    documented = code(SETTINGS[variable][1])
    default = getattr(Settings(), name)

    if isinstance(default, str):
        assert os.path.normpath(documented) == os.path.normpath(default)
    else:
        assert msgspec.convert(documented, type(default), strict=False) == default


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_in_the_readme_exists(command):
    assert command in ALL_COMMANDS


@pytest.mark.parametrize("command", sorted(ALL_COMMANDS))
def test_every_command_is_in_the_readme(command):
    assert command in COMMANDS


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_documented_option_and_argument_exists(command):
    usage = COMMANDS[command]
    params = ALL_COMMANDS[command].params
    options = {opt: p for p in params if isinstance(p, click.Option) for opt in p.opts}
    arguments = [p for p in params if isinstance(p, click.Argument)]

    # `[--port P]`: an option taking a value; bare `FILE...`: an argument, repeatable.
    documented = dict(re.findall(r"\[(--[a-z][a-z-]*)(?: ([A-Z]+))?\]", usage))
    # `--out FILE` outside brackets: a required option, not a positional argument.
    required = dict(re.findall(r"(?<!\[)(--[a-z][a-z-]*) ([A-Z]+)", usage))
    bare = re.sub(r"--[a-z][a-z-]* [A-Z]+", "", re.sub(r"\[[^]]*\]", "", usage))
    positional = re.findall(r"(?<![-\w])[A-Z]+(\.\.\.)?", bare)
    for option in required:
        assert option in options and options[option].required, option

    for option, value in documented.items():
        assert option in options, option
        assert options[option].is_flag == (not value), option
    assert [bool(dots) for dots in positional] == [p.nargs == -1 for p in arguments]


def test_the_documented_address_of_serve_is_the_default():
    defaults = Settings()

    assert f"(default {defaults.host}:{defaults.port})" in WHAT_COMMANDS_DO["serve"]
    assert f"<http://{defaults.host}:{defaults.port}>" in README


def test_the_exit_codes_table_lists_every_exit_code_of_the_cli():
    documented = {int(code(row[0])) for row in table("Exit codes")}

    assert documented == {int(status) for status in Exit}


# --- the questionnaire format doc against the code ---------------------------------------------

FORMAT = ROOT / "docs" / "questionnaire-format.md"
TEAMWORK = ROOT / "tests" / "data" / "teamwork.yaml"


def fenced(text: str, language: str) -> list[str]:
    """The contents of every ```language block in a Markdown text."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)


def test_the_complete_example_in_the_format_doc_loads_and_passes_the_schema():
    complete = [block for block in fenced(FORMAT.read_text(), "yaml") if "\nslug: " in block]
    assert complete, "no complete questionnaire in a ```yaml block"

    for block in complete:
        loaded = loader.load(block, "docs/questionnaire-format.md")
        jsonschema.validate(yaml.safe_load(block), schema.json_schema())
        kinds = {type(item) for item in loaded.definition.items}
        assert kinds == set(get_args(Item)), "the example should show every kind of item"


def test_the_worked_scoring_example_in_the_format_doc_is_what_scoring_gives():
    worked = FORMAT.read_text().split("### A worked example\n", 1)[1].split("\n## ", 1)[0]
    submission, result = (json.loads(block) for block in fenced(worked, "json"))
    q = loader.load(TEAMWORK.read_bytes()).definition

    score = scoring.score(q, submission["answers"])

    assert score.complete == result["complete"]
    assert score.profile is not None
    assert {"id": score.profile.id, "label": score.profile.label} == result["profile"]
    assert score.index is not None and round(score.index, 1) == result["index"]
    assert {d: round(s, 1) for d, s in score.dimensions.items() if s is not None} == result[
        "dimensions"
    ]


# --- the docs stand alone: no link or path leaves the repository -------------------------------

# Every Markdown file in the repository but BENCHMARKS.md, a lab notebook of measurements; hidden
# folders (.venv, .git, the data dir) are not looked into.
DOCS = sorted(
    path
    for top in ROOT.iterdir()
    if not top.name.startswith(".")
    for path in (top.rglob("*.md") if top.is_dir() else [top])
    if path.suffix == ".md" and path.name != "BENCHMARKS.md"
)
# Notes the team keeps beside the repository, which users never have: spelled in pieces, so that
# this file does not name them either.
SHARED, DESIGN, STYLE = "shared" + "/", "DESIGN" + ".md", "STYLE" + ".md"
OUTSIDE = re.compile("|".join(re.escape(name) for name in [SHARED, DESIGN, STYLE, "/" + "work/"]))
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*)?\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HTML = re.compile(r"\b(?:href|src)\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)
UP = re.compile(r"(?<![\w./])((?:\.\./)+[\w./-]*)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def anchors(text: str) -> set[str]:
    """The fragment ids GitHub gives the headings of a Markdown text (`## The top level` →
    `the-top-level`), a repeated one numbered `-1`, `-2`."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", FENCE.sub("", text), re.MULTILINE):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n, unique = 0, slug
        while unique in found:
            n += 1
            unique = f"{slug}-{n}"
        found.add(unique)
    return found


def link_problems(path: Path, text: str) -> list[str]:
    """Each link or path in a Markdown file that leaves the repository or leads nowhere."""
    problems: list[str] = []
    prose = INLINE_CODE.sub("", FENCE.sub("", text))
    targets = [*LINK.findall(prose), *REFERENCE.findall(prose), *HTML.findall(prose)]
    for target in targets:
        where, _, fragment = target.partition("#")
        if SCHEME.match(target):
            if not target.startswith(("https://", "http://", "mailto:")):
                problems.append(f"{target}: not a web link")
            continue
        if where.startswith("/"):
            problems.append(f"{target}: an absolute path; give it relative to {path.name}")
            continue
        file = (path.parent / unquote(where)).resolve() if where else path
        if not file.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
        elif not file.exists():
            problems.append(f"{target}: no such file in the repository")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file.read_text()):
            problems.append(f"{target}: no heading #{fragment} in {file.relative_to(ROOT)}")
    # Paths written as text or code must not climb out of the repository either.
    for climb in UP.findall(text):
        if not (path.parent / climb).resolve().is_relative_to(ROOT):
            problems.append(f"{climb}: outside the repository")
    problems += [f"{m[0]!r}: names a file outside the repository" for m in OUTSIDE.finditer(text)]
    return list(dict.fromkeys(problems))  # a link found twice, as a link and as a path, once


def test_the_docs_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in DOCS}
    assert {"README.md", "docs/questionnaire-format.md"} <= names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_in_the_docs_stays_inside_the_repository_and_leads_somewhere(path):
    problems = link_problems(path, path.read_text())

    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_the_link_check_catches_every_way_out_of_the_repository():
    planted = f"""
See [the design](../{SHARED}{DESIGN}), [style]({STYLE}), [root](/etc/passwd),
[a file](file:///tmp/x.md), [gone](docs/no-such-file.md), [a heading](README.md#no-such-heading)
and [up](../../outside.md). <a href="../elsewhere.html">there</a>
[ref]: ../outside/ref.md

`cat ../{SHARED}notes.txt`
"""
    problems = link_problems(ROOT / "README.md", planted)

    for culprit in [
        f"../{SHARED}{DESIGN}: outside",
        f"{STYLE}: no such file",
        "/etc/passwd: an absolute path",
        "file:///tmp/x.md: not a web link",
        "docs/no-such-file.md: no such file",
        "README.md#no-such-heading: no heading",
        "../../outside.md: outside",
        "../elsewhere.html: outside",
        "../outside/ref.md: outside",
        f"../{SHARED}notes.txt: outside",
        f"{SHARED!r}: names a file outside",
        f"{DESIGN!r}: names a file outside",
        f"{STYLE!r}: names a file outside",
    ]:
        assert any(p.startswith(culprit) for p in problems), (culprit, problems)


def test_the_link_check_passes_links_that_stay_inside():
    fine = """
[format](docs/questionnaire-format.md#the-top-level), [uv](https://docs.astral.sh/uv/),
<http://127.0.0.1:8000>, [here](#commands), [schema](docs/questionnaire.schema.json).
"""
    assert link_problems(ROOT / "README.md", fine) == []
