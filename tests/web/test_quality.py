"""Quality flags over real HTTP: four simulated populations through the web form."""

from __future__ import annotations

import random
import re

import asyncpg
import httpx
import pytest

from benchmarks.quality import EXPECTED, report, respondents, simulate
from survey.config import Settings
from survey.core import tokens
from survey.core.model import Loaded

pytestmark = pytest.mark.anyio


async def test_careless_and_scripted_responses_are_flagged_and_careful_ones_are_not(
    live_server: str, database_url: str, settings: Settings, questionnaires: dict[str, Loaded]
) -> None:
    q = questionnaires["teamwork"].definition
    assert q.quality.min_seconds == 20
    people = respondents(q, 60, random.Random(7))
    results = await simulate(live_server, database_url, people, settings.secret)
    print(report(results))
    for population, counts in results.items():
        assert counts["stored"] == counts["sent"] == 60, population
        share_right = counts["right"] / counts["stored"]
        if EXPECTED[population] is None:
            # Careful people: at most 5% flagged for anything.
            assert counts["flagged"] / counts["stored"] <= 0.05, (population, counts)
        else:
            assert share_right >= 0.95, (population, counts)


async def test_no_address_user_agent_or_cookie_value_is_stored(
    live_server: str, conn: asyncpg.Connection, settings: Settings
) -> None:
    cookie, agent = "probe-cookie-value-4f1d", "QualityProbe/1.0 (+unique-agent-string)"
    headers = {"User-Agent": agent}
    async with httpx.AsyncClient(
        base_url=live_server, headers=headers, follow_redirects=True
    ) as browser:
        browser.cookies.set("survey_browser", cookie)
        form = await browser.get("/q/paged")
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
        stamp = re.search(r'name=_t value="([^"]+)"', form.text)
        assert csrf and stamp
        fields = {"_csrf_token": csrf[1], "_t": stamp[1], "_go": "next"}
        saved = await browser.post(
            "/q/paged", data={**fields, "introduces": "No", "ask_first": "4"}
        )
        assert saved.status_code == 200  # followed to page 3: a draft is stored
        page = re.search(r'action="(/d/[^"]+)"', saved.text)
        stamp = re.search(r'name=_t value="([^"]+)"', saved.text)
        assert page and stamp
        done = await browser.post(
            page[1], data={**fields, "_t": stamp[1], "years": "4", "_consent": "yes"}
        )
        assert "/r/" in str(done.url)
    tables = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    dumped = ""
    for table in tables:
        rows = await conn.fetch(f'SELECT t::text AS row FROM "{table["table_name"]}" t')
        dumped += "\n".join(r["row"] for r in rows)
    for secret in (cookie, agent, "127.0.0.1", "QualityProbe"):
        assert secret not in dumped, secret
    # What is kept of the browser: its keyed hash, on the response.
    stored = await conn.fetchval("SELECT browser_hash FROM response")
    assert stored == tokens.browser_hash(settings.secret, "paged", cookie)
    assert stored != tokens.browser_hash(settings.secret, "teamwork", cookie)
