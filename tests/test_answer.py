"""The answer checker: exact or interval verdicts, at every order it accepts, and refusals for the rest."""

import time

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxsgd import derivatives as P
from jaxsgd.cli import main
from jaxsgd.defaults import ANSWER_MAX_ORDER as MAX_CHECK_ORDER
from jaxsgd.derivatives import check_answer as check
from jaxsgd.errors import ExpressionError

ORDERS = range(0, 31)


def _sigma_derivative(k, x, dps):
    """σ⁽ᵏ⁾(x) by mpmath's own numerical differentiation, at ``dps`` digits: independent of jaxsgd."""
    with mpmath.workdps(dps):
        return mpmath.diff(lambda t: 1 / (1 + mpmath.exp(-t)), mpmath.mpf(x), k)


def _r_coefficients(k):
    """pₖ(s) / (s − s²) by long division, highest power first."""
    p = list(P.sigmoid_polynomial(k))[1:]  # divide by s
    r = []  # then by (1 − s): q = (1 − s)·r
    carry = 0
    for c in p:
        carry += c
        r.append(carry)
    assert r[-1] == 0
    return r[:-1]


def _perturbed(coeffs):
    for i, c in enumerate(coeffs):
        for d in (-1, 1):
            yield i, (*coeffs[:i], c + d, *coeffs[i + 1:])


@pytest.mark.parametrize("k", ORDERS)
def test_printed_forms_are_correct_and_one_off_coefficients_are_not(k):
    poly = P.sigmoid_polynomial(k)
    assert check(k, P.text(poly)).correct
    assert check(k, P.factored(k)).correct
    assert check(k, P.tanh_form(k)).correct
    for _, changed in _perturbed(poly):
        r = check(k, P.text(changed))
        assert not r.correct and r.method == "exact"
    if k >= 1:
        r_coeffs = tuple(_r_coefficients(k))
        for _, changed in _perturbed(r_coeffs):
            assert not check(k, f"σ(1 − σ)({P.text(changed)})").correct
        q = P.tanh_polynomial(k)
        for _, changed in _perturbed(q):
            assert not check(k, f"2^(-{k + 1})*({P.text(changed, 'tanh(x/2)')})").correct


@pytest.mark.slow
@pytest.mark.parametrize("k", [60, MAX_CHECK_ORDER])
def test_printed_forms_at_high_order(k):
    for src in (P.text(P.sigmoid_polynomial(k)), P.factored(k), P.tanh_form(k)):
        t0 = time.thread_time()
        assert check(k, src).correct
        assert time.thread_time() - t0 < 2.0  # CPU seconds: the checker's budget, whatever the load


@pytest.mark.parametrize("k", [40, 60])
def test_printed_values_are_right_at_high_order(k):
    # float64 gave 1.755e31 for σ⁽⁴⁰⁾(0.5) (true 7.55e26) and the wrong sign at order 60
    r = check(k, "σ")
    assert not r.correct and r.points == ("0.5",)
    truth = _sigma_derivative(k, "0.5", 120)
    assert float(r.expected_value) == pytest.approx(float(truth), rel=1e-11)
    assert float(r.given_value) == pytest.approx(float(1 / (1 + mpmath.exp(-0.5))), rel=1e-11)


@pytest.mark.parametrize(
    ("order", "expr"),
    [
        (2, "2σ³ − 3σ² + σ"),
        (2, "σ(1−σ)(1−2σ)"),
        (2, "s*(1-s)*(1-2*s)"),
        (2, "sigma - 3 sigma^2 + 2 sigma**3"),
        (1, "σ(x)(1 − σ(x))"),
        (1, "σ(x)σ(−x)"),
        (2, "σ′(1 − 2σ)"),
        (3, "σ″(1 − 2σ) − 2σ′²"),
        (1, "exp(-x)/(1+exp(-x))^2"),
        (1, "e^-x/(1+e^-x)^2"),
        (1, "e⁻ˣ/(1 + e⁻ˣ)²"),
        (1, "1/(2 + e^x + e^-x)"),
        (1, "(1 - tanh(x/2)^2)/4"),
        (1, "1/4 - tanh²(x/2)/4"),
        (2, "2⁻³·tanh⁽²⁾(x/2)"),
        (0, "1/(1+exp(-x))"),
        (0, "(1 + tanh(x/2))/2"),
        (0, "1 − σ(−x)"),
        (1, "2σ(2x)(1 − σ(2x))/2 * σ(x)(1−σ(x)) / (σ(2x)(1 − σ(2x)))"),
        (1, "σ/(1/(1−σ))"),
        (1, "-σ^2 + σ"),
    ],
)
def test_correct_answers(order, expr):
    assert check(order, expr).correct


@pytest.mark.parametrize(
    ("order", "expr", "method", "proof"),
    [(2, "σ³ − σ²", "exact", "σ"), (1, "σ(1+σ)", "exact", "σ"), (3, "−6σ⁴ + 12σ³ − 7σ² + 2σ", "exact", "σ"),
     (1, "exp(x)/(1+exp(x))", "exact", "x"), (1, "σ(2x)", "exact", "x"), (1, "σ(x)σ(x)", "exact", "σ"),
     (0, "e", "exact", "x"), (2, "σ'", "exact", "σ"), (1, "σ(e^x)", "interval", None)],
)
def test_incorrect_answers_name_the_deciding_point(order, expr, method, proof):
    r = check(order, expr)
    assert not r.correct and r.method == method and r.proof == proof
    assert r.given_value != r.expected_value
    msg = r.message()
    how = f"proven different exactly, as functions of {proof}" if proof else "decided at x ="
    assert msg.startswith("INCORRECT") and r.expected in msg and f"x = {r.points[0]}" in msg and how in msg


def test_a_difference_below_float64_resolution_is_caught_and_printed_with_digits_that_differ():
    # at x = 0.5 the two differ by 1e-34 relative: float64 cannot see it, the enclosures can; both values used
    # to print as 0.235003712202
    for src in ("σ(1 − σ) + exp(x - 80)", "σ(1 − σ) + 10^-60·σ"):
        r = check(1, src)
        assert not r.correct and r.method == "exact" and r.given_value != r.expected_value
        with mpmath.workdps(len(r.expected_value) + 20):
            x = mpmath.mpf(r.points[0])
            truth = 1 / (1 + mpmath.exp(-x)) * (1 - 1 / (1 + mpmath.exp(-x)))
            assert abs(mpmath.mpf(r.expected_value) - truth) < abs(mpmath.mpf(r.given_value) - truth)


def test_a_bump_at_one_of_the_answers_own_numbers_is_caught_outside_the_exact_class():
    # σ(e^x) puts these outside the exact classes; random points alone would miss a bump of width ~1 at 50
    for src in ("σ(1-σ) + e^(-(x-50)^2)*σ(e^x)", "σ(1-σ) + σ(e^x)*e^(-(x-50)^2)", "σ(1-σ) + e^(-x^2*1000)*σ(e^x)"):
        r = check(1, src)
        assert not r.correct and r.method == "interval" and r.points[0] in ("50", "0"), src


def test_a_derivative_of_the_order_asked_inside_the_answer_restates_it():
    for order, src in ((3, "σ''' + 0"), (3, "2σ''' - σ'''"), (3, "σ'''·1"), (3, "σ⁽⁴⁾ + σ"),
                       (2, "σ''·(1+0)")):
        with pytest.raises(ExpressionError, match="restates the derivative asked for"):
            check(order, src)
    assert check(3, "σ''(1 − 2σ) − 2σ'^2").correct  # lower derivatives are a working-out


def test_correct_message_names_its_random_points():
    # σ(e^x) is outside the exact class: the interval method, at points drawn for this check
    msg = check(1, "σ(1 − σ)·σ(e^x)/σ(e^x)").message()
    assert msg.startswith("CORRECT") and "12 points drawn at random" in msg and "30 significant digits" in msg


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        ("σ^(1/0)", "division by zero"),
        ("1/(σ-σ)", "divides by zero"),
        ("1/(x - x)", "divides by zero everywhere"),
        ("σ(1 − σ)/(σ(e^x) − σ(e^x))", "cannot be evaluated"),
        ("0*exp(exp(exp(exp(exp(x^2 + 3))))) + σ(1 − σ)", "cannot tell|beyond"),
        ("((((σ+2)^128)^128)^128)^128", "too costly"),
        ("(σ^128+σ^127)^128 * (1+σ)^128", "too costly"),
        ("+".join(["tanh⁽¹⁰⁰⁾(e^x)"] * 200), "too costly"),
    ],
)
def test_refusals(expr, needle):
    t0 = time.thread_time()
    with pytest.raises(ExpressionError, match=needle):
        check(1, expr)
    assert time.thread_time() - t0 < 2.0  # CPU seconds: the checker's budget, whatever the load


def test_order_outside_the_cap_is_refused():
    with pytest.raises(ExpressionError, match="from 0 to 100"):
        check(MAX_CHECK_ORDER + 1, "σ")


# ------------------------------------------------------------------ command line
def test_cli_exit_codes(capsys):
    assert main(["check-derivative", "--order", "2", "2σ³ − 3σ² + σ"]) == 0
    assert "CORRECT" in capsys.readouterr().out
    assert main(["check-derivative", "--order", "2", "σ³ − σ²"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INCORRECT") and "2σ³ − 3σ² + σ" in out
    for bad in (["--order", "2", "__import__('os')"], ["--order", "1", "σ^(1/0)"], ["--order", "101", "σ"],
                ["--order", "1", "1/(σ-σ)"]):
        assert main(["check-derivative", *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--order", "1", "-σ^2 + σ"], ["-σ^2 + σ", "--order", "1"],
                                  ["--order=1", "-σ²+σ"], ["--order", "1", "--", "-σ^2+σ"]])
def test_cli_reads_a_leading_minus(argv, capsys):
    assert main(["check-derivative", *argv]) == 0
    assert capsys.readouterr().out.startswith("CORRECT")


def test_cli_derivative_lines_are_valid_input(capsys):
    assert main(["derivative", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    answers = [lines[0].split("=", 1)[1], lines[1].split("=", 1)[1], lines[2].split("=", 1)[1].split(",")[0],
               lines[3].removeprefix("as input: ")]
    for src in answers:
        assert main(["check-derivative", "--order", "4", src]) == 0, src
        assert capsys.readouterr().out.startswith("CORRECT")


@pytest.mark.slow
def test_cli_derivative_prints_up_to_its_cap(capsys):
    assert main(["derivative", str(P.MAX_ORDER), "--format", "json"]) == 0
    assert len(capsys.readouterr().out) > 10**6
    assert main(["derivative", str(P.MAX_ORDER + 1)]) == 2
    assert "between 0 and 1000" in capsys.readouterr().err


# ------------------------------------------------------------------ fuzz
_TOKENS = ["σ", "s", "sigma", "x", "e", "exp(", "tanh(", "(", ")", "+", "-", "−", "*", "·", "/", "^", "**", "²", "³",
           "⁻", "¹", "⁽", "⁾", "ˣ", "′", "'", "″", "‴", "0", "1", "2", "9", ".", " ", "64", "128", "1/0", "σ(",
           "99999999999999999999999", "tanh⁽³⁾(", "σ⁽⁵⁾", "e^-x", "0^-1", "1e", ";", "é", "\u200b"]


def _towers():
    leaf = st.sampled_from(["σ", "x", "2", "9", "e", "σ′", "0.5", "10" * 40, "(1-σ)", "exp(x)", "tanh(x/2)"])
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["64", "128", "2", "-1", "(1/0)", "σ"])).map(lambda t: f"({t[0]})^{t[1]}"),
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", ""]), inner).map("".join),
            inner.map(lambda s: f"exp({s})"), inner.map(lambda s: f"tanh({s})"), inner.map(lambda s: f"σ({s})"),
            inner.map(lambda s: f"-({s})"),
        ),
        max_leaves=12,
    )


_EXPRESSIONS = st.one_of(st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join), _towers(),
                         st.text(max_size=30))


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.integers(0, 12), _EXPRESSIONS)
def test_fuzz_every_input_ends_in_a_verdict_or_a_one_line_refusal(order, src):
    t0 = time.thread_time()
    try:
        r = check(order, src)
    except ExpressionError as e:
        message = str(e)
        assert "\n" not in message and message
    else:
        assert r.message().startswith("CORRECT" if r.correct else "INCORRECT")
    assert time.thread_time() - t0 < 2.0  # CPU seconds: the checker's budget, whatever the load


@pytest.mark.parametrize(
    ("order", "expr"),
    [
        (1, "(1 - tanh^2(x/2))/4"),
        (1, "σ^2(x)e^(-x)"),
        (1, "σ(x)[1 − σ(x)]"),
        (1, "sigmoid(x)(1 - sigmoid(x))"),
        (1, "𝜎(𝑥)(1 − 𝜎(𝑥))"),
        (1, "¼(1 − tanh²(x/2))"),
        (1, "e^{-x}/(1+e^{-x})^2"),
        (2, "-tanh^1(x/2)(1 - tanh^2(x/2))/4"),
    ],
)
def test_correct_answers_in_notations_students_also_write(order, expr):
    assert check(order, expr).correct


def test_cli_refuses_scientific_notation_instead_of_misreading_it(capsys):
    # 2.5e-1 used to be read as 2.5·e − 1 and judged INCORRECT
    assert main(["check-derivative", "--order", "1", "2.5e-1*(1 - tanh(x/2)^2)"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scientific notation" in err and "0.25" in err


def test_hide_answer_keeps_the_polynomial_and_its_value_out(capsys):
    assert main(["check-derivative", "--order", "2", "--hide-answer", "σ³ − σ²"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INCORRECT") and "x = 0.5" in out and "-0.146280253527" in out
    assert "2σ³" not in out and "-0.0575567948523" not in out
    assert main(["check-derivative", "--hide-answer", "--order", "2", "-3σ² + 2σ³ + σ"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CORRECT") and "2σ³" not in out


# ------------------------------------------------------------------ no fixed, published point set
_OLD_POINTS = ("0.5", "-1.25", "1.7", "-0.3", "3.1", "-2.6", "0.9", "-6.7", "7.3", "-17.9", "19.1", "-39.7", "40.3")
_VANISHING = "(" + ")(".join(f"x - {p}" if not p.startswith("-") else f"x + {p[1:]}" for p in _OLD_POINTS) + ")"


@pytest.mark.parametrize("k", [0, 1, 2, 3, 40])
@pytest.mark.parametrize("form", ["text", "tanh"])
def test_a_wrong_answer_that_vanishes_at_the_old_points_is_incorrect(k, form):
    # these used to be CORRECT: the 13 points every CORRECT message printed are zeros of the added product
    right = P.text(P.sigmoid_polynomial(k)) if form == "text" else (P.tanh_form(k) if k else "(1 + tanh(x/2))/2")
    r = check(k, f"{right} + {_VANISHING}")
    assert not r.correct and r.method == "exact" and r.proof == "x"
    assert r.points and r.points[0] not in _OLD_POINTS and r.given_value != r.expected_value


def test_a_narrow_bump_far_out_is_incorrect():
    # wrong by ~1 near x = 100, by e^-10⁴ at every old point: CORRECT before
    r = check(1, "σ(1-σ) + e^(-(x-100)^2)")
    assert not r.correct and r.proof == "x" and r.points == ("100",)
    assert float(r.given_value) == pytest.approx(1.0) and float(r.expected_value) < 1e-40


def test_an_answer_proven_different_is_incorrect_even_without_a_witness():
    # 10⁻⁶⁰σ needs ~70 digits to show: found; 10⁻³²⁷⁶⁸σ cannot be shown in time: INCORRECT all the same
    # (the first used to end in "cannot judge", exit 2)
    r = check(1, "σ(1-σ) + 10^-60·σ")
    assert not r.correct and r.proof == "σ" and r.points and r.given_value != r.expected_value
    r = check(1, "σ(1 − σ) + ((10^-128)^128)^2·σ")
    assert not r.correct and r.method == "exact" and r.points == () and r.given_value is None
    assert "proven different exactly" in r.message() and "no point found" in r.message()
    assert "no point found" in r.message(hide_answer=True) and "σ²" not in r.message(hide_answer=True)


@pytest.mark.parametrize(
    ("order", "expr"),
    [(1, "e^-x/(1+e^-x)^2"), (1, "1/(2 + e^x + e^-x)"), (1, "1/(4cosh(x/2)^2)"), (1, "sech²(x/2)/4"),
     (0, "(1 + sinh(x/2)/cosh(x/2))/2"), (0, "e^(x/2)/(e^(x/2) + e^(-x/2))"), (2, "2⁻³·tanh⁽²⁾(x/2)"),
     (1, "σ(2x)(1 − σ(2x))·(1 + e^(-2x))^2·e^(2x)·e^(-x)/(1 + e^(-x))^2·(1 + e^x)^2/(1 + e^x)^2·4/4"),
     (0, "1 − σ(−x) + (x + 1)² − x² − 2x − 1"), (1, "e·e^(-1)·σ(1 − σ)"), (3, "σ⁽²⁾(x + 0)(1 − 2σ) − 2σ'(x + 0)^2"),
     (1, "(e^(x^2) − e^(x^2) + 1)σ(1 − σ)"), (2, "σ'(x/3 + 2x/3)(1 − 2σ(x/3 + 2x/3))"),
     (1, "σ(1 − σ) + 0·exp(x^17) + 0·exp(10^100·x)"), (1, "σ(1 − σ)(e^(x/3) + e^(x/7))/(e^(x/7) + e^(x/3))")],
)
def test_answers_in_x_and_exponentials_are_proven_correct(order, expr):
    r = check(order, expr)
    assert r.correct and r.method == "exact" and r.proof == "x" and "compared exactly, as functions of x" in \
        r.message()


def _tree(draw_leaf, draw_op, depth):
    """A random tree of the exact class, and its value as an mpmath function."""
    if depth == 0:
        return draw_leaf()
    op = draw_op()
    a, fa = _tree(draw_leaf, draw_op, depth - 1)
    if op in ("sig", "tanh", "exp", "cosh", "sech"):
        from jaxsgd.derivatives._expression import uses

        if uses(a, ("sig", "tanh", "exp", "cosh", "sech")):  # keep the argument a polynomial
            a, fa = ("x",), (lambda x: x)
        f = {"sig": lambda u: 1 / (1 + mpmath.exp(-u)), "tanh": mpmath.tanh, "exp": mpmath.exp,
             "cosh": mpmath.cosh, "sech": mpmath.sech}[op]
        node = ("sig", 0, a) if op == "sig" else ("tanh", 0, a) if op == "tanh" else (op, a)
        return node, (lambda x, f=f, fa=fa: f(fa(x)))
    b, fb = _tree(draw_leaf, draw_op, depth - 1)
    if op == "+":
        return ("sum", ((1, a), (1, b))), (lambda x: fa(x) + fb(x))
    if op == "-":
        return ("sum", ((1, a), (-1, b))), (lambda x: fa(x) - fb(x))
    return ("prod", ((1, a), (1, b))), (lambda x: fa(x) * fb(x))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.data())
def test_the_exact_verdict_in_x_agrees_with_mpmath(data):
    # answer = σ⁽ᵏ⁾ + A − B: exact says CORRECT iff A ≡ B; mpmath at 80 digits at three points must agree
    from fractions import Fraction

    from jaxsgd.derivatives._exact import exact_form

    leaves = [(("x",), lambda x: x), (("num", Fraction(1, 2)), lambda x: mpmath.mpf(1) / 2),
              (("num", Fraction(-3)), lambda x: mpmath.mpf(-3))]

    def draw_leaf():
        return leaves[data.draw(st.integers(0, 2))]

    def draw_op():
        return data.draw(st.sampled_from(["+", "-", "*", "sig", "tanh", "exp", "cosh", "sech"]))

    a, fa = _tree(draw_leaf, draw_op, data.draw(st.integers(0, 3)))
    same = data.draw(st.booleans())
    b, fb = (a, fa) if same else _tree(draw_leaf, draw_op, data.draw(st.integers(0, 3)))
    k = data.draw(st.integers(0, 3))
    node = ("sum", ((1, ("sig", k, ("x",))), (1, a), (-1, b)))
    verdict = exact_form(node, None).equals(k)
    with mpmath.workdps(80):
        apart = [abs(fa(mpmath.mpf(x)) - fb(mpmath.mpf(x))) for x in ("0.37", "-1.3", "2.9")]
        scale = [1 + abs(fa(mpmath.mpf(x))) for x in ("0.37", "-1.3", "2.9")]
        numerically_equal = all(d <= s * mpmath.mpf(10) ** -60 for d, s in zip(apart, scale, strict=True))
    assert verdict == numerically_equal


def test_outside_the_exact_class_the_points_are_drawn_for_each_check():
    import random

    from jaxsgd.derivatives._interval import draw_points

    src = "σ(1 − σ)·σ(e^x)/σ(e^x)"  # σ of a non-polynomial: the interval method
    first, second = check(1, src), check(1, src)
    assert first.correct and first.method == "interval" and len(first.points) - first.aimed == 12
    assert first.points[:first.aimed] == ("0", "1", "-1")  # x = 0 and the answer's own numbers, both signs
    drawn = set(first.points[first.aimed:])
    assert drawn != set(second.points[second.aimed:])  # SystemRandom: equal sets have probability ~0
    # the sampling law: half uniform on [−8, 8], half ±|x| log-uniform on [8, 1000]
    xs = [float(p) for p in draw_points(4000, random.Random(0))]
    assert all(abs(x) <= 1000 for x in xs) and min(xs) < -500 and max(xs) > 500
    near = sum(abs(x) <= 8 for x in xs) / len(xs)
    assert 0.45 < near < 0.6  # ½ from the uniform part, plus the log-uniform part's lower edge (none below 8)


def test_a_wrong_answer_outside_the_class_is_caught_at_random_points_with_a_fixed_seed():
    import random

    # σ(e^(x/2)) is outside the class (σ of a non-polynomial) and differs from σ everywhere
    r = check(0, "σ(e^(x/2))", rng=random.Random(1))
    assert not r.correct and r.method == "interval" and r.given_value != r.expected_value
    with mpmath.workdps(50):
        x = mpmath.mpf(r.points[0])
        assert float(r.given_value) == pytest.approx(float(1 / (1 + mpmath.exp(-mpmath.exp(x / 2)))), rel=1e-11)
        assert float(r.expected_value) == pytest.approx(float(1 / (1 + mpmath.exp(-x))), rel=1e-11)


# ------------------------------------------------------------------ restating, other orders, readings
@pytest.mark.parametrize(("order", "expr"), [(1, "σ′"), (2, "σ''"), (3, "σ'''"), (3, "σ⁽³⁾(x)"), (3, "σ‴")])
def test_an_answer_that_restates_the_derivative_is_refused(order, expr):
    # these were CORRECT: true, but not an answer
    with pytest.raises(ExpressionError, match="restates the derivative asked for"):
        check(order, expr)


@pytest.mark.parametrize(("order", "expr", "other"), [(3, "σ″", 2), (3, "2σ³ − 3σ² + σ", 2), (2, "σ", 0),
                                                     (1, P.tanh_form(2), 2), (4, P.tanh_form(6), 6),
                                                     (0, "σ(1 − σ)", 1), (2, "σ'(1-2σ)(1 − 2σ) − 2σ'^2", 3)])
def test_an_answer_right_for_another_order_says_so(order, expr, other):
    r = check(order, expr)
    assert not r.correct and r.other_order == other
    assert r.report()[-1] == (f"note: your expression is σ⁽{P.superscript(other)}⁾, the derivative of order {other}, "
                              f"not of order {order}")


def test_an_equation_with_the_derivative_on_the_left_is_judged_by_its_right_side():
    assert check(1, "σ' = σ(1 − σ)").correct
    assert check(3, r"\sigma^{(3)}(x) = -6\sigma^{4} + 12\sigma^{3} - 7\sigma^{2} + \sigma").correct
    with pytest.raises(ExpressionError, match="the left-hand side is σ⁽²⁾ but the order checked is 3"):
        check(3, "σ'' = σ(1 − σ)(1 − 2σ)")
    with pytest.raises(ExpressionError, match="only the formula"):
        check(1, "σ(x) + 1 = σ(1 − σ)")


@pytest.mark.parametrize(("expr", "read"), [("σ2", "σ·2"), ("σ^(1)", "σ^1"), ("1½σ", "(1 + 1/2)·σ"),
                                            (r"\frac{1}{4}", "1/4")])
def test_a_reading_that_is_not_literal_is_echoed(expr, read):
    assert check(1, expr).read_as == read
    assert check(1, "σ(1 − σ)").read_as is None


def test_incorrect_never_prints_two_equal_values():
    for src in ("σ(1 − σ) + exp(x - 80)", "σ(1 − σ)(1 + 10^-40)", "σ − σ² + 10^-30", "σ(1 − σ) + 10^-60·σ"):
        r = check(1, src)
        assert not r.correct and r.given_value != r.expected_value, src


@pytest.mark.parametrize(
    ("order", "expr", "correct"),
    [(0, "σ + 1/2 - sech(x-x)", False), (0, "σ + 1 - sech(x-x)", True), (0, "σ + 1 - cosh(x-x)", True),
     (0, "σ + 1 - sech(0)", True), (0, "σ + sinh(0)", True), (0, "σ + 1 - cosh(0)", True),
     (1, "σ(1-σ)·cosh(0)·sech(0)", True), (0, "σ + cosh(0)", False)],
)
def test_hyperbolic_functions_of_zero_are_exact(order, expr, correct):
    """cosh 0 = sech 0 = 1 and sinh 0 = 0, in the exact check in x; a constant argument never reaches the exact
    check in σ (which has no hyperbolic functions) and ends in a verdict, not a traceback."""
    r = check(order, expr)
    assert r.correct is correct and r.method == "exact"
