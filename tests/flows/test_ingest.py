"""Bulk loading through the flows: demo data keeps the same rules as a single submission."""

from __future__ import annotations

import pytest

from survey.core import display
from survey.core.model import Loaded
from survey.flows.ingest import insert_demo

pytestmark = pytest.mark.anyio


async def test_demo_data_stores_no_answer_to_a_question_it_would_not_show(
    conn, questionnaires: dict[str, Loaded]
) -> None:
    loaded = questionnaires["conditional"]
    q = loaded.definition
    assert await insert_demo(conn, loaded, 300, days=5, seed=3) == 300
    rows = await conn.fetch("SELECT answers FROM response WHERE slug = 'conditional'")
    assert len(rows) == 300
    hidden_seen = 0
    for row in rows:
        hidden = display.hidden(q, row["answers"])
        assert not hidden & row["answers"].keys()
        hidden_seen += bool(hidden)
    assert hidden_seen > 50  # the condition bites: many respondents skip the introductions
