"""Synthetic respondents for demo data: plausible answer sets, fixed by a seed (pure)."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random
from statistics import NormalDist

from survey.core.model import (
    NA,
    Answer,
    ChoiceItem,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    TextItem,
)

_TEXTS = {
    "connector": [
        "Asking what the other person needs before saying what I want.",
        "Following up weeks later to ask whether an introduction helped.",
        "Remembering the small things people tell you, and coming back to them.",
        "Introducing two people only when both have said yes.",
    ],
    "collector": [
        "A bigger network means more reach for my posts.",
        "Recruiters look at the number of connections first.",
        "It is quicker to click connect than to write a note.",
    ],
    "neutral": [
        "Not sure; I mostly network at events.",
        "Time. Doing it properly takes time most people do not have.",
        "Honesty about why you want to be in touch.",
        "It depends on the platform and the person.",
    ],
}


@dataclass(frozen=True)
class _LikertPlan:
    id: str
    dimension: int  # index into the respondent's dimension factors
    points: list[int]
    cuts: list[float]
    loading: float
    intercept: float
    collector: bool  # loads on the Collector trait rather than the Connector one
    required: bool
    na: bool  # its scale has a "not applicable" answer


@dataclass(frozen=True)
class _ChoicePlan:
    id: str
    options: list[str]
    cumulative: list[float]  # weights, summed, for bisect
    effects: list[float]  # on the Connector trait
    required: bool


# The answer model's parameters, chosen so that reliabilities and item correlations look like
# those of real self-report scales (α about .65-.85, inter-item r about .2-.45), answers lean to
# the desirable end, and missing answers come from people stopping part-way as well as skipping.
LOADING_LOW, LOADING_HIGH = 0.5, 0.85
REVERSED_LOADING = 0.7
SKEW_LOW, SKEW_HIGH = 0.15, 0.7
ACQUIESCENCE = 0.3
NOISE = 0.75
DROP_OUT = 0.07
NOT_APPLICABLE = 0.08  # share answering N/A where the scale offers it
# Careless respondents, as open online samples have them: one answer to every statement, or
# answers at random.
ONE_COLUMN, AT_RANDOM = 0.04, 0.03


class DemoPlan:
    """How synthetic respondents answer one questionnaire, fixed by a seed.

    Each respondent has a latent Connector trait and a negatively correlated Collector trait;
    dimensions in the index load on the first, the others (in connector.yaml, `collecting`) on
    the second. A likert answer is its trait (its sign flipped for reverse-keyed items), a
    factor of its dimension, an item intercept and noise, cut into the scale's points at normal
    quantiles. Intercepts lean to the desirable answer, reverse-keyed items load less, and each
    respondent has an acquiescence tendency added to every statement; where a scale has N/A, a
    few answer it. A few are careless: one answer to everything, or answers at random. Choice
    answers shift the Connector trait a little, so segments differ. Most respondents answer
    everything, a few skip many items, some stop part-way; some write text.
    """

    def __init__(self, q: Questionnaire, seed: int) -> None:
        rng = Random(seed)
        indexed = set(q.weights)
        dimensions = {d.id: n for n, d in enumerate(q.dimensions)}
        self.dimensions = len(dimensions)
        self.likert = []
        for item in q.likert_items():
            points = q.scales[item.scale].points
            spread = NormalDist(0.0, 1.15)
            collector = item.dimension not in indexed
            loading = rng.uniform(LOADING_LOW, LOADING_HIGH)
            # Reverse-keyed items measure their trait less well: people read them less surely.
            loading = -loading * REVERSED_LOADING if item.reverse else loading
            # Answers lean towards what a respondent sees as the good answer: agreeing with a
            # Connector habit, disagreeing with a Collector one (flipped when reverse-keyed).
            desirable = 1.0 if collector == item.reverse else -1.0
            self.likert.append(
                _LikertPlan(
                    id=item.id,
                    dimension=dimensions[item.dimension],
                    points=points,
                    cuts=[spread.inv_cdf(j / len(points)) for j in range(1, len(points))],
                    loading=loading,
                    intercept=desirable * rng.uniform(SKEW_LOW, SKEW_HIGH),
                    collector=collector,
                    required=item.required,
                    na=q.scales[item.scale].na is not None,
                )
            )
        self.choices = []
        for choice in q.items:
            if isinstance(choice, ChoiceItem):
                ranks = rng.sample(range(len(choice.options)), len(choice.options))
                self.choices.append(
                    _ChoicePlan(
                        id=choice.id,
                        options=choice.options,
                        cumulative=list(itertools.accumulate(1 / (r + 1) ** 0.9 for r in ranks)),
                        effects=[rng.gauss(0.0, 0.3) for _ in choice.options],
                        required=choice.required,
                    )
                )
        self.numbers = [i for i in q.items if isinstance(i, NumberItem)]
        self.multi = [
            (i.id, [(o, 0.75 / (r + 1) ** 0.6) for r, o in enumerate(i.options)])
            for i in q.items
            if isinstance(i, MultiChoiceItem)
        ]
        self.texts = [i for i in q.items if isinstance(i, TextItem)]

    def respondent(self, rng: Random) -> tuple[dict[str, Answer], bool]:
        """One synthetic answer set, valid and normalised, and whether it may be quoted."""
        random, gauss = rng.random, rng.gauss
        skip = 0.01 if random() < 0.9 else 0.4
        # Some stop part-way: the optional items after that point go unanswered.
        stop = int(random() * len(self.likert)) if random() < DROP_OUT else len(self.likert)
        # A tendency to agree whatever the statement says.
        acquiescence = gauss(0.0, ACQUIESCENCE)
        careless = random()
        column = None if careless >= ONE_COLUMN else rng.randrange(5)
        answers: dict[str, Answer] = {}
        connector = gauss(0.0, 0.9)
        for choice in self.choices:
            k = bisect.bisect(choice.cumulative, random() * choice.cumulative[-1])
            k = min(k, len(choice.options) - 1)  # random() * total rounded up to the total
            connector += choice.effects[k]
            if choice.required or random() > 3 * skip:
                answers[choice.id] = choice.options[k]
        collector = -0.45 * connector + gauss(0.0, 0.9)
        factors = [0.45 * gauss(0.0, 1.0) for _ in range(self.dimensions)]
        for n, item in enumerate(self.likert):
            if not item.required and (n >= stop or random() < skip):
                continue
            if column is not None:
                answers[item.id] = item.points[min(column, len(item.points) - 1)]
                continue
            if ONE_COLUMN <= careless < ONE_COLUMN + AT_RANDOM:
                answers[item.id] = rng.choice(item.points)
                continue
            if item.na and random() < NOT_APPLICABLE:
                answers[item.id] = NA
                continue
            trait = collector if item.collector else connector
            x = item.loading * (trait + factors[item.dimension]) + item.intercept + acquiescence
            answers[item.id] = item.points[bisect.bisect(item.cuts, x + gauss(0.0, NOISE))]
        for number in self.numbers:
            if number.required or random() > 3 * skip:
                low = 0.0 if number.min is None else number.min
                high = low + 100 if number.max is None else number.max
                value = low + (high - low) * rng.betavariate(1.6, 5.0)
                answers[number.id] = round(value) if number.integer else round(value, 1)
        for item_id, chances in self.multi:
            chosen = [option for option, p in chances if random() < p]
            if chosen:
                answers[item_id] = chosen
        wrote = False
        for text in self.texts:
            if random() < 0.08:
                kind = "connector" if connector > 0.6 else "collector" if collector > 0.6 else ""
                answers[text.id] = rng.choice(_TEXTS[kind or "neutral"])[: text.max_length]
                wrote = True
        return answers, wrote and random() < 0.5


def demo_times(rng: Random, count: int, end: datetime, days: float) -> Iterator[datetime]:
    """`count` times over the `days` before `end`, in order, more of them lately.

    Drawn as sorted uniform order statistics one at a time, so the rows go in oldest first,
    as real responses do, without holding them all.
    """
    u = 0.0
    for left in range(count, 0, -1):
        # The next smallest of `left` uniforms on (u, 1): 1 - V^(1/left), computed stably.
        u += (1.0 - u) * -math.expm1(math.log(1.0 - rng.random()) / left)
        # A survey that is spreading: the density rises towards `end`.
        yield end - timedelta(days=days * (1.0 - u) ** 1.5)
