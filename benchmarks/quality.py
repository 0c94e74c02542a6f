"""How well the quality flags separate careful people from careless and scripted responses.

    uv run python -m benchmarks.quality [--per-population 250] [--seed 1]

Serves tests/data/teamwork.yaml (`quality: {min_seconds: 20}`) on a fresh database and sends
four simulated populations through the web form over real HTTP, each respondent in a browser
of their own (its own cookies): careful people (answers from a latent trait with noise,
25-90 s on the form), one-column clickers (the same answer to every statement, 25-90 s),
random clickers (any answers, under 5 s) and bots (any answers, every field filled in,
the hidden honeypot included). Prints, for each population, the share flagged with the reason
that fits it and the share flagged at all. Time on the form is simulated: a respondent's form
is given the stamp it would have had when loaded that many seconds ago, signed with the
server's secret, which is what the server checks.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time
from collections import Counter
from dataclasses import dataclass

import httpx

from benchmarks import harness
from survey.core import loader, tokens
from survey.core.model import Questionnaire
from survey.store import db

SLUG = "teamwork"
SECRET = "quality-benchmark-secret-0123456789"
# What each bad population must be flagged for.
EXPECTED = {
    "careful": None,
    "one_column": "straightlining",
    "random_fast": "too_fast",
    "bot": "honeypot",
}


@dataclass(frozen=True)
class Respondent:
    population: str
    fields: dict[str, str]  # the form fields it sends, answers and honeypot
    seconds: float  # on the form before sending


def teamwork() -> Questionnaire:
    return loader.load_dir(harness.ROOT / "tests" / "data")[SLUG].definition


def respondents(q: Questionnaire, per_population: int, rng: random.Random) -> list[Respondent]:
    """The four populations, shuffled together."""
    likert = q.likert_items()
    out = []
    for _ in range(per_population):
        # Careful: a latent trait, each statement its own lean, keyed, and noise; some skip.
        trait = rng.gauss(0, 1)
        fields = {}
        for item in likert:
            if not item.required and rng.random() < 0.08:
                continue
            points = q.scales[item.scale].points
            mid = (len(points) - 1) / 2
            x = mid + 1.1 * trait * (-1 if item.reverse else 1) + rng.gauss(0.3, 0.9)
            fields[item.id] = str(points[min(len(points) - 1, max(0, round(x)))])
        out.append(Respondent("careful", fields, rng.uniform(25, 90)))
        # One column: the same answer to every statement, at a normal pace.
        column = rng.choice(q.scales[likert[0].scale].points)
        fields = {item.id: str(column) for item in likert}
        out.append(Respondent("one_column", fields, rng.uniform(25, 90)))
        # Random clicking, done in seconds.
        fields = {i.id: str(rng.choice(q.scales[i.scale].points)) for i in likert}
        out.append(Respondent("random_fast", fields, rng.uniform(1, 5)))
        # A bot fills every field it finds, the hidden one too, and may wait.
        fields = {i.id: str(rng.choice(q.scales[i.scale].points)) for i in likert}
        fields["_website"] = "https://example.com/offer"
        out.append(Respondent("bot", fields, rng.uniform(2, 60)))
    rng.shuffle(out)
    return out


async def send(base: str, slug: str, respondent: Respondent, secret: str) -> str:
    """One respondent: open the form in a browser of its own, answer, send; the result URL."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as browser:
        form = await browser.get(f"/q/{slug}")
        form.raise_for_status()
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
        assert csrf, "the form has no CSRF field"
        stamp = tokens.form_stamp(secret, slug, int(time.time() - respondent.seconds))
        sent = await browser.post(
            f"/q/{slug}",
            data={"_csrf_token": csrf[1], "_t": stamp, **respondent.fields},
            follow_redirects=False,
        )
        if sent.status_code != 303:
            raise RuntimeError(f"{respondent.population}: {sent.status_code} {sent.text[:300]}")
        return str(sent.headers["location"])


async def simulate(
    base: str, database_url: str, people: list[Respondent], secret: str, concurrency: int = 8
) -> dict[str, Counter[str]]:
    """Send everyone; per population, how many were sent, flagged, and flagged as expected."""
    gate = asyncio.Semaphore(concurrency)

    async def one(respondent: Respondent) -> None:
        async with gate:
            await send(base, SLUG, respondent, secret)

    await asyncio.gather(*(one(r) for r in people))
    conn = await db.connect(database_url)
    try:
        rows = await conn.fetch("SELECT flags, answers FROM response WHERE slug = $1", SLUG)
    finally:
        await conn.close()
    # Answers identify the population: every respondent's are drawn at random, and a bot's
    # are told apart by its flags alone, so count from what was sent instead.
    sent = Counter(r.population for r in people)
    out: dict[str, Counter[str]] = {p: Counter(sent=sent[p]) for p in EXPECTED}
    by_answers: dict[str, list[str]] = {}
    for r in people:
        key = repr(sorted((k, v) for k, v in r.fields.items() if not k.startswith("_")))
        by_answers.setdefault(key, []).append(r.population)
    for row in rows:
        key = repr(sorted((k, str(v)) for k, v in row["answers"].items()))
        population = by_answers[key].pop()
        flags = set(row["flags"])
        counts = out[population]
        counts["stored"] += 1
        counts["flagged"] += bool(flags)
        expected = EXPECTED[population]
        counts["right"] += expected in flags if expected else not flags
    return out


def report(results: dict[str, Counter[str]]) -> str:
    lines = [f"{'population':<12} {'sent':>5} {'flagged':>8} {'with the right reason':>22}"]
    for population, counts in results.items():
        n = counts["stored"] or 1
        right = "-" if EXPECTED[population] is None else f"{counts['right'] / n:.1%}"
        lines.append(
            f"{population:<12} {counts['sent']:>5} {counts['flagged'] / n:>8.1%} {right:>22}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-population", type=int, default=250)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    url = harness.fresh_database(harness.server_url(), "survey_bench_quality")
    people = respondents(teamwork(), args.per_population, random.Random(args.seed))
    env = {
        "DATABASE_URL": url,
        "SURVEY_SECRET": SECRET,
        "SURVEY_QUESTIONNAIRES_DIR": str(harness.ROOT / "tests" / "data"),
        "SURVEY_RATE_LIMIT": "0",
    }
    with harness.server("survey.app:app_from_env", env) as base:
        results = asyncio.run(simulate(base, url, people, SECRET))
    print(report(results))


if __name__ == "__main__":
    main()
