"""Exact polynomials for σ⁽ᵏ⁾ and tanh⁽ᵏ⁾, cross-checked against closed forms and mpmath."""

from fractions import Fraction

import mpmath as mp
import pytest

from jaxsgd import derivatives as P


@pytest.fixture(autouse=True)
def _fifty_digits():
    """mpmath at 50 digits for this module's references, restored afterwards."""
    with mp.workdps(50):
        yield


def test_low_orders_by_hand():
    # σ′ = σ − σ², σ″ = σ − 3σ² + 2σ³, σ‴ = σ − 7σ² + 12σ³ − 6σ⁴
    assert P.sigmoid_polynomial(0) == (0, 1)
    assert P.sigmoid_polynomial(1) == (0, 1, -1)
    assert P.sigmoid_polynomial(2) == (0, 1, -3, 2)
    assert P.sigmoid_polynomial(3) == (0, 1, -7, 12, -6)


@pytest.mark.parametrize("n", [1, 2, 5, 13, 40])
def test_recurrence_equals_stirling_and_eulerian_forms(n):
    p = P.sigmoid_polynomial(n)
    assert P.stirling_form(n) == p
    assert P.eulerian_form(n) == p


def test_text_factored_latex():
    assert P.text(P.sigmoid_polynomial(3)) == "−6σ⁴ + 12σ³ − 7σ² + σ"
    assert P.text(P.sigmoid_polynomial(1)) == "−σ² + σ"
    assert P.factored(1) == "σ(1 − σ)"
    assert P.factored(2) == "σ(1 − σ)(1 − 2σ)"
    assert P.factored(3) == "σ(1 − σ)(6σ² − 6σ + 1)"
    assert P.latex(P.sigmoid_polynomial(3)) == r"-6\sigma^{4} + 12\sigma^{3} - 7\sigma^{2} + \sigma"


@pytest.mark.parametrize("k", [1, 2, 3, 7, 12])
def test_polynomial_matches_mpmath_derivative(k):
    p = P.sigmoid_polynomial(k)
    for x in (-3.5, -0.7, 0.0, 0.4, 2.9):
        s = 1 / (1 + mp.exp(-mp.mpf(x)))
        val = sum(c * s**i for i, c in enumerate(p))
        ref = mp.diff(lambda t: 1 / (1 + mp.exp(-t)), mp.mpf(x), k)
        assert abs(val - ref) <= mp.mpf(10) ** -30 * max(1, abs(ref))


@pytest.mark.parametrize("k", [1, 2, 3, 6, 11])
def test_tanh_relation_exact(k):
    """σ(x) = (1 + tanh(x/2))/2 ⇒ σ⁽ᵏ⁾(x) = 2⁻ᵏ⁻¹ tanh⁽ᵏ⁾(x/2), checked as polynomials.

    With T = tanh(x/2) = 2σ − 1, both sides are polynomials in σ; compare them
    at enough exact rational points to pin down the degree.
    """
    p, q = P.sigmoid_polynomial(k), P.tanh_polynomial(k)
    for i in range(k + 3):
        s = Fraction(i + 1, k + 5)
        lhs = P.evaluate_exact(p, s)
        rhs = P.evaluate_exact(q, 2 * s - 1) / 2 ** (k + 1)
        assert lhs == rhs


def test_sigma_tanh_identity_mpmath():
    for x in (-30, -2.5, 0, 1e-3, 7.25):
        x = mp.mpf(x)
        assert abs(1 / (1 + mp.exp(-x)) - (1 + mp.tanh(x / 2)) / 2) < mp.mpf(10) ** -45


def test_tanh_low_orders():
    assert P.tanh_polynomial(1) == (1, 0, -1)
    assert P.tanh_polynomial(2) == (0, -2, 0, 2)


def test_bad_orders():
    for bad in (-1, 1.5, True, 10**6):
        with pytest.raises(ValueError, match="order"):
            P.sigmoid_polynomial(bad)


@pytest.mark.parametrize("k", [1, 2, 3, 6, 12])
def test_derivative_zeros_are_the_k_minus_1_sign_changes(k):
    """Checked exactly: at s = σ(x ∓ 10⁻⁶) the polynomial's exact value changes sign, once per zero."""
    from fractions import Fraction

    import mpmath as mp

    zeros = P.derivative_zeros(k)
    assert len(zeros) == k - 1 and zeros == sorted(zeros)
    assert all(a == pytest.approx(-b, abs=1e-9) for a, b in zip(zeros, reversed(zeros), strict=True))  # odd/even
    coeffs = P.sigmoid_polynomial(k)
    with mp.workdps(40):
        for z in zeros:
            sides = []
            for dx in (-1e-6, 1e-6):
                s = Fraction(str(mp.nstr(1 / (1 + mp.exp(-(mp.mpf(z) + dx))), 35)))
                sides.append(sum(c * s**i for i, c in enumerate(coeffs)))
            assert sides[0] * sides[1] < 0


def test_sigma_third_derivative_zeros_are_known():
    import math

    assert P.derivative_zeros(3) == pytest.approx([-math.log(2 + math.sqrt(3)), math.log(2 + math.sqrt(3))],
                                                  abs=1e-12)
    assert P.derivative_zeros(2) == pytest.approx([0.0], abs=1e-12)


@pytest.mark.parametrize("k", [23, 30, 40, 60, P.ZEROS_MAX_ORDER])
def test_derivative_zeros_far_past_the_plots_are_sign_changes_of_the_tanh_form(k):
    """An independent check where float64 sums of the σ polynomial fail (k ≥ 23): σ⁽ᵏ⁾(x) = 2⁻ᵏ⁻¹·T_k(tanh(x/2))
    with T_k the tanh polynomial, evaluated by mpmath at 60 digits more than its coefficients have, changes sign
    across every zero found, and there are k − 1 of them (σ⁽ᵏ⁾ has exactly k − 1 real zeros)."""
    zeros = P.derivative_zeros(k)
    assert len(zeros) == k - 1 and zeros == sorted(zeros) and len(set(zeros)) == k - 1
    coeffs = P.tanh_polynomial(k)
    with mp.workdps(60 + len(str(max(abs(c) for c in coeffs)))):
        for z in zeros:
            dx = 1e-7 * max(1.0, abs(z))
            t = [mp.tanh((mp.mpf(z) + d) / 2) for d in (-dx, dx)]
            sides = [sum(c * ti**i for i, c in enumerate(coeffs)) for ti in t]
            assert sides[0] * sides[1] < 0, z


def test_derivative_zeros_past_their_cap_are_refused():
    with pytest.raises(ValueError, match=f"up to {P.ZEROS_MAX_ORDER}"):
        P.derivative_zeros(P.ZEROS_MAX_ORDER + 1)
