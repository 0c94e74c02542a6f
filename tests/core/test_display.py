"""Display order: randomised sections, one order per respondent's seed."""

from __future__ import annotations

from pathlib import Path

import yaml

from survey.core import display
from survey.core.loader import load

ROOT = Path(__file__).resolve().parents[2]
CONDITIONAL = load((ROOT / "tests" / "data" / "conditional.yaml").read_bytes()).definition


def test_a_randomised_section_is_shuffled_by_the_seed_and_the_others_keep_their_order() -> None:
    fixed = [item.id for item in CONDITIONAL.sections[0].items]
    intros = sorted(item.id for item in CONDITIONAL.sections[1].items)
    orders = set()
    for seed in range(40):
        (_, first_items), (_, second_items) = display.ordered(CONDITIONAL, seed)
        assert [i.id for i in first_items] == fixed
        assert sorted(i.id for i in second_items) == intros
        assert display.ordered(CONDITIONAL, seed) == display.ordered(CONDITIONAL, seed)
        order = display.item_order(CONDITIONAL, seed)
        assert order == fixed + [i.id for i in second_items]
        orders.add(tuple(i.id for i in second_items))
    assert len(orders) > 10  # 5! orders: forty seeds give many of them


def test_without_a_seed_or_a_randomised_section_there_is_no_order_to_store() -> None:
    assert display.item_order(CONDITIONAL, None) is None
    plain = yaml.safe_load((ROOT / "tests" / "data" / "conditional.yaml").read_text())
    plain["sections"][1]["randomize"] = False
    q = load(yaml.safe_dump(plain)).definition
    assert display.item_order(q, 7) is None
    assert [i.id for _, items in display.ordered(q, 7) for i in items] == [i.id for i in q.items]


def test_the_stored_order_leaves_out_the_items_not_shown() -> None:
    shown = display.item_order(CONDITIONAL, 3, {"introduces": "Yes"})
    assert shown is not None and {"intro_consent", "intro_reason"} <= set(shown)
    hidden = display.item_order(CONDITIONAL, 3, {"introduces": "No"})
    assert hidden is not None
    assert not {i.id for i in CONDITIONAL.sections[1].items} & set(hidden)
    assert "ask_events" not in hidden  # no channel chosen: not shown either


PAGED = load((ROOT / "tests" / "data" / "paged.yaml").read_bytes()).definition


def test_a_page_is_surely_last_only_when_no_answer_on_it_can_bring_another() -> None:
    # Page 0 asks whether you introduce people: "Yes" would bring the page of introductions.
    assert display.next_page(PAGED, 0, {}) == 2  # about you follows either way
    assert not display.surely_last(PAGED, 0, {})
    assert display.surely_last(PAGED, 2, {"introduces": "Yes"})
    # Pages with only later pages hidden, but a condition on this page, are not surely last.
    chain = yaml.safe_load((ROOT / "tests" / "data" / "paged.yaml").read_text())
    chain["sections"] = chain["sections"][:2]
    q = load(yaml.safe_dump(chain)).definition
    assert display.next_page(q, 0, {}) is None
    assert not display.surely_last(q, 0, {})
    assert display.surely_last(q, 0, {"introduces": "No"}) is False
    assert display.surely_last(q, 1, {"introduces": "Yes"})


def test_a_page_leaves_out_a_chain_of_questions_an_earlier_page_hid() -> None:
    raw = yaml.safe_load((ROOT / "tests" / "data" / "paged.yaml").read_text())
    intros = raw["sections"][1]
    del intros["show_if"]
    # intro_consent depends on page 0; intro_reason on intro_consent, on the same page.
    intros["items"][0]["show_if"] = {"item": "introduces", "in": ["Yes"]}
    intros["items"][1]["show_if"] = {"item": "intro_consent", "answered": True}
    q = load(yaml.safe_dump(raw)).definition
    on_page = [i.id for i in display.page_items(q, 1, {"introduces": "No"})]
    assert "intro_consent" not in on_page and "intro_reason" not in on_page
    # Shown by page 0: both go on the page, the second decided live by the first.
    on_page = [i.id for i in display.page_items(q, 1, {"introduces": "Yes"})]
    assert on_page[:2] == ["intro_consent", "intro_reason"]
