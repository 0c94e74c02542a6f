"""The questionnaire format's JSON Schema: committed as generated, and agreeing with the loader."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from survey.cli import main
from survey.core.loader import load
from survey.core.schema import STRUCTS, json_schema, json_text
from survey.errors import QuestionnaireError

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "questionnaire.schema.json"
REGENERATE = "uv run survey schema > docs/questionnaire.schema.json"
QUESTIONNAIRES = sorted(
    [*(ROOT / "questionnaires").glob("*.yaml"), *(ROOT / "questionnaires").glob("*.yml")]
)
TEAMWORK = ROOT / "tests" / "data" / "teamwork.yaml"
VALID = [*QUESTIONNAIRES, TEAMWORK, ROOT / "tests" / "data" / "hostile.yaml"]
MODELINE = re.compile(r"# yaml-language-server: \$schema=(\S+)")

SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def schema_errors(document: Any) -> list[str]:
    """Every way `document` breaks the schema, each as `path: message` (best match first)."""
    errors = sorted(VALIDATOR.iter_errors(document), key=jsonschema.exceptions.relevance)
    found = []
    for error in errors:
        best = jsonschema.exceptions.best_match([error])
        found.append(f"{best.json_path}: {best.message}")
    return found


def test_the_committed_schema_is_the_one_the_model_generates() -> None:
    assert COMMITTED.read_text() == json_text(), (
        f"{COMMITTED.relative_to(ROOT)} is out of date with survey/core/model.py or schema.py; "
        f"regenerate it with `{REGENERATE}`"
    )


def test_survey_schema_prints_the_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])

    assert result.exit_code == 0, result.output
    assert result.output == json_text()


def test_the_schema_is_a_valid_draft_7_schema_with_a_title() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert SCHEMA["title"]
    assert "docs/questionnaire-format.md" in SCHEMA["description"]
    assert "$defs" not in json_text()


def test_every_definition_and_key_of_the_format_has_a_description() -> None:
    definitions = {"Questionnaire": SCHEMA, **SCHEMA["definitions"]}
    for name, definition in definitions.items():
        assert definition.get("description"), f"{name} has no description in STRUCTS"
        for key, prop in definition["properties"].items():
            assert prop.get("description"), f"{name}.{key} has no description in STRUCTS"


def test_every_description_names_a_key_the_model_has() -> None:
    definitions = {"Questionnaire": SCHEMA, **SCHEMA["definitions"]}
    for name, (_, fields) in STRUCTS.items():
        assert name in definitions, f"STRUCTS describes {name}, which the schema lacks"
        assert set(fields) <= set(definitions[name]["properties"]), name


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_every_questionnaire_we_ship_or_test_with_passes_the_schema(path: Path) -> None:
    load(path.read_bytes(), str(path))  # the loader takes it, so the schema must too

    assert schema_errors(yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("path", [ROOT / "questionnaires" / "connector.yaml", TEAMWORK])
def test_a_questionnaire_names_the_schema_for_editors_on_its_first_line(path: Path) -> None:
    first = path.read_text().splitlines()[0]

    assert MODELINE.fullmatch(first), first


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_a_schema_comment_in_a_questionnaire_points_at_the_committed_schema(path: Path) -> None:
    for target in MODELINE.findall(path.read_text()):
        assert (path.parent / target).resolve() == COMMITTED, target


# --- documents the schema rejects, as the loader does ------------------------------------------

BASE: dict[str, Any] = yaml.safe_load(TEAMWORK.read_text())


def likert(doc: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = doc["sections"][0]["items"][0]
    assert item["type"] == "likert"
    return item


def choice(doc: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = doc["sections"][2]["items"][1]
    assert item["type"] == "choice"
    return item


Breakage = Callable[[dict[str, Any]], object]

# What breaks a good questionnaire, and a piece of the first error the schema reports for it.
BAD: dict[str, tuple[Breakage, str]] = {
    "an unknown top-level key": (
        lambda d: d.update(subtitle="Teams"),
        "$: Additional properties are not allowed ('subtitle' was unexpected)",
    ),
    "a misspelt item key": (
        lambda d: likert(d).update(reversed=True),
        "$.sections[0].items[0]: Additional properties are not allowed ('reversed'",
    ),
    "an unknown item type": (
        lambda d: likert(d).update(type="slider"),
        "$.sections[0].items[0].type: 'slider' is not one of",
    ),
    "an item without a type": (
        lambda d: likert(d).pop("type"),
        "$.sections[0].items[0]: 'type' is a required property",
    ),
    "a likert item without a scale": (
        lambda d: likert(d).pop("scale"),
        "$.sections[0].items[0]: 'scale' is a required property",
    ),
    "a slug in capitals": (lambda d: d.update(slug="Teamwork"), "$.slug: 'Teamwork' does not"),
    "an id starting with a digit": (
        lambda d: likert(d).update(id="1st"),
        "$.sections[0].items[0].id: '1st' does not match",
    ),
    "no title": (lambda d: d.pop("title"), "$: 'title' is a required property"),
    "an empty title": (lambda d: d.update(title=""), "$.title: '' should be non-empty"),
    "no sections": (lambda d: d.update(sections=[]), "$.sections: [] should be non-empty"),
    "a section without items": (
        lambda d: d["sections"][0].update(items=[]),
        "$.sections[0].items: [] should be non-empty",
    ),
    "a scale of one label": (
        lambda d: d["scales"]["agree6"].update(labels=["Agree"]),
        "$.scales.agree6.labels: ['Agree'] is too short",
    ),
    "a scale value that is not a whole number": (
        lambda d: d["scales"]["agree6"].update(values=[1, 2, 3, 4, 5, 5.5]),
        "$.scales.agree6.values[5]: 5.5 is not of type 'integer'",
    ),
    "a scale value repeated": (
        lambda d: d["scales"]["agree6"].update(values=[1, 2, 3, 4, 5, 5]),
        "$.scales.agree6.values: [1, 2, 3, 4, 5, 5] has non-unique elements",
    ),
    "an option repeated": (
        lambda d: choice(d).update(options=["Sales", "Sales"]),
        "$.sections[2].items[1].options: ['Sales', 'Sales'] has non-unique elements",
    ),
    "options YAML reads as booleans (unquoted Yes and No)": (
        lambda d: choice(d).update(options=yaml.safe_load("[Yes, No]")),
        "$.sections[2].items[1].options[0]: True is not of type 'string'",
    ),
    "no options": (
        lambda d: choice(d).update(options=[]),
        "$.sections[2].items[1].options: [] should be non-empty",
    ),
    "required as a word": (
        lambda d: likert(d).update(required="sometimes"),
        "$.sections[0].items[0].required: 'sometimes' is not of type 'boolean'",
    ),
    "min_answered of zero": (
        lambda d: d["scoring"].update(min_answered=0),
        "$.scoring.min_answered: 0 is less than or equal to the minimum of 0",
    ),
    "min_answered over one": (
        lambda d: d["scoring"].update(min_answered=1.5),
        "$.scoring.min_answered: 1.5 is greater than the maximum of 1",
    ),
    "a weight of zero": (
        lambda d: d["scoring"]["index"]["weights"].update(trust=0),
        "$.scoring.index.weights.trust: 0 is less than or equal to the minimum of 0",
    ),
    "a text item of length zero": (
        lambda d: d["sections"][2]["items"][2].update(max_length=0),
        "$.sections[2].items[2].max_length: 0 is less than the minimum of 1",
    ),
    "a number bound as text": (
        lambda d: d["sections"][2]["items"][0].update(min="one"),
        "$.sections[2].items[0].min: 'one' is not valid",
    ),
    "a feedback band without text": (
        lambda d: d["dimensions"][0]["feedback"][0].pop("text"),
        "$.dimensions[0].feedback[0]: 'text' is a required property",
    ),
    "a profile without a label": (
        lambda d: d["profiles"][0].pop("label"),
        "$.profiles[0]: 'label' is a required property",
    ),
    "a condition with an unknown bound": (
        lambda d: d["profiles"][0]["when"]["index"].update(above=75),
        "$.profiles[0].when.index: Additional properties are not allowed ('above'",
    ),
}


@pytest.mark.parametrize("breakage", BAD)
def test_the_schema_rejects_what_the_loader_rejects_and_says_where(breakage: str) -> None:
    document = copy.deepcopy(BASE)
    mutate, expected = BAD[breakage]
    mutate(document)

    errors = schema_errors(document)

    assert errors, f"the schema accepts {breakage}"
    assert errors[0].startswith(expected), errors
    with pytest.raises(QuestionnaireError):
        load(yaml.safe_dump(document, sort_keys=False))


def test_the_schema_leaves_cross_references_to_the_loader() -> None:
    document = copy.deepcopy(BASE)
    likert(document)["scale"] = "agree7"

    assert schema_errors(document) == []
    with pytest.raises(QuestionnaireError, match=r"items\[0\]\.scale: unknown scale 'agree7'"):
        load(yaml.safe_dump(document, sort_keys=False))
