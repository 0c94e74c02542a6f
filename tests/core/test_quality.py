"""The quality flags' arithmetic and rules, against independent computations."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from survey.core import quality, scoring, tokens
from survey.core.loader import load
from survey.core.model import Questionnaire
from survey.core.sums import Folder, shape_of

ROOT = Path(__file__).resolve().parents[2]
TEAMWORK = load((ROOT / "tests" / "data" / "teamwork.yaml").read_bytes())
CAREFUL = {
    "rely_on": 5, "hide_mistakes": 2, "ask_help": 4, "guarded": 3,
    "say_disagree": 4, "hard_feedback": 5, "nod_along": 2,
    "keep_promises": 6, "dropped_actions": 1, "flag_early": 4,
}  # fmt: skip


# Critical values of the chi-square table (scipy.stats.chi2.ppf(1 - p, k) to 16 digits): the
# tail beyond each is p. Odd and even degrees of freedom take different closed forms.
CHI2_SF = [
    (3.841458820694124, 1, 0.05),
    (6.6348966010212145, 1, 0.01),
    (5.991464547107979, 2, 0.05),
    (7.814727903251178, 3, 0.05),
    (9.487729036781154, 4, 0.05),
    (11.070497693516351, 5, 0.05),
    (16.918977604620448, 9, 0.05),
    (21.665994333461924, 9, 0.01),
    (0.5, 2, math.exp(-0.25)),  # k = 2: exactly e^(-x/2)
]


@pytest.mark.parametrize(("x", "k", "expected"), CHI2_SF)
def test_the_chi_square_tail_equals_scipys(x: float, k: int, expected: float) -> None:
    assert quality.chi2_sf(x, k) == pytest.approx(expected, rel=1e-4)


def test_the_inverse_times_the_matrix_is_the_identity_and_a_singular_one_has_none() -> None:
    m = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]]
    inverse = quality.invert(m)
    assert inverse is not None
    for i in range(3):
        for j in range(3):
            product = sum(m[i][k] * inverse[k][j] for k in range(3))
            assert product == pytest.approx(1.0 if i == j else 0.0, abs=1e-12)
    assert quality.invert([[1.0, 2.0], [2.0, 4.0]]) is None


def test_norms_from_the_report_sums_equal_the_sample_means_and_covariances() -> None:
    """Dimension scores of many responses, summed as the rollup does, give back the sample
    covariance (n - 1) and means computed directly."""
    q = TEAMWORK.definition
    rng = random.Random(3)
    folder = Folder(shape_of(q))
    scores = []
    for n in range(300):
        answers = {item: rng.randint(1, 6) for item in CAREFUL}
        score = scoring.score(q, answers)
        scores.append(score.dimensions)
        folder.add(TEAMWORK.version, _day(n), "api", answers, score)
    sums: dict[tuple[str, ...], float] = {}
    for place in folder.sums().values():
        for key, value in place.items():
            sums[key] = sums.get(key, 0.0) + value
    dims = sorted(d.id for d in q.dimensions)
    norms = quality.norms_from(dims, sums)
    assert norms is not None and norms.dimensions == dims and norms.n == 300
    columns = [[s[d] for s in scores] for d in dims]
    means = [sum(c) / len(c) for c in columns]
    assert norms.means == pytest.approx(means, rel=1e-12)
    covariance = [
        [
            sum((a - ma) * (b - mb) for a, b in zip(ca, cb, strict=True)) / (len(ca) - 1)
            for cb, mb in zip(columns, means, strict=True)
        ]
        for ca, ma in zip(columns, means, strict=True)
    ]
    back = quality.invert(norms.inverse)
    assert back is not None
    for i in range(len(dims)):
        assert back[i] == pytest.approx(covariance[i], rel=1e-9)
    # A response at the means is at distance 0; one far off is far.
    assert quality.mahalanobis(norms, dict(zip(dims, means, strict=True))) == pytest.approx(0)
    far = quality.mahalanobis(norms, dict.fromkeys(dims, 100.0))
    assert far is not None and quality.chi2_sf(far, len(dims)) < 0.001
    assert quality.mahalanobis(norms, {dims[0]: 50.0}) is None  # a score missing


def _day(n: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n)


def test_the_longest_run_counts_na_as_an_answer() -> None:
    assert quality.longest_run([]) == 0
    assert quality.longest_run([1, 2, 2, 2, 3, 3]) == 3
    assert quality.longest_run(["na", "na", 4]) == 2


def test_the_reversed_gap_is_zero_for_a_consistent_respondent_and_100_for_agreeing_to_all() -> None:
    q = TEAMWORK.definition
    consistent = {i.id: (1 if i.reverse else 6) for i in q.likert_items()}
    assert quality.reversed_gap(q, consistent) == 0
    agree = {i.id: 6 for i in q.likert_items()}
    assert quality.reversed_gap(q, agree) == 100
    assert quality.reversed_gap(q, {}) is None


def flags(q: Questionnaire, answers: dict[str, object], **kwargs: object) -> list[str]:
    return quality.assess(q, answers, scoring.score(q, answers).dimensions, **kwargs).flags  # type: ignore[arg-type]


def test_each_rule_flags_its_case_and_a_careful_response_gets_none() -> None:
    q = TEAMWORK.definition  # quality: {min_seconds: 20}
    timed = quality.Signals(seconds=45.0, signed=True, honeypot=False)
    assert flags(q, CAREFUL, signals=timed) == []
    fast = quality.Signals(seconds=19.9, signed=True, honeypot=False)
    assert flags(q, CAREFUL, signals=fast) == ["too_fast"]
    forged = quality.Signals(seconds=None, signed=False, honeypot=False)
    assert flags(q, CAREFUL, signals=forged) == ["unsigned"]
    bot = quality.Signals(seconds=45.0, signed=True, honeypot=True)
    assert flags(q, CAREFUL, signals=bot) == ["honeypot"]
    assert flags(q, dict.fromkeys(CAREFUL, 3)) == ["straightlining"]
    assert flags(q, dict.fromkeys(CAREFUL, 6)) == ["straightlining", "inconsistent"]
    seven = dict(list(CAREFUL.items())[:7])
    assert flags(q, dict.fromkeys(seven, 3)) == []  # a run of 7 is under min_run
    earlier = quality.Earlier(same_answers=True, same_browser=True)
    assert flags(q, CAREFUL, earlier=earlier) == ["repeat_answers", "repeat_browser"]
    per_item = msgspec.structs.replace(
        q, quality=msgspec.structs.replace(q.quality, min_seconds=None, seconds_per_item=5)
    )
    assert flags(per_item, CAREFUL, signals=timed) == ["too_fast"]  # 45 s < 5 s x 10


def test_an_attention_item_flags_a_wrong_answer_and_a_blank_on_the_form_only() -> None:
    raw = (ROOT / "tests" / "data" / "teamwork.yaml").read_text()
    raw = raw.replace(
        "      - {id: team_size,",
        "      - {id: attend, type: likert, scale: agree6, check: {expect: 2},"
        " text: Choose the second answer here.}\n      - {id: team_size,",
    )
    q = load(raw).definition
    timed = quality.Signals(seconds=45.0, signed=True, honeypot=False)
    assert flags(q, {**CAREFUL, "attend": 2}, signals=timed) == []
    assert flags(q, {**CAREFUL, "attend": 5}, signals=timed) == ["attention"]
    assert flags(q, CAREFUL, signals=timed) == ["attention"]  # left blank on the form
    assert flags(q, CAREFUL) == []  # an API client may leave it out
    # Never scored: the same scores with or without it.
    assert scoring.score(q, {**CAREFUL, "attend": 5}) == scoring.score(q, CAREFUL)


def test_an_outlier_is_flagged_against_norms() -> None:
    q = TEAMWORK.definition
    dims = sorted(d.id for d in q.dimensions)
    identity = [[1.0 if i == j else 0.0 for j in range(3)] for i in range(3)]
    norms = quality.Norms(dims, [50.0, 50.0, 50.0], [[v / 100 for v in r] for r in identity], 500)
    near = quality.assess(q, CAREFUL, dict.fromkeys(dims, 55.0), norms=norms)
    far = quality.assess(q, CAREFUL, dict.fromkeys(dims, 95.0), norms=norms)
    assert near.flags == [] and near.measures["mahalanobis"] == pytest.approx(0.75)
    assert far.flags == ["outlier"] and far.measures["mahalanobis"] == pytest.approx(60.75)


def test_an_attention_item_the_answers_did_not_show_fails_no_one() -> None:
    raw = (ROOT / "tests" / "data" / "teamwork.yaml").read_text()
    raw = raw.replace(
        "      - {id: team_size,",
        "      - {id: attend, type: likert, scale: agree6, check: {expect: 2},"
        " show_if: {item: rely_on, below: 3}, text: Choose the second answer here.}\n"
        "      - {id: team_size,",
    )
    q = load(raw).definition
    timed = quality.Signals(seconds=45.0, signed=True, honeypot=False)
    assert flags(q, CAREFUL, signals=timed) == []  # rely_on 5: not shown
    assert flags(q, {**CAREFUL, "rely_on": 1}, signals=timed) == ["attention"]


@pytest.mark.parametrize("stamp", ["1.é", "².x", "", "12", "abc.def", "9" * 13 + ".x"])
def test_a_stamp_that_is_not_ours_is_none_not_an_error(stamp: str) -> None:
    assert tokens.stamp_seconds("secret", "teamwork", stamp, 1_000_000.0) is None


def test_a_stamp_is_checked_against_its_questionnaire_and_the_clock() -> None:
    stamp = tokens.form_stamp("secret", "teamwork", 1_000)
    assert tokens.stamp_seconds("secret", "teamwork", stamp, 1_030.5) == 30.5
    assert tokens.stamp_seconds("secret", "paged", stamp, 1_030.0) is None
    assert tokens.stamp_seconds("other", "teamwork", stamp, 1_030.0) is None
    assert tokens.stamp_seconds("secret", "teamwork", stamp, 997.0) == 0.0  # a clock ahead
    assert tokens.stamp_seconds("secret", "teamwork", stamp, 900.0) is None
