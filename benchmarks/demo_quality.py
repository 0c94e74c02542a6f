"""How realistic `survey demo`'s synthetic responses are: α and item means per dimension.

    uv run python -m benchmarks.demo_quality [--responses 5000] [--questionnaire connector]

Generates the responses with the same plan as `survey demo` (fixed seeds), sums them as the
report's rollup would, and prints each dimension's Cronbach's α with its complete cases, and
each likert item's mean keyed score (high = the dimension's direction) against the scale's
midpoint. Real self-report scales of this kind: α about .65-.85, answers leaning to the
desirable end.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from random import Random

from benchmarks.harness import ROOT
from survey.core import loader, scoring, stats
from survey.core.demo import DemoPlan, demo_times
from survey.core.model import Loaded
from survey.core.sums import Folder, Sums, shape_of


def demo_sums(loaded: Loaded, responses: int, seed: int = 1) -> Sums:
    """The report's sums over `responses` demo respondents."""
    q = loaded.definition
    rng = Random(seed)
    plan = DemoPlan(q, rng.randrange(2**32))
    folder = Folder(shape_of(q))
    for at in demo_times(rng, responses, datetime.now(UTC), 90):
        answers, _ = plan.respondent(rng)
        answers = scoring.normalise(q, answers)
        folder.add(loaded.version, at, "demo", answers, scoring.score(q, answers))
    total: dict[tuple[str, ...], float] = {}
    for place in folder.sums().values():
        for key, value in place.items():
            total[key] = total.get(key, 0.0) + value
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responses", type=int, default=5000)
    parser.add_argument("--questionnaire", default="connector")
    args = parser.parse_args()
    loaded = loader.load_dir(ROOT / "questionnaires")[args.questionnaire]
    q = loaded.definition
    sums = demo_sums(loaded, args.responses)
    for dimension in q.dimensions:
        r = stats.reliability(q, dimension.id, sums)
        alpha = "-" if r.alpha is None else f"{r.alpha:.3f}"
        print(f"{dimension.id:<20} α {alpha}  complete cases {r.n}")
        for item in q.likert_items(dimension.id):
            points = q.scales[item.scale].points
            mid = (min(points) + max(points)) / 2
            mean = stats.item_stats(q, item, sums).mean_keyed
            shown = "-" if mean is None else f"{mean:.2f}"
            print(f"    {item.id:<22} mean keyed {shown} (midpoint {mid:g})")


if __name__ == "__main__":
    main()
