"""The codebook: every item with its text, values and labels, keying, conditions and rules."""

from __future__ import annotations

import csv
import io

import msgspec
import pytest

from survey.core import codebook, csvcells, display
from survey.core.codebook import Variable
from survey.core.model import ChoiceItem, LikertItem, Loaded, MultiChoiceItem
from tests.core.test_charts import report_of


def rows(book: codebook.Codebook) -> list[dict[str, str]]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([codebook.CSV_COLUMNS, *codebook.csv_rows(book)])
    return list(csv.DictReader(io.StringIO(buffer.getvalue())))


@pytest.mark.parametrize("slug", ["connector", "teamwork", "conditional"])
def test_the_codebook_lists_every_item_with_its_text_and_every_label(
    questionnaires: dict[str, Loaded], slug: str
) -> None:
    loaded = questionnaires[slug]
    q = loaded.definition
    book = codebook.codebook(loaded)
    items = {v.item: v for v in book.of_kind("item")}
    assert list(items) == [i.id for i in q.items]
    for item in q.items:
        v = items[item.id]
        assert v.variable == f"answer.{item.id}" and v.text == item.text
        labels = {value.label for value in v.values}
        match item:
            case LikertItem():
                scale = q.scales[item.scale]
                assert [x.value for x in v.values][: len(scale.points)] == [
                    str(p) for p in scale.points
                ]
                assert set(scale.labels) <= labels
                assert (scale.na in labels) if scale.na else len(v.values) == len(scale.labels)
                assert v.reverse == item.reverse
                assert v.type == "likert" and v.dimension == item.dimension
            case ChoiceItem() | MultiChoiceItem():
                assert [x.label for x in v.values] == item.options
    # The CSV has the same, a row per column of the export, in its order.
    table = rows(book)
    assert [r["variable"] for r in table] == csvcells.csv_header(q)
    by_name = {r["variable"]: r for r in table}
    for item in q.items:
        row = by_name[f"answer.{item.id}"]
        assert row["text"] == csvcells.neutralise(item.text)
        if isinstance(item, LikertItem):
            assert row["reverse"] == ("yes" if item.reverse else "no")
            for label in q.scales[item.scale].labels:
                assert f"={label}" in row["values"]


def test_reverse_keyed_items_are_marked_in_the_items_and_the_scoring_rules(
    questionnaires: dict[str, Loaded],
) -> None:
    book = codebook.codebook(questionnaires["teamwork"])
    items = {v.item: v for v in book.of_kind("item")}
    assert items["hide_mistakes"].reverse and not items["rely_on"].reverse
    trust = next(d for d in book.dimensions if d.id == "trust")
    assert "hide_mistakes (R)" in trust.items and "rely_on" in trust.items
    assert trust.weight == 2 and trust.min_answered == 0.5


def test_display_conditions_are_described_in_words(questionnaires: dict[str, Loaded]) -> None:
    for slug in ("connector", "conditional"):
        loaded = questionnaires[slug]
        q = loaded.definition
        items = {v.item: v for v in codebook.codebook(loaded).of_kind("item")}
        for section in q.sections:
            for item in section.items:
                condition = items[item.id].condition
                if item.show_if is not None:
                    assert display.describe(item.show_if, q) in condition
                if section.show_if is not None:
                    assert display.describe(section.show_if, q) in condition
                    assert section.title in condition
                if item.show_if is None and section.show_if is None:
                    assert condition == ""
    connector = {v.item: v for v in codebook.codebook(questionnaires["connector"]).variables}
    assert any("or above" in v.condition for v in connector.values())


def test_the_scoring_rules_give_bands_the_index_weights_and_each_profile_in_words(
    questionnaires: dict[str, Loaded],
) -> None:
    book = codebook.codebook(questionnaires["connector"])
    personalization = book.dimensions[0]
    assert [b.condition for b in personalization.bands] == ["under 40", "under 70", "otherwise"]
    collecting = next(d for d in book.dimensions if d.id == "collecting")
    assert collecting.weight is None
    profiles = {p.id: p.conditions for p in book.profiles}
    assert profiles["connector"] == "Connector Index 70 or more and Collector orientation under 40"
    assert profiles["reach_unknown"] == "Collector orientation no score"
    derived = [v.variable for v in book.of_kind("derived")]
    assert derived == ["profile", "index", *(f"score.{d.id}" for d in book.dimensions)]


def test_without_a_report_there_are_no_statistics_and_with_one_there_are(
    questionnaires: dict[str, Loaded],
) -> None:
    loaded = questionnaires["teamwork"]
    bare = codebook.codebook(loaded)
    assert bare.responses is None and bare.reliability == []
    assert all(v.n is None and v.mean is None for v in bare.variables)
    assert all(value.count is None for v in bare.variables for value in v.values)

    report = report_of(loaded, 200)
    book = codebook.codebook(loaded, report)
    assert book.responses == report.counts.total == 200
    items = {v.item: v for v in book.of_kind("item")}
    stats = {s.id: s for s in report.items}
    rely_on = items["rely_on"]
    assert rely_on.n == stats["rely_on"].n and rely_on.mean == stats["rely_on"].mean
    assert rely_on.sd == stats["rely_on"].sd and rely_on.item_rest is not None
    assert sum(v.count or 0 for v in rely_on.values) == stats["rely_on"].n + stats["rely_on"].na
    trust: Variable = next(v for v in book.variables if v.variable == "score.trust")
    reliability = next(r for r in report.reliability if r.dimension == "trust")
    assert (trust.alpha, trust.alpha_low, trust.alpha_high, trust.omega, trust.sem) == (
        reliability.alpha, reliability.alpha_low, reliability.alpha_high, reliability.omega,
        reliability.sem,
    )  # fmt: skip
    row = next(r for r in rows(book) if r["variable"] == "score.trust")
    assert row["alpha"] == f"{reliability.alpha:.3f}" and row["n"] == str(trust.n)


def test_a_report_of_no_responses_gives_no_statistics(questionnaires: dict[str, Loaded]) -> None:
    loaded = questionnaires["teamwork"]
    assert codebook.codebook(loaded, report_of(loaded, 0)).responses is None


def test_every_csv_cell_is_neutralised() -> None:
    row = codebook.Variable(variable="answer.x", kind="item", text="=HYPERLINK(1)", type="text")
    book = codebook.Codebook(
        slug="s", title="t", version="v", variables=[row], dimensions=[], index_id="index",
        index_name="Index", profiles=[], responses=None, reliability=[],
    )  # fmt: skip
    [cells] = codebook.csv_rows(book)
    assert cells[4] == "'=HYPERLINK(1)"


def test_an_option_few_chose_shows_no_count_nor_the_total_it_would_follow_from(
    questionnaires: dict[str, Loaded],
) -> None:
    loaded = questionnaires["connector"]
    report = report_of(loaded, 40)
    report = msgspec.structs.replace(report, min_cell=10)
    book = codebook.codebook(loaded, report)
    checked = 0
    for v in book.of_kind("item"):
        if v.type not in ("choice", "multi_choice"):
            continue
        stats = next(s for s in report.items if s.id == v.item)
        raw = {c.value: c.count for c in stats.counts}
        for value in v.values:
            if 0 < raw.get(value.value, 0) < 10:
                assert value.count is None and value.note == "under 10"
                checked += 1
            else:
                assert value.count == raw.get(value.value, 0)
        if any(0 < raw.get(value.value, 0) < 10 for value in v.values):
            assert v.n is None
    assert checked > 0
    html_rows = [value.note for v in book.variables for value in v.values if value.note]
    assert html_rows and all(n == "under 10" for n in html_rows)
    # A selection smaller than the smallest cell gets no statistics at all.
    tiny = msgspec.structs.replace(report_of(loaded, 4), min_cell=5)
    assert codebook.codebook(loaded, tiny).responses is None
