"""Which items a respondent is shown: display conditions (`show_if`) on the answers so far (pure).

An item is shown when its own condition and its section's hold. A condition names an earlier
item; the answer to an item that is not shown does not count (it is dropped), so conditions
chain: an item that depends on a hidden one is hidden too.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from survey.core.model import NA, Answer, Item, LikertItem, Questionnaire, Section, ShowIf


def randomized(q: Questionnaire) -> bool:
    """Whether any section shows its items in an order of each respondent's own."""
    return any(s.randomize for s in q.sections)


def ordered(q: Questionnaire, seed: int | None) -> list[tuple[Section, list[Item]]]:
    """Each section with its items in the order a respondent sees them: shuffled in the
    sections that randomise, by the respondent's `seed` (the same seed, the same order)."""
    out = []
    for section in q.sections:
        items = list(section.items)
        if section.randomize and seed is not None:
            random.Random(f"{seed}/{section.id}").shuffle(items)
        out.append((section, items))
    return out


def item_order(
    q: Questionnaire, seed: int | None, answers: Mapping[str, Answer] | None = None
) -> list[str] | None:
    """The ids of the items in the order shown (those hidden by `answers` left out); None when
    nothing is randomised."""
    if seed is None or not randomized(q):
        return None
    gone = hidden(q, answers) if answers is not None else set()
    return [item.id for _, items in ordered(q, seed) for item in items if item.id not in gone]


def conditional(q: Questionnaire) -> bool:
    """Whether any item or section has a display condition."""
    return any(s.show_if for s in q.sections) or any(i.show_if for i in q.items)


def hidden(q: Questionnaire, answers: Mapping[str, Answer]) -> set[str]:
    """The ids of the items not shown, given these answers."""
    out: set[str] = set()
    for section in q.sections:
        section_shown = holds(section.show_if, answers, out)
        for item in section.items:
            if not (section_shown and holds(item.show_if, answers, out)):
                out.add(item.id)
    return out


def holds(condition: ShowIf | None, answers: Mapping[str, Answer], hidden: set[str]) -> bool:
    """Whether a display condition holds (no condition always does)."""
    if condition is None:
        return True
    value = None if condition.item in hidden else answers.get(condition.item)
    if value == "" or value == []:
        value = None
    if condition.answered is not None and (value is not None) != condition.answered:
        return False
    if condition.in_ is not None:
        chosen = value if isinstance(value, list) else [value]
        if not any(isinstance(v, str) and v in condition.in_ for v in chosen):
            return False
    if condition.at_least is not None or condition.below is not None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False  # no answer, N/A, or not a number: a bound cannot hold
        if condition.at_least is not None and value < condition.at_least:
            return False
        if condition.below is not None and value >= condition.below:
            return False
    return True


def describe(condition: ShowIf, q: Questionnaire) -> str:
    """The condition in words, for a form read without JavaScript."""
    item = q.item(condition.item)
    about = f"“{item.text}”" if item else condition.item
    parts = []
    scale = q.scales.get(item.scale) if isinstance(item, LikertItem) else None
    if condition.in_ is not None:
        labels = [scale.na if scale and scale.na and o == NA else o for o in condition.in_]
        parts.append("you chose " + " or ".join(f"“{o}”" for o in labels))
    if scale is not None:
        # A likert answer in words: the scale's labels, not its numbers.
        points = list(zip(scale.points, scale.labels, strict=True))
        if condition.at_least is not None:
            above = [label for point, label in points if point >= condition.at_least]
            parts.append(f"you chose “{above[0]}” or above" if above else "never")
        if condition.below is not None:
            under = [label for point, label in points if point < condition.below]
            parts.append(f"you chose “{under[-1]}” or below" if under else "never")
    else:
        if condition.at_least is not None:
            parts.append(f"your answer is at least {condition.at_least:g}")
        if condition.below is not None:
            parts.append(f"your answer is below {condition.below:g}")
    if condition.answered is True:
        parts.append("you answered it")
    if condition.answered is False:
        parts.append("you left it blank")
    return f"Answer this only if, to {about}, " + " and ".join(parts or ["you answered it"]) + "."


# --- pages (`paging: section`) -------------------------------------------------------------------


def paged(q: Questionnaire) -> bool:
    return q.paging == "section"


def page_shown(q: Questionnaire, page: int, answers: Mapping[str, Answer]) -> bool:
    """Whether the section on page `page` is shown, given the answers so far."""
    return holds(q.sections[page].show_if, answers, hidden(q, answers))


def next_page(q: Questionnaire, page: int, answers: Mapping[str, Answer]) -> int | None:
    """The next page shown after `page`; None when `page` is the last one."""
    return next((n for n in range(page + 1, len(q.sections)) if page_shown(q, n, answers)), None)


def previous_page(q: Questionnaire, page: int, answers: Mapping[str, Answer]) -> int:
    """The page shown before `page` (the first page has none before it: itself)."""
    return next((n for n in range(page - 1, -1, -1) if page_shown(q, n, answers)), 0)


def page_items(q: Questionnaire, page: int, answers: Mapping[str, Answer]) -> list[Item]:
    """The items of a page to put on it: all but those hidden by an answer on an earlier page
    (a condition on an item of the same page is left to the form, which shows it live)."""
    section = q.sections[page]
    here = {item.id for item in section.items}
    gone = hidden(q, answers)
    left_out: set[str] = set()
    for item in section.items:
        condition = item.show_if
        # Hidden by an earlier page's answer, or by a question of this page left out so.
        if (
            item.id in gone
            and condition is not None
            and (condition.item not in here or condition.item in left_out)
        ):
            left_out.add(item.id)
    return [item for item in section.items if item.id not in left_out]


def surely_last(q: Questionnaire, page: int, answers: Mapping[str, Answer]) -> bool:
    """Whether no page can follow `page`, whatever is answered on it: every later section is
    hidden by the answers so far, and none of their conditions looks at this page."""
    if next_page(q, page, answers) is not None:
        return False
    here = {item.id for item in q.sections[page].items}
    for section in q.sections[page + 1 :]:
        conditions = [section.show_if, *(item.show_if for item in section.items)]
        if any(c is not None and c.item in here for c in conditions):
            return False
    return True
