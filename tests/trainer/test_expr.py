"""Expressions in d and N are parsed, never evaluated as Python."""

import math

import pytest

from trainer import expr


def test_expressions_in_d_and_n_evaluate():
    assert expr.evaluate("0.05/(d*log(d))", {"d": 64.0, "N": 8.0}) == pytest.approx(
        0.05 / (64 * math.log(64))
    )
    assert expr.evaluate("20*d + N", {"d": 64.0, "N": 8.0}) == 1288


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "d.__class__",
        "(1).real",
        "open('x')",
        "[d]",
        "d if d else 1",
        "lambda: 1",
        "x + 1",
        "9**999",
    ],
)
def test_unsafe_or_unknown_input_is_rejected(text):
    with pytest.raises(ValueError):
        expr.check(text)
