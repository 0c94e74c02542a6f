"""The loader: strict decoding, cross-checks with their paths, the version hash."""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from survey.core.loader import load, load_dir, version_of
from survey.errors import QuestionnaireError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    [*(ROOT / "questionnaires").glob("*.yaml"), *(ROOT / "questionnaires").glob("*.yml")]
)
CONNECTOR = ROOT / "questionnaires" / "connector.yaml"
TEAMWORK = ROOT / "tests" / "data" / "teamwork.yaml"

# The smallest questionnaire that exercises every cross-check; tests break a deep copy of it.
MINIMAL: dict[str, Any] = yaml.safe_load(
    """
slug: mini
title: Mini
scales:
  agree5: {labels: [a, b, c, d, e]}
dimensions:
  - {id: alpha, name: Alpha}
  - {id: beta, name: Beta}
sections:
  - id: only
    title: Only
    items:
      - {id: a1, type: likert, scale: agree5, dimension: alpha, text: A1}
      - {id: b1, type: likert, scale: agree5, dimension: beta, text: B1}
      - {id: size, type: number, text: Size, segment: true}
scoring:
  index: {weights: {alpha: 1, beta: 2}}
profiles:
  - {id: high, label: High, when: {index: {at_least: 50}}}
  - {id: rest, label: Rest, when: {index: {below: 50}}}
"""
)


def minimal() -> dict[str, Any]:
    return copy.deepcopy(MINIMAL)


def problems_of(raw: dict[str, Any] | str, source: str = "broken.yaml") -> dict[str, str]:
    """Load a questionnaire that must fail; its problems as {path: message}."""
    text = raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False)
    with pytest.raises(QuestionnaireError) as caught:
        load(text, source)
    assert caught.value.file == source
    return {p.field: p.message for p in caught.value.problems}


# --- questionnaires that load ----------------------------------------------------------------


def test_the_questionnaires_directory_ships_the_connector_survey() -> None:
    assert CONNECTOR in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_questionnaire_loads(path: Path) -> None:
    loaded = load(path.read_bytes(), str(path))
    assert loaded.file == str(path)
    assert re.fullmatch(r"[0-9a-f]{12}", loaded.version)
    assert loaded.definition.likert_items()


def test_the_teamwork_test_questionnaire_loads_with_its_own_shape() -> None:
    q = load(TEAMWORK.read_bytes(), str(TEAMWORK)).definition
    assert q.slug == "teamwork"
    assert q.consent is None
    assert q.scales["agree6"].points == [1, 2, 3, 4, 5, 6]
    assert q.weights == {"trust": 2.0, "candour": 1.0, "follow_through": 1.0}
    assert q.scoring.min_answered == 0.5


def test_load_dir_returns_every_shipped_questionnaire_by_slug() -> None:
    loaded = load_dir(ROOT / "questionnaires")
    expected = {load(p.read_bytes()).definition.slug for p in SHIPPED}
    assert set(loaded) == expected
    assert loaded["connector"].file == str(CONNECTOR)


def test_a_scale_without_values_counts_from_one() -> None:
    q = load(yaml.safe_dump(MINIMAL)).definition
    assert q.scales["agree5"].points == [1, 2, 3, 4, 5]


def test_weights_default_to_every_dimension_with_weight_one() -> None:
    raw = minimal()
    del raw["scoring"]
    assert load(yaml.safe_dump(raw)).definition.weights == {"alpha": 1.0, "beta": 1.0}


# --- the version -----------------------------------------------------------------------------


def test_the_version_is_the_first_twelve_hex_digits_of_the_sha256_of_the_canonical_json() -> None:
    loaded = load(CONNECTOR.read_bytes())
    # Without the quality thresholds, the channels and the absent checks (see version_of).
    plain = msgspec.to_builtins(loaded.definition, order="deterministic")
    del plain["quality"]
    del plain["channels"]
    for item in (i for s in plain["sections"] for i in s["items"]):
        assert item.pop("check") is None
    digest = hashlib.sha256(msgspec.json.encode(plain)).hexdigest()
    assert loaded.version == digest[:12] == version_of(loaded.definition)
    assert re.fullmatch(r"[0-9a-f]{12}", loaded.version)


def test_channels_do_not_change_the_version() -> None:
    raw = minimal()
    base = load(yaml.safe_dump(raw)).version
    raw["channels"] = [{"id": "newsletter", "label": "The newsletter"}]
    assert load(yaml.safe_dump(raw)).version == base
    raw["channels"] = [{"id": "News Letter", "label": "x"}]
    with pytest.raises(QuestionnaireError, match="channels"):
        load(yaml.safe_dump(raw))


def test_quality_thresholds_do_not_change_the_version_and_an_attention_item_does() -> None:
    raw = minimal()
    base = load(yaml.safe_dump(raw)).version
    raw["quality"] = {"min_seconds": 30, "longstring": 0.9}
    assert load(yaml.safe_dump(raw)).version == base
    raw["sections"][0]["items"].append(
        {"id": "attend", "type": "likert", "scale": "agree5", "text": "Choose b.",
         "check": {"expect": 2}}
    )  # fmt: skip
    assert load(yaml.safe_dump(raw)).version != base


@pytest.mark.parametrize(
    ("item", "path", "message"),
    [
        ({"type": "likert", "scale": "agree5", "check": {"expect": 9}}, "check.expect",
         "9 is not a value of scale 'agree5'"),
        ({"type": "likert", "scale": "agree5", "dimension": "alpha", "check": {"expect": 2}},
         "dimension", "an attention item is never scored: no dimension"),
        ({"type": "likert", "scale": "agree5"}, "dimension",
         "a likert item needs a dimension (only an attention item, with `check`, has none)"),
        ({"type": "choice", "options": ["x", "y"], "check": {"expect": "z"}}, "check.expect",
         "'z' is not an option of 'attend'"),
        ({"type": "text", "check": {"expect": "x"}}, "check",
         "only a likert or choice item can be an attention item"),
    ],
)  # fmt: skip
def test_an_attention_item_is_checked(item: dict[str, Any], path: str, message: str) -> None:
    raw = minimal()
    raw["sections"][0]["items"].append({"id": "attend", "text": "Choose b.", **item})
    assert problems_of(raw) == {f"sections[0].items[3].{path}": message}


def test_an_attention_item_is_not_scored() -> None:
    raw = minimal()
    raw["sections"][0]["items"].append(
        {"id": "attend", "type": "likert", "scale": "agree5", "text": "Choose b.",
         "check": {"expect": 2}}
    )  # fmt: skip
    q = load(yaml.safe_dump(raw)).definition
    assert [i.id for i in q.likert_items()] == ["a1", "b1"]
    assert [i.id for i in q.checks] == ["attend"]


def test_the_version_is_stable_across_loads_comments_and_layout() -> None:
    text = CONNECTOR.read_text()
    first = load(text).version
    assert load(text).version == first
    assert load("# a comment changes nothing\n" + text).version == first
    # The same definition written out again in another YAML style, every mapping's keys sorted.
    relaid = yaml.safe_dump(
        yaml.safe_load(text), default_flow_style=True, width=10_000, sort_keys=True
    )
    assert relaid != text
    assert load(relaid).version == first


def test_the_version_does_not_depend_on_the_order_of_weights_or_scales() -> None:
    raw = minimal()
    raw["scales"]["agree3"] = {"labels": ["a", "b", "c"]}
    before = load(yaml.safe_dump(raw, sort_keys=False)).version
    raw["scales"] = dict(reversed(raw["scales"].items()))
    raw["scoring"]["index"]["weights"] = {"beta": 2, "alpha": 1}
    assert load(yaml.safe_dump(raw, sort_keys=False)).version == before


def test_the_version_changes_when_an_item_text_changes() -> None:
    raw = yaml.safe_load(CONNECTOR.read_text())
    before = load(yaml.safe_dump(raw)).version
    raw["sections"][0]["items"][0]["text"] += " Always."
    assert load(yaml.safe_dump(raw)).version != before


def test_the_version_changes_when_a_weight_changes() -> None:
    raw = minimal()
    before = load(yaml.safe_dump(raw)).version
    raw["scoring"]["index"]["weights"]["beta"] = 3
    assert load(yaml.safe_dump(raw)).version != before


# --- every problem at once, with its path ----------------------------------------------------


def test_a_broken_connector_reports_every_problem_at_once_with_its_path() -> None:
    raw = yaml.safe_load(CONNECTOR.read_text())
    raw["colour"] = "blue"
    raw["sections"][1]["items"][3]["hint"] = "Think of last week."
    raw["sections"][1]["items"][3]["scale"] = "agree7"
    raw["sections"][2]["items"][1]["id"] = raw["sections"][2]["items"][0]["id"]

    problems = problems_of(raw, "connector-broken.yaml")

    assert problems == {
        "colour": "unknown key 'colour'",
        "sections[1].items[3].hint": "unknown key 'hint'",
        "sections[1].items[3].scale": "unknown scale 'agree7'",
        "sections[2].items[1].id": "duplicate item id 'ask_needs'",
    }


def test_the_error_message_names_the_file_on_every_line() -> None:
    raw = minimal()
    raw["colour"] = "blue"
    raw["sections"][0]["items"][0]["scale"] = "agree7"
    with pytest.raises(QuestionnaireError) as caught:
        load(yaml.safe_dump(raw), "questionnaires/mini.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith("questionnaires/mini.yaml: ") for line in lines)
    assert "questionnaires/mini.yaml: sections[0].items[0].scale: unknown scale" in str(
        caught.value
    )


def test_unknown_keys_are_found_inside_scales_conditions_and_the_index() -> None:
    raw = minimal()
    raw["scales"]["agree5"]["colour"] = "red"
    raw["profiles"][0]["when"]["index"]["above"] = 10
    raw["scoring"]["index"]["label"] = "x"
    assert set(problems_of(raw)) == {
        "scales.agree5.colour",
        "profiles[0].when.index.above",
        "scoring.index.label",
    }


def test_a_likert_item_with_an_unknown_dimension_is_reported_at_its_dimension() -> None:
    raw = minimal()
    raw["sections"][0]["items"][1]["dimension"] = "gamma"
    problems = problems_of(raw)
    assert problems["sections[0].items[1].dimension"] == "unknown dimension 'gamma'"
    # And beta, which has now lost its only item, is reported too.
    assert problems["dimensions[1]"] == "dimension 'beta' has no items"


def test_a_dimension_with_no_items_is_reported() -> None:
    raw = minimal()
    raw["dimensions"].append({"id": "gamma", "name": "Gamma"})
    assert problems_of(raw) == {"dimensions[2]": "dimension 'gamma' has no items"}


def test_weights_naming_an_unknown_dimension_are_reported() -> None:
    raw = minimal()
    raw["scoring"]["index"]["weights"]["gamma"] = 1
    assert problems_of(raw) == {"scoring.index.weights.gamma": "unknown dimension 'gamma'"}


def test_a_weight_that_is_not_positive_is_reported_under_its_dimension() -> None:
    raw = minimal()
    raw["scoring"]["index"]["weights"]["beta"] = 0
    problems = problems_of(raw)
    assert list(problems) == ["scoring.index.weights.beta"]
    assert "> 0" in problems["scoring.index.weights.beta"]


def test_a_profile_without_conditions_that_takes_unforeseen_values_is_reported() -> None:
    # connector.yaml's first version: a blank collecting score fell through to the middle.
    raw = minimal()
    raw["profiles"] = [
        {"id": "high", "label": "High", "when": {"index": {"at_least": 70}}},
        {"id": "low", "label": "Low", "when": {"index": {"below": 45}}},
        {"id": "odd", "label": "Odd", "when": {"dimensions": {"beta": {"below": 20}}}},
        {"id": "middle", "label": "Middle"},
    ]
    # beta is in the index (never blank there), so only index and beta values are cells.
    assert problems_of(raw) == {
        "profiles[3].when": "'middle' has no conditions, so it takes values no rule was written "
        "for: index 45 to under 70, beta 20 or more; give them a profile of their own and "
        "'middle' a `when`",
    }


def test_a_blank_dimension_outside_the_index_must_have_a_profile_of_its_own() -> None:
    raw = minimal()
    raw["scoring"]["index"]["weights"] = {"alpha": 1}
    raw["profiles"] = [
        {
            "id": "a",
            "label": "A",
            "when": {"index": {"at_least": 50}, "dimensions": {"beta": {"at_least": 40}}},
        },
        {"id": "b", "label": "B", "when": {"dimensions": {"beta": {"below": 40}}}},
        {"id": "c", "label": "C", "when": {"index": {"below": 50}}},
    ]
    assert problems_of(raw) == {"profiles": "no profile holds for index 50 or more, beta blank"}
    raw["profiles"].insert(
        0, {"id": "blank", "label": "?", "when": {"dimensions": {"beta": {"missing": True}}}}
    )
    load(yaml.safe_dump(raw))


def test_a_profile_the_ones_before_it_always_pre_empt_is_reported() -> None:
    raw = minimal()
    raw["profiles"].insert(
        1, {"id": "higher", "label": "Higher", "when": {"index": {"at_least": 60}}}
    )
    assert problems_of(raw) == {
        "profiles[1]": "'higher' is never chosen: the profiles before it hold for every result "
        "it holds for"
    }


def test_cells_that_the_index_cannot_reach_need_no_profile() -> None:
    # An index of 70 or more needs alpha and beta to average 70: with both under 40 it cannot.
    raw = minimal()
    raw["profiles"] = [
        {
            "id": "no",
            "label": "No",
            "when": {
                "index": {"at_least": 70},
                "dimensions": {"alpha": {"below": 40}, "beta": {"below": 40}},
            },
        },
        {"id": "high", "label": "High", "when": {"index": {"at_least": 70}}},
        {"id": "rest", "label": "Rest", "when": {"index": {"below": 70}}},
    ]
    assert problems_of(raw) == {
        "profiles[0]": "'no' is never chosen: the profiles before it hold for every result it "
        "holds for"
    }
    # With alpha at 40 to 100 and beta (weight 2) under 40, the index reaches 60 at most.
    raw["profiles"][0]["when"] = {"index": {"at_least": 60}, "dimensions": {"beta": {"below": 40}}}
    raw["profiles"][0]["when"]["dimensions"]["alpha"] = {"at_least": 40}
    assert problems_of(raw) == {
        "profiles[0]": "'no' is never chosen: the profiles before it hold for every result it "
        "holds for"
    }
    raw["profiles"][0]["when"]["index"] = {"at_least": 59}
    load(yaml.safe_dump(raw))


def test_one_profile_for_everyone_needs_no_conditions() -> None:
    raw = minimal()
    raw["profiles"] = [{"id": "all", "label": "Everyone"}]
    load(yaml.safe_dump(raw))


def test_a_profile_condition_on_an_unknown_dimension_is_reported() -> None:
    raw = minimal()
    raw["profiles"][0]["when"]["dimensions"] = {"gamma": {"at_least": 1}}
    assert problems_of(raw) == {"profiles[0].when.dimensions.gamma": "unknown dimension 'gamma'"}


def test_a_missing_condition_with_bounds_is_reported() -> None:
    raw = minimal()
    raw["profiles"][0]["when"]["dimensions"] = {"beta": {"missing": True, "below": 50}}
    problems = problems_of(raw)
    assert list(problems) == ["profiles[0].when.dimensions.beta"]
    assert "takes no at_least or below" in problems["profiles[0].when.dimensions.beta"]


def test_a_missing_condition_on_the_index_is_reported_as_never_holding() -> None:
    raw = minimal()
    raw["profiles"][0]["when"] = {"index": {"missing": True}}
    assert problems_of(raw) == {
        "profiles[0].when.index.missing": (
            "a response without an index gets no profile: this never holds"
        )
    }


def test_a_feedback_band_cannot_say_missing() -> None:
    raw = minimal()
    raw["dimensions"][0]["feedback"] = [{"missing": True, "text": "None"}, {"text": "Any"}]
    assert list(problems_of(raw)) == ["dimensions[0].feedback[0].missing"]


@pytest.mark.parametrize(
    ("at", "show_if", "path", "message"),
    [
        (0, {"item": "b1", "answered": True}, "show_if.item", "'b1' is not an earlier item"),
        (1, {"item": "a1", "answered": True}, "show_if.item", "'a1' is not an earlier item"),
        (1, {"item": "zz", "answered": True}, "show_if.item", "'zz' is not an earlier item"),
        (2, {"item": "a1"}, "show_if", "give at least one of at_least, below, in, answered"),
        (
            2,
            {"item": "a1", "in": ["x"]},
            "show_if.in",
            "a likert item's `in` takes only 'na', not 'x'",
        ),
        (
            2,
            {"item": "a1", "in": ["na"]},
            "show_if.in",
            "'na' answers: scale 'agree5' of 'a1' has no `na`",
        ),
        (1, {"item": "pick", "in": ["c"]}, "show_if.in", "'c' is not an option of 'pick'"),
        (
            1,
            {"item": "pick", "at_least": 2},
            "show_if",
            "at_least and below need a likert or number item, not 'pick'",
        ),
    ],
)
def test_a_display_condition_on_anything_but_an_earlier_item_of_the_right_kind_is_reported(
    at: int, show_if: dict[str, Any], path: str, message: str
) -> None:
    raw = minimal()
    items = raw["sections"][0]["items"]
    items.insert(0, {"id": "pick", "type": "choice", "text": "Pick", "options": ["a", "b"]})
    # Now: pick, a1, b1, size.
    items[at]["show_if"] = show_if
    assert problems_of(raw) == {f"sections[0].items[{at}].{path}": message}


def test_a_condition_inside_a_randomised_section_on_its_own_items_is_reported() -> None:
    raw = minimal()
    raw["sections"][0]["randomize"] = True
    raw["sections"][0]["items"][1]["show_if"] = {"item": "a1", "at_least": 3}
    assert problems_of(raw) == {
        "sections[0].items[1].show_if.item": "a randomised section may show its items in any "
        "order: the condition must name an item of an earlier section"
    }


def test_a_section_condition_must_name_an_item_before_the_section() -> None:
    raw = minimal()
    raw["sections"].append(
        {
            "id": "later",
            "title": "Later",
            "show_if": {"item": "c1", "answered": True},
            "items": [{"id": "c1", "type": "likert", "scale": "agree5", "dimension": "beta",
                       "text": "C1"}],
        }
    )  # fmt: skip
    assert problems_of(raw) == {"sections[1].show_if.item": "'c1' is not an earlier item"}
    raw["sections"][1]["show_if"] = {"item": "a1", "at_least": 3}
    later = load(yaml.safe_dump(raw)).definition.sections[1].show_if
    assert later is not None and later.item == "a1" and later.at_least == 3


def test_the_last_feedback_band_with_a_condition_is_reported() -> None:
    raw = minimal()
    raw["dimensions"][0]["feedback"] = [{"below": 50, "text": "Low"}, {"below": 80, "text": "Mid"}]
    assert problems_of(raw) == {"dimensions[0].feedback[1]": "the last band must have no condition"}


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            lambda raw: raw["dimensions"].append({"id": "alpha", "name": "Again"}),
            "dimensions[2].id",
            "duplicate dimension id 'alpha'",
        ),
        (
            lambda raw: raw["sections"].append(
                {"id": "only", "title": "T", "items": [{"id": "t", "type": "text", "text": "T"}]}
            ),
            "sections[1].id",
            "duplicate section id 'only'",
        ),
        (
            lambda raw: raw["sections"][0]["items"].append(
                {"id": "a1", "type": "text", "text": "T"}
            ),
            "sections[0].items[3].id",
            "duplicate item id 'a1'",
        ),
        (
            lambda raw: raw["profiles"].insert(1, {"id": "high", "label": "Again", "when": {}}),
            "profiles[1].id",
            "duplicate profile id 'high'",
        ),
    ],
    ids=["dimension", "section", "item", "profile"],
)
def test_a_duplicate_id_is_reported_at_its_second_use(edit: Any, path: str, message: str) -> None:
    raw = minimal()
    edit(raw)
    assert problems_of(raw) == {path: message}


def test_a_duplicate_option_is_reported() -> None:
    raw = minimal()
    raw["sections"][0]["items"].append(
        {"id": "pick", "type": "choice", "text": "Pick", "options": ["x", "y", "x"]}
    )
    assert problems_of(raw) == {"sections[0].items[3].options": "duplicate option 'x'"}


def test_a_segment_item_cannot_take_the_name_of_a_report_filter() -> None:
    raw = minimal()
    raw["sections"][0]["items"][2]["id"] = "from"
    assert problems_of(raw) == {"sections[0].items[2].id": "'from' is reserved for filters"}


@pytest.mark.parametrize("values", [[1, 3, 2, 4, 5], [1, 2, 2, 4, 5], [5, 4, 3, 2, 1]])
def test_a_scale_whose_values_are_not_strictly_increasing_is_reported_under_its_name(
    values: list[int],
) -> None:
    raw = minimal()
    raw["scales"]["agree5"]["values"] = values
    assert problems_of(raw) == {"scales.agree5": "values must be strictly increasing integers"}


def test_a_scale_with_a_value_count_unlike_its_label_count_is_reported() -> None:
    raw = minimal()
    raw["scales"]["agree5"]["values"] = [1, 2, 3]
    assert problems_of(raw) == {"scales.agree5": "values must have one entry per label"}


def test_a_type_error_reports_its_path() -> None:
    raw = minimal()
    raw["title"] = [1]
    assert problems_of(raw) == {"title": "Expected `str`, got `array`"}


def test_a_nested_type_error_reports_its_path() -> None:
    raw = minimal()
    raw["sections"][0]["items"][1]["required"] = "sometimes"
    assert problems_of(raw) == {"sections[0].items[1].required": "Expected `bool`, got `str`"}


def test_a_type_error_under_a_mapping_key_names_the_key() -> None:
    raw = minimal()
    raw["profiles"][0]["when"]["dimensions"] = {"alpha": {"below": 1}, "beta": {"below": "x"}}
    problems = problems_of(raw)
    assert list(problems) == ["profiles[0].when.dimensions.beta.below"]


def test_an_unknown_item_type_is_reported_at_its_type() -> None:
    raw = minimal()
    raw["sections"][0]["items"][2]["type"] = "slider"
    assert problems_of(raw) == {"sections[0].items[2].type": "Invalid value 'slider'"}


def test_an_invalid_slug_is_rejected() -> None:
    raw = minimal()
    raw["slug"] = "Not A Slug"
    assert list(problems_of(raw)) == ["slug"]


def test_unknown_keys_are_reported_alongside_a_type_error() -> None:
    raw = minimal()
    raw["colour"] = "blue"
    raw["title"] = [1]
    assert set(problems_of(raw)) == {"colour", "title"}


def test_invalid_yaml_is_reported_with_its_line() -> None:
    problems = problems_of("slug: mini\ntitle: [unclosed\nsections: []\n", "bad.yaml")
    [(where, message)] = problems.items()
    assert re.fullmatch(r"line \d+", where)
    assert message.startswith("not valid YAML")


def test_a_document_that_is_not_a_mapping_is_rejected() -> None:
    assert problems_of("- slug\n- title\n") == {"$": "expected a mapping at the top level"}


# --- load_dir --------------------------------------------------------------------------------


def test_load_dir_rejects_two_files_with_the_same_slug(tmp_path: Path) -> None:
    text = yaml.safe_dump(MINIMAL)
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yml").write_text(text)
    with pytest.raises(QuestionnaireError) as caught:
        load_dir(tmp_path)
    [line] = caught.value.lines()
    assert f"{tmp_path / 'b.yml'}: slug: 'mini' is already used by {tmp_path / 'a.yaml'}" in line


def test_load_dir_reports_the_problems_of_every_file(tmp_path: Path) -> None:
    for name in ("one", "two"):
        raw = minimal()
        raw["slug"] = name
        raw["colour"] = "blue"
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(QuestionnaireError) as caught:
        load_dir(tmp_path)
    text = str(caught.value)
    assert f"{tmp_path / 'one.yaml'}: colour: unknown key" in text
    assert f"{tmp_path / 'two.yaml'}: colour: unknown key" in text


def test_load_dir_reads_yaml_and_yml_files_and_nothing_else(tmp_path: Path) -> None:
    for name, suffix in (("one", ".yaml"), ("two", ".yml"), ("three", ".txt")):
        raw = minimal()
        raw["slug"] = name
        (tmp_path / f"{name}{suffix}").write_text(yaml.safe_dump(raw))
    assert set(load_dir(tmp_path)) == {"one", "two"}


@pytest.mark.parametrize("where", ["slug", "item id"])
def test_a_slug_or_id_ending_in_a_newline_is_refused(where: str) -> None:
    raw = minimal()
    if where == "slug":
        raw["slug"] = "mini\n"
    else:
        raw["sections"][0]["items"][0]["id"] = "a1\n"

    problems = problems_of(raw)

    assert problems, where
    assert all("regex" in message or "match" in message for message in problems.values())
