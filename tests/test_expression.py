"""The parser: the notation people write, the trees it builds, its limits."""

import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsgd.derivatives import check_answer, parse
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


# ------------------------------------------------------------------ numbers and names as students write them
def test_a_mixed_number_is_one_and_a_half_not_a_product():
    # 1½ used to read as 1·½, so 2(σ³ − 1½σ² + ½σ) = σ⁽²⁾ was judged INCORRECT
    from jaxsgd.derivatives._expression import parse_with_notes

    assert parse("1½") == ("sum", ((1, ("num", Fraction(1))), (1, ("prod", ((1, ("num", Fraction(1))),
                                                                              (-1, ("num", Fraction(2))))))))
    tree, notes = parse_with_notes("2(σ³ − 1½σ² + ½σ)")
    assert tree == parse("2(σ³ − (1 + 1/2)σ² + (1/2)σ)") and notes == {"mixed number"}
    assert parse("12⅙") == parse("(12 + 1/6)")
    assert parse("½σ") == parse("(1/2)σ")  # a lone vulgar fraction is still the fraction


@pytest.mark.parametrize("src", ["1 ½σ", "2  ¼"])
def test_a_fraction_after_a_number_and_a_space_is_refused_as_ambiguous(src):
    with pytest.raises(ExpressionError, match=r"is ambiguous: write \d+. \(no space\) for the mixed number"):
        parse(src)


@pytest.mark.parametrize(("src", "fix"), [("2σ³ − 3σ² + 1 1/2 σ", "1 1/2 is ambiguous: write 1+1/2 or 3/2 for the "
                                                                  "mixed number, or 1*1/2 for the product"),
                                          ("2 3/4", "2 3/4 is ambiguous: write 2+3/4 or 11/4 for the mixed number"),
                                          ("σ(1  1 / 2)", "1 1/2 is ambiguous: write 1+1/2 or 3/2")])
def test_an_ascii_fraction_after_a_number_and_a_space_is_refused_as_ambiguous(src, fix):
    # 1 1/2 used to be read as 1·½ with no word, while 1 ½ was refused
    with pytest.raises(ExpressionError, match=re.escape(fix)) as e:
        parse(src)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("src", "same"), [("2 σ", "2σ"), ("2 x", "2*x"), ("1/2 σ", "1/2*σ"), ("σ 1/2", "σ*1/2"),
                                           ("x^2 1/2", "x^2*1/2"), ("1.5 1/2", "1.5*1/2"), ("1 1/2.5", "1*1/2.5"),
                                           ("1 1.5/2", "1*1.5/2"),
                                           ("1 + 1/2", "1+1/2"), ("2 3", "2*3")])
def test_a_number_and_a_space_before_anything_but_a_fraction_is_still_read(src, same):
    assert parse(src) == parse(same)


@pytest.mark.parametrize("src", ["Σ", "Σ(1 − Σ)", "2Σ", r"\Sigma(x)"])
def test_capital_sigma_is_not_sigma(src):
    # "Σ".lower() is "σ": it used to be read as σ without a word
    with pytest.raises(ExpressionError, match=r"did you mean (σ|\\sigma) \(lower case\)\?"):
        parse(src)


@pytest.mark.parametrize("src", ["dσ/dx", "d²σ/dx²", "d^2σ/dx^2", "d/dx σ", "d σ(x) / d x"])
def test_leibniz_notation_is_refused_with_the_plain_form(src):
    with pytest.raises(ExpressionError, match=r"Leibniz notation .* is not read: give the derivative as a formula"):
        parse(src)


def test_sinh_cosh_and_sech_are_read():
    assert parse("sinh(x)") == ("sinh", X)
    assert parse("cosh²(x/2)") == ("pow", ("cosh", parse("x/2")), 2)
    assert parse("sech(2x)^2") == ("pow", ("sech", parse("2x")), 2)
    assert parse("sinh'(x)") == ("cosh", X) and parse("cosh''(x)") == ("cosh", X)
    assert parse("sσ") == ("prod", ((1, SIG), (1, SIG)))  # s is still σ
    with pytest.raises(ExpressionError, match="derivatives of sech are not read"):
        parse("sech'(x)")


@pytest.mark.parametrize(
    ("src", "notes"),
    [("σ2", {"number after σ"}), ("σ' 3", {"number after σ"}), ("σ^(1)", {"power"}), ("σ^(2)(1 − σ)", {"power"}),
     ("1½σ", {"mixed number"}), (r"\sigma", {"latex"}), ("σ(1 − σ)", set()), ("2σ", set()), ("σ^2", set())],
)
def test_readings_worth_echoing_are_noted(src, notes):
    from jaxsgd.derivatives._expression import parse_with_notes

    assert parse_with_notes(src)[1] == notes


@pytest.mark.parametrize(
    ("latex", "plain"),
    [
        (r"-6\sigma^{4} + 12\sigma^{3} - 7\sigma^{2} + \sigma", "-6σ^4 + 12σ^3 - 7σ^2 + σ"),
        (r"\frac{1}{4}\left(1 - \tanh^{2}\frac{x}{2}\right)", "(1/4)(1 - tanh(x/2)^2)"),
        (r"\frac{e^{-x}}{\left(1+e^{-x}\right)^{2}}", "e^(-x)/(1+e^(-x))^2"),
        (r"\sigma(x)\cdot\left[1-\sigma(x)\right]", "σ(x)*(1-σ(x))"),
        (r"\mathrm{e}^{-x} \cdot \exp(x)", "e^(-x)*exp(x)"),
        (r"\sigma^{(3)}", "σ⁽³⁾"),
        (r"2^{-4}\left(\tanh^{(2)}(x/2)\right)", "2^(-4)(tanh⁽²⁾(x/2))"),
        (r"\operatorname{sech}^{2}(x/2)/4", "sech^2(x/2)/4"),
        (r"\frac12\,\sigma", "(1/2)σ"),
    ],
)
def test_latex_is_read_as_the_plain_notation(latex, plain):
    assert parse(latex) == parse(plain)


@pytest.mark.parametrize(("src", "needle"), [(r"\foo(x)", r"LaTeX command \\foo is not read: type the formula "
                                                          "plainly"),
                                             (r"\frac{1}{4", r"never closed"), (r"\frac", "missing its argument")])
def test_latex_that_cannot_be_read_is_refused_in_one_line(src, needle):
    with pytest.raises(ExpressionError, match=needle) as e:
        parse(src)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("src", ["σ2 - 1½σ^(1)", "2(σ³ − 1½σ² + ½σ)", "σ(1−σ)/(2 + x)", "-x^2 + (−2)^3",
                                 "σ⁽³⁾(2x) − tanh⁽²⁾(x/2)/sech(x)", "e^-x/(1+e^-x)^2", "e·e^(x^2 − 1/3)",
                                 "1/σ/(1 − σ)", "−(σ − 1)·−σ", r"\frac{1}{4}\left(1 - \tanh^{2}\frac{x}{2}\right)"])
def test_the_rendered_reading_parses_back_to_the_same_tree(src):
    from jaxsgd.derivatives._expression import render

    tree = parse(src)
    assert parse(render(tree)) == tree


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="σx2½e+-*/^() '′³sinhcot", max_size=25))
def test_every_parsed_tree_renders_to_text_that_parses_back(src):
    from jaxsgd.derivatives._expression import render

    try:
        tree = parse(src)
    except ExpressionError:
        return
    assert parse(render(tree)) == tree


def test_sigma_of_sigma_is_read_as_a_product_and_says_so():
    """σ(1 − σ) is σ·(1 − σ), so σ(σ(x)) is σ·σ(x): a reading worth echoing; σ(1 − σ) alone is not."""
    from jaxsgd.derivatives._expression import parse_with_notes

    node, notes = parse_with_notes("σ(σ(x))")
    assert node == ("prod", ((1, ("sig", 0, ("x",))), (1, ("sig", 0, ("x",))))) and "sigma of sigma" in notes
    assert "sigma of sigma" not in parse_with_notes("σ(1 − σ)")[1]
    assert check_answer(1, "σ(σ(x))").report()[-1] == "read as: σ·σ"


@pytest.mark.parametrize("src", ["σ^cosh(0)", "σ^(cosh(0)-1)", "2^sech(0)", "x^sinh(0)", "σ^tanh(0)"])
def test_a_function_in_an_exponent_is_one_line(src):
    with pytest.raises(ExpressionError, match="exponents must be constant whole numbers, written with numbers alone"):
        parse(src)
