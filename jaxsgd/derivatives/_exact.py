"""Exact equality for answers in x, exponentials of polynomials in x, σ, tanh, sinh, cosh and sech of them.

An *exp-polynomial* is a finite sum ``Σ a·xⁱ·e^{P(x)}`` with rational ``a``, whole ``i`` (negative allowed)
and ``P`` a polynomial with rational coefficients, its constant term included (``e`` is e^{1}). The class
is closed under + − ×; σ(u) = 1/(1 + e^{−u}), tanh(u) = 1 − 2/(1 + e^{2u}), sinh, cosh, sech and every
σ⁽ʲ⁾(u) = pⱼ(σ(u)), tanh⁽ʲ⁾(u) = qⱼ(tanh u) are quotients of two of them whenever u is a polynomial in x.

Why equality is decidable: the functions ``xⁱ e^{P(x)}`` with ``P(0) = 0`` and distinct ``(i, P)`` are
linearly independent over ℂ, and for distinct rationals ``c`` the numbers ``e^{c}`` are linearly
independent over the algebraic numbers (Lindemann–Weierstrass). So an exp-polynomial is the zero function
iff every coefficient is zero, and ``N₁/D₁ = N₂/D₂`` iff ``N₁D₂ − N₂D₁`` has no term left.

A value is kept as ``N · Π Bᵢ^{eᵢ}``: ``N`` expanded, the ``Bᵢ`` (denominators such as 1 + e^{−x}, and
divisors) kept as factors with whole exponents, each divided by its least monomial so that 1 + e^{−x} and
e^{x} + 1 are one factor. The factors are never zero, so a value is zero iff ``N`` is empty. Exponent
coefficients are stored as whole numbers times a common scale, found by restarting when a new
denominator appears. The work is capped (terms, coefficient bits, exponent degree, time): past a cap, or
outside the class (σ(σ(x)), e^{1/x}, exp(σ(x)), tanh(e^x)), :class:`Outside` hands the answer to the
interval method.

>>> form = exact_form(("exp", ("neg", ("x",))), None)  # e^{−x}
>>> form.equals(1), form.equals(0)
(False, False)
>>> exact_form(("prod", ((1, ("sig", 0, ("x",))), (1, ("sig", 0, ("neg", ("x",)))))), None).equals(1)
True
"""

from __future__ import annotations

import time
from fractions import Fraction
from math import gcd, lcm

from jaxsgd.derivatives._polynomials import sigmoid_polynomial, tanh_polynomial
from jaxsgd.errors import ExpressionError

MAX_TERMS = 20_000  # terms of one expanded numerator
MAX_BITS = 60_000  # bits of one coefficient
MAX_DEGREE = 64  # degree of a polynomial exponent
_MAX_SCALE_BITS = 1024  # size of the exponents' coefficients (times their common denominator)
_DIGIT = 1 << 4096  # keys are packed into one integer, a digit per component (balanced, far from overflowing)



def cpu_now() -> float:
    """This thread's CPU seconds: the checker's clock, so that a verdict does not depend on how busy the
    machine is (a wall-clock limit would give up sooner on a loaded machine)."""
    return time.thread_time()

class Outside(Exception):
    """The answer lies outside the exact class, or past its caps: the interval method judges it."""


class _Restart(Exception):
    def __init__(self, scale, degree):
        super().__init__()
        self.scale, self.degree = scale, degree


def _bits(c) -> int:
    if isinstance(c, int):
        return c.bit_length()
    return max(c.numerator.bit_length(), c.denominator.bit_length())


def _whole(q):
    """A rational as an int when it is one: int arithmetic is ~10× faster than Fraction's."""
    return q.numerator if isinstance(q, Fraction) and q.denominator == 1 else q


class _Ring:
    """Exp-polynomials ``{key: coefficient}`` and values ``(N, F)``.

    A key is the vector ``(i, q·P₀, q·P₁, …, q·P_d)`` packed into one integer, ``i`` the most significant
    digit: adding keys multiplies monomials, and the integer order is the lexicographic order, which is
    compatible with multiplication (so the least monomial of ``m·B`` is ``m`` times that of ``B``).
    """

    def __init__(self, scale, degree, end):
        self.q, self.degree, self.end = scale, degree, end
        self.zero = 0
        self.x_key = _DIGIT ** (degree + 1)
        self.bases: dict = {}  # canonical factor (frozen) -> index
        self.base_polys: list = []
        self.powers: dict = {}  # (index, e) -> expanded factor power

    def tick(self):
        if self.end is not None and cpu_now() > self.end:
            raise Outside("too slow")

    # ------------------------------------------------------------ exp-polynomials
    def mul(self, a: dict, b: dict) -> dict:
        if len(a) * len(b) > 40 * MAX_TERMS:
            raise Outside("too many terms")
        out: dict = {}
        for ka, ca in a.items():
            for kb, cb in b.items():
                k = ka + kb
                v = out.get(k, 0) + ca * cb
                if v:
                    out[k] = v
                else:
                    del out[k]
            self.tick()
        return self.capped(out)

    def capped(self, out: dict) -> dict:
        if len(out) > MAX_TERMS or any(_bits(c) > MAX_BITS for c in out.values()):
            raise Outside("too large")
        return out

    def plus(self, a: dict, b: dict, sign=1) -> dict:
        out = dict(a)
        for k, c in b.items():
            v = out.get(k, 0) + sign * c
            if v:
                out[k] = v
            else:
                out.pop(k, None)
        return self.capped(out)

    def power(self, index: int, e: int) -> dict:
        """The factor ``index`` to the power ``e ≥ 1``, expanded (cached)."""
        key = (index, e)
        if key not in self.powers:
            half = self.power(index, e // 2) if e > 1 else {self.zero: 1}
            p = self.mul(half, half)
            self.powers[key] = self.mul(p, self.base_polys[index]) if e % 2 else p
        return self.powers[key]

    def canonical(self, n: dict):
        """``n = c · m · B`` with ``m`` its least monomial (key), ``c`` its coefficient, ``B`` a factor index
        (``None`` when ``n`` is a monomial)."""
        lead = min(n)
        c = n[lead]
        if len(n) == 1:
            return c, lead, None
        den = lcm(*(Fraction(v).denominator for v in n.values()))
        ints = [int(v * den) for v in n.values()]
        top = gcd(*ints) * (1 if c > 0 else -1)
        b = {k - lead: v // top for k, v in zip(n, ints, strict=True)}  # whole, coprime, least term positive
        c = Fraction(top, den)
        frozen = frozenset(b.items())
        if frozen not in self.bases:
            self.bases[frozen] = len(self.base_polys)
            self.base_polys.append(b)
        return c, lead, self.bases[frozen]

    # ------------------------------------------------------------ values N · Π Bᵢ^{eᵢ}
    def const(self, q):
        q = _whole(q)
        return ({self.zero: q} if q else {}), {}

    def times(self, a, b):
        f = dict(a[1])
        for i, e in b[1].items():
            f[i] = f.get(i, 0) + e
        n = self.mul(a[0], b[0])
        return n, ({i: e for i, e in f.items() if e} if n else {})

    def inverse(self, a):
        if not a[0]:
            raise ExpressionError("the expression divides by zero everywhere (a denominator is identically 0)")
        c, lead, index = self.canonical(a[0])
        f = {i: -e for i, e in a[1].items()}
        if index is not None:
            f[index] = f.get(index, 0) - 1
        return {-lead: _whole(1 / Fraction(c))}, {i: e for i, e in f.items() if e}

    def sum(self, a, b, sign=1):
        if not b[0]:
            return a
        if not a[0]:
            return {k: sign * c for k, c in b[0].items()}, b[1]
        low = {i: min(a[1].get(i, 0), b[1].get(i, 0)) for i in {*a[1], *b[1]}}
        na, nb = a[0], b[0]
        for i, m in low.items():
            if a[1].get(i, 0) > m:
                na = self.mul(na, self.power(i, a[1].get(i, 0) - m))
            if b[1].get(i, 0) > m:
                nb = self.mul(nb, self.power(i, b[1].get(i, 0) - m))
        n = self.plus(na, nb, sign)
        return n, ({i: m for i, m in low.items() if m} if n else {})

    def pow(self, a, e: int):
        if e < 0:
            a, e = self.inverse(a), -e
        out, base = self.const(1), a
        while e:
            if e & 1:
                out = self.times(out, base)
            e >>= 1
            if e:
                base = self.times(base, base)
        return out

    # ------------------------------------------------------------ functions of a polynomial argument
    def exponent(self, u) -> tuple:
        """The key of e^{u} for a polynomial ``u``; :class:`Outside` otherwise."""
        n, f = u
        if f or any(k % self.x_key or k < 0 for k in n):
            raise Outside("not a polynomial")
        powers = {k // self.x_key: c for k, c in n.items()}
        degree = max(powers, default=0)
        if degree > MAX_DEGREE:
            raise Outside("exponent of too high a degree")
        scale = self.q
        for c in n.values():
            scale = lcm(scale, Fraction(c).denominator)
        if scale.bit_length() > _MAX_SCALE_BITS:
            raise Outside("exponents with too large denominators")
        if scale != self.q or degree > self.degree:
            raise _Restart(scale, max(degree, self.degree))
        key = 0
        for j, c in powers.items():
            v = int(c * self.q)
            if v.bit_length() > _MAX_SCALE_BITS:
                raise Outside("exponents too large")
            key += v * _DIGIT ** (self.degree - j)
        return key

    def moebius(self, r, zkey):
        """``Σ rₘ vᵐ`` with ``v = 1/(1 + e^{z})``, z the exponent ``zkey``: ``Σ rₘ (1 + e^z)^{n−m} / (1 + e^z)^n``."""
        n = len(r) - 1
        acc = [r[0]]
        for m in range(1, n + 1):  # Horner in (1 + z)
            acc = [a + b for a, b in zip([*acc, 0], [0, *acc], strict=True)]
            acc[0] += r[m]
            self.tick()
        num: dict = {}
        for j, c in enumerate(acc):
            if c:
                k = j * zkey
                num[k] = num.get(k, 0) + c
        num = {k: c for k, c in num.items() if c}
        if not zkey:  # v = 1/2
            return self.times((num, {}), self.const(Fraction(1, 2**n)))
        return self.times((num, {}), self.pow(({self.zero: 1, zkey: 1}, {}), -n))

    def sigmoid(self, k, u):
        p = self.exponent(u)
        return self.moebius(sigmoid_polynomial(k), -p)

    def tanh(self, k, u):
        p = self.exponent(u)
        q = tanh_polynomial(k) if k else (0, 1)
        r = [0]  # q(1 − 2v), by Horner
        for c in reversed(q):
            r = [a + b for a, b in zip([*r, 0], [0, *(-2 * v for v in r)], strict=True)]
            r[0] += c
        while len(r) > 1 and r[-1] == 0:
            r.pop()
        return self.moebius(r, 2 * p)

    def hyperbolic(self, name, u):
        p = self.exponent(u)
        sign = -1 if name == "sinh" else 1
        half = Fraction(1, 2)
        v = self.plus({p: half}, {-p: sign * half}) if p else self.const(Fraction(1 + sign, 2))[0]  # cosh 0 = 1
        return self.inverse((v, {})) if name == "sech" else (v, {})

    def value(self, node):
        self.tick()
        kind = node[0]
        if kind == "num":
            return self.const(node[1])
        if kind == "x":
            return {self.x_key: 1}, {}
        if kind == "sig":
            return self.sigmoid(node[1], self.value(node[2]))
        if kind == "tanh":
            return self.tanh(node[1], self.value(node[2]))
        if kind == "exp":
            return {self.exponent(self.value(node[1])): 1}, {}
        if kind in ("sinh", "cosh", "sech"):
            return self.hyperbolic(kind, self.value(node[1]))
        if kind == "neg":
            n, f = self.value(node[1])
            return {k: -c for k, c in n.items()}, f
        if kind == "pow":
            return self.pow(self.value(node[1]), node[2])
        if kind == "sum":
            acc = self.const(0)
            for sign, c in node[1]:
                acc = self.sum(acc, self.value(c), sign)
            return acc
        acc = self.const(1)
        for op, c in node[1]:
            v = self.value(c)
            acc = self.times(acc, v if op > 0 else self.inverse(v))
        return acc


class ExactForm:
    """An answer as an exact quotient of exp-polynomials, compared with σ⁽ᵏ⁾(x) by :meth:`equals`."""

    def __init__(self, ring, value):
        self.ring, self.value = ring, value

    def equals(self, order: int) -> bool:
        """Whether the answer is σ⁽ᵒʳᵈᵉʳ⁾(x) identically (where both are defined)."""
        ring = self.ring
        expected = ring.sigmoid(order, ({ring.x_key: 1}, {}))
        return not ring.sum(self.value, expected, -1)[0]


def exact_form(node, seconds: float | None) -> ExactForm:
    """The answer ``node`` as an :class:`ExactForm`; :class:`Outside` if it is not in the class or costs more
    than ``seconds``; :class:`ExpressionError` if it divides by zero everywhere."""
    end = None if seconds is None else cpu_now() + seconds
    scale, degree = 1, 1
    for _ in range(16):
        ring = _Ring(scale, degree, end)
        try:
            return ExactForm(ring, ring.value(node))
        except _Restart as r:
            scale, degree = r.scale, r.degree
    raise Outside("too many distinct exponents")
