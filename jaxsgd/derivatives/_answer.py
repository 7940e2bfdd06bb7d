"""Judging a person's formula for σ⁽ᵏ⁾: exactly wherever a decision procedure exists, else at random points.

Three ways, each a proof or a stated probability, never a float64 guess:

- **Exact, in σ.** An answer built from σ⁽ʲ⁾(x), σ⁽ʲ⁾(−x) (= pⱼ(1 − σ)) and numbers is a
  rational function ``N(σ)/D(σ)``. It equals the polynomial ``pₖ(σ)`` iff
  ``N − pₖ·D`` vanishes identically, which holds iff it vanishes at more points
  than its degree: the check evaluates both sides with exact rationals at that
  many points.
- **Exact, in x.** An answer built from x, numbers, e, exp, σ⁽ʲ⁾, tanh⁽ʲ⁾, sinh, cosh
  and sech of polynomials in x is a quotient of exp-polynomials ``Σ a·xⁱ·e^{P(x)}``,
  compared term by term (:mod:`jaxsgd.derivatives._exact`: Lindemann–Weierstrass
  makes the terms independent).
- **Interval, at random points.** Anything else (e^{1/x}, tanh(e^x)) is
  evaluated in mpmath interval arithmetic at ``N_POINTS`` points drawn afresh for each
  check (with probability ½ uniform on [−8, 8], else ±|x| log-uniform on [8, 1000]),
  until each value is known to 30 significant digits. Disjoint enclosures prove
  INCORRECT at that point; CORRECT means agreement to 30 digits at every point, and a
  wrong answer whose difference shows on a set of probability p under that law passes
  with probability (1 − p)¹².

A difference proven exactly is shown at a point where the enclosures are disjoint,
the precision raised until they are (10⁻⁶⁰σ needs ~70 digits); if none turns up in
time, the verdict is still INCORRECT. An INCORRECT answer decided exactly is also
compared with σ⁽ʲ⁾ for j = 0 … k + 3. Cost is bounded before any work (sizes of the
exact numbers, count of operations) and by a deadline; a refusal is an
:class:`ExpressionError`.

>>> check(2, "σ(1−σ)(1−2σ)").correct
True
>>> r = check(1, "(1 - tanh(x/2)^2)/4")
>>> r.correct, r.method, r.proof
(True, 'exact', 'x')
>>> check(40, "σ").message().split("; ")[1]
'at x = 0.5 your expression gives 0.622459331202 but σ⁽⁴⁰⁾(0.5) = 7.55398181388e+26 (proven different exactly, as \
functions of σ'
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import NamedTuple

from jaxsgd.defaults import ANSWER_MAX_ORDER as MAX_CHECK_ORDER
from jaxsgd.derivatives._exact import Outside, exact_form
from jaxsgd.derivatives._expression import parse, parse_with_notes, render
from jaxsgd.derivatives._interval import (
    DIGITS,
    WITNESS_POINTS,
    Deadline,
    compare,
    draw_points,
    ruled_out,
    witness,
)
from jaxsgd.derivatives._polynomials import evaluate_exact, sigmoid_polynomial, superscript, text
from jaxsgd.errors import ExpressionError

DEADLINE_SECONDS = 1.5
N_POINTS = 12  # random points of the interval method
_EXACT_SHARE = 0.5  # of the deadline, for the exact check in x before the interval method takes over
_WITNESS_SECONDS = 0.3  # at least this long to look for a point that shows a proven difference
_EXACT_WORK = 40_000_000  # Σ over points and nodes of the bits of exact values
_HOW = {"σ": "as functions of σ", "x": "as functions of x"}


class CheckResult(NamedTuple):
    """The verdict of :func:`check_answer` on a person's formula for σ⁽ᵏ⁾.

    Values are decimal strings (12 significant digits, more where two would otherwise print alike);
    :meth:`message` and :meth:`report` put the verdict into words.

    Attributes:
      correct: whether the answer equals σ⁽ᵏ⁾ as a function of x.
      order: the order ``k`` checked.
      expected: the correct polynomial in σ, as :func:`text` writes it.
      method: ``"exact"`` (a proof) or ``"interval"`` (interval arithmetic at random points).
      points: the points x (decimal strings) that decided: all of them for a CORRECT answer by the interval
        method, the first that shows a difference for an INCORRECT one; empty for a CORRECT exact check,
        and for an INCORRECT one where no point separating the values was found in time.
      given_value: the answer's value at ``points[0]`` (INCORRECT only), else ``None``.
      expected_value: σ⁽ᵏ⁾ at ``points[0]`` (INCORRECT only), else ``None``.
      proof: for ``method="exact"``, ``"σ"`` (compared as rational functions of σ) or ``"x"`` (as rational
        functions of x and exponentials); ``None`` for the interval method.
      read_as: the answer as it was read (:func:`jaxsgd.derivatives.parse`), when that is not the literal
        text (``σ2`` read as ``σ·2``, LaTeX); else ``None``.
      other_order: for an INCORRECT answer, the order ``j`` whose σ⁽ʲ⁾ the answer equals, if one of
        ``0 … k + 3`` does; else ``None``.
      aimed: for the interval method, how many of ``points`` came from the answer itself (x = 0 and the
        answer's own numbers) rather than being drawn at random; 0 otherwise.

    Example:
      >>> from jaxsgd.derivatives import check_answer
      >>> r = check_answer(1, "σ(1 − σ)")
      >>> r.correct, r.order, r.expected, r.method, r.proof
      (True, 1, '−σ² + σ', 'exact', 'σ')
      >>> r = check_answer(2, "σ'")
      >>> r.correct, r.points, r.given_value, r.expected_value, r.other_order
      (False, ('0.5',), '0.235003712202', '-0.0575567948523', 1)
    """

    correct: bool
    order: int
    expected: str  # the correct polynomial in σ
    method: str  # "exact" or "interval"
    points: tuple[str, ...]  # the points that decided: all of them for CORRECT, the first difference otherwise
    given_value: str | None = None
    expected_value: str | None = None
    proof: str | None = None  # exact: "σ" (rational in σ) or "x" (rational in x and exponentials); else None
    read_as: str | None = None  # the answer as it was read, when that is not the literal text
    other_order: int | None = None  # INCORRECT: the order j with σ⁽ʲ⁾ equal to the answer, if one is
    aimed: int = 0  # interval method: how many of ``points`` came from the answer itself (0 and its numbers)

    def message(self, *, hide_answer: bool = False) -> str:
        """The verdict in one line: CORRECT or INCORRECT, the right polynomial, and how it was decided.

        Args:
          hide_answer: leave out the right polynomial and its value (for graded work), saying only whether
            the answer is right and, if not, where it differs. Default ``False``.

        Returns:
          The line of text.

        Example:
          >>> from jaxsgd.derivatives import check_answer
          >>> check_answer(1, "σ − σ²").message()
          'CORRECT: σ⁽¹⁾ = −σ² + σ  (compared exactly, as functions of σ)'
          >>> check_answer(1, "σ − σ²").message(hide_answer=True)
          'CORRECT: your expression equals σ⁽¹⁾  (compared exactly, as functions of σ)'
        """
        d = f"σ⁽{superscript(self.order)}⁾"
        if self.method == "exact":
            how = f"compared exactly, {_HOW[self.proof]}"
        else:
            drawn = len(self.points) - self.aimed
            own = (f"{', '.join(self.points[:self.aimed])} (where the answer's own numbers point) and "
                   if self.aimed else "")
            how = (f"equal to {DIGITS} significant digits at x = {own}{', '.join(self.points[self.aimed:])}, "
                   f"{drawn} points drawn at random for this check, in interval arithmetic")
        if self.correct:
            return f"CORRECT: your expression equals {d}  ({how})" if hide_answer else \
                f"CORRECT: {d} = {self.expected}  ({how})"
        if not self.points:
            why = (f"proven different exactly, {_HOW[self.proof]}; no point found within the time limit where "
                   "the values separate in interval arithmetic")
            return f"INCORRECT: your expression differs from {d}  ({why})" if hide_answer else \
                f"INCORRECT: {d} = {self.expected}; your expression differs from it  ({why})"
        x = self.points[0]
        why = (f"proven different exactly, {_HOW[self.proof]}; shown at x = {x}" if self.method == "exact" else
               f"decided at x = {x}, in interval arithmetic")
        if hide_answer:
            return f"INCORRECT: your expression differs from {d} at x = {x}, where it gives {self.given_value} ({why})"
        return (f"INCORRECT: {d} = {self.expected}; at x = {x} your expression gives {self.given_value} but "
                f"{d}({x}) = {self.expected_value} ({why})")

    def report(self, *, hide_answer: bool = False) -> list[str]:
        """The verdict as lines of text, as ``jaxsgd check-derivative`` prints it.

        The :meth:`message`, then ``read as: …`` when the reading is not the literal text, then a note when
        an INCORRECT answer is the derivative of another order.

        Args:
          hide_answer: leave out the right polynomial and its value (for graded work), as in
            :meth:`message`. Default ``False``.

        Returns:
          A list of one to three strings.

        Example:
          >>> from jaxsgd.derivatives import check_answer
          >>> r = check_answer(3, "σ2 - σ^2")
          >>> for line in r.report(hide_answer=True)[1:]:
          ...     print(line)
          read as: σ·2 − σ^2
          >>> check_answer(2, "σ(1 − σ)").report()[-1]
          'note: your expression is σ⁽¹⁾, the derivative of order 1, not of order 2'
        """
        lines = [self.message(hide_answer=hide_answer)]
        if self.read_as is not None:
            lines.append(f"read as: {self.read_as}")
        if self.other_order is not None:
            j = self.other_order
            lines.append(f"note: your expression is σ⁽{superscript(j)}⁾, the derivative of order {j}, not of order "
                         f"{self.order}")
        return lines


def _right_side(src: str, order: int) -> str:
    """``σ‴ = …`` (or LaTeX's ``\\sigma^{(3)}(x) = …``) at order 3: the right-hand side; other text as it is."""
    if not isinstance(src, str) or src.count("=") != 1:
        return src
    left, right = src.split("=")
    try:
        node = parse(left)
    except ExpressionError:
        return src
    if node[0] != "sig" or node[2] != ("x",):
        return src
    if node[1] != order:
        raise ExpressionError(f"the left-hand side is σ⁽{superscript(node[1])}⁾ but the order checked is {order}: "
                              "give only the formula, the right-hand side")
    return right


def check(order: int, src: str, *, deadline: float = DEADLINE_SECONDS, rng=None) -> CheckResult:
    """Judges whether a person's formula ``src`` equals σ⁽ᵒʳᵈᵉʳ⁾ as a function of x.

    ``src`` is read by :func:`jaxsgd.derivatives.parse` (a left-hand side such as ``σ‴ =`` is allowed and
    dropped). The answer is then compared, in the first way that applies:

    - exactly in σ, when it is built from σ⁽ʲ⁾(x), σ⁽ʲ⁾(−x) and numbers: a rational function ``N(σ)/D(σ)``
      equals the polynomial ``pₖ(σ)`` iff ``N − pₖ·D`` vanishes at more points than its degree;
    - exactly in x, when it is a quotient of exp-polynomials ``Σ a·xⁱ·e^{P(x)}`` (x, e, exp, σ⁽ʲ⁾, tanh⁽ʲ⁾,
      sinh, cosh, sech of polynomials in x), term by term;
    - otherwise in mpmath interval arithmetic at 12 points drawn afresh (with probability ½ uniform on
      ``[−8, 8]``, else ``±|x|`` log-uniform on ``[8, 1000]``) after the answer's own numbers, each value
      known to 30 significant digits: a wrong answer whose difference shows on a set of probability p
      passes with probability ``(1 − p)¹²``.

    Cost is bounded before any work and by ``deadline``.

    Args:
      order: the order k, a whole number from 0 to ``ANSWER_MAX_ORDER`` (100).
      src: the answer as text (see :func:`jaxsgd.derivatives.parse`); it may not use σ⁽ᵏ⁾ itself or a higher
        order, since that restates the question.
      deadline: the limit, in seconds of this thread's CPU time, for the whole check (default 1.5).
      rng: a :class:`random.Random` that draws the points of the interval method (default
        :class:`random.SystemRandom`, fresh for each check, so that no published point set can be aimed
        at); pass a seeded one for reproducible points.

    Returns:
      The verdict, a :class:`CheckResult`.

    Raises:
      ExpressionError: ``order`` is out of range, ``src`` cannot be read, restates the derivative asked for,
        or is too costly to judge within the bounds; the message gives the reason in one line.

    Example:
      >>> from jaxsgd.derivatives import check_answer
      >>> check_answer(2, "σ(1−σ)(1−2σ)").correct
      True
      >>> r = check_answer(1, "(1 - tanh(x/2)^2)/4")
      >>> r.correct, r.method, r.proof
      (True, 'exact', 'x')
      >>> check_answer(40, "σ").message().split("; ")[1]
      'at x = 0.5 your expression gives 0.622459331202 but σ⁽⁴⁰⁾(0.5) = 7.55398181388e+26 (proven different \
    exactly, as functions of σ'
      >>> check_answer(2, "σ''")
      Traceback (most recent call last):
      ...
      jaxsgd.errors.ExpressionError: your expression is σ⁽²⁾ itself: it restates the derivative asked for; ...
    """
    if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= MAX_CHECK_ORDER:
        raise ExpressionError(f"order must be a whole number from 0 to {MAX_CHECK_ORDER}, got {order!r}")
    node, notes = parse_with_notes(_right_side(src, order))
    d = f"σ⁽{superscript(order)}⁾"
    if order and node == ("sig", order, ("x",)):  # at order 0, σ is the polynomial in σ itself
        raise ExpressionError(f"your expression is {d} itself: it restates the derivative asked for; give {d} as a "
                              "formula in σ (or x, e, exp, tanh), with no derivative of that order in it")
    high = _highest_sigma_derivative(node)
    if order and high >= order:  # σ‴ + 0, 2σ‴ − σ‴: the question, rearranged
        which = "itself" if high == order else f"of order {high}, higher still"
        raise ExpressionError(f"your expression uses σ⁽{superscript(high)}⁾ ({which}): it restates the derivative "
                              f"asked for rather than working it out; give {d} as a formula in σ (or x, e, exp, "
                              f"tanh) with derivatives of σ below order {order} at most")
    rng = rng if rng is not None else random.SystemRandom()
    read_as = render(node) if notes else None
    clock = Deadline(deadline)
    poly = sigmoid_polynomial(order)
    expected = text(poly)

    def different(proof, other):
        left = max(_WITNESS_SECONDS, clock.left())
        shown = witness(node, order, Deadline(left), (*WITNESS_POINTS, *_constants(node)), draw_points(8, rng))
        return CheckResult(False, order, expected, "exact", *(shown or ((),)), proof=proof, read_as=read_as,
                           other_order=other)

    if _is_rational_in_sigma(node):
        if _exact_equal(node, poly, clock):
            return CheckResult(True, order, expected, "exact", (), proof="σ", read_as=read_as)
        return different("σ", _other_order_in_sigma(node, order, clock))
    try:
        form = exact_form(node, deadline * _EXACT_SHARE)
        same = form.equals(order)
    except Outside:
        form = None
    if form is not None:
        if same:
            return CheckResult(True, order, expected, "exact", (), proof="x", read_as=read_as)
        try:
            orders = [j for j in range(order + 4) if j != order]
            out = ruled_out(node, orders, clock)
            other = next((j for j in orders if j not in out and form.equals(j)), None)
        except (Outside, ExpressionError):
            other = None
        return different("x", other)
    agreed: list[str] = []
    # the points the answer's own numbers point at first (a bump e^{−(x − c)²} is largest at x = c; x = 0 where
    # a polynomial argument is centred), then the random ones
    aimed = ("0", *_constants(node))
    shown = compare(node, order, clock, (*aimed, *draw_points(2 * N_POINTS, rng)), len(aimed) + N_POINTS, agreed)
    if shown is None:
        agreed = [p for p in agreed if p in aimed] + [p for p in agreed if p not in aimed]
        return CheckResult(True, order, expected, "interval", tuple(agreed), read_as=read_as,
                           aimed=sum(p in aimed for p in agreed))
    return CheckResult(False, order, expected, "interval", *shown, read_as=read_as)


def _highest_sigma_derivative(node) -> int:
    """The highest order of a derivative of σ in the tree (−1 if σ does not appear)."""
    best, stack = -1, [node]
    while stack:
        n = stack.pop()
        if n[0] == "sig":
            best = max(best, n[1])
        if n[0] in ("sum", "prod"):
            stack.extend(c for _, c in n[1])
        else:
            stack.extend(c for c in n[1:] if isinstance(c, tuple))
    return best


def _constants(node, limit=8) -> list[str]:
    """Up to ``limit`` numbers of the answer as points (|c| ≤ 1000): where a term such as e^{−(x − 100)²} is
    largest, a difference shows with few digits."""
    out: list[str] = []
    stack = [node]
    while stack and len(out) < limit:
        n = stack.pop()
        if n[0] == "num":
            c = n[1]
            if abs(c) <= 1000 and c.denominator < 10**6:
                for v in (c, -c):
                    t = f"{float(v):.6g}"
                    if "e" not in t and t not in out and t not in WITNESS_POINTS:
                        out.append(t)
        elif n[0] in ("sum", "prod"):
            stack.extend(c for _, c in n[1])
        else:
            stack.extend(c for c in n[1:] if isinstance(c, tuple))
    return out[:limit]


def _other_order_in_sigma(node, order, clock) -> int | None:
    """The order j ≤ k + 3 whose σ⁽ʲ⁾ the answer equals, if one does and it is cheap to find."""
    try:
        at_two = _exact_value(node, 2, {})  # most orders differ already at σ = 2: one evaluation rules them out
    except ZeroDivisionError:
        at_two = None
    for j in range(order + 4):
        if j != order and (at_two is None or evaluate_exact(sigmoid_polynomial(j), Fraction(2)) == at_two):
            try:
                if _exact_equal(node, sigmoid_polynomial(j), clock):
                    return j
            except ExpressionError:
                return None
    return None


# ------------------------------------------------------------------ exact
def _is_rational_in_sigma(node) -> bool:
    kind = node[0]
    if kind == "num":
        return True
    if kind == "sig":
        return node[2] in (("x",), ("neg", ("x",)))
    if kind in ("x", "exp", "tanh", "sinh", "cosh", "sech"):  # exponentials: the exact check in x takes them
        return False
    if kind in ("sum", "prod"):
        return all(_is_rational_in_sigma(c) for _, c in node[1])
    return _is_rational_in_sigma(node[1])  # neg, pow


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
