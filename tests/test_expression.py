"""The parser: the notation people write, the trees it builds, its limits."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsgd.expression import MAX_LENGTH, ExpressionError, parse

X = ("x",)
SIG = ("sig", 0, X)


@pytest.mark.parametrize(
    "src,tree",
    [
        ("σ", SIG),
        ("sigma(x)", SIG),
        ("σ(−x)", ("sig", 0, ("neg", X))),
        ("σ(2x)", ("sig", 0, ("prod", ((1, ("num", Fraction(2))), (1, X))))),
        ("σ′", ("sig", 1, X)),
        ("σ'", ("sig", 1, X)),
        ("σ''", ("sig", 2, X)),
        ("σ″(x)", ("sig", 2, X)),
        ("σ‴", ("sig", 3, X)),
        ("σ⁽¹²⁾", ("sig", 12, X)),
        ("e", ("exp", ("num", Fraction(1)))),
        ("e^-x", ("exp", ("neg", X))),
        ("e⁻ˣ", ("exp", ("neg", X))),
        ("exp(x)", ("exp", X)),
        ("tanh⁽²⁾(x/2)", ("tanh", 2, ("prod", ((1, X), (-1, ("num", Fraction(2))))))),
        ("tanh²(x)", ("pow", ("tanh", 0, X), 2)),
        ("3/2", ("prod", ((1, ("num", Fraction(3))), (-1, ("num", Fraction(2)))))),
        ("2⁻³", ("pow", ("num", Fraction(2)), -3)),
        ("σ²", ("pow", SIG, 2)),
        ("s**2", ("pow", SIG, 2)),
    ],
)
def test_notation(src, tree):
    assert parse(src) == tree


def test_sigma_of_an_expression_with_sigma_is_a_product():
    # σ(1−σ) is σ·(1−σ), the way derivatives are written; σ(x)σ(−x) is two applications
    assert parse("σ(1−σ)") == ("prod", ((1, SIG), (1, ("sum", ((1, ("num", Fraction(1))), (-1, SIG))))))
    assert parse("σ(x)σ(−x)") == ("prod", ((1, SIG), (1, ("sig", 0, ("neg", X)))))
    assert parse("σ²(1−σ)")[1][0] == (1, ("pow", SIG, 2))


def test_powers_bind_tighter_than_minus_and_right_to_left():
    assert parse("-x^2") == ("neg", ("pow", X, 2))
    assert parse("2^3^2") == ("pow", ("num", Fraction(2)), 9)


@pytest.mark.parametrize(
    "expr,needle",
    [
        ("", "empty"),
        ("σ +", "expected a number"),
        ("(σ", r"expected '\)'"),
        ("σ)", r"unexpected '\)'"),
        ("σ^200", "larger than 128"),
        ("σ^σ", "constant whole numbers"),
        ("σ^0.5", "whole numbers"),
        ("x^e", "constant whole numbers"),
        ("foo(σ)", "unknown name"),
        ("σ; 1", "unexpected character"),
        ("1.2.3", "malformed number"),
        ("exp x", "parentheses"),
        ("σ⁽⁾", "derivative order"),
        ("σ⁽¹⁰¹⁾", "above 100"),
        ("σ^(1/0)", "division by zero"),
        ("σ^(0^-1)", "division by zero"),
        ("1" * 1001, "more than 1000 digits"),
        ("2^(((9^64)^64)^64)", "too large"),
        ("(" * 100 + "σ" + ")" * 100, "nests deeper"),
        ("-" * 100 + "σ", "nests deeper"),
        ("σ" * (MAX_LENGTH + 1), "longer than"),
    ],
)
def test_rejections(expr, needle):
    with pytest.raises(ExpressionError, match=needle):
        parse(expr)


def test_long_flat_sums_do_not_recurse():
    # 5,000 terms: a flat sum node, not a 5,000-deep tree
    tree = parse("+".join(["σ"] * 5000))
    assert tree[0] == "sum" and len(tree[1]) == 5000


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_is_refused(src):
    try:
        parse(src)
    except ExpressionError as e:
        assert "\n" not in str(e)
