"""Exact derivatives of σ and tanh as integer polynomials, and their printed forms.

With ``s = σ(x)``, ``σ′ = s − s²``, so every derivative is a polynomial in ``s``:
``p₀(s) = s`` and ``p₍ₖ₊₁₎(s) = p′ₖ(s)·(s − s²)``. Two closed forms cross-check it
(Minai & Williams, Neural Networks 1993)::

    σ⁽ⁿ⁾ = Σⱼ₌₁ⁿ⁺¹ (−1)ʲ⁻¹ (j−1)! S(n+1, j) σʲ             (Stirling, 2nd kind)
    σ⁽ⁿ⁾ = Σₖ₌₀ⁿ⁻¹ (−1)ᵏ A(n, k) sᵏ⁺¹ tⁿ⁻ᵏ,   t = 1 − s      (Eulerian numbers)

tanh: ``T = tanh``, ``T′ = 1 − T²``, ``q₀ = T``, ``q₍ₖ₊₁₎ = q′ₖ·(1 − T²)``; and since
``σ(x) = (1 + tanh(x/2))/2``, ``σ⁽ᵏ⁾(x) = 2⁻ᵏ⁻¹ tanh⁽ᵏ⁾(x/2)`` for ``k ≥ 1``.

>>> sigmoid_polynomial(2)
(0, 1, -3, 2)
>>> text(sigmoid_polynomial(3))
'−6σ⁴ + 12σ³ − 7σ² + σ'
"""

from __future__ import annotations

import functools
import itertools
import math
from fractions import Fraction
from math import factorial

from jaxsgd.defaults import POLYNOMIAL_MAX_ORDER as MAX_ORDER
from jaxsgd.errors import InputError


def _check_order(k):
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise InputError(f"the order must be a whole number ≥ 0, got {k!r}")
    if k > MAX_ORDER:
        raise InputError(f"order {k} is above the supported maximum {MAX_ORDER}")


@functools.cache
def sigmoid_polynomial(k: int) -> tuple[int, ...]:
    """Exact integer coefficients of σ⁽ᵏ⁾ as a polynomial in σ, ascending powers (σ′ = σ − σ²).

    ``p′(s)·(s − s²)`` has coefficient ``j·cⱼ − (j − 1)·cⱼ₋₁`` at ``sʲ``.
    """
    _check_order(k)
    p = [0, 1]
    for _ in range(k):
        p = [j * a - (j - 1) * b for j, (a, b) in enumerate(zip([*p, 0], [0, *p], strict=True))]
    return tuple(p)


@functools.cache
def tanh_polynomial(k: int) -> tuple[int, ...]:
    """Exact integer coefficients of tanh⁽ᵏ⁾ as a polynomial in tanh, ascending powers (T′ = 1 − T²).

    ``q′(T)·(1 − T²)`` has coefficient ``(j + 1)·cⱼ₊₁ − (j − 1)·cⱼ₋₁`` at ``Tʲ``.
    """
    _check_order(k)
    q = [0, 1]
    for _ in range(k):
        up, down = [*q[1:], 0, 0], [0, *q]
        q = [(j + 1) * up[j] - (j - 1) * down[j] for j in range(len(q) + 1)]
        while len(q) > 1 and q[-1] == 0:
            q.pop()
    return tuple(q)


@functools.lru_cache(maxsize=64)
def _stirling_row(n: int) -> tuple[int, ...]:
    """``S(n, 0 … n)`` by rows, ``S(m, j) = j·S(m − 1, j) + S(m − 1, j − 1)``: no recursion, any order."""
    row = [1]
    for m in range(1, n + 1):
        row = [0, *(j * (row[j] if j < len(row) else 0) + row[j - 1] for j in range(1, m + 1))]
    return tuple(row)


@functools.lru_cache(maxsize=64)
def _eulerian_row(n: int) -> tuple[int, ...]:
    """``A(n, 0 … n − 1)`` by rows, ``A(m, k) = (k + 1)·A(m − 1, k) + (m − k)·A(m − 1, k − 1)``."""
    row = [1]
    for m in range(1, n + 1):
        row = [(k + 1) * (row[k] if k < len(row) else 0) + (m - k) * (row[k - 1] if k >= 1 else 0)
               for k in range(m)]
    return tuple(row)


def stirling2(n: int, j: int) -> int:
    """Stirling numbers of the second kind ``S(n, j)``."""
    return _stirling_row(n)[j] if 0 <= j <= n else 0


def eulerian(n: int, k: int) -> int:
    """Eulerian numbers ``A(n, k)`` (permutations of n with k ascents)."""
    if n == 0:
        return 1 if k == 0 else 0
    return _eulerian_row(n)[k] if 0 <= k < n else 0


def stirling_form(n: int) -> tuple[int, ...]:
    """σ⁽ⁿ⁾ from the Stirling closed form, as coefficients in σ."""
    out = [0] * (n + 2)
    for j in range(1, n + 2):
        out[j] = (-1) ** (j - 1) * factorial(j - 1) * stirling2(n + 1, j)
    return tuple(out)


def eulerian_form(n: int) -> tuple[int, ...]:
    """σ⁽ⁿ⁾ (n ≥ 1) from the Eulerian form, expanded with t = 1 − s into powers of s."""
    out = [0] * (n + 2)
    for k in range(n):
        c = (-1) ** k * eulerian(n, k)
        # s^{k+1} (1 − s)^{n−k}
        for i in range(n - k + 1):
            out[k + 1 + i] += c * (-1) ** i * _binom(n - k, i)
    return tuple(out)


def _binom(n, r):
    return factorial(n) // (factorial(r) * factorial(n - r))


_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def superscript(n: int) -> str:
    """``12`` → ``¹²``."""
    return str(n).translate(_SUP)


def _format(coeffs, monomial, minus: str) -> str:
    """Descending powers, ``monomial(power)`` for each, signs between terms, no ``1·`` factors."""
    parts = []
    for power in range(len(coeffs) - 1, -1, -1):
        c = coeffs[power]
        if c == 0:
            continue
        mag = abs(c)
        body = (str(mag) if mag != 1 or power == 0 else "") + ("" if power == 0 else monomial(power))
        parts.append((minus if c < 0 else "+", body))
    if not parts:
        return "0"
    (s0, b0), rest = parts[0], parts[1:]
    return (minus if s0 == minus else "") + b0 + "".join(f" {sg} {bd}" for sg, bd in rest)


def text(coeffs, var: str = "σ") -> str:
    """``−6σ⁴ + 12σ³ − 7σ² + σ``: descending powers, Unicode minus and superscripts."""
    return _format(coeffs, lambda p: var + (superscript(p) if p > 1 else ""), "−")


def latex(coeffs, var: str = r"\sigma") -> str:
    """LaTeX form, descending powers: ``-6\\sigma^{4} + 12\\sigma^{3} - 7\\sigma^{2} + \\sigma``."""
    return _format(coeffs, lambda p: var if p == 1 else f"{var}^{{{p}}}", "-")


def factored(k: int) -> str:
    """σ⁽ᵏ⁾ through σ′ = σ(1 − σ): ``σ′·r(σ)`` with ``r = p_k / (σ − σ²)`` for k ≥ 1.

    >>> factored(2)
    'σ(1 − σ)(1 − 2σ)'
    """
    _check_order(k)
    if k == 0:
        return "σ"
    p = list(sigmoid_polynomial(k))
    # divide p by s − s² = s(1 − s): first by s (p[0] == 0), then by (1 − s)
    q = p[1:]
    r = []  # q = (1 − s)·r
    carry = 0
    for c in q:
        carry = c + carry
        r.append(carry)
    assert r[-1] == 0, "σ(1 − σ) divides every derivative of order ≥ 1"
    r = r[:-1]
    if r == [1]:
        return "σ(1 − σ)"
    inner = text(tuple(r))
    if len(r) == 2:  # linear: write as a + bσ
        a, b = r
        inner = f"{a} {'−' if b < 0 else '+'} {abs(b) if abs(b) != 1 else ''}σ"
    return f"σ(1 − σ)({inner})"


def tanh_form(k: int) -> str:
    """σ⁽ᵏ⁾ (k ≥ 1) through tanh as one expression that ``check-derivative`` reads: ``2^(−k−1)·qₖ(tanh(x/2))``.

    >>> tanh_form(1)
    '2^(-2)*(−tanh(x/2)² + 1)'
    """
    _check_order(k)
    if k == 0:
        return "(1 + tanh(x/2))/2"
    return f"2^(-{k + 1})*({text(tanh_polynomial(k), 'tanh(x/2)')})"


def evaluate_exact(coeffs, s: Fraction) -> Fraction:
    """Horner evaluation with exact rationals."""
    acc = Fraction(0)
    for c in reversed(coeffs):
        acc = acc * s + c
    return acc


def derivative_zeros(k: int) -> list[float]:
    """The x where σ⁽ᵏ⁾(x) = 0, ascending: k − 1 of them for k ≥ 1, all simple (the Eulerian polynomials
    behind σ⁽ᵏ⁾ have only real, simple roots).

    σ⁽ᵏ⁾(−x) = (−1)ᵏ⁺¹σ⁽ᵏ⁾(x), so the roots with x < 0 are found and mirrored (and x = 0 is one for even
    k): roots s ∈ (0, ½) of the polynomial in s = σ(x), where it is evaluated without cancellation, by
    sign changes on a grid dense near 0 and bisection, as x = log(s/(1 − s)). Meant for plots (small k).

    >>> [round(x, 6) for x in derivative_zeros(3)]    # ±log(2 + √3)
    [-1.316958, 1.316958]
    """
    coeffs = sigmoid_polynomial(k)

    def p(s):
        return sum(c * s**i for i, c in enumerate(coeffs))

    grid = [0.5 * (1 - math.cos(math.pi * i / 4000)) for i in range(1, 2000)]  # s in (0, ½), dense near 0
    left = []
    for lo, hi in itertools.pairwise(grid):
        flo, fhi = p(lo), p(hi)
        if flo == 0:
            left.append(lo)
        elif flo * fhi < 0:
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if p(mid) * flo > 0:
                    lo, flo = mid, p(mid)
                else:
                    hi = mid
            left.append(0.5 * (lo + hi))
    xs = [math.log(s / (1 - s)) for s in left]
    return xs + ([0.0] if k >= 2 and k % 2 == 0 else []) + [-x for x in reversed(xs)]
