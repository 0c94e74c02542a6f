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
