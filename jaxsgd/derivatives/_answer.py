"""Judging a person's formula for σ⁽ᵏ⁾: exactly when it is a rational function of σ, else in interval arithmetic.

Two ways, each a proof or a refusal, never a float64 guess:

- **Exact.** An answer built from σ⁽ʲ⁾(x), σ⁽ʲ⁾(−x) (= pⱼ(1 − σ)) and numbers is a
  rational function ``N(σ)/D(σ)``. It equals the polynomial ``pₖ(σ)`` iff
  ``N − pₖ·D`` vanishes identically, which holds iff it vanishes at more points
  than its degree: the check evaluates both sides with exact rationals at that
  many points.
- **Interval.** Anything with ``x``, ``exp`` or ``tanh`` is evaluated in
  mpmath interval arithmetic at 13 points from x = −39.7 to 40.3 (both tails,
  where σ is 5·10⁻¹⁸ from 0 or 1), with a working precision that grows with
  the order and is raised until each value is known to 30 significant digits.
  Disjoint enclosures prove INCORRECT at that point; CORRECT means agreement to
  30 digits at every point.

Cost is bounded before any work (sizes of the exact numbers, count of
operations) and by a deadline; a refusal is an :class:`ExpressionError`.

>>> check(2, "σ(1−σ)(1−2σ)").correct
True
>>> r = check(1, "(1 - tanh(x/2)^2)/4")
>>> r.correct, r.method
(True, 'interval')
>>> check(40, "σ").message().split("; ")[1]
'at x = 0.5 your expression gives 0.622459331202 but σ⁽⁴⁰⁾(0.5) = 7.55398181388e+26 (decided at x = 0.5)'
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from jaxsgd.defaults import ANSWER_MAX_ORDER as MAX_CHECK_ORDER
from jaxsgd.derivatives._expression import parse
from jaxsgd.derivatives._interval import DIGITS, POINTS, Deadline, compare
from jaxsgd.derivatives._polynomials import evaluate_exact, sigmoid_polynomial, superscript, text
from jaxsgd.errors import ExpressionError

DEADLINE_SECONDS = 1.5
_EXACT_WORK = 40_000_000  # Σ over points and nodes of the bits of exact values


class CheckResult(NamedTuple):
    """The verdict on an answer; values are decimal strings (12 significant digits)."""

    correct: bool
    order: int
    expected: str  # the correct polynomial in σ
    method: str  # "exact" or "interval"
    points: tuple[str, ...]  # the points that decided: all of them for CORRECT, the first difference otherwise
    given_value: str | None = None
    expected_value: str | None = None

    def message(self, *, hide_answer: bool = False) -> str:
        """The verdict in one line; ``hide_answer`` leaves out the right polynomial and its value (graded work)."""
        d = f"σ⁽{superscript(self.order)}⁾"
        if hide_answer:
            if self.correct:
                return f"CORRECT: your expression equals {d}"
            x = self.points[0]
            return (f"INCORRECT: your expression differs from {d} at x = {x}, where it gives {self.given_value} "
                    f"(decided at x = {x})")
        if self.correct:
            how = ("identical as functions of σ, compared exactly" if self.method == "exact" else
                   f"equal to {DIGITS} significant digits at x = {', '.join(self.points)}, in interval arithmetic")
            return f"CORRECT: {d} = {self.expected}  ({how})"
        x = self.points[0]
        return (f"INCORRECT: {d} = {self.expected}; at x = {x} your expression gives {self.given_value} but "
                f"{d}({x}) = {self.expected_value} (decided at x = {x})")


def check(order: int, src: str, *, deadline: float = DEADLINE_SECONDS) -> CheckResult:
    """Whether ``src`` equals σ⁽ᵒʳᵈᵉʳ⁾ as a function of x; :class:`ExpressionError` when it cannot be judged."""
    if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= MAX_CHECK_ORDER:
        raise ExpressionError(f"order must be a whole number from 0 to {MAX_CHECK_ORDER}, got {order!r}")
    node = parse(src)
    clock = Deadline(deadline)
    poly = sigmoid_polynomial(order)
    expected = text(poly)
    if _is_rational_in_sigma(node):
        if _exact_equal(node, poly, clock):
            return CheckResult(True, order, expected, "exact", ())
        witness = compare(node, order, clock)
        if witness is not None:
            return CheckResult(False, order, expected, "exact", *witness)
        # differs as a rational function yet agrees at every real point tried: impossible for the
        # points used (σ of a rational x ≠ 0 is transcendental), kept as a clear refusal
        raise ExpressionError("the expression differs from the answer but not at any point tried")
    witness = compare(node, order, clock)
    if witness is None:
        return CheckResult(True, order, expected, "interval", POINTS)
    return CheckResult(False, order, expected, "interval", *witness)


# ------------------------------------------------------------------ exact
def _is_rational_in_sigma(node) -> bool:
    kind = node[0]
    if kind == "num":
        return True
    if kind == "sig":
        return node[2] in (("x",), ("neg", ("x",)))
    if kind in ("x", "exp", "tanh"):
        return False
    if kind in ("sum", "prod"):
        return all(_is_rational_in_sigma(c) for _, c in node[1])
    return _is_rational_in_sigma(node[1])


def _degree(node) -> tuple[int, int]:
    """Upper bounds on the degrees in σ of numerator and denominator."""
    kind = node[0]
    if kind == "sig":
        return node[1] + 1, 0
    if kind == "num":
        return 0, 0
    if kind == "neg":
        return _degree(node[1])
    if kind == "pow":
        a, b = _degree(node[1])
        n = abs(node[2])
        return (a * n, b * n) if node[2] >= 0 else (b * n, a * n)
    nd, dd = 0, 0
    for op, c in node[1]:
        a, b = _degree(c)
        if kind == "sum":
            nd, dd = max(nd + b, a + dd), dd + b
        else:
            nd, dd = (nd + a, dd + b) if op > 0 else (nd + b, dd + a)
    return nd, dd


def _bits(node, s_bits: int, out: list) -> tuple[int, int]:
    """Bounds on the bit lengths of numerator and denominator at an integer σ of ``s_bits`` bits.

    Appends each node's bound to ``out`` (the work estimate).
    """
    kind = node[0]
    if kind == "num":
        nb, db = node[1].numerator.bit_length(), node[1].denominator.bit_length() - 1
    elif kind == "sig":
        coeffs = sigmoid_polynomial(node[1])
        nb, db = (node[1] + 1) * s_bits + max(abs(c) for c in coeffs).bit_length() + len(coeffs).bit_length(), 0
    elif kind == "neg":
        nb, db = _bits(node[1], s_bits, out)
    elif kind == "pow":
        a, b = _bits(node[1], s_bits, out)
        n = abs(node[2])
        nb, db = (a * n, b * n) if node[2] >= 0 else (b * n + 1, a * n)
    elif kind == "sum":
        nb, db = 0, 0
        for _, c in node[1]:
            a, b = _bits(c, s_bits, out)
            nb, db = max(nb + b, a + db) + 1, db + b
    else:  # prod
        nb, db = 0, 0
        for op, c in node[1]:
            a, b = _bits(c, s_bits, out)
            nb, db = (nb + a, db + b) if op > 0 else (nb + b + 1, db + a)
    out.append(nb + db)
    return nb, db


def _exact_value(node, s: int, polys: dict) -> Fraction:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "sig":
        key = (node[1], node[2] == ("x",))
        if key not in polys:
            polys[key] = evaluate_exact(sigmoid_polynomial(node[1]), Fraction(s if key[1] else 1 - s))
        return polys[key]
    if kind == "neg":
        return -_exact_value(node[1], s, polys)
    if kind == "pow":
        base = _exact_value(node[1], s, polys)
        if base == 0 and node[2] < 0:
            raise ZeroDivisionError
        return base ** node[2]
    if kind == "sum":
        return sum((sign * _exact_value(c, s, polys) for sign, c in node[1]), Fraction(0))
    value = Fraction(1)
    for op, c in node[1]:
        v = _exact_value(c, s, polys)
        if op < 0 and v == 0:
            raise ZeroDivisionError
        value = value * v if op > 0 else value / v
    return value


def _exact_equal(node, poly, clock) -> bool:
    """``node ≡ poly`` as rational functions of σ, decided at integer points σ = 2, 3, …"""
    num, den = _degree(node)
    needed = max(num, den + len(poly)) + 1  # N − p·D has degree < needed
    tries = 2 * needed + 16
    sizes: list[int] = []
    _bits(node, (tries + 2).bit_length(), sizes)
    work = needed * sum(sizes)
    if work > _EXACT_WORK:
        raise ExpressionError(f"too costly to check exactly (about {work:.2g} bit operations, at most "
                              f"{_EXACT_WORK:.0e}): simplify the expression")
    agree = 0
    for s in range(2, tries + 2):
        clock.tick()
        try:
            value = _exact_value(node, s, {})
        except ZeroDivisionError:  # a pole of the answer at this σ: another point will do
            continue
        if value != evaluate_exact(poly, Fraction(s)):
            return False
        agree += 1
        if agree >= needed:
            return True
    raise ExpressionError("the expression divides by zero almost everywhere")
