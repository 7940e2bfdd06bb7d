"""A safe parser for a person's answer "σ⁽ᵏ⁾ = EXPR", and the check of that answer.

Never evaluates Python: the text is tokenised and parsed by hand into a small
tree of tuples, under limits on length, nesting depth and exponent size.

Accepted: ``σ``, ``s``, ``sigma`` (also ``σ(x)``), numbers (``2``, ``0.5``),
``+ − * / ^ **``, implicit multiplication (``2σ(1−σ)``), parentheses, the
Unicode minus, ``·`` and ``×``, superscript exponents (``σ³``); and ``x``,
``exp(…)``, ``tanh(…)``. Exponents are whole-number constants.

>>> check(2, "σ(1−σ)(1−2σ)").correct
True
>>> check(2, "σ³ − σ²").correct
False
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

from jaxsgd.polynomials import evaluate_exact, sigmoid_polynomial, superscript, text

__all__ = ["CheckResult", "ExpressionError", "check", "parse"]

MAX_LENGTH = 500
MAX_DEPTH = 60
MAX_EXPONENT = 64
MAX_DEGREE = 4000

_SUPERSCRIPTS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8",
                 "⁹": "9", "⁻": "-"}
_SIGMA = ("sigma", "σ", "s")
_DIGITS = "0123456789"
_FUNCS = ("exp", "tanh")


class ExpressionError(ValueError):
    """The answer cannot be read: a one-line reason."""


def _tokens(src: str):
    if len(src) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    src = src.replace("−", "-").replace("·", "*").replace("×", "*").replace("**", "^")
    out, i = [], 0
    while i < len(src):
        ch = src[i]
        if ch.isspace():
            i += 1
        elif ch in _DIGITS or (ch == "." and i + 1 < len(src) and src[i + 1] in _DIGITS):
            j = i
            while j < len(src) and (src[j] in _DIGITS or src[j] == "."):
                j += 1
            lit = src[i:j]
            if lit.count(".") > 1:
                raise ExpressionError(f"malformed number {lit!r}")
            out.append(("num", Fraction(lit)))
            i = j
        elif ch in _SUPERSCRIPTS:
            j = i
            while j < len(src) and src[j] in _SUPERSCRIPTS:
                j += 1
            digits = "".join(_SUPERSCRIPTS[c] for c in src[i:j])
            try:
                out.append(("sup", int(digits)))
            except ValueError:
                raise ExpressionError(f"malformed superscript exponent {src[i:j]!r}") from None
            i = j
        elif ch.isalpha():
            j = i
            while j < len(src) and src[j].isalpha():
                j += 1
            word = src[i:j]
            i = j
            out.extend(_split_word(word))
        elif ch in "+-*/^()":
            out.append((ch, None))
            i += 1
        else:
            raise ExpressionError(f"unexpected character {ch!r} at position {i + 1}")
    return out


def _split_word(word: str):
    """``sigma``, ``σσ``, ``xσ``, ``exp``… into variable and function tokens."""
    out = []
    low = word.lower() if word != "σ" else word
    while low:
        for name in ("sigma", "tanh", "exp", "σ", "s", "x"):
            if low.startswith(name):
                kind = "fn" if name in _FUNCS else ("sig" if name in _SIGMA else "x")
                out.append((kind, name))
                low = low[len(name):]
                break
        else:
            raise ExpressionError(f"unknown name {word!r}: use σ (or s, sigma), x, exp, tanh")
    return out


class _Parser:
    def __init__(self, tokens):
        self.t = tokens
        self.i = 0
        self.depth = 0

    def peek(self):
        return self.t[self.i][0] if self.i < len(self.t) else None

    def take(self, kind):
        if self.peek() != kind:
            found = self.peek() or "the end"
            raise ExpressionError(f"expected {kind!r} but found {found!r}")
        tok = self.t[self.i]
        self.i += 1
        return tok

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression nests deeper than {MAX_DEPTH} levels")

    def expr(self):
        self.enter()
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take(self.peek())[0]
            node = ("add" if op == "+" else "sub", node, self.term())
        self.depth -= 1
        return node

    def term(self):
        node = self.unary()
        while True:
            k = self.peek()
            if k in ("*", "/"):
                self.i += 1
                node = ("mul" if k == "*" else "div", node, self.unary())
            elif k in ("num", "sig", "x", "fn", "("):  # implicit multiplication
                node = ("mul", node, self.power())
            else:
                return node

    def unary(self):
        if self.peek() in ("+", "-"):
            op = self.take(self.peek())[0]
            self.enter()
            inner = self.unary()
            self.depth -= 1
            return ("neg", inner) if op == "-" else inner
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek() == "sup":
            return ("pow", base, self._exponent(self.take("sup")[1]))
        if self.peek() == "^":
            self.i += 1
            self.enter()
            exp_node = self.unary()
            self.depth -= 1
            return ("pow", base, self._exponent(_constant(exp_node)))
        return base

    @staticmethod
    def _exponent(value):
        if value.denominator != 1:
            raise ExpressionError(f"exponents must be whole numbers, got {value}")
        n = int(value)
        if abs(n) > MAX_EXPONENT:
            raise ExpressionError(f"exponent {n} is larger than {MAX_EXPONENT} in size")
        return n

    def atom(self):
        k = self.peek()
        if k == "num":
            return ("num", self.take("num")[1])
        if k == "sig":
            self.i += 1
            # σ(x) is σ itself
            if self.t[self.i:self.i + 3] == [("(", None), ("x", "x"), (")", None)]:
                self.i += 3
            return ("sig",)
        if k == "x":
            self.i += 1
            return ("x",)
        if k == "fn":
            name = self.take("fn")[1]
            self.take("(")
            arg = self.expr()
            self.take(")")
            return (name, arg)
        if k == "(":
            self.i += 1
            node = self.expr()
            self.take(")")
            return node
        found = "the end" if k is None else repr(k)
        raise ExpressionError(f"expected a number, σ, x or '(' but found {found}")


def _constant(node) -> Fraction:
    """The value of a constant sub-expression (exponents), exactly."""
    if _uses(node, ("sig", "x", "exp", "tanh")):
        raise ExpressionError("exponents must be constant whole numbers")
    return _eval(node, None, Fraction)


def _uses(node, kinds) -> bool:
    return node[0] in kinds or any(isinstance(c, tuple) and _uses(c, kinds) for c in node[1:])


def parse(src: str):
    """The expression tree of ``src``; :class:`ExpressionError` for anything else."""
    if not isinstance(src, str) or not src.strip():
        raise ExpressionError("the expression is empty")
    tokens = _tokens(src)
    p = _Parser(tokens)
    node = p.expr()
    if p.i != len(tokens):
        raise ExpressionError(f"unexpected {tokens[p.i][0]!r} after a complete expression")
    if _degree(node) > MAX_DEGREE:
        raise ExpressionError("the expression is too large to check (its degree in σ exceeds "
                              f"{MAX_DEGREE})")
    return node


def _degree(node) -> int:
    """An upper bound on numerator + denominator degree in σ."""
    kind = node[0]
    if kind == "sig":
        return 1
    if kind in ("num", "x", "exp", "tanh"):
        return 0
    if kind == "neg":
        return _degree(node[1])
    if kind == "pow":
        return abs(node[2]) * _degree(node[1])
    return _degree(node[1]) + _degree(node[2])


def _eval(node, env, num):
    kind = node[0]
    if kind == "num":
        return num(node[1])
    if kind == "sig":
        return env["s"]
    if kind == "x":
        return env["x"]
    if kind == "neg":
        return -_eval(node[1], env, num)
    if kind == "exp":
        return math.exp(_eval(node[1], env, num))
    if kind == "tanh":
        return math.tanh(_eval(node[1], env, num))
    if kind == "pow":
        base = _eval(node[1], env, num)
        if node[2] < 0 and base == 0:
            raise ZeroDivisionError
        return base ** node[2]
    a, b = _eval(node[1], env, num), _eval(node[2], env, num)
    if kind == "add":
        return a + b
    if kind == "sub":
        return a - b
    if kind == "mul":
        return a * b
    if b == 0:
        raise ZeroDivisionError
    return a / b


class CheckResult(NamedTuple):
    correct: bool
    order: int
    expected: str  # the correct polynomial, as text
    x: float | None = None  # a point where they differ
    given_value: float | None = None
    expected_value: float | None = None

    def message(self) -> str:
        d = f"σ⁽{superscript(self.order)}⁾"
        if self.correct:
            return f"CORRECT: {d} = {self.expected}"
        return (f"INCORRECT: {d} = {self.expected}; at x = {self.x:g} your expression gives "
                f"{self.given_value:.12g} but {d}(x) = {self.expected_value:.12g}")


_XS = (0.5, -1.25, 2.0, -0.3, 1.7, -2.6, 0.9, 3.1)


def _sigma(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def check(order: int, src: str) -> CheckResult:
    """Whether ``src`` equals σ⁽ᵒʳᵈᵉʳ⁾ as a function of x.

    Expressions in σ alone are compared exactly, with rational arithmetic, at more
    points than their degree allows them to agree on unless they are identical;
    expressions with ``x``, ``exp`` or ``tanh`` are compared in float64 at eight
    points with relative tolerance 1e-9.
    """
    poly = sigmoid_polynomial(order)
    node = parse(src)
    expected = text(poly)

    def f_given(x):
        return float(_eval(node, {"s": _sigma(x), "x": x}, float))

    def f_true(x):
        s = _sigma(x)
        return sum(c * s**i for i, c in enumerate(poly))

    def first_difference():
        for x in _XS:
            try:
                g = f_given(x)
            except (ZeroDivisionError, OverflowError, ValueError):
                return x, math.nan, f_true(x)
            t = f_true(x)
            if not math.isclose(g, t, rel_tol=1e-9, abs_tol=1e-12):
                return x, g, t
        return _XS[0], f_given(_XS[0]), f_true(_XS[0])

    if not _uses(node, ("x", "exp", "tanh")):
        needed = _degree(node) + len(poly) + 2
        agree, tried, k = 0, 0, 1
        while agree < needed and tried < 4 * needed + 16:
            s = Fraction(k, k + 7 + needed)
            k += 1
            tried += 1
            try:
                val = _eval(node, {"s": s}, Fraction)
            except ZeroDivisionError:
                continue
            if val != evaluate_exact(poly, s):
                return CheckResult(False, order, expected, *first_difference())
            agree += 1
        if agree < needed:
            raise ExpressionError("the expression divides by zero almost everywhere")
        return CheckResult(True, order, expected)
    for x in _XS:
        try:
            g = f_given(x)
        except (ZeroDivisionError, OverflowError, ValueError):
            return CheckResult(False, order, expected, x, math.nan, f_true(x))
        if not math.isclose(g, f_true(x), rel_tol=1e-9, abs_tol=1e-12):
            return CheckResult(False, order, expected, x, g, f_true(x))
    return CheckResult(True, order, expected)
