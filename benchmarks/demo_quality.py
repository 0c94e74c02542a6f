"""How realistic `survey demo`'s synthetic responses are: α and item means per dimension.

    uv run python -m benchmarks.demo_quality [--responses 5000] [--questionnaire connector]

Generates the responses with the same plan as `survey demo` (fixed seeds), sums them as the
report's rollup would, and prints each dimension's Cronbach's α with its complete cases, each
likert item's mean keyed score (high = the dimension's direction) against the scale's midpoint,
and the share of respondents given each profile. Real self-report scales of this kind: α about
.65-.85, answers leaning to the desirable end.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime
from random import Random

from benchmarks.harness import ROOT
from survey.core import loader, quality, scoring, stats
from survey.core.demo import DemoPlan, demo_times
from survey.core.model import Loaded
from survey.core.sums import Folder, Sums, shape_of


def demo_sums(
    loaded: Loaded, responses: int, seed: int = 1
) -> tuple[Sums, Counter[str], Counter[str]]:
    """The report's sums over `responses` demo respondents, their profiles counted, and their
    quality flags counted (with "any" for responses with at least one)."""
    q = loaded.definition
    rng = Random(seed)
    plan = DemoPlan(q, rng.randrange(2**32))
    folder = Folder(shape_of(q))
    profiles: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    for at in demo_times(rng, responses, datetime.now(UTC), 90):
        answers, _ = plan.respondent(rng)
        answers = scoring.normalise(q, answers)
        score = scoring.score(q, answers)
        profiles[score.profile.id if score.profile else "(no index)"] += 1
        flagged = quality.assess(q, answers, score.dimensions).flags
        flags.update([*flagged, *(["any"] if flagged else [])])
        folder.add(loaded.version, at, "demo", answers, score, flagged)
    total: dict[tuple[str, ...], float] = {}
    for place in folder.sums().values():
        for key, value in place.items():
            total[key] = total.get(key, 0.0) + value
    return total, profiles, flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responses", type=int, default=5000)
    parser.add_argument("--questionnaire", default="connector")
    args = parser.parse_args()
    loaded = loader.load_dir(ROOT / "questionnaires")[args.questionnaire]
    q = loaded.definition
    sums, profiles, flags = demo_sums(loaded, args.responses)
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
    print("profiles")
    for profile, count in profiles.most_common():
        print(f"    {profile:<22} {count:>6}  {count / args.responses:6.1%}")
    print("quality flags (as an import gets them: no timing)")
    for flag, count in flags.most_common():
        print(f"    {flag:<22} {count:>6}  {count / args.responses:6.1%}")


if __name__ == "__main__":
    main()
