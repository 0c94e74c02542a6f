"""The docs against the code (STYLE rule 8): every documented command and setting exists, the
format doc's examples hold."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import get_args

import click
import jsonschema
import msgspec
import pytest
import yaml

from survey import config, loader, schema, scoring
from survey.cli import main
from survey.config import Settings
from survey.model import Item

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
