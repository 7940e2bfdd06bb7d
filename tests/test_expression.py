"""The answer checker: parsing, the verdicts, limits, and no traceback on any input."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsgd.cli import main
from jaxsgd.expression import MAX_LENGTH, ExpressionError, check, parse


@pytest.mark.parametrize(
    "order,expr",
    [
        (2, "2σ³ − 3σ² + σ"),
        (2, "σ(1−σ)(1−2σ)"),
        (2, "s*(1-s)*(1-2*s)"),
        (2, "sigma - 3 sigma^2 + 2 sigma**3"),
        (1, "σ(x)(1 − σ(x))"),
        (1, "exp(-x)/(1+exp(-x))^2"),
        (1, "(1 - tanh(x/2)^2)/4"),
        (3, "σ(1−σ)(6σ² − 6σ + 1)"),
        (0, "1/(1+exp(-x))"),
        (2, "(σ − σ²)(1 − 2σ)"),
        (1, "σ/(1/(1−σ))"),
    ],
)
def test_correct_answers(order, expr):
    assert check(order, expr).correct


@pytest.mark.parametrize("order,expr", [(2, "σ³ − σ²"), (1, "σ(1+σ)"), (3, "−6σ⁴ + 12σ³ − 7σ² + 2σ"),
                                        (1, "exp(x)/(1+exp(x))")])
def test_incorrect_answers_name_a_point(order, expr):
    r = check(order, expr)
    assert not r.correct and r.x is not None and r.given_value != r.expected_value
    assert "INCORRECT" in r.message() and r.expected in r.message()


def test_cli_exit_codes(capsys):
    assert main(["check-derivative", "--order", "2", "2σ³ − 3σ² + σ"]) == 0
    assert "CORRECT" in capsys.readouterr().out
    assert main(["check-derivative", "--order", "2", "σ³ − σ²"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INCORRECT") and "2σ³ − 3σ² + σ" in out
    assert main(["check-derivative", "--order", "2", "__import__('os')"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    "expr,needle",
    [
        ("", "empty"),
        ("σ +", "expected a number"),
        ("(σ", r"expected '\)'"),
        ("σ)", r"unexpected '\)'"),
        ("σ^100", "larger than 64"),
        ("σ^σ", "constant whole numbers"),
        ("σ^0.5", "whole numbers"),
        ("foo(σ)", "unknown name"),
        ("σ; 1", "unexpected character"),
        ("1.2.3", "malformed number"),
        ("(" * 100 + "σ" + ")" * 100, "nests deeper"),
        ("σ" * (MAX_LENGTH + 1), "longer than"),
        ("(σ^64)^64^1", "too large to check"),
        ("1/(σ-σ)", "divides by zero"),
    ],
)
def test_rejections(expr, needle):
    with pytest.raises(ExpressionError, match=needle):
        check(1, expr)


_ALPHABET = list("σsx0123456789.+-*/^()² ³−·") + ["sigma", "exp(", "tanh(", "**"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_ALPHABET), max_size=40).map("".join))
def test_random_inputs_never_crash(src):
    try:
        check(2, src)
    except ExpressionError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes(src):
    try:
        parse(src)
    except ExpressionError:
        pass


@st.composite
def polynomials(draw):
    coeffs = draw(st.lists(st.integers(-20, 20), min_size=1, max_size=5))
    return " + ".join(f"({c})*σ^{i}" for i, c in enumerate(coeffs)), coeffs


@settings(max_examples=60, deadline=None)
@given(polynomials())
def test_well_formed_polynomials_are_judged_exactly(pc):
    src, coeffs = pc
    want = [0, 1, -3, 2]
    same = coeffs + [0] * (4 - len(coeffs)) == want if len(coeffs) <= 4 else False
    assert check(2, src).correct == same
