"""Values of an answer's tree and of σ⁽ᵏ⁾ at real points, in mpmath interval arithmetic.

Each value comes as an enclosure [lo, hi] that provably contains it. The
working precision grows with the order (``4·DIGITS + 2·(bits of the largest
coefficient) + 64`` bits) and is raised ×4 and ×16 until each value is known to
``DIGITS`` significant digits; disjoint enclosures prove two values differ.

>>> compare(("sig", 1, ("x",)), 1, Deadline(5.0)) is None
True
>>> compare(("sig", 0, ("x",)), 1, Deadline(5.0))
(('0.5',), '0.622459331202', '0.235003712202')
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction

from jaxsgd.derivatives._polynomials import sigmoid_polynomial, tanh_polynomial
from jaxsgd.errors import ExpressionError

POINTS = ("0.5", "-1.25", "1.7", "-0.3", "3.1", "-2.6", "0.9", "-6.7", "7.3", "-17.9", "19.1", "-39.7", "40.3")
DIGITS = 30  # significant digits to which values must agree
_INTERVAL_WORK = 6_000  # interval operations per point, at 512 bits
_EXP_LIMIT = 10**6  # |u| above which exp(u) is not evaluated


class _Undefined(Exception):
    """The expression has no value at this point (division by zero, exp of a huge number)."""


class Deadline:
    """A time limit; :meth:`tick` raises :class:`ExpressionError` once it has passed."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def tick(self):
        if time.monotonic() > self.end:
            raise ExpressionError(f"too costly to check: gave up after {self.seconds:g} s; simplify the expression")


def _interval_work(node) -> int:
    kind = node[0]
    if kind in ("sum", "prod"):
        return len(node[1]) + sum(_interval_work(c) for _, c in node[1])
    if kind in ("sig", "tanh"):
        return node[1] + 6 + _interval_work(node[2])
    if kind in ("num", "x"):
        return 1
    return 2 + _interval_work(node[1])


def _orders(node, kind) -> list[int]:
    if node[0] in ("sum", "prod"):
        return [k for _, c in node[1] for k in _orders(c, kind)]
    here = [node[1]] if node[0] == kind else []
    return here + [k for c in node[1:] if isinstance(c, tuple) for k in _orders(c, kind)]


_THREAD = threading.local()


class _Interval:
    """The evaluation rules, in an mpmath interval context of this thread's own (mpmath's ``iv`` is shared)."""

    def __init__(self, prec, clock):
        import mpmath
        from mpmath.ctx_iv import MPIntervalContext

        self.mp = mpmath.mp
        if not hasattr(_THREAD, "iv"):  # building a context takes milliseconds: one per thread
            _THREAD.iv = MPIntervalContext()
            _THREAD.iv._mp = mpmath.mp
        self.iv = _THREAD.iv
        self.iv.prec = prec
        self.clock = clock

    def number(self, q: Fraction):
        return self.iv.mpf(q.numerator) / self.iv.mpf(q.denominator)

    def bounds(self, v):
        return self.mp.make_mpf(v._mpi_[0]), self.mp.make_mpf(v._mpi_[1])

    def has_zero(self, v) -> bool:
        lo, hi = self.bounds(v)
        return lo <= 0 <= hi

    def exp(self, u):
        lo, hi = self.bounds(u)
        if not (abs(lo) <= _EXP_LIMIT and abs(hi) <= _EXP_LIMIT):
            raise _Undefined(f"exp of a number beyond ±{_EXP_LIMIT:.0e}")
        return self.iv.exp(u)

    def sigmoid_derivative(self, k, u):
        """σ⁽ᵏ⁾(u) = pₖ(σ(u)); for u > 0 through σ⁽ᵏ⁾(u) = (−1)ᵏ⁺¹σ⁽ᵏ⁾(−u) (k ≥ 1), no cancellation."""
        lo, _ = self.bounds(u)
        flip = lo > 0
        s = 1 / (1 + self.exp(u if flip else -u))  # σ(−u) when flipped
        if k == 0:
            return 1 - s if flip else s
        value = self.horner(sigmoid_polynomial(k), s)
        return -value if flip and k % 2 == 0 else value

    def tanh_derivative(self, k, u):
        t = 2 / (1 + self.exp(-2 * u)) - 1  # tanh u = 2σ(2u) − 1
        return t if k == 0 else self.horner(tanh_polynomial(k), t)

    def horner(self, coeffs, s):
        acc = self.iv.mpf(0)
        for c in reversed(coeffs):
            acc = acc * s + c
        return acc

    def value(self, node, x):
        self.clock.tick()
        kind = node[0]
        if kind == "num":
            return self.number(node[1])
        if kind == "x":
            return x
        if kind == "sig":
            return self.sigmoid_derivative(node[1], self.value(node[2], x))
        if kind == "tanh":
            return self.tanh_derivative(node[1], self.value(node[2], x))
        if kind == "exp":
            return self.exp(self.value(node[1], x))
        if kind == "neg":
            return -self.value(node[1], x)
        if kind == "pow":
            base = self.value(node[1], x)
            if node[2] < 0 and self.has_zero(base):
                raise _Undefined("division by zero")
            return base ** node[2]
        if kind == "sum":
            acc = self.iv.mpf(0)
            for sign, c in node[1]:
                acc = acc + self.value(c, x) if sign > 0 else acc - self.value(c, x)
            return acc
        acc = self.iv.mpf(1)
        for op, c in node[1]:
            v = self.value(c, x)
            if op < 0 and self.has_zero(v):
                raise _Undefined("division by zero")
            acc = acc * v if op > 0 else acc / v
        return acc

    def close(self, v, scale) -> bool:
        lo, hi = self.bounds(v)
        return hi - lo <= scale * self.mp.mpf(10) ** (-DIGITS - 1)


def compare(node, order, clock):
    """``None`` if the answer agrees at every point, else ``(points, given, expected)`` at the first difference."""
    coeff_bits = max(max(abs(c) for c in sigmoid_polynomial(k)).bit_length()
                     for k in [order, *_orders(node, "sig"), *_orders(node, "tanh")])
    base_prec = 4 * DIGITS + 2 * coeff_bits + 64
    work = round(_interval_work(node) * max(1.0, base_prec / 512))  # operations slow down with the precision
    if work > _INTERVAL_WORK:
        raise ExpressionError(f"too costly to check (about {work} operations per point, at most "
                              f"{_INTERVAL_WORK}): simplify the expression")
    for point in POINTS:
        q = Fraction(point)
        for prec in (base_prec, 4 * base_prec, 16 * base_prec):
            ctx = _Interval(prec, clock)
            x = ctx.number(q)
            truth = ctx.sigmoid_derivative(order, x)
            try:
                given = ctx.value(node, x)
            except _Undefined as e:
                if prec < 16 * base_prec and "division" in str(e):
                    continue  # maybe a tiny denominator not yet resolved from 0
                raise ExpressionError(f"the expression cannot be evaluated at x = {point}: {e}") from None
            t_lo, t_hi = ctx.bounds(truth)
            g_lo, g_hi = ctx.bounds(given)
            if g_hi < t_lo or t_hi < g_lo:
                return (point,), _show(ctx, given), _show(ctx, truth)
            scale = min(abs(t_lo), abs(t_hi))
            if scale > 0 and ctx.close(truth, scale) and ctx.close(given, scale):
                break  # agree to DIGITS digits here
        else:
            raise ExpressionError(f"cannot tell at x = {point} whether the values agree to {DIGITS} digits "
                                  "(they agree as far as the working precision goes): simplify the expression")
    return None


def _show(ctx, v) -> str:
    import mpmath

    lo, hi = ctx.bounds(v)
    return mpmath.nstr((lo + hi) / 2, 12)
