"""The parser: the notation people write, the trees it builds, its limits."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsgd.derivatives import parse
from jaxsgd.derivatives._notation import MAX_LENGTH
from jaxsgd.errors import ExpressionError

X = ("x",)
SIG = ("sig", 0, X)


@pytest.mark.parametrize(
    ("src", "tree"),
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
    ("expr", "needle"),
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
        message = str(e)
        assert "\n" not in message


def test_a_derivative_order_too_long_for_int_is_refused_not_a_crash():
    # 5,000 superscript digits: int() alone raises a ValueError past Python's 4,300-digit limit
    with pytest.raises(ExpressionError, match="above 100"):
        parse("σ⁽" + "⁹" * 5000 + "⁾")
    assert parse("σ⁽" + "⁰" * 5000 + "¹⁾") == ("sig", 1, X)


@pytest.mark.parametrize("src", ["2.5e-1*σ", "1e3σ", "σ(1-σ)*1E-0", "25e+2", "σ*1e0", "3e−2"])
def test_scientific_notation_is_refused_not_read_as_euler(src):
    # 2.5e-1 read as 2.5·e − 1 would turn a right answer INCORRECT without saying why
    with pytest.raises(ExpressionError, match="scientific notation"):
        parse(src)


def test_a_number_next_to_e_is_still_a_product():
    e = ("exp", ("num", Fraction(1)))
    assert parse("2e") == ("prod", ((1, ("num", Fraction(2))), (1, e)))
    assert parse("2e^x") == ("prod", ((1, ("num", Fraction(2))), (1, ("exp", X))))
    assert parse("2e-x") == ("sum", ((1, ("prod", ((1, ("num", Fraction(2))), (1, e)))), (-1, X)))
    assert parse("2 e-1")[0] == "sum"


def test_a_power_written_with_a_caret_before_the_argument():
    # tanh^2(u) = tanh(u)², like tanh²(u); σ^2(x) = σ(x)², not σ²·x; σ^2(1−σ) stays σ²·(1−σ)
    assert parse("tanh^2(x/2)") == parse("tanh²(x/2)") == parse("tanh(x/2)^2")
    assert parse("σ^2(x)") == ("pow", SIG, 2)
    assert parse("σ^2(-x)") == ("pow", ("sig", 0, ("neg", X)), 2)
    assert parse("σ^2(1−σ)") == parse("σ²(1−σ)")
    assert parse("exp^2(x)") == ("pow", ("exp", X), 2)


def test_brackets_braces_and_sigmoid_are_read():
    assert parse("σ(x)[1 − σ(x)]") == parse("σ(x)(1 − σ(x))")
    assert parse("e^{-x}/{1+e^{-x}}^2") == parse("e^(-x)/(1+e^(-x))^2")
    assert parse("sigmoid(x)(1 - sigmoid(x))") == parse("σ(x)(1 − σ(x))")


def test_math_italic_fullwidth_and_vulgar_fractions_are_folded():
    # what a copy from a rendered PDF or a CJK keyboard gives
    assert parse("𝜎(𝑥)(1 − 𝜎(𝑥))") == parse("σ(x)(1 − σ(x))")
    assert parse("σ（１－σ）") == parse("σ(1-σ)")
    assert parse("½(1 + tanh(x/2))") == parse("(1/2)(1 + tanh(x/2))")
    assert parse("σ/½") == parse("σ/(1/2)")


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        ("σ\u200b(1−σ)", r"invisible character U\+200B \(ZERO WIDTH SPACE\) at position 2: delete it"),
        ("\u200fσ", r"invisible character U\+200F"),
        ("\ufeffσ", r"invisible character U\+FEFF"),
        ("е^-x", r"unknown name 'е' \(U\+0435 CYRILLIC SMALL LETTER IE\)"),
        ("еxp(x)", r"unknown name 'еxp', with 'е' \(U\+0435 CYRILLIC SMALL LETTER IE\)"),
        ("σ' = σ(1−σ)", "only the formula"),
        ("σ(1−σ)!", r"unexpected character '!' at position 7: use numbers"),
        ("σ'(x)'", r"unexpected prime \(′\) after a complete expression"),
        ("σ^'", r"expected a number, σ, x or '\(' but found a prime"),
    ],
)
def test_refusals_name_the_character_and_the_fix(expr, needle):
    with pytest.raises(ExpressionError, match=needle):
        parse(expr)


def test_a_huge_exponent_is_named_in_a_short_line():
    with pytest.raises(ExpressionError, match=r"exponent 999999999999… \(1000 digits\) is larger than 128") as e:
        parse("σ^" + "9" * 1000 + "(x)")
    assert len(str(e.value)) < 100
