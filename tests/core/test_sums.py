"""The rollup's counting in Python keeps apart what PostgreSQL prints apart."""

from __future__ import annotations

import pytest

from survey.core import sums


@pytest.mark.parametrize(
    "values",
    [[2, 2.0, 7, 7.0], [2.0, 2, 7.0, 7], [2, 2.0], [2.0, 2], [2, 7, 2.0, 7.0, None, "2"]],
)
def test_an_int_and_the_float_it_equals_are_counted_apart(values):
    counted: dict[sums.Key, float] = {}
    sums._count(counted, ("v", "x"), values)
    expected: dict[sums.Key, float] = {}
    for value in values:
        text = sums.value_text(value)
        if text is not None:
            expected["v", "x", text] = expected.get(("v", "x", text), 0.0) + 1
    assert counted == expected
    assert ("v", "x", "2.0") in counted and ("v", "x", "2") in counted


def test_numbers_are_printed_as_postgresql_prints_the_stored_json():
    assert [sums.value_text(v) for v in (2, 2.0, 1e-07, 1e16, -0.0, "a", None, [1])] == [
        "2", "2.0", "0.0000001", "10000000000000000", "0.0", "a", None, None,
    ]  # fmt: skip
