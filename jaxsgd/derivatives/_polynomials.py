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
    r"""Exact integer coefficients of σ⁽ᵏ⁾ as a polynomial in σ, in ascending powers.

    With ``s = σ(x)`` and ``σ′ = s − s²``: ``p₀(s) = s`` and ``pₖ₊₁(s) = p′ₖ(s)·(s − s²)``, whose
    coefficient at ``sʲ`` is ``j·cⱼ − (j − 1)·cⱼ₋₁``, so that

    .. math::

       \sigma^{(k)}(x) = \sum_{j=0}^{k+1} c_j \, \sigma(x)^j .

    Each order is computed once per process (cached).

    Args:
      k: the order, a whole number from 0 to :data:`MAX_ORDER` (1000); ``k = 0`` is σ itself.

    Returns:
      A tuple of ``k + 2`` Python ints ``(c₀, c₁, …, cₖ₊₁)``, ``cⱼ`` the coefficient of ``σʲ``;
      always ``c₀ = 0``, ``c₁ = 1`` and ``cₖ₊₁ = (−1)ᵏ k!``.

    Raises:
      InputError: ``k`` is not a whole number, or lies outside ``0 … MAX_ORDER``.

    Example:
      >>> sigmoid_polynomial(1)          # σ′ = σ − σ²
      (0, 1, -1)
      >>> text(sigmoid_polynomial(2))
      '2σ³ − 3σ² + σ'
    """
    _check_order(k)
    p = [0, 1]
    for _ in range(k):
        p = [j * a - (j - 1) * b for j, (a, b) in enumerate(zip([*p, 0], [0, *p], strict=True))]
    return tuple(p)


@functools.cache
def tanh_polynomial(k: int) -> tuple[int, ...]:
    r"""Exact integer coefficients of tanh⁽ᵏ⁾ as a polynomial in tanh, in ascending powers.

    With ``T = tanh(x)`` and ``T′ = 1 − T²``: ``q₀ = T`` and ``qₖ₊₁(T) = q′ₖ(T)·(1 − T²)``, whose
    coefficient at ``Tʲ`` is ``(j + 1)·cⱼ₊₁ − (j − 1)·cⱼ₋₁``. Since ``σ(x) = (1 + tanh(x/2))/2``,

    .. math::

       \sigma^{(k)}(x) = 2^{-k-1} \, q_k\bigl(\tanh(x/2)\bigr) \qquad (k \ge 1),

    the form :func:`tanh_form` writes out. Each order is computed once per process (cached).

    Args:
      k: the order, a whole number from 0 to :data:`MAX_ORDER` (1000); ``k = 0`` is tanh itself.

    Returns:
      A tuple of ``k + 2`` Python ints ``(c₀, …, cₖ₊₁)``, ``cⱼ`` the coefficient of ``Tʲ``; the last is
      ``(−1)ᵏ k!``, and only powers of the parity of ``k + 1`` are nonzero.

    Raises:
      InputError: ``k`` is not a whole number, or lies outside ``0 … MAX_ORDER``.

    Example:
      >>> tanh_polynomial(1)             # tanh′ = 1 − tanh²
      (1, 0, -1)
      >>> text(tanh_polynomial(2), "T")
      '2T³ − 2T'
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
    """The Stirling number of the second kind ``S(n, j)``: the ways to split n things into j nonempty sets.

    Computed by rows, ``S(m, j) = j·S(m − 1, j) + S(m − 1, j − 1)`` from ``S(0, 0) = 1``, without
    recursion (any ``n``; the last 64 rows are cached). They give σ⁽ⁿ⁾ in closed form
    (:func:`stirling_form`).

    Args:
      n: the number of things, a whole number ``≥ 0``.
      j: the number of sets, a whole number.

    Returns:
      ``S(n, j)`` as a Python int; 0 for ``j`` outside ``0 … n``.

    Example:
      >>> [stirling2(4, j) for j in range(5)]
      [0, 1, 7, 6, 1]
    """
    return _stirling_row(n)[j] if 0 <= j <= n else 0


def eulerian(n: int, k: int) -> int:
    """The Eulerian number ``A(n, k)``: the permutations of ``1 … n`` with exactly ``k`` ascents.

    Computed by rows, ``A(m, k) = (k + 1)·A(m − 1, k) + (m − k)·A(m − 1, k − 1)`` (the last 64 rows are
    cached). They give σ⁽ⁿ⁾ in closed form (:func:`eulerian_form`) and are the coefficients that
    :func:`sigmoid_derivative` evaluates.

    Args:
      n: the length of the permutations, a whole number ``≥ 0``.
      k: the number of ascents, a whole number.

    Returns:
      ``A(n, k)`` as a Python int; 0 for ``k`` outside ``0 … n − 1`` (and ``A(0, 0) = 1``).

    Example:
      >>> [eulerian(4, k) for k in range(4)]
      [1, 11, 11, 1]
    """
    if n == 0:
        return 1 if k == 0 else 0
    return _eulerian_row(n)[k] if 0 <= k < n else 0


def stirling_form(n: int) -> tuple[int, ...]:
    r"""σ⁽ⁿ⁾ as coefficients in σ, from the closed form in Stirling numbers of the second kind.

    .. math::

       \sigma^{(n)} = \sum_{j=1}^{n+1} (-1)^{j-1} (j-1)! \, S(n+1, j) \, \sigma^j

    (Minai & Williams 1993): an independent check of :func:`sigmoid_polynomial`.

    Args:
      n: the order, a whole number ``≥ 0``.

    Returns:
      A tuple of ``n + 2`` Python ints, the coefficient of ``σʲ`` at index ``j``, equal to
      ``sigmoid_polynomial(n)``.

    References:
      Minai, A. A. and Williams, R. D. (1993), On the derivatives of the sigmoid, Neural Networks 6(6),
      845–853.

    Example:
      >>> stirling_form(3)
      (0, 1, -7, 12, -6)
      >>> all(stirling_form(n) == sigmoid_polynomial(n) for n in range(20))
      True
    """
    out = [0] * (n + 2)
    for j in range(1, n + 2):
        out[j] = (-1) ** (j - 1) * factorial(j - 1) * stirling2(n + 1, j)
    return tuple(out)


def eulerian_form(n: int) -> tuple[int, ...]:
    r"""σ⁽ⁿ⁾ (n ≥ 1) as coefficients in σ, from the closed form in Eulerian numbers.

    With ``s = σ`` and ``t = 1 − s``,

    .. math::

       \sigma^{(n)} = \sum_{k=0}^{n-1} (-1)^k A(n, k) \, s^{k+1} t^{\,n-k},

    expanded into powers of ``s`` (Minai & Williams 1993): an independent check of
    :func:`sigmoid_polynomial`.

    Args:
      n: the order, a whole number ``≥ 1`` (the form has no term for ``n = 0``).

    Returns:
      A tuple of ``n + 2`` Python ints, the coefficient of ``σʲ`` at index ``j``, equal to
      ``sigmoid_polynomial(n)``.

    References:
      Minai, A. A. and Williams, R. D. (1993), On the derivatives of the sigmoid, Neural Networks 6(6),
      845–853.

    Example:
      >>> eulerian_form(3)
      (0, 1, -7, 12, -6)
      >>> all(eulerian_form(n) == sigmoid_polynomial(n) for n in range(1, 20))
      True
    """
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
    """A whole number in Unicode superscript digits, as in ``σ⁽¹²⁾``.

    Args:
      n: the number (a minus sign is kept as it is).

    Returns:
      ``str(n)`` with each digit ``0 … 9`` replaced by ``⁰ … ⁹``.

    Example:
      >>> superscript(12)
      '¹²'
      >>> f"σ⁽{superscript(3)}⁾"
      'σ⁽³⁾'
    """
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
    """A polynomial as text, ``−6σ⁴ + 12σ³ − 7σ² + σ``: descending powers, Unicode minus and superscripts.

    Terms with coefficient 0 are left out, and coefficients ±1 are not written (except the constant term);
    :func:`jaxsgd.derivatives.parse` reads the result back.

    Args:
      coeffs: the coefficients in ascending powers (index ``j`` multiplies ``var`` to the ``j``), integers
        as :func:`sigmoid_polynomial` gives them.
      var: the variable's name, ``σ`` by default (``tanh(x/2)`` in :func:`tanh_form`).

    Returns:
      The text, ``"0"`` for the zero polynomial.

    Example:
      >>> text(sigmoid_polynomial(3))
      '−6σ⁴ + 12σ³ − 7σ² + σ'
      >>> text((1, 0, -1), "T")
      '−T² + 1'
    """
    return _format(coeffs, lambda p: var + (superscript(p) if p > 1 else ""), "−")


def latex(coeffs, var: str = r"\sigma") -> str:
    r"""A polynomial in LaTeX, descending powers: ``-6\sigma^{4} + 12\sigma^{3} - 7\sigma^{2} + \sigma``.

    Terms as :func:`text` writes them, with an ASCII minus and exponents in braces;
    :func:`jaxsgd.derivatives.parse` reads the result back.

    Args:
      coeffs: the coefficients in ascending powers (index ``j`` multiplies ``var`` to the ``j``).
      var: the variable in LaTeX, ``\sigma`` by default.

    Returns:
      The LaTeX text (no ``$`` delimiters), ``"0"`` for the zero polynomial.

    Example:
      >>> print(latex(sigmoid_polynomial(2)))
      2\sigma^{3} - 3\sigma^{2} + \sigma
    """
    return _format(coeffs, lambda p: var if p == 1 else f"{var}^{{{p}}}", "-")


def factored(k: int) -> str:
    """σ⁽ᵏ⁾ as text with the factor σ′ = σ(1 − σ) taken out: ``σ(1 − σ)·r(σ)``.

    For ``k ≥ 1``, ``σ − σ²`` divides the polynomial ``pₖ`` of :func:`sigmoid_polynomial`, and
    ``r = pₖ/(σ − σ²)`` has degree ``k − 1``; a linear ``r`` is written ``a ± bσ``.

    Args:
      k: the order, a whole number from 0 to :data:`MAX_ORDER` (1000).

    Returns:
      The text, e.g. ``σ(1 − σ)(1 − 2σ)``; ``"σ"`` for ``k = 0`` and ``"σ(1 − σ)"`` for ``k = 1``.

    Raises:
      InputError: ``k`` is not a whole number, or lies outside ``0 … MAX_ORDER``.

    Example:
      >>> factored(1)
      'σ(1 − σ)'
      >>> factored(2)
      'σ(1 − σ)(1 − 2σ)'
      >>> factored(3)
      'σ(1 − σ)(6σ² − 6σ + 1)'
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
    """σ⁽ᵏ⁾ through tanh, as one expression in x: ``2^(−k−1)·qₖ(tanh(x/2))``.

    ``qₖ`` is :func:`tanh_polynomial`; the text is one that :func:`jaxsgd.derivatives.check_answer` (and
    ``jaxsgd check-derivative``) reads.

    Args:
      k: the order, a whole number from 0 to :data:`MAX_ORDER` (1000).

    Returns:
      The expression as text; ``"(1 + tanh(x/2))/2"`` for ``k = 0``.

    Raises:
      InputError: ``k`` is not a whole number, or lies outside ``0 … MAX_ORDER``.

    Example:
      >>> tanh_form(1)
      '2^(-2)*(−tanh(x/2)² + 1)'
      >>> from jaxsgd.derivatives import check_answer
      >>> check_answer(2, tanh_form(2)).correct
      True
    """
    _check_order(k)
    if k == 0:
        return "(1 + tanh(x/2))/2"
    return f"2^(-{k + 1})*({text(tanh_polynomial(k), 'tanh(x/2)')})"


def evaluate_exact(coeffs, s: Fraction) -> Fraction:
    """The value of a polynomial at ``s``, exactly: Horner's rule in rational arithmetic.

    Args:
      coeffs: the integer (or rational) coefficients in ascending powers, as :func:`sigmoid_polynomial`
        gives them.
      s: the point, a :class:`fractions.Fraction` (or an int).

    Returns:
      ``Σⱼ cⱼ sʲ`` as a :class:`fractions.Fraction`.

    Example:
      >>> from fractions import Fraction
      >>> evaluate_exact(sigmoid_polynomial(1), Fraction(1, 2))    # σ′(0) = ½ · ½
      Fraction(1, 4)
      >>> evaluate_exact(sigmoid_polynomial(2), Fraction(1, 2))    # σ″(0) = 0
      Fraction(0, 1)
    """
    acc = Fraction(0)
    for c in reversed(coeffs):
        acc = acc * s + c
    return acc


ZEROS_MAX_ORDER = 100  # the highest order whose zeros derivative_zeros finds (≈0.3 s there)


def _sign(coeffs, s: float) -> int:
    """The exact sign of ``p(s) = Σ cᵢ sⁱ`` at a float ``s``: with ``s = m/q`` (``q`` a power of 2),
    ``q^n·p(s) = Σ cᵢ mⁱ q^(n−i)`` is an integer, summed by Horner's rule in Python integers."""
    m, q = s.as_integer_ratio()
    acc, qp = coeffs[-1], q
    for c in reversed(coeffs[:-1]):
        acc = acc * m + c * qp
        qp *= q
    return (acc > 0) - (acc < 0)


def derivative_zeros(k: int) -> list[float]:
    """The x where σ⁽ᵏ⁾(x) = 0, ascending: ``k − 1`` of them for ``k ≥ 1``, all simple.

    The Eulerian polynomials behind σ⁽ᵏ⁾ have only real, simple roots. ``σ⁽ᵏ⁾(−x) = (−1)ᵏ⁺¹σ⁽ᵏ⁾(x)``,
    so the roots with ``x < 0`` are found and mirrored (and ``x = 0`` is one for even k): roots
    ``s ∈ (0, ½)`` of the polynomial in ``s = σ(x)``, each bracketed by a sign change and narrowed by
    bisection to float64 resolution in ``s``, then ``x = log s − log(1 − s)``. Every sign is exact (the
    polynomial's integer coefficients at a float ``s``, summed in integers), so no rounding adds or hides a
    root. The grid is uniform in ``θ`` with ``x = −π cot θ``, where the zeros of σ⁽ᵏ⁾ lie near ``θ = (2j +
    1)π/(2k + 2)`` (the poles ``±iπ`` of σ dominate its high derivatives); it is made twice as dense until
    it holds every one of the ``k − 1`` zeros.

    Args:
      k: the order, a whole number from 0 to :data:`ZEROS_MAX_ORDER` (100).

    Returns:
      The zeros as a list of Python floats in ascending order, symmetric about 0; empty for ``k ≤ 1``.

    Raises:
      InputError: ``k`` is not a whole number, or lies outside ``0 … ZEROS_MAX_ORDER``.

    Example:
      >>> [round(x, 6) for x in derivative_zeros(3)]    # ±log(2 + √3)
      [-1.316958, 1.316958]
      >>> [round(x, 6) for x in derivative_zeros(2)]    # σ″ = σ′(1 − 2σ): only at σ = ½
      [0.0]
      >>> derivative_zeros(1), len(derivative_zeros(40))
      ([], 39)
    """
    if isinstance(k, int) and not isinstance(k, bool) and k > ZEROS_MAX_ORDER:
        raise InputError(f"zeros of σ⁽ᵏ⁾ are found for orders up to {ZEROS_MAX_ORDER}, got {k}")
    coeffs = sigmoid_polynomial(k)
    if k <= 1:
        return []
    wanted = (k - 1) // 2  # zeros with x < 0
    size = 4 * (k + 1) + 16
    for _ in range(8):
        thetas = [i * math.pi / (2 * size) for i in range(1, size)]
        xs = sorted({max(-700.0, -math.pi / math.tan(t)) for t in thetas})  # in [−700, 0): σ(x) stays normal
        grid = [1.0 / (1.0 + math.exp(-x)) for x in xs] + [0.5 - 2.0**-30]
        left = []
        for lo, hi in itertools.pairwise(grid):
            slo, shi = _sign(coeffs, lo), _sign(coeffs, hi)
            if slo == 0:
                left.append(lo)
            elif slo * shi < 0:
                while True:
                    mid = 0.5 * (lo + hi)
                    if mid in (lo, hi):
                        break
                    if _sign(coeffs, mid) == slo:
                        lo = mid
                    else:
                        hi = mid
                left.append(lo)
        if len(left) == wanted:
            break
        size *= 2
    else:  # not reached for k ≤ ZEROS_MAX_ORDER (tested at every order)
        raise AssertionError(f"σ⁽{k}⁾: found {len(left)} zeros below 0, expected {wanted}")
    xs = [math.log(s) - math.log1p(-s) for s in left]
    return xs + ([0.0] if k % 2 == 0 else []) + [-x for x in reversed(xs)]
