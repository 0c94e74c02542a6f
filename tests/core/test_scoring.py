"""Scoring: validation, item/dimension/index scores, profiles, and their properties."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from textwrap import dedent
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from survey.core.loader import load
from survey.core.model import (
    NA,
    Answer,
    Band,
    ChoiceItem,
    Condition,
    Item,
    LikertItem,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    TextItem,
)
from survey.core.scoring import feedback, ignored, normalise, percentile, score, validate
from survey.core.submission import Submission
from survey.errors import Problem
from tests.support import exact_scores

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    [*(ROOT / "questionnaires").glob("*.yaml"), *(ROOT / "questionnaires").glob("*.yml")]
)
CONNECTOR = load((ROOT / "questionnaires" / "connector.yaml").read_bytes()).definition
TEAMWORK = load((ROOT / "tests" / "data" / "teamwork.yaml").read_bytes()).definition


def questionnaire(text: str) -> Questionnaire:
    return load(dedent(text)).definition


# warmth: four items on a 0..5 scale (6 points, not starting at 1), two reverse-keyed;
# grit: two items on the default 1..5 scale, one reverse-keyed; index weights 3:1.
SMALL = questionnaire(
    """
    slug: small
    title: Small
    scales:
      zero5: {labels: [a, b, c, d, e, f], values: [0, 1, 2, 3, 4, 5]}
      agree5: {labels: [a, b, c, d, e]}
    dimensions:
      - {id: warmth, name: Warmth}
      - {id: grit, name: Grit}
    sections:
      - id: s
        title: S
        items:
          - {id: w1, type: likert, scale: zero5, dimension: warmth, text: W1}
          - {id: w2, type: likert, scale: zero5, dimension: warmth, text: W2, reverse: true}
          - {id: w3, type: likert, scale: zero5, dimension: warmth, text: W3}
          - {id: w4, type: likert, scale: zero5, dimension: warmth, text: W4, reverse: true}
          - {id: g1, type: likert, scale: agree5, dimension: grit, text: G1}
          - {id: g2, type: likert, scale: agree5, dimension: grit, text: G2, reverse: true}
          - {id: mood, type: choice, text: Mood, options: [good, bad]}
    scoring:
      min_answered: 0.75
      index: {weights: {warmth: 3, grit: 1}}
    profiles:
      - id: warm_gritty
        label: Warm and gritty
        when: {index: {at_least: 75}, dimensions: {grit: {at_least: 50}}}
      - {id: warm, label: Warm, when: {index: {at_least: 75}}}
      - {id: cold, label: Cold, when: {index: {below: 25}}}
      - {id: middling, label: Middling, when: {index: {at_least: 25, below: 75}}}
    """
)


def one_dimension(n_items: int, min_answered: float) -> Questionnaire:
    """One dimension `d` of `n_items` likert items `i0`, `i1`, … on the default 1..5 scale."""
    raw = {
        "slug": "one",
        "title": "One",
        "scales": {"agree5": {"labels": list("abcde")}},
        "dimensions": [{"id": "d", "name": "D"}],
        "sections": [
            {
                "id": "s",
                "title": "S",
                "items": [
                    {
                        "id": f"i{n}",
                        "type": "likert",
                        "text": "I",
                        "scale": "agree5",
                        "dimension": "d",
                    }
                    for n in range(n_items)
                ],
            }
        ],
        "scoring": {"min_answered": min_answered},
        "profiles": [{"id": "any", "label": "Any"}],
    }
    return load(yaml.safe_dump(raw)).definition


# --- item scores, by hand --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "value", "reverse", "expected"),
    [
        # 1..5: 100·(4−1)/(5−1) = 75; reversed, keyed = 1+5−4 = 2 → 100·1/4 = 25
        ([1, 2, 3, 4, 5], 4, False, 75.0),
        ([1, 2, 3, 4, 5], 4, True, 25.0),
        ([1, 2, 3, 4, 5], 1, False, 0.0),
        ([1, 2, 3, 4, 5], 1, True, 100.0),
        # 0..5 (six points): 100·(3−0)/(5−0) = 60; reversed, keyed = 0+5−3 = 2 → 40
        ([0, 1, 2, 3, 4, 5], 3, False, 60.0),
        ([0, 1, 2, 3, 4, 5], 3, True, 40.0),
        ([0, 1, 2, 3, 4, 5], 0, True, 100.0),
        # −2..2: 100·(1−(−2))/4 = 75; reversed, keyed = −2+2−1 = −1 → 100·1/4 = 25
        ([-2, -1, 0, 1, 2], 1, False, 75.0),
        ([-2, -1, 0, 1, 2], 1, True, 25.0),
        # uneven 0,10,20,40: 100·10/40 = 25; reversed, keyed = 0+40−10 = 30 → 100·30/40 = 75
        ([0, 10, 20, 40], 10, False, 25.0),
        ([0, 10, 20, 40], 10, True, 75.0),
    ],
)
def test_an_item_score_follows_the_scoring_formula(
    points: list[int], value: int, reverse: bool, expected: float
) -> None:
    assert item_score(points, value, reverse) == pytest.approx(expected)


def item_score(points: list[int], value: int, reverse: bool) -> float:
    """The score of a dimension of one item on a scale of `points`, answered `value`."""
    raw = {
        "slug": "one",
        "title": "One",
        "scales": {"s": {"labels": [f"p{v}" for v in points], "values": points}},
        "dimensions": [{"id": "d", "name": "D"}],
        "sections": [
            {
                "id": "s",
                "title": "S",
                "items": [
                    {"id": "i", "type": "likert", "text": "I", "scale": "s", "dimension": "d"}
                    | ({"reverse": True} if reverse else {})
                ],
            }
        ],
        "profiles": [{"id": "any", "label": "Any"}],
    }
    q = load(yaml.safe_dump(raw)).definition
    result = score(q, {"i": value}).dimensions["d"]
    assert result is not None
    return result


# --- dimension scores, index, profile, by hand -----------------------------------------------


def test_a_full_answer_set_scores_dimensions_index_and_profile() -> None:
    answers = {"w1": 5, "w2": 0, "w3": 4, "w4": 1, "g1": 4, "g2": 2, "mood": "good"}
    result = score(SMALL, answers)
    # warmth: w1 100·5/5 = 100; w2 reversed 0+5−0 = 5 → 100; w3 100·4/5 = 80;
    #         w4 reversed 0+5−1 = 4 → 80; mean (100+100+80+80)/4 = 90
    # grit:   g1 100·(4−1)/4 = 75; g2 reversed 1+5−2 = 4 → 75; mean 75
    # index:  (3·90 + 1·75)/(3+1) = 345/4 = 86.25
    assert result.dimensions == {"warmth": pytest.approx(90.0), "grit": pytest.approx(75.0)}
    assert result.index == pytest.approx(86.25)
    # warm_gritty (index ≥ 75, grit ≥ 50) and warm (index ≥ 75) both hold: the first wins.
    assert result.profile is not None
    assert result.profile.id == "warm_gritty"
    assert result.complete


def test_a_dimension_score_is_the_mean_over_answered_items_only() -> None:
    # warmth with w4 unanswered: (100 + 100 + 80)/3 = 93.33…; 3 of 4 answered meets 0.75
    result = score(SMALL, {"w1": 5, "w2": 0, "w3": 4, "g1": 4, "g2": 2})
    assert result.dimensions["warmth"] == pytest.approx(280 / 3)
    # index: (3·280/3 + 75)/4 = 355/4 = 88.75
    assert result.index == pytest.approx(88.75)


def test_the_first_matching_profile_wins() -> None:
    answers = {"w1": 5, "w2": 0, "w3": 4, "w4": 1, "g1": 4, "g2": 2}
    first, second, *rest = SMALL.profiles
    swapped = msgspec.structs.replace(SMALL, profiles=[second, first, *rest])
    assert score(SMALL, answers).profile == first
    assert score(swapped, answers).profile == second


@pytest.mark.parametrize(
    ("min_answered", "n_items", "answered", "scored"),
    [
        (0.75, 4, 3, True),  # 0.75·4 = 3: exactly at the threshold
        (0.75, 4, 2, False),
        (0.7, 10, 7, True),  # 0.7·10 = 7
        (0.7, 10, 6, False),
        (0.28, 25, 7, True),  # 0.28·25 = 7, but 7.000000000000001 in float arithmetic
        (0.28, 25, 6, False),
        (0.5, 3, 2, True),  # 0.5·3 = 1.5: two are needed
        (0.5, 3, 1, False),
        (1, 3, 3, True),
        (1, 3, 2, False),
    ],
)
def test_a_dimension_needs_min_answered_of_its_items(
    min_answered: float, n_items: int, answered: int, scored: bool
) -> None:
    q = one_dimension(n_items, min_answered)
    result = score(q, {f"i{n}": 5 for n in range(answered)})
    assert (result.dimensions["d"] is not None) is scored
    assert (result.index is not None) is scored
    assert (result.profile is not None) is scored


def test_too_few_answers_make_the_dimension_index_and_profile_null() -> None:
    # warmth: 2 of 4 answered < 0.75·4 = 3; grit: 1 of 2 < 1.5
    result = score(SMALL, {"w1": 5, "w2": 0, "g1": 4})
    assert result.dimensions == {"warmth": None, "grit": None}
    assert result.index is None
    assert result.profile is None
    assert not result.complete


def test_one_null_weighted_dimension_makes_the_index_and_profile_null() -> None:
    result = score(SMALL, {"w1": 5, "w2": 0, "w3": 4, "w4": 1, "g1": 4})
    assert result.dimensions["warmth"] == pytest.approx(90.0)
    assert result.dimensions["grit"] is None
    assert result.index is None
    assert result.profile is None


UNWEIGHTED_EXTRA = questionnaire(
    """
    slug: extra
    title: Extra
    scales: {agree5: {labels: [a, b, c, d, e]}}
    dimensions: [{id: core, name: Core}, {id: extra, name: Extra}]
    sections:
      - id: s
        title: S
        items:
          - {id: c1, type: likert, scale: agree5, dimension: core, text: C1}
          - {id: x1, type: likert, scale: agree5, dimension: extra, text: X1}
    scoring: {index: {weights: {core: 1}}}
    profiles:
      - {id: low_extra, label: Low extra, when: {dimensions: {extra: {below: 50}}}}
      - {id: not_high_extra, label: Not high extra, when: {dimensions: {extra: {at_least: 50}}}}
      - {id: other, label: Other, when: {dimensions: {extra: {missing: true}}}}
    """
)


def test_a_null_dimension_outside_the_weights_leaves_the_index_alone() -> None:
    result = score(UNWEIGHTED_EXTRA, {"c1": 5})
    assert result.dimensions == {"core": 100.0, "extra": None}
    assert result.index == 100.0


def test_a_condition_on_a_null_dimension_does_not_hold() -> None:
    # extra is null: neither `below: 50` nor `at_least: 50` holds, so the fallback is chosen.
    result = score(UNWEIGHTED_EXTRA, {"c1": 5})
    assert result.profile is not None
    assert result.profile.id == "other"
    # Answered, the same dimension does select a profile.
    answered = score(UNWEIGHTED_EXTRA, {"c1": 5, "x1": 1}).profile
    assert answered is not None
    assert answered.id == "low_extra"


def test_at_least_includes_its_boundary_and_below_excludes_it() -> None:
    assert Condition(at_least=50).holds(50.0)
    assert not Condition(at_least=50).holds(49.999)
    assert not Condition(below=50).holds(50.0)
    assert Condition(below=50).holds(49.999)
    assert Condition(at_least=40, below=50).holds(40.0)
    assert not Condition(at_least=40, below=50).holds(50.0)
    assert not Condition(at_least=0).holds(None)
    assert not Condition().holds(None)


@pytest.mark.parametrize(
    ("answers", "index", "profile"),
    [
        # warmth 100 (all max keyed), grit 0 (g1 1 → 0; g2 reversed 1+5−5 = 1 → 0):
        # index (3·100 + 0)/4 = 75 exactly → `at_least: 75` holds; grit < 50 so not warm_gritty
        ({"w1": 5, "w2": 0, "w3": 5, "w4": 0, "g1": 1, "g2": 5}, 75.0, "warm"),
        # warmth (100+100+100+80)/4 = 95, grit (0 + 25)/2 = 12.5: (285 + 12.5)/4 = 74.375
        ({"w1": 5, "w2": 0, "w3": 5, "w4": 1, "g1": 1, "g2": 4}, 74.375, "middling"),
        # warmth: w1 20, w2 reversed 0+5−4 = 1 → 20, w3 20, w4 reversed 0+5−3 = 2 → 40: 25;
        # grit: g1 100·1/4 = 25, g2 reversed 1+5−4 = 2 → 25: 25; index (75 + 25)/4 = 25
        # exactly → `below: 25` does not hold
        ({"w1": 1, "w2": 4, "w3": 1, "w4": 3, "g1": 2, "g2": 4}, 25.0, "middling"),
        # the same warmth with grit 0: (75 + 0)/4 = 18.75 → cold
        ({"w1": 1, "w2": 4, "w3": 1, "w4": 3, "g1": 1, "g2": 5}, 18.75, "cold"),
    ],
)
def test_profile_thresholds_at_the_exact_boundary(
    answers: dict[str, int], index: float, profile: str
) -> None:
    result = score(SMALL, answers)
    assert result.index == index
    assert result.profile is not None
    assert result.profile.id == profile


def test_a_blank_answer_counts_as_unanswered() -> None:
    # w4 blank: 3 of 4 warmth items answered, as if w4 were absent
    answers: dict[str, Answer] = {"w1": 5, "w2": 0, "w3": 4, "g1": 4, "g2": 2}
    assert score(SMALL, {**answers, "w4": None}) == score(SMALL, answers)
    # w3 and w4 blank: 2 of 4 is too few
    assert score(SMALL, {**answers, "w3": None, "w4": None}).dimensions["warmth"] is None


# A 7-point scale: item scores are sixths of 100, which floats cannot hold exactly.
SEVEN = questionnaire(
    """
    slug: seven
    title: Seven
    scales: {agree7: {labels: [a, b, c, d, e, f, g]}}
    dimensions:
      - id: d
        name: D
        feedback: [{below: 50, text: low}, {text: high}]
      - {id: e, name: E}
    sections:
      - id: s
        title: S
        items:
          - {id: t1, type: likert, scale: agree7, dimension: d, text: T1}
          - {id: t2, type: likert, scale: agree7, dimension: d, text: T2}
          - {id: t3, type: likert, scale: agree7, dimension: d, text: T3, reverse: true}
          - {id: e1, type: likert, scale: agree7, dimension: e, text: E1}
          - {id: e2, type: likert, scale: agree7, dimension: e, text: E2, reverse: true}
    scoring: {min_answered: 0.6, index: {weights: {d: 1}}}
    profiles:
      - {id: half, label: Half or more, when: {index: {at_least: 50}}}
      - {id: less, label: Less, when: {index: {below: 50}}}
    """
)


def test_a_score_exactly_on_a_threshold_meets_it_whatever_the_scale() -> None:
    # t1 100·3/6 = 50; t2 100·5/6 = 83.3…; t3 reversed 1+7−6 = 2 → 100·1/6 = 16.6…;
    # mean (50 + 83.3… + 16.6…)/3 = 150/3 = 50 exactly (49.99999999999999 in float sums)
    result = score(SEVEN, {"t1": 4, "t2": 6, "t3": 6})
    assert result.dimensions["d"] == 50.0
    assert result.index == 50.0
    assert result.profile is not None
    assert result.profile.id == "half"
    assert feedback(SEVEN.dimensions[0].feedback, result.dimensions["d"]) == "high"


def test_answers_to_other_item_types_do_not_change_the_score() -> None:
    answers: dict[str, Answer] = {"w1": 5, "w2": 0, "w3": 4, "w4": 1, "g1": 4, "g2": 2}
    assert score(SMALL, {**answers, "mood": "bad"}) == score(SMALL, answers)


# --- feedback, percentile, normalise ---------------------------------------------------------


def test_feedback_is_the_first_band_that_holds() -> None:
    bands = [Band(below=40, text="low"), Band(below=70, text="mid"), Band(text="high")]
    assert feedback(bands, 39.9) == "low"
    assert feedback(bands, 40.0) == "mid"
    assert feedback(bands, 70.0) == "high"
    assert feedback(bands, None) is None


def test_the_percentile_counts_ties_as_half() -> None:
    # 3 below, 2 tied, 10 in all: 100·(3 + 0.5·2)/10 = 40
    assert percentile(below=3, ties=2, total=10) == pytest.approx(40.0)
    assert percentile(below=0, ties=1, total=1) == pytest.approx(50.0)
    assert percentile(below=0, ties=0, total=0) is None


def test_normalise_drops_blanks_and_stores_whole_numbers_as_ints() -> None:
    answers: dict[str, Answer] = {"w1": 5.0, "w2": None, "mood": "", "g1": 3, "nope": 1}
    stored = normalise(SMALL, answers)
    assert stored == {"w1": 5, "g1": 3}
    assert isinstance(stored["w1"], int)


# --- validate --------------------------------------------------------------------------------

FORM = questionnaire(
    """
    slug: form
    title: Form
    consent: I agree.
    scales: {agree5: {labels: [a, b, c, d, e]}}
    dimensions: [{id: d, name: D}]
    sections:
      - id: s
        title: S
        items:
          - {id: rate, type: likert, scale: agree5, dimension: d, text: Rate, required: true}
          - {id: pick, type: choice, text: Pick, options: [red, blue], required: true}
          - {id: many, type: multi_choice, text: Many, options: [x, y, z]}
          - {id: count, type: number, text: Count, min: 0, max: 10, integer: true}
          - {id: ratio, type: number, text: Ratio, min: 0, max: 1, integer: false}
          - {id: note, type: text, text: Note, max_length: 5}
    """
)
VALID: dict[str, Answer] = {
    "rate": 3,
    "pick": "red",
    "many": ["x", "z"],
    "count": 10,
    "ratio": 0.5,
    "note": "abcde",
}


def fields(answers: dict[str, Answer], consent: bool = True, q: Questionnaire = FORM) -> set[str]:
    return {p.field for p in validate(q, Submission(answers=answers, consent=consent))}


def test_a_valid_submission_has_no_problems() -> None:
    assert fields(VALID) == set()
    assert fields({"rate": 1, "pick": "blue"}) == set()


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ("rate", 0),
        ("rate", 6),
        ("rate", 3.5),
        ("rate", True),
        ("rate", "3"),
        ("pick", "green"),
        ("pick", 1),
        ("pick", ["red"]),
        ("many", ["x", "w"]),
        ("many", "x"),
        ("many", ["x", "x"]),
        ("count", 11),
        ("count", -1),
        ("count", 2.5),
        ("count", True),
        ("count", "3"),
        ("count", math.nan),
        ("count", math.inf),
        ("count", 10**400),
        ("ratio", True),
        ("ratio", False),
        ("ratio", 1.5),
        ("ratio", -0.1),
        ("note", "abcdef"),
        ("note", 5),
        ("note", "a\x00b"),
    ],
)
def test_a_bad_value_is_a_problem_at_its_item(item: str, value: Answer) -> None:
    assert fields({**VALID, item: value}) == {f"answers.{item}"}


@pytest.mark.parametrize(
    ("item", "value"), [("rate", 5), ("rate", 2.0), ("count", 0), ("count", 7.0), ("ratio", 1)]
)
def test_a_value_at_or_inside_the_limits_is_accepted(item: str, value: Answer) -> None:
    assert fields({**VALID, item: value}) == set()


@pytest.mark.parametrize("blank", [None, ""])
def test_a_missing_required_answer_is_a_problem(blank: Answer) -> None:
    problems = validate(FORM, Submission(answers={**VALID, "pick": blank}, consent=True))
    assert [(p.field, p.message) for p in problems] == [("answers.pick", "an answer is required")]
    absent = {k: v for k, v in VALID.items() if k != "rate"}
    assert fields(absent) == {"answers.rate"}


def test_missing_consent_is_a_problem_when_the_questionnaire_asks_for_it() -> None:
    assert fields(VALID, consent=False) == {"consent"}


def test_consent_is_not_needed_when_the_questionnaire_does_not_ask_for_it() -> None:
    assert TEAMWORK.consent is None
    full = {item.id: max(TEAMWORK.scales[item.scale].points) for item in TEAMWORK.likert_items()}
    assert fields(full, consent=False, q=TEAMWORK) == set()


def test_an_unknown_item_is_a_problem() -> None:
    assert fields({**VALID, "colour": "red"}) == {"answers.colour"}


def test_validate_lists_every_problem_at_once() -> None:
    answers: dict[str, Answer] = {
        "rate": 7,
        "many": ["x", "w"],
        "count": 2.5,
        "ratio": 3,
        "note": "too long",
        "colour": "red",
    }
    assert fields(answers, consent=False) == {
        "answers.colour",
        "answers.rate",
        "answers.pick",
        "answers.many",
        "answers.count",
        "answers.ratio",
        "answers.note",
        "consent",
    }


def test_an_empty_connector_submission_lists_every_required_item_and_consent() -> None:
    required = {f"answers.{item.id}" for item in CONNECTOR.items if item.required}
    problems = validate(CONNECTOR, Submission())
    assert {p.field for p in problems} == required | {"consent"}
    assert len(problems) == len(required) + 1


# --- properties ------------------------------------------------------------------------------


def answer_for(q: Questionnaire, item: Item) -> st.SearchStrategy[Answer]:
    """A valid answer to one item."""
    match item:
        case LikertItem(scale=scale):
            na: list[Answer] = [NA] if q.scales[scale].na is not None else []
            return st.sampled_from([*q.scales[scale].points, *na])
        case ChoiceItem(options=options):
            return st.sampled_from(options)
        case MultiChoiceItem(options=options):
            return st.lists(st.sampled_from(options), min_size=1, unique=True)
        case NumberItem(min=low, max=high, integer=True):
            low_int = None if low is None else math.ceil(low)
            high_int = None if high is None else math.floor(high)
            return st.integers(low_int, high_int)
        case NumberItem(min=low, max=high):
            return st.floats(low, high, allow_nan=False, allow_infinity=False)
        case TextItem(max_length=limit):
            alphabet = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
            return st.text(alphabet, min_size=1, max_size=min(limit, 40))
    raise AssertionError(f"no strategy for {item!r}")


def answer_sets(q: Questionnaire) -> st.SearchStrategy[dict[str, Answer]]:
    """Valid answers to any subset of the items, from none to all."""
    return st.fixed_dictionaries({}, optional={item.id: answer_for(q, item) for item in q.items})


PROPERTY_QUESTIONNAIRES = pytest.mark.parametrize(
    "q", [CONNECTOR, TEAMWORK, SMALL, SEVEN], ids=["connector", "teamwork", "small", "seven"]
)


def reversed_keying(q: Questionnaire) -> Questionnaire:
    """The same questionnaire with every likert item's keying flipped."""

    def flip(item: Item) -> Item:
        if isinstance(item, LikertItem):
            return msgspec.structs.replace(item, reverse=not item.reverse)
        return item

    sections = [msgspec.structs.replace(s, items=[flip(i) for i in s.items]) for s in q.sections]
    return msgspec.structs.replace(q, sections=sections)


def close(value: float | None, exact: Fraction | None) -> bool:
    if value is None or exact is None:
        return value is None and exact is None
    return math.isclose(value, float(exact), rel_tol=0, abs_tol=1e-9)


@PROPERTY_QUESTIONNAIRES
@given(data=st.data())
def test_every_score_is_between_0_and_100_or_null(q: Questionnaire, data: st.DataObject) -> None:
    result = score(q, data.draw(answer_sets(q)))
    for value in [*result.dimensions.values(), result.index]:
        assert value is None or 0 <= value <= 100


@PROPERTY_QUESTIONNAIRES
@given(data=st.data())
def test_valid_answers_only_ever_miss_required_items(q: Questionnaire, data: st.DataObject) -> None:
    answers = data.draw(answer_sets(q))
    missing = {f"answers.{i.id}" for i in q.items if i.required and i.id not in answers}
    assert fields(answers, consent=True, q=q) == missing


@PROPERTY_QUESTIONNAIRES
@given(data=st.data())
def test_the_scores_equal_an_exact_recomputation(q: Questionnaire, data: st.DataObject) -> None:
    answers = data.draw(answer_sets(q))
    result = score(q, answers)
    dimensions, index = exact_scores(q, answers)
    assert result.dimensions.keys() == dimensions.keys()
    for name, exact in dimensions.items():
        assert close(result.dimensions[name], exact), name
    assert close(result.index, index)


@PROPERTY_QUESTIONNAIRES
@given(data=st.data())
def test_the_profile_equals_one_chosen_from_exact_scores(
    q: Questionnaire, data: st.DataObject
) -> None:
    answers = data.draw(answer_sets(q))
    dimensions, index = exact_scores(q, answers)

    def holds(condition: Condition | None, value: Fraction | None) -> bool:
        if condition is None:
            return True
        if value is None or condition.missing:
            return value is None and condition.missing
        above = condition.at_least is None or value >= Fraction(str(condition.at_least))
        return above and (condition.below is None or value < Fraction(str(condition.below)))

    expected = None
    if index is not None:
        expected = next(
            p
            for p in q.profiles
            if p.when is None
            or (
                holds(p.when.index, index)
                and all(holds(c, dimensions[d]) for d, c in p.when.dimensions.items())
            )
        )
    assert score(q, answers).profile == expected


@PROPERTY_QUESTIONNAIRES
@given(data=st.data())
def test_reversing_every_item_mirrors_every_score(q: Questionnaire, data: st.DataObject) -> None:
    answers = data.draw(answer_sets(q))
    straight, flipped = score(q, answers), score(reversed_keying(q), answers)
    pairs = [(straight.index, flipped.index)]
    pairs += [(straight.dimensions[d], flipped.dimensions[d]) for d in straight.dimensions]
    for before, after in pairs:
        assert (before is None) == (after is None)
        if before is not None and after is not None:
            assert after == pytest.approx(100 - before, abs=1e-9)


@given(
    points=st.lists(st.integers(-1000, 1000), min_size=2, max_size=11, unique=True).map(sorted),
    data=st.data(),
)
def test_reversing_an_item_mirrors_its_score(points: list[int], data: st.DataObject) -> None:
    value = data.draw(st.sampled_from(points))
    straight = item_score(points, value, reverse=False)
    assert 0 <= straight <= 100
    assert item_score(points, value, reverse=True) == pytest.approx(100 - straight, abs=1e-9)


@PROPERTY_QUESTIONNAIRES
@given(data=st.data())
def test_a_null_index_always_gives_no_profile(q: Questionnaire, data: st.DataObject) -> None:
    result = score(q, data.draw(answer_sets(q)))
    if result.index is None:
        assert result.profile is None
        assert not result.complete


@PROPERTY_QUESTIONNAIRES
@given(data=st.data())
def test_an_index_always_gives_a_profile(q: Questionnaire, data: st.DataObject) -> None:
    # The loader refuses a profile list that leaves a result without a profile.
    result = score(q, data.draw(answer_sets(q)))
    if result.index is not None:
        assert result.profile is not None


# --- every shipped questionnaire scores (STYLE rule 8) ---------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
@pytest.mark.parametrize("pick", [max, min], ids=["all-max", "all-min"])
def test_every_shipped_questionnaire_scores_a_full_answer_set(path: Path, pick: Any) -> None:
    q = load(path.read_bytes(), str(path)).definition
    answers: dict[str, Answer] = {}
    for item in q.items:
        match item:
            case LikertItem(scale=scale):
                answers[item.id] = pick(q.scales[scale].points)
            case ChoiceItem(options=options) | MultiChoiceItem(options=options):
                answers[item.id] = options[0] if isinstance(item, ChoiceItem) else options
            case NumberItem(min=low, max=high):
                answers[item.id] = int(high if high is not None else low if low is not None else 1)
            case TextItem():
                answers[item.id] = "A full answer."
    assert validate(q, Submission(answers=answers, consent=True)) == []
    result = score(q, answers)
    assert all(value is not None for value in result.dimensions.values())
    assert result.index is not None
    assert 0 <= result.index <= 100
    assert result.profile is not None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_questionnaire_scores_an_empty_answer_set_as_incomplete(path: Path) -> None:
    q = load(path.read_bytes(), str(path)).definition
    result = score(q, {})
    assert set(result.dimensions) == {d.id for d in q.dimensions}
    assert all(value is None for value in result.dimensions.values())
    assert result.index is None
    assert result.profile is None


# --- a blank dimension in the profile rules --------------------------------------------------

BLANK_AWARE = questionnaire(
    """
slug: blank
title: Blank
scales:
  agree5: {labels: [a, b, c, d, e]}
dimensions:
  - {id: alpha, name: Alpha}
  - {id: beta, name: Beta}
sections:
  - id: s
    title: S
    items:
      - {id: a1, type: likert, scale: agree5, dimension: alpha, text: A1}
      - {id: b1, type: likert, scale: agree5, dimension: beta, text: B1}
scoring:
  index: {weights: {alpha: 1}}
profiles:
  - {id: no_beta, label: No beta, when: {dimensions: {beta: {missing: true}}}}
  - {id: high_beta, label: High beta, when: {dimensions: {beta: {at_least: 50}}}}
  - {id: rest, label: Rest, when: {dimensions: {beta: {below: 50}}}}
"""
)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"a1": 3}, "no_beta"),  # beta blank: the missing rule takes it
        ({"a1": 3, "b1": 5}, "high_beta"),  # beta 100: not missing, at least 50
        ({"a1": 3, "b1": 1}, "rest"),  # beta 0: neither
        ({"b1": 5}, None),  # no index: no profile at all
    ],
)
def test_a_missing_condition_holds_for_a_blank_dimension_and_only_then(
    answers: dict[str, int], expected: str | None
) -> None:
    profile = score(BLANK_AWARE, answers).profile
    assert (profile.id if profile else None) == expected


# --- "not applicable" answers ------------------------------------------------------------------

WITH_NA = questionnaire(
    """
slug: na
title: N/A
scales:
  often: {labels: [Never, Sometimes, Often], values: [0, 1, 2], na: Does not apply}
  agree: {labels: [Disagree, Agree]}
dimensions:
  - {id: intro, name: Introductions}
sections:
  - id: s
    title: S
    items:
      - {id: i1, type: likert, scale: often, dimension: intro, text: I1, required: true}
      - {id: i2, type: likert, scale: often, dimension: intro, text: I2}
      - {id: i3, type: likert, scale: often, dimension: intro, text: I3, reverse: true}
      - {id: i4, type: likert, scale: often, dimension: intro, text: I4}
      - {id: plain, type: likert, scale: agree, dimension: intro, text: P}
scoring: {min_answered: 0.75}
profiles:
  - {id: any, label: Any}
"""
)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        # i1 = 2 → 100, i3 reversed 0 → 100, plain 2 → 100; i2, i4 N/A: 3 of 3 applicable.
        ({"i1": 2, "i2": "na", "i3": 0, "i4": "na", "plain": 2}, 100.0),
        # i1 = 1 → 50, i2 N/A, i3 = 1 → 50, i4 skipped, plain 1 → 0: 3 of 4 applicable.
        ({"i1": 1, "i2": "na", "i3": 1, "plain": 1}, 100 / 3),
        # 2 of 4 applicable answered: below 0.75.
        ({"i1": 1, "i2": "na", "i3": 1}, None),
        # Everything N/A: nothing to score.
        ({"i1": "na", "i2": "na", "i3": "na", "i4": "na"}, None),
    ],
)
def test_a_not_applicable_answer_is_neither_scored_nor_counted_as_applicable(
    answers: dict[str, object], expected: float | None
) -> None:
    assert validate(WITH_NA, Submission(answers=answers)) == []
    result = score(WITH_NA, normalise(WITH_NA, answers)).dimensions["intro"]
    assert result == (None if expected is None else pytest.approx(expected))


def test_na_is_refused_on_a_scale_without_it_and_is_an_answer_where_required() -> None:
    problems = validate(WITH_NA, Submission(answers={"i1": "na", "plain": "na"}))
    assert problems == [Problem("answers.plain", "'na' is not an answer on this scale")]
    wrong = validate(WITH_NA, Submission(answers={"i1": 7}))
    assert wrong == [Problem("answers.i1", "must be one of the scale values [0, 1, 2] or 'na'")]


# --- display conditions ------------------------------------------------------------------------

CONDITIONAL = load((ROOT / "tests" / "data" / "conditional.yaml").read_bytes()).definition


def test_a_hidden_required_item_is_not_required_and_its_answer_is_dropped() -> None:
    # Introductions: "No" hides the whole section, required intro_consent included.
    answers = {
        "introduces": "No",
        "ask_first": 4,
        "ask_follow": 2,  # shown: ask_first is at least 3
        "intro_consent": 5,
        "intro_reason": "bad",
    }
    assert validate(CONDITIONAL, Submission(answers=answers)) == []
    kept = normalise(CONDITIONAL, answers)
    assert kept == {"introduces": "No", "ask_first": 4, "ask_follow": 2}
    assert ignored(CONDITIONAL, answers) == ["intro_consent", "intro_reason"]
    result = score(CONDITIONAL, kept)
    assert result.dimensions == {"asking": 75.0, "introducing": None}
    assert result.profile is not None and result.profile.id == "no_intros"


def test_a_shown_required_item_is_required_and_conditions_chain() -> None:
    answers = {"introduces": "Yes", "ask_first": 2}
    problems = validate(CONDITIONAL, Submission(answers=answers))
    assert problems == [Problem("answers.intro_consent", "an answer is required")]
    # ask_first below 3 hides ask_follow; channels unanswered hides intro_followup.
    answers |= {"intro_consent": 5, "ask_follow": 1, "intro_followup": 5, "intro_skip": 1}
    assert ignored(CONDITIONAL, answers) == ["ask_follow", "intro_followup"]
    result = score(CONDITIONAL, normalise(CONDITIONAL, answers))
    # asking: ask_first 2 → 25 of 1 shown item; introducing: 100 and 100 of 3 shown (2 answered).
    assert result.dimensions == {"asking": 25.0, "introducing": 100.0}
