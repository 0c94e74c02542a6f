"""connector.yaml, the shipped instrument: its profiles read coherently on both axes."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey.core import scoring
from survey.core.loader import load
from survey.core.model import Condition, LikertItem, Profile, Questionnaire

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = load((ROOT / "questionnaires" / "connector.yaml").read_bytes()).definition


def band(value: float | None) -> str:
    """The words the instrument uses for a score: its three feedback bands, or blank."""
    if value is None:
        return "blank"
    return "low" if value < 40 else "middle" if value < 70 else "high"


# What each profile's summary says about the two axes: the bands it may be given for.
# A summary that speaks of "not about numbers" fits only a low collecting score, one that
# speaks of reach and numbers only a middle or high one, and so on.
FITS: dict[str, tuple[set[str], set[str]]] = {
    "reach_unknown": ({"low", "middle", "high"}, {"blank"}),
    "connector": ({"high"}, {"low"}),
    "busy_connector": ({"high"}, {"middle", "high"}),
    "emerging": ({"middle"}, {"low"}),
    "mixed": ({"middle"}, {"middle"}),
    "broadcaster": ({"middle"}, {"high"}),
    "quiet": ({"low"}, {"low"}),
    "drifting": ({"low"}, {"middle"}),
    "collector": ({"low"}, {"high"}),
}

INDEX_VALUES = [0, 20, 39.9, 40, 55, 69.9, 70, 85, 100]
COLLECTING_VALUES: list[float | None] = [0, 20, 39.9, 40, 55, 69.9, 70, 85, 100, None]


@pytest.mark.parametrize("collecting", COLLECTING_VALUES)
@pytest.mark.parametrize("index", INDEX_VALUES)
def test_every_pair_of_index_and_collecting_gets_a_profile_whose_summary_fits_it(
    index: float, collecting: float | None
) -> None:
    dimensions = {d.id: index for d in CONNECTOR.dimensions if d.id != "collecting"}
    profile = scoring.profile_for(CONNECTOR, index, {**dimensions, "collecting": collecting})
    assert profile is not None
    index_bands, collecting_bands = FITS[profile.id]
    assert band(index) in index_bands
    assert band(collecting) in collecting_bands


def test_every_profile_is_in_the_table_and_every_cell_of_the_grid_has_exactly_one() -> None:
    assert [p.id for p in CONNECTOR.profiles] == list(FITS)
    cells = [(i, c) for i, cs in FITS.values() for i in i for c in cs]
    assert len(cells) == len(set(cells)) == 3 * 3 + 3


def test_the_profile_cut_offs_are_the_feedback_band_cut_offs() -> None:
    def cuts(conditions: list[Condition]) -> set[float]:
        return {b for c in conditions for b in (c.at_least, c.below) if b is not None}

    def when(profile: Profile) -> tuple[Condition | None, dict[str, Condition]]:
        assert profile.when is not None
        return profile.when.index, profile.when.dimensions

    index_cuts = cuts([i for p in CONNECTOR.profiles if (i := when(p)[0]) is not None])
    collecting_cuts = cuts(
        [d["collecting"] for p in CONNECTOR.profiles if "collecting" in (d := when(p)[1])]
    )
    for dimension in CONNECTOR.dimensions:
        bands = {b for f in dimension.feedback for b in (f.at_least, f.below) if b is not None}
        assert bands == {40, 70}, dimension.id
    assert index_cuts == collecting_cuts == {40, 70}


def test_no_summary_claims_more_than_the_answers_show() -> None:
    for profile in CONNECTOR.profiles:
        if profile.id != "reach_unknown":
            assert profile.summary.startswith("Your answers suggest"), profile.id
    for dimension in CONNECTOR.dimensions:
        for feedback in dimension.feedback:
            assert feedback.text.startswith("Your answers suggest"), dimension.id


def reverse_counts(q: Questionnaire) -> dict[str, int]:
    return {
        d.id: sum(1 for i in q.likert_items(d.id) if isinstance(i, LikertItem) and i.reverse)
        for d in q.dimensions
    }


def test_every_dimension_has_at_least_two_reverse_keyed_items() -> None:
    assert min(reverse_counts(CONNECTOR).values()) >= 2


def test_agreeing_with_everything_lands_in_the_middle_not_at_either_end() -> None:
    # Acquiescence: "Often" or "Agree" (4 of 5) to every statement, whatever it says.
    answers: dict[str, object] = {i.id: 4 for i in CONNECTOR.likert_items()}
    answers = scoring.normalise(CONNECTOR, answers)
    score = scoring.score(CONNECTOR, answers)
    assert score.index is not None
    assert 40 <= score.index < 70
    for value in score.dimensions.values():
        assert value is not None
        assert 40 <= value < 70


def test_someone_who_makes_no_introductions_still_gets_an_index_and_a_profile() -> None:
    answers: dict[str, object] = {i.id: 4 for i in CONNECTOR.likert_items()}
    answers["make_intros"] = 1  # Never: the questions about introductions made are not shown
    shown = scoring.normalise(CONNECTOR, answers)
    assert "intro_consent" not in shown
    score = scoring.score(CONNECTOR, shown)
    assert score.dimensions["introductions"] is not None
    assert score.profile is not None


def test_the_behaviour_items_ask_about_a_stated_period() -> None:
    for section in CONNECTOR.sections:
        likert = [i for i in section.items if isinstance(i, LikertItem)]
        if any(CONNECTOR.scales[i.scale].labels[0] == "Never" for i in likert):
            assert "last six months" in section.description, section.id


def test_the_title_and_introduction_do_not_say_which_kind_of_networker_is_good() -> None:
    opening = f"{CONNECTOR.title} {CONNECTOR.description}".lower()
    for word in ("connector", "collector"):
        assert word not in opening
