"""Values of an answer's tree and of σ⁽ᵏ⁾ at real points, in mpmath interval arithmetic.

Each value comes as an enclosure [lo, hi] that provably contains it. The
working precision grows with the order (``4·DIGITS + 2·(bits of the largest
coefficient) + 64`` bits, plus ``2|x|`` bits for the tails, where σ is e^{−|x|}
from 0 or 1) and is raised ×4 and ×16 until each value is known to ``DIGITS``
significant digits; disjoint enclosures prove two values differ. The points
come from the caller: drawn at random for each check (:func:`draw_points`), or,
to show a difference already proven exactly, a few fixed ones first
(:func:`witness`).

>>> compare(("sig", 1, ("x",)), 1, Deadline(5.0), ["0.5", "-40"]) is None
True
>>> compare(("sig", 0, ("x",)), 1, Deadline(5.0), ["0.5"])
(('0.5',), '0.622459331202', '0.235003712202')
"""

from __future__ import annotations

import math
import threading
from fractions import Fraction

from jaxsgd.derivatives._exact import cpu_now
from jaxsgd.derivatives._polynomials import sigmoid_polynomial, tanh_polynomial
from jaxsgd.errors import ExpressionError

WITNESS_POINTS = ("0.5", "-1.25", "2", "-3")  # tried first to show a difference already proven exactly
DIGITS = 30  # significant digits to which values must agree
_INTERVAL_WORK = 6_000  # interval operations per point, at 512 bits
_EXP_LIMIT = 10**6  # |u| above which exp(u) is not evaluated
_SHORT = 32  # characters of a printed value that make a witness worth showing at once


class _Undefined(Exception):
    """The expression has no value at this point (division by zero, exp of a huge number)."""


class Deadline:
    """A limit of ``seconds`` of this thread's CPU time; :meth:`tick` raises :class:`ExpressionError` once it
    has passed."""

    def __init__(self, seconds):
        self.end = cpu_now() + seconds
        self.seconds = seconds

    def left(self) -> float:
        return self.end - cpu_now()

    def tick(self):
        if cpu_now() > self.end:
            raise ExpressionError(f"too costly to check: gave up after {self.seconds:g} s of computing; simplify "
                                  "the expression")


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
        self.clock.tick()  # one exp at the top precision takes tens of milliseconds: the deadline holds between
        lo, hi = self.bounds(u)
        if hi < -_EXP_LIMIT:  # e^u in (0, e^{−limit}]: an enclosure without the cost of the exact tiny value
            return self.iv.mpf([0, self.iv.exp(self.iv.mpf(-_EXP_LIMIT)).b])
        if lo > _EXP_LIMIT:  # e^u in [e^{limit}, ∞): enough for 1/(1 + e^u) in σ of a huge argument
            return self.iv.mpf([self.iv.exp(self.iv.mpf(_EXP_LIMIT)).a, "+inf"])
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
        if kind in ("sinh", "cosh", "sech"):
            u = self.value(node[1], x)
            up, down = self.exp(u), self.exp(-u)
            return (up - down) / 2 if kind == "sinh" else (up + down) / 2 if kind == "cosh" else 2 / (up + down)
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


def _base_precision(node, order) -> int:
    """Bits for a point near 0; ``4·DIGITS + 2·(bits of the largest coefficient) + 64``, work checked."""
    coeff_bits = max(max(abs(c) for c in sigmoid_polynomial(k)).bit_length()
                     for k in [order, *_orders(node, "sig"), *_orders(node, "tanh")])
    base_prec = 4 * DIGITS + 2 * coeff_bits + 64
    work = round(_interval_work(node) * max(1.0, base_prec / 512))  # operations slow down with the precision
    if work > _INTERVAL_WORK:
        raise ExpressionError(f"too costly to check (about {work} operations per point, at most "
                              f"{_INTERVAL_WORK}): simplify the expression")
    return base_prec


def _precision(base_prec: int, q: Fraction) -> int:
    # in the tails σ is e^{−|x|} from 0 or 1: 1 − σ and pₖ(σ) cancel about 1.44·|x| bits
    return base_prec + 2 * int(abs(q))


def _evaluate(node, order, clock, point: str, prec: int):
    ctx = _Interval(prec, clock)
    x = ctx.number(Fraction(point))
    given = ctx.value(node, x)  # first: where the answer is undefined, σ⁽ᵏ⁾ is not worked out
    return ctx, given, ctx.sigmoid_derivative(order, x)


def _disjoint(ctx, given, truth) -> bool:
    t_lo, t_hi = ctx.bounds(truth)
    g_lo, g_hi = ctx.bounds(given)
    return g_hi < t_lo or t_hi < g_lo


def compare(node, order, clock, points, needed=None, agreed_at=None):
    """Interval comparison at ``points`` (an iterable of decimal strings) until ``needed`` of them agree.

    ``None`` if the answer agrees to ``DIGITS`` digits at ``needed`` points (all of them by default), else
    ``(points, given, expected)`` at the first point where the enclosures are disjoint. A point where the
    answer is undefined is skipped; :class:`ExpressionError` when too few points are left. The points that
    agreed are appended to the list ``agreed_at``, if given.
    """
    base_prec = _base_precision(node, order)
    points = list(points)
    needed = len(points) if needed is None else needed
    agreed, skipped = 0, []
    for i, point in enumerate(points):
        if agreed >= needed or agreed + len(points) - i < needed:
            break  # done, or too few points left to reach ``needed``
        q = Fraction(point)
        top = 16 * _precision(base_prec, q)
        for prec in (top // 16, top // 4, top):
            try:
                ctx, given, truth = _evaluate(node, order, clock, point, prec)
            except _Undefined as e:
                if prec < top and "division" in str(e):
                    continue  # maybe a tiny denominator not yet resolved from 0
                skipped.append((point, str(e)))
                break
            if _disjoint(ctx, given, truth):
                return (point,), *show_pair(ctx, given, truth)
            t_lo, t_hi = ctx.bounds(truth)
            scale = min(abs(t_lo), abs(t_hi))
            if scale > 0 and ctx.close(truth, scale) and ctx.close(given, scale):
                agreed += 1
                if agreed_at is not None:
                    agreed_at.append(point)
                break  # agree to DIGITS digits here
        else:
            raise ExpressionError(f"cannot tell at x = {point} whether the values agree to {DIGITS} digits "
                                  "(they agree as far as the working precision goes): simplify the expression")
    if agreed < needed:
        point, why = skipped[0]
        raise ExpressionError(f"the expression cannot be evaluated at x = {point}: {why}"
                              + (f" (nor at {len(skipped) - 1} more points)" if len(skipped) > 1 else ""))
    return None


def witness(node, order, clock, first, then=(), max_prec=1 << 13):
    """A point where the enclosures are disjoint, for an answer proven different: ``(points, given, expected)``,
    or ``None`` when none is found before ``clock`` runs out.

    The points ``first`` are tried up to 16× the base precision, then ``first`` and ``then`` with the precision
    raised ×4 per round up to ``max_prec`` bits; of the points that separate in a round, the first whose two
    values print in 32 characters is shown, else the shortest.
    """
    try:
        base_prec = _base_precision(node, order)
    except ExpressionError:
        return None
    rounds = [(1, first), (4, first), (16, first)]
    scale = 1
    while scale * base_prec <= max_prec:
        rounds.append((scale, (*first, *then)))
        scale *= 4
    for scale, points in rounds:
        found, undefined = [], 0
        for point in points:
            try:
                ctx, given, truth = _evaluate(node, order, clock, point,
                                              scale * _precision(base_prec, Fraction(point)))
            except _Undefined as e:
                undefined += "division" not in str(e)
                continue
            except ExpressionError:  # the deadline
                return _best(found)
            if _disjoint(ctx, given, truth):
                found.append(((point,), *show_pair(ctx, given, truth)))
                if max(len(found[-1][1]), len(found[-1][2])) <= _SHORT:
                    break  # short enough: the one _best would pick
        if found:
            return _best(found)
        if undefined == len(points) == len(first) + len(then):  # undefined everywhere, at any precision
            return None
    return None


def _best(found):
    """The first witness whose values print in at most ``_SHORT`` characters, else the shortest."""
    short = [w for w in found if max(len(w[1]), len(w[2])) <= _SHORT]
    return short[0] if short else min(found, key=lambda w: len(w[1]) + len(w[2]), default=None)


def ruled_out(node, orders, clock, point="0.5") -> set[int]:
    """The orders j among ``orders`` for which σ⁽ʲ⁾ and the answer provably differ at ``point`` (a cheap filter
    before an exact comparison); none when the answer cannot be evaluated there."""
    base_prec = _base_precision(node, max(orders))
    ctx = _Interval(base_prec, clock)
    x = ctx.number(Fraction(point))
    try:
        given = ctx.value(node, x)
    except _Undefined:
        return set()
    return {j for j in orders if _disjoint(ctx, given, ctx.sigmoid_derivative(j, x))}


def show_pair(ctx, given, truth) -> tuple[str, str]:
    """The two values (midpoints of disjoint enclosures) with 12 significant digits, or as many more as it takes
    for the two strings to differ."""
    import mpmath

    with mpmath.workprec(ctx.iv.prec + 10):
        g = sum(ctx.bounds(given)) / 2
        t = sum(ctx.bounds(truth)) / 2
        a, b = mpmath.nstr(g, 12), mpmath.nstr(t, 12)
        digits = 12
        while a == b and digits < ctx.iv.prec:
            digits += max(1, digits // 2)
            a = mpmath.nstr(g, digits, min_fixed=-4, max_fixed=digits)
            b = mpmath.nstr(t, digits, min_fixed=-4, max_fixed=digits)
        return a, b


def draw_points(n: int, rng) -> tuple[str, ...]:
    """``n`` points drawn from the sampling law: with probability ½ uniform on [−8, 8], else ±10^U with U uniform
    on [log₁₀ 8, 3] (|x| from 8 to 1000, either sign), each rounded to 6 significant digits."""
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            v = rng.uniform(-8.0, 8.0)
        else:
            v = rng.choice((-1.0, 1.0)) * 10 ** rng.uniform(math.log10(8.0), 3.0)
        text = f"{v:.{max(0, 5 - math.floor(math.log10(max(abs(v), 1e-6))))}f}".rstrip("0").rstrip(".")
        out.append(text if text not in ("", "-", "-0") else "0")
    return tuple(out)
