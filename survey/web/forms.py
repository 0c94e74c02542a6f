"""The form as the browser posts it: fields to a Submission, problems back to the fields."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from survey.core.charts import number_text
from survey.core.model import (
    Answer,
    Item,
    LikertItem,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    TextItem,
)
from survey.core.submission import Submission
from survey.errors import Problem

# Form fields that are not answers start with "_"; item ids cannot.
CONSENT, QUOTE_CONSENT, CONFIRM = "_consent", "_quote_consent", "_confirm"
# The seed of the respondent's order of the randomised sections' items.
ORDER = "_order"


def order_seed(form: Mapping[str, str | list[str]]) -> int | None:
    """The order's seed the form carries back; None if absent or not one we could have made."""
    raw = form.get(ORDER)
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,10}", raw):
        return int(raw)
    return None


def submission_from_form(q: Questionnaire, form: Mapping[str, str | list[str]]) -> Submission:
    """Form fields → the same Submission the API takes; what cannot be converted stays text.

    Empty fields are absent (the form parser drops them); a value that does not parse is kept
    as typed, so validation names the problem beside the field.
    """
    answers: dict[str, Answer] = {}
    for item, raw in _fields(q, form):
        value = _answer(item, raw)
        if value is not None:
            answers[item.id] = value
    return Submission(
        answers=answers,
        consent=CONSENT in form,
        quote_consent=QUOTE_CONSENT in form,
    )


def _answer(item: Item, raw: str | list[str]) -> Answer:
    if isinstance(item, MultiChoiceItem):
        return [raw] if isinstance(raw, str) else list(raw)
    if isinstance(raw, list):
        return raw  # one value expected, several sent: validation says so
    match item:
        case LikertItem():
            return int(raw) if re.fullmatch(r"-?\d{1,9}", raw.strip()) else raw
        case NumberItem():
            return _number(raw.strip())
        case TextItem():
            # Browsers send CRLF; `maxlength` counts a line break as one character.
            text = raw.replace("\r\n", "\n")
            return text if text.strip() else None
        case _:
            return raw


def _number(text: str) -> Answer:
    if not text:
        return None
    if re.fullmatch(r"[-+]?\d{1,15}", text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text  # `inf` and `nan` are not numbers here


class FieldError(msgspec.Struct, frozen=True):
    target: str  # the id of the first control of the question, for the summary's link
    label: str
    message: str


def field_errors(q: Questionnaire, problems: list[Problem]) -> list[FieldError]:
    """Problems as the page shows them, in the order of the form."""
    by_field = {p.field: p.message for p in problems}
    errors = []
    for item in q.items:
        message = by_field.get(f"answers.{item.id}")
        if message is not None:
            errors.append(FieldError(item.id, item.text, _message(item, message)))
    if "consent" in by_field:
        errors.append(
            FieldError(CONSENT, "Consent", "Tick the box to agree, or you cannot take part.")
        )
    return errors


def _message(item: Item, message: str) -> str:
    if message == "an answer is required":
        match item:
            case MultiChoiceItem():
                return "Choose at least one option."
            case NumberItem():
                return "Enter a number."
            case TextItem():
                return "Enter an answer."
            case _:
                return "Choose an answer."
    if isinstance(item, NumberItem):
        if message == "must be a whole number":
            return "Enter a whole number."
        if message.startswith("must be between"):
            return f"Enter a number between {number_text(item.min)} and {number_text(item.max)}."
        return "Enter a number."
    return f"The answer {message}."


def form_values(q: Questionnaire, form: Mapping[str, str | list[str]]) -> dict[str, Any]:
    """What was typed, to fill the form in again: a list per multi-choice item, else a string."""
    values: dict[str, Any] = {}
    for item, raw in _fields(q, form):
        if isinstance(item, MultiChoiceItem):
            values[item.id] = [raw] if isinstance(raw, str) else raw
        else:
            values[item.id] = raw if isinstance(raw, str) else raw[0]
    return values


def _fields(
    q: Questionnaire, form: Mapping[str, str | list[str]]
) -> Iterator[tuple[Item, str | list[str]]]:
    """Each item the form sent a field for, in the questionnaire's order, with the field."""
    for item in q.items:
        raw = form.get(item.id)
        if raw is not None:
            yield item, raw
