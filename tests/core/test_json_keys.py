"""The duplicate-key check's quick count agrees with a full parse on any JSON text."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from survey.errors import Problem, duplicate_key, keys_in, keys_in_text

FIELDS = frozenset({"answers", "consent", "quote_consent"})

# Keys and strings that hold what could fool a count: quotes, backslashes, colons, escapes.
tricky_text = st.text(alphabet=st.sampled_from('ab:"\\/{}[],\n\t é\x00'), max_size=8)
numbers = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | numbers | tricky_text
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(st.tuples(tricky_text, inner), max_size=4).map(lambda pairs: ("object", pairs))
    ),
    max_leaves=20,
)


def render(value: Any, spaced: bool) -> str:
    """JSON text of a value whose objects are lists of pairs, so that a key can repeat."""
    colon, comma = (" : ", " ,\n ") if spaced else (":", ",")
    if isinstance(value, tuple):
        pairs = (f"{json.dumps(k)}{colon}{render(v, spaced)}" for k, v in value[1])
        return "{" + comma.join(pairs) + "}"
    if isinstance(value, list):
        return "[" + comma.join(render(v, spaced) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def repeats(value: Any) -> bool:
    if isinstance(value, tuple):
        keys = [k for k, _ in value[1]]
        return len(set(keys)) < len(keys) or any(repeats(v) for _, v in value[1])
    if isinstance(value, list):
        return any(repeats(v) for v in value)
    return False


@given(value=values, spaced=st.booleans())
def test_the_keys_counted_in_the_text_match_the_decoded_ones_unless_a_key_repeats(
    value: Any, spaced: bool
) -> None:
    text = render(value, spaced).encode()
    decoded = msgspec.json.decode(text)
    assert (keys_in_text(text) != keys_in(decoded)) == repeats(value)


@given(value=values)
def test_duplicate_key_finds_a_repeat_with_or_without_the_decoded_value(value: Any) -> None:
    text = render(value, spaced=False).encode()
    found = duplicate_key(text, FIELDS, msgspec.json.decode(text))
    assert (found is not None) == repeats(value)
    assert found == duplicate_key(text, FIELDS)


def test_a_repeated_answer_is_named() -> None:
    body = b'{"answers": {"say_why": 1, "say_why": 5}, "consent": true}'
    assert duplicate_key(body, FIELDS, msgspec.json.decode(body)) == Problem(
        "answers.say_why", "is given more than once"
    )


def test_escaped_quotes_and_backslashes_do_not_hide_a_repeat() -> None:
    body = rb'{"answers": {"a\\": "x\":\\", "a\\": 1}}'
    assert keys_in_text(body) == 3
    assert duplicate_key(body, FIELDS, msgspec.json.decode(body)) == Problem(
        "answers.a\\", "is given more than once"
    )
