"""The lavaan export's pure parts: the item file's columns and keyed rows, and the R script:
the model per dimension, the estimator, the invariance sequence by a segment, and names R or
lavaan could misread."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from survey.core import lavaan, loader
from survey.core.model import Questionnaire

TEAMWORK = Path(__file__).resolve().parents[2] / "tests" / "data" / "teamwork.yaml"
ITEMS = [
    "rely_on", "hide_mistakes", "ask_help", "guarded", "say_disagree", "hard_feedback",
    "nod_along", "keep_promises", "dropped_actions", "flag_early",
]  # fmt: skip


def teamwork_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(TEAMWORK.read_text())
    return doc


def likert(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for s in doc["sections"] for i in s["items"] if i["type"] == "likert"]


def load(doc: dict[str, Any]) -> Questionnaire:
    return loader.load(yaml.safe_dump(doc), "test.yaml").definition


@pytest.fixture
def q() -> Questionnaire:
    return load(teamwork_doc())


def script(q: Questionnaire, group_by: str | None = None) -> str:
    return lavaan.script(
        q,
        version="0123456789ab",
        generated=date(2026, 12, 6),
        data_file="teamwork-cfa.csv",
        group_by=group_by,
        selection=["selected with version=all, quality=all"],
    )


def code(text: str) -> list[str]:
    """The script's lines that R runs (comments and blank lines left out)."""
    return [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


# --- the item file --------------------------------------------------------------------------


def test_the_item_file_has_the_response_id_the_group_then_every_scored_item(q):
    assert lavaan.columns(q) == ["response_id", *ITEMS]
    assert lavaan.columns(q, "department") == ["response_id", "department", *ITEMS]


def test_a_reverse_keyed_item_is_written_as_min_plus_max_minus_the_answer(q):
    answers = {"rely_on": 2, "hide_mistakes": 1, "guarded": 6, "nod_along": 4}

    cells = dict(zip(lavaan.columns(q), lavaan.row(q, "r1", answers), strict=True))

    assert cells["response_id"] == "r1"
    assert cells["rely_on"] == "2"  # keyed as asked
    assert cells["hide_mistakes"] == "6"  # reverse-keyed, on a 1-6 scale
    assert cells["guarded"] == "1"
    assert cells["nod_along"] == "3"


def test_reverse_keying_uses_the_scales_own_values():
    doc = teamwork_doc()
    doc["scales"]["agree6"]["values"] = [0, 2, 4, 6, 8, 10]
    q = load(doc)

    cells = dict(zip(lavaan.columns(q), lavaan.row(q, "r", {"hide_mistakes": 2}), strict=True))

    assert cells["hide_mistakes"] == "8"


def test_not_applicable_unanswered_and_off_scale_answers_are_empty(q):
    answers = {"rely_on": "na", "hide_mistakes": 7, "ask_help": True, "guarded": 2.5}

    cells = dict(zip(lavaan.columns(q), lavaan.row(q, "r", answers), strict=True))

    assert [cells[i] for i in ITEMS] == [""] * len(ITEMS)


@given(st.integers(1, 6))
def test_a_keyed_answer_and_its_reverse_always_sum_to_min_plus_max(value):
    q = load(teamwork_doc())
    answers = {"rely_on": value, "hide_mistakes": value}

    cells = dict(zip(lavaan.columns(q), lavaan.row(q, "r", answers), strict=True))

    assert int(cells["rely_on"]) + int(cells["hide_mistakes"]) == 1 + 6


def test_the_group_cell_is_the_segment_answer_empty_when_none(q):
    def group(answers: dict[str, Any], item: str = "department") -> str:
        return lavaan.row(q, "r", answers, item)[1]

    assert group({"department": "Sales"}) == "Sales"
    assert group({}) == ""
    assert group({"team_size": 12}, "team_size") == "12"
    assert group({"team_size": 12.0}, "team_size") == "12"
    assert group({"team_size": 2.5}, "team_size") == "2.5"


def test_a_group_option_that_starts_like_a_formula_is_neutralised():
    doc = teamwork_doc()
    for item in doc["sections"][2]["items"]:
        if item["id"] == "department":
            item["options"] = ["=HYPERLINK(1)", "Sales"]
    q = load(doc)

    assert lavaan.row(q, "r", {"department": "=HYPERLINK(1)"}, "department")[1] == "'=HYPERLINK(1)"


@pytest.mark.parametrize("name", ["rely_on", "one_change", "nope", ""])
def test_grouping_by_anything_but_a_segment_item_names_it(q, name):
    with pytest.raises(lavaan.NotASegment, match=f"'{name}' is not a segment item of teamwork"):
        lavaan.columns(q, name)
    with pytest.raises(lavaan.NotASegment, match="segment items: team_size, department"):
        script(q, name)


# --- the model ------------------------------------------------------------------------------


def test_each_dimension_is_a_factor_measured_by_its_scored_items(q):
    assert lavaan.model_syntax(q).splitlines() == [
        "  trust =~ rely_on + hide_mistakes + ask_help + guarded",
        "  candour =~ say_disagree + hard_feedback + nod_along",
        "  follow_through =~ keep_promises + dropped_actions + flag_early",
    ]
    assert f"model <- '\n{lavaan.model_syntax(q)}\n'" in script(q)


def test_a_two_item_dimension_is_modelled_with_a_comment_on_its_identification():
    doc = teamwork_doc()
    doc["sections"][0]["items"] = [i for i in doc["sections"][0]["items"] if i["id"] != "ask_help"]
    doc["sections"][0]["items"] = [
        i for i in doc["sections"][0]["items"] if i["id"] not in ("guarded", "hard_feedback")
    ]
    q = load(doc)

    lines = lavaan.model_syntax(q).splitlines()

    assert "  trust =~ rely_on + hide_mistakes" in lines
    assert "  candour =~ say_disagree + nod_along" in lines
    comment = lines[lines.index("  trust =~ rely_on + hide_mistakes") - 1]
    assert comment.startswith("  # trust has two items: it is identified only through")


def test_a_dimension_with_fewer_than_two_scored_items_is_left_out_saying_so():
    doc = teamwork_doc()
    for item in likert(doc):
        if item["dimension"] == "candour" and item["id"] != "say_disagree":
            item["dimension"] = "trust"
    q = load(doc)

    assert "candour" not in lavaan.model_syntax(q)
    assert "# Left out, with fewer than two scored items: candour." in script(q)
    assert "say_disagree" in lavaan.columns(q)  # still in the item file


def test_attention_items_are_neither_columns_nor_indicators():
    doc = teamwork_doc()
    doc["sections"][0]["items"].append(
        {"id": "check_me", "type": "likert", "text": "Choose Agree.", "scale": "agree6",
         "check": {"expect": 5}}
    )  # fmt: skip
    q = load(doc)

    assert "check_me" not in lavaan.columns(q)
    assert "check_me" not in script(q)


def minimal(dimensions: dict[str, list[str]]) -> Questionnaire:
    """A questionnaire of likert items in the dimensions given, and a choice item."""
    items: list[dict[str, Any]] = [
        {"id": item, "type": "likert", "text": item, "scale": "five", "dimension": dimension}
        for dimension, ids in dimensions.items()
        for item in ids
    ]
    items.append({"id": "place", "type": "choice", "text": "Where?", "options": ["a", "b"]})
    doc = {
        "slug": "mini",
        "title": "Mini",
        "scales": {"five": {"labels": ["1", "2", "3", "4", "5"]}},
        "dimensions": [{"id": d, "name": d} for d in dimensions],
        "sections": [{"id": "only", "title": "Only", "items": items}],
    }
    return load(doc)


def test_a_model_of_one_two_item_factor_is_refused_as_unidentified():
    with pytest.raises(lavaan.NotForLavaan, match="one factor with two items"):
        script(minimal({"trust": ["a", "b"]}))


def test_two_two_item_factors_are_a_model():
    assert lavaan.model_syntax(minimal({"x": ["a", "b"], "y": ["c", "d"]})).count("=~") == 2


def test_a_questionnaire_without_a_dimension_of_two_items_is_refused():
    with pytest.raises(lavaan.NotForLavaan, match="no dimension with two scored likert items"):
        script(minimal({"x": ["a"], "y": ["b"]}))
    with pytest.raises(lavaan.NotForLavaan, match="no dimension with two scored likert items"):
        script(minimal({}))


# --- names R and lavaan must read -----------------------------------------------------------


@pytest.mark.parametrize("name", ["rely_on", "x1", "a.b", ".hidden", "follow_through", "na"])
def test_syntactic_names_pass(name):
    assert lavaan.r_name(name)


@pytest.mark.parametrize(
    "name", ["for", "in", "if", "function", "TRUE", "NA", "1x", "_x", "a-b", "a b", "...", "..1"]
)
def test_reserved_words_and_other_unsyntactic_names_do_not(name):
    assert not lavaan.r_name(name)


def test_an_item_id_r_reserves_is_refused_naming_it():
    doc = teamwork_doc()
    likert(doc)[0]["id"] = "for"
    likert(doc)[1]["id"] = "in"
    q = load(doc)

    with pytest.raises(lavaan.NotForLavaan, match=r"R reserved words.*\): for, in;"):
        script(q)


def test_a_factor_named_like_a_reserved_word_or_a_column_gets_a_name_of_its_own():
    doc = teamwork_doc()
    renames = {"trust": "repeat", "candour": "rely_on"}
    for dimension in doc["dimensions"]:
        dimension["id"] = renames.get(dimension["id"], dimension["id"])
    for item in likert(doc):
        item["dimension"] = renames.get(item["dimension"], item["dimension"])
    doc["scoring"]["index"]["weights"] = {"repeat": 2, "rely_on": 1, "follow_through": 1}
    doc["profiles"] = [{"id": "any", "label": "Anyone"}]
    q = load(doc)

    lines = lavaan.model_syntax(q).splitlines()

    assert "  repeat_f =~ rely_on + hide_mistakes + ask_help + guarded" in lines
    assert "  rely_on_f =~ say_disagree + hard_feedback + nod_along" in lines
    assert "  # repeat_f: the dimension repeat" in lines


def test_a_title_with_line_breaks_cannot_end_its_comment():
    doc = teamwork_doc()
    doc["title"] = 'Team\nsystem("rm -rf ~")\r\nunlink(".")\u2028q()'
    q = load(doc)

    text = script(q)

    assert not any(re.search(r"system|unlink|q\(\)", line) for line in code(text))
    assert '# Team system("rm -rf ~") unlink(".") q()' in text.splitlines()


def test_r_strings_escape_quotes_and_backslashes():
    assert lavaan.r_string('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'


# --- the script -----------------------------------------------------------------------------


def test_the_header_names_the_questionnaire_version_date_keying_and_steps(q):
    head = script(q, "department").split("library(lavaan)")[0]

    assert "questionnaire teamwork, version 0123456789ab" in head
    assert "# How well does your team work together?" in head
    assert "Generated by Connector Survey on 2026-12-06" in head
    assert "# Responses selected with version=all, quality=all." in head
    assert "reverse-keyed items are already reversed (min + max - answer)" in head
    assert "every loading should come out positive" in head
    assert "Steps:" in head
    assert "4. groups by department" in head
    assert all(line.startswith("#") for line in head.strip().splitlines())


def test_the_script_reads_the_item_file_beside_it_and_checks_its_columns(q):
    lines = code(script(q, "department"))

    assert "library(lavaan)" in lines
    assert 'data <- read.csv("teamwork-cfa.csv", na.strings = "", check.names = FALSE)' in lines
    assert 'absent <- setdiff(c(items, "department"), names(data))' in lines


def test_items_of_seven_points_or_fewer_are_ordered_and_fitted_by_wlsmv(q):
    text = script(q, "department")

    assert 'ordered_items <- c("rely_on", "hide_mistakes"' in text
    assert 'estimator = "WLSMV"' in text
    assert 'parameterization = "theta", missing = "pairwise"' in text
    assert "Rhemtulla" in text  # why, in a comment
    assert 'group.equal = c("loadings", "thresholds"))' in text
    assert 'change_in <- c("cfi.scaled", "rmsea.scaled", "srmr")' in text
    assert "MLR" not in text


def wide(doc: dict[str, Any], dimensions: set[str] | None = None) -> Questionnaire:
    doc["scales"]["wide"] = {"labels": [str(n) for n in range(11)], "values": list(range(11))}
    for item in likert(doc):
        if dimensions is None or item["dimension"] in dimensions:
            item["scale"] = "wide"
    return load(doc)


def test_items_of_more_points_are_continuous_and_fitted_by_mlr():
    text = script(wide(teamwork_doc()), "department")

    assert 'cfa(model, data = data, estimator = "MLR", missing = "ml", ...)' in text
    assert "ordered" not in "\n".join(code(text))
    assert 'group.equal = c("loadings", "intercepts"))' in text
    assert 'group.equal = c("loadings", "intercepts", "residuals"))' in text
    assert 'change_in <- c("cfi.robust", "rmsea.robust", "srmr")' in text


def test_mixed_items_are_ordered_where_short_and_held_by_thresholds_and_intercepts():
    text = script(wide(teamwork_doc(), {"candour"}), "department")

    assert 'continuous_items <- c("say_disagree", "hard_feedback", "nod_along")' in text
    assert '"say_disagree"' not in text.split("ordered_items <- ")[1].split(")")[0]
    assert 'group.equal = c("loadings", "thresholds", "intercepts"))' in text


def test_one_group_prints_fit_measures_and_standardized_loadings(q):
    lines = code(script(q))

    assert 'measures <- c("cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr")' in (
        lines
    )
    assert "fit <- fit_model(data)" in lines
    assert "print(fitMeasures(fit, c(measures, corrected)))" in lines
    assert 'loadings <- subset(standardizedSolution(fit), op == "=~")' in lines


def test_without_a_group_there_is_no_invariance_section(q):
    text = script(q)

    for word in ("configural", "metric", "scalar", "strict", "lavTestLRT", "grouped", "group ="):
        assert word not in "\n".join(code(text)), word


def test_with_a_group_the_four_models_are_fitted_compared_and_judged(q):
    text = script(q, "department")
    lines = code(text)

    assert 'group <- "department"' in lines
    assert f"min_group_size <- {lavaan.MIN_GROUP_SIZE}" in lines
    assert [line.split(" <- ")[0] for line in lines if "fit_model(grouped" in line] == [
        "configural",
        "metric",
        "scalar",
        "strict",
    ]
    assert "configural <- fit_model(grouped, group = group)" in lines
    assert 'metric <- fit_model(grouped, group = group, group.equal = "loadings")' in lines
    assert (
        'strict <- fit_model(grouped, group = group, group.equal = c("loadings", "thresholds", '
        '"residuals"))'
    ) in lines
    assert "print(lavTestLRT(configural, metric, scalar, strict))" in lines
    assert 'holds <- ifelse(delta_cfi >= -0.01 & delta_rmsea <= 0.015, "yes", "no")' in lines
    assert "Chen 2007" in text
    assert "dropped" in text and "merged into" in text  # small groups, empty categories


def test_a_number_segment_can_make_the_groups(q):
    assert 'group <- "team_size"' in code(script(q, "team_size"))
