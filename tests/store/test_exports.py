"""PostgreSQL writes the CSV export: each kind of cell, against the Python rule it must keep.

`table.neutralise` is the rule (OWASP's CSV injection list); `exports.copy_export_csv` applies it
in SQL. Hundreds of hostile and random values go through both and must come out the same.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import uuid

import asyncpg
import msgspec
import pytest

from survey.core import csvcells
from survey.core.csvcells import FORMULA_START, Cell, answer_cells, neutralise
from survey.core.filters import ReportFilter
from survey.core.model import Loaded, Questionnaire
from survey.store import db, exports, responses, versions

pytestmark = pytest.mark.anyio

HOSTILE = [
    "=1+1",
    "+1",
    "-1",
    "-0.5",
    "-1+2",
    "-",
    "@SUM(A1)",
    "\t=x",
    "\r=x",
    '=HYPERLINK("http://x")',
    "-3e5",
    "-3e",
    "-01",
    "0",
    "",
    " =x",
    "plain",
    'quote " inside',
    "back\\slash",
    "new\nline",
    "comma, here",
    "ünïcødé ✓",
    "[bracketed]",
    "'already",
]
ALPHABET = "=+-@\t\r\n\",;[]\\' e.0123456789aZü✓"


def random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALPHABET, k=rng.randint(0, 8))) for _ in range(count)]


async def export(conn, loaded: Loaded, answers: list[tuple[str, Cell]]) -> dict[str, list[str]]:
    """The exported rows by id: the answer cells of `answers`, in order."""
    chunks: list[bytes] = []

    async def output(chunk: bytes) -> None:
        chunks.append(bytes(chunk))

    where = ReportFilter(sources=("api",))
    count = await exports.copy_export_csv(
        conn, loaded.definition.slug, where, [], lambda _: answers, output
    )
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode(), newline="")))
    assert len(rows) == count
    # The answer cells: after the fixed columns, before the quality columns.
    return {row[0]: row[8 : -len(csvcells.QUALITY_COLUMNS) - 1] for row in rows}  # then channel


async def insert(conn, loaded: Loaded, answers: dict[str, object]) -> str:
    response = responses.NewResponse(
        id=uuid.uuid4(),
        slug=loaded.definition.slug,
        version=loaded.version,
        source="api",
        answers=answers,
        dimensions={},
        index_score=None,
        profile=None,
        quote_consent=False,
        result_token_hash=uuid.uuid4().bytes,
    )
    await responses.insert_response(conn, response)
    return str(response.id)


@pytest.fixture
async def connector(conn, questionnaires) -> Loaded:
    await versions.insert_questionnaire_versions(conn, list(questionnaires.values()))
    return questionnaires["connector"]


async def test_text_and_any_cells_are_neutralised_exactly_as_the_python_rule(conn, connector):
    texts = HOSTILE + random_texts(400, seed=5)
    ids = [await insert(conn, connector, {"t": text, "n": 3}) for text in texts]

    rows = await export(conn, connector, [("t", Cell.TEXT), ("t2", Cell.ANY), ("n", Cell.ANY)])

    for id, text in zip(ids, texts, strict=True):
        assert rows[id] == [neutralise(text), "", "3"], repr(text)
        if text.startswith(FORMULA_START) and rows[id][0] == text:
            assert text.lstrip("-").replace(".", "").replace("e", "").isdigit()


async def test_lists_are_joined_then_neutralised_whichever_way_they_are_written(conn, connector):
    rng = random.Random(8)
    plain = ["LinkedIn", "Events and conferences", "500-1,999", "X/Twitter", "ü ✓", "a; b"]
    lists = [rng.sample(plain, rng.randint(0, 4)) for _ in range(200)]
    hostile = [[text, "x"] for text in HOSTILE + random_texts(200, seed=9)]
    ids = [await insert(conn, connector, {"m": value}) for value in lists]
    hostile_ids = [await insert(conn, connector, {"m": value}) for value in hostile]

    rows = await export(conn, connector, [("m", Cell.OPTIONS), ("m", Cell.ANY)])

    for id, value in zip(ids, lists, strict=True):
        joined = "; ".join(value)
        assert rows[id] == [joined, joined], value
    for id, value in zip(hostile_ids, hostile, strict=True):
        assert rows[id][1] == neutralise("; ".join(value)), value


async def test_numbers_and_options_are_written_as_stored(conn, connector):
    values = [1, 5, -3, 0, 2.5, -0.25, 1000000]
    ids = [await insert(conn, connector, {"n": v, "c": "500-1,999"}) for v in values]

    rows = await export(conn, connector, [("n", Cell.VERBATIM), ("c", Cell.VERBATIM)])

    for id, value in zip(ids, values, strict=True):
        assert rows[id] == [str(value), "500-1,999"]


def test_every_item_of_the_shipped_questionnaire_but_free_text_is_written_untouched(
    questionnaires,
):
    q = questionnaires["connector"].definition

    cells = dict(answer_cells(q, [q]))

    assert set(cells) == {i.id for i in q.items}
    kinds = {type(i).__name__: cells[i.id] for i in q.items}
    assert kinds == {
        "LikertItem": Cell.VERBATIM,
        "NumberItem": Cell.VERBATIM,
        "ChoiceItem": Cell.VERBATIM,
        "MultiChoiceItem": Cell.OPTIONS,
        "TextItem": Cell.TEXT,
    }
    # An unreadable stored version: every column the general way.
    assert {cell for _, cell in answer_cells(q, None)} == {Cell.ANY}


def _with_item(q, item_id: str, **changes):
    """`q` with one item's definition changed, as an earlier version might have had it."""
    definition = msgspec.to_builtins(q)
    for section in definition["sections"]:
        for item in section["items"]:
            if item["id"] == item_id:
                for key in ("scale", "dimension", "reverse", "options", "segment", "max_length"):
                    item.pop(key, None)
                item.update(changes)
    return msgspec.convert(definition, Questionnaire)


@pytest.mark.parametrize(
    ("item_id", "earlier", "cell"),
    [
        # A likert item that was free text: its stored strings need the general way.
        ("say_why", {"type": "text"}, Cell.ANY),
        # A choice that was free text: strings either way, neutralised.
        ("industry", {"type": "text"}, Cell.TEXT),
        # A choice with an option a spreadsheet would run.
        ("industry", {"type": "choice", "options": ["=cmd", "Other"]}, Cell.TEXT),
        ("industry", {"type": "choice", "options": ["-5", "Other"]}, Cell.TEXT),
        # A multi_choice whose options JSON escapes, or that start like a formula.
        ("platforms", {"type": "multi_choice", "options": ['say "hi"', "x"]}, Cell.ANY),
        ("platforms", {"type": "multi_choice", "options": ["back\\slash"]}, Cell.ANY),
        ("platforms", {"type": "multi_choice", "options": ["[x]"]}, Cell.ANY),
        ("platforms", {"type": "multi_choice", "options": ["+1"]}, Cell.ANY),
        # A multi_choice that was a single choice: a string where a list is now.
        ("platforms", {"type": "choice", "options": ["LinkedIn"]}, Cell.ANY),
        # Still a number: a number either way.
        ("say_why", {"type": "number"}, Cell.VERBATIM),
    ],
)
def test_an_item_that_changed_between_versions_is_written_the_safe_way(
    questionnaires, item_id, earlier, cell
):
    q = questionnaires["connector"].definition

    cells = dict(answer_cells(q, [_with_item(q, item_id, **earlier), q]))

    assert cells[item_id] == cell
    assert all(c == dict(answer_cells(q, [q]))[i] for i, c in cells.items() if i != item_id)


async def test_an_export_slower_than_the_command_timeout_still_finishes(
    database_url, conn, connector
):
    """A COPY goes at the pace of whoever takes it; asyncpg would otherwise cut it off once
    the connection's command timeout (the pool's 60 s) had passed in all."""
    ids = [await insert(conn, connector, {"t": f"answer {n}"}) for n in range(40)]
    slow = await asyncpg.connect(database_url, command_timeout=0.5)
    await db._init_connection(slow)
    taken: list[bytes] = []

    async def output(chunk: bytes) -> None:
        await asyncio.sleep(0.6)  # a slow client: longer than the command timeout
        taken.append(bytes(chunk))

    try:
        where = ReportFilter(sources=("api",))
        count = await exports.copy_export_csv(
            slow, connector.definition.slug, where, [], lambda _: [("t", Cell.TEXT)], output
        )
    finally:
        await slow.close()
    assert count == len(ids)
    assert len(taken) >= 1
