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
from jaxsgd.derivatives._interval import POINTS
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
        t0 = time.perf_counter()
        assert check(k, src).correct
        assert time.perf_counter() - t0 < 2.0


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
        (1, "σ′"),
        (2, "σ''"),
        (2, "σ′(1 − 2σ)"),
        (3, "σ⁽³⁾(x)"),
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
    ("order", "expr", "method"),
    [(2, "σ³ − σ²", "exact"), (1, "σ(1+σ)", "exact"), (3, "−6σ⁴ + 12σ³ − 7σ² + 2σ", "exact"),
     (1, "exp(x)/(1+exp(x))", "interval"), (1, "σ(2x)", "interval"), (1, "σ(x)σ(x)", "exact"),
     (0, "e", "interval"), (2, "σ'", "exact")],
)
def test_incorrect_answers_name_the_deciding_point(order, expr, method):
    r = check(order, expr)
    assert not r.correct and r.method == method and r.points[0] in POINTS
    assert r.given_value != r.expected_value
    msg = r.message()
    assert msg.startswith("INCORRECT") and r.expected in msg and f"decided at x = {r.points[0]}" in msg


def test_a_difference_below_float64_resolution_is_caught():
    # at x = 0.5 the two differ by 1e-34 relative: float64 cannot see it, the enclosures can
    r = check(1, "σ(1 − σ) + exp(x - 80)")
    assert not r.correct and r.points == ("0.5",) and r.given_value == r.expected_value


def test_correct_message_names_its_points():
    msg = check(1, "e^-x/(1+e^-x)^2").message()
    assert msg.startswith("CORRECT") and "-39.7" in msg and "40.3" in msg and "30 significant digits" in msg


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        ("σ^(1/0)", "division by zero"),
        ("1/(σ-σ)", "divides by zero"),
        ("1/(x - 1/2)", "cannot be evaluated at x = 0.5"),
        ("0*exp(exp(exp(exp(exp(x))))) + σ(1 − σ)", "beyond"),
        ("((((σ+2)^128)^128)^128)^128", "too costly"),
        ("(σ^128+σ^127)^128 * (1+σ)^128", "too costly"),
        ("+".join(["tanh⁽¹⁰⁰⁾(x)"] * 200), "too costly"),
    ],
)
def test_refusals(expr, needle):
    t0 = time.perf_counter()
    with pytest.raises(ExpressionError, match=needle):
        check(1, expr)
    assert time.perf_counter() - t0 < 2.0


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
    t0 = time.perf_counter()
    try:
        r = check(order, src)
    except ExpressionError as e:
        message = str(e)
        assert "\n" not in message and message
    else:
        assert r.message().startswith("CORRECT" if r.correct else "INCORRECT")
    assert time.perf_counter() - t0 < 2.0


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
