"""A safe parser for a formula a person writes for σ⁽ᵏ⁾, into a small tree of tuples.

Never evaluates Python: the text is tokenised and parsed by hand, under limits on
length, nesting depth, exponent size and the cost of evaluating the result
(:func:`jaxsgd.derivatives.check_answer` judges the tree).

What it reads:

- ``σ``, ``s``, ``sigma``, ``sigmoid``; ``σ(u)`` is σ applied to ``u`` when ``u`` has no σ in it
  (``σ(x)``, ``σ(−x)``, ``σ(2x)``), and a product otherwise (``σ(1−σ)`` is σ·(1−σ));
- derivatives by primes or an order: ``σ′``, ``σ'``, ``σ''``, ``σ‴``, ``σ⁽³⁾``, ``tanh⁽²⁾(x/2)``;
- ``x``; ``e`` (Euler's number), ``e^x``, ``e^-x``, ``e⁻ˣ``, ``exp(…)``, ``tanh(…)``, ``tanh²(u)``
  and ``tanh^2(u)`` (likewise ``σ^2(x)`` = σ(x)²);
- ``sinh(…)``, ``cosh(…)``, ``sech(…)`` (and ``sinh′`` = cosh, ``cosh′`` = sinh);
- numbers (``2``, ``0.5``, ``½``, the mixed number ``1½`` = 1 + ½), ``+ − * / ^ **``, ``·``, ``×``,
  superscript exponents (``σ³``, ``2⁻³``), parentheses, brackets and braces, implicit
  multiplication (``2σ(1−σ)``);
- mathematical italic and fullwidth letters and digits (``𝜎(𝑥)``, ``１``) as the plain ones;
- LaTeX as :func:`jaxsgd.derivatives.latex` prints it (``\\sigma``, ``\\frac{a}{b}``, ``\\left(``, ``^{…}``).

Refused with the reason: scientific notation (``2.5e-1`` would otherwise read as 2.5·e − 1),
invisible characters (zero-width spaces, direction marks), ``=``, unknown names, ``Σ`` (capital
sigma: "did you mean σ"), ``1 ½`` (a mixed number or a product?) and Leibniz ``dσ/dx``.
:func:`parse_with_notes` also says which readings are not literal (``σ2`` is σ·2), and
:func:`render` writes a tree back as text.

Exponents other than on ``e`` are whole-number constants of size ≤ 128.

>>> parse("σ(x)σ(−x)")
('prod', ((1, ('sig', 0, ('x',))), (1, ('sig', 0, ('neg', ('x',))))))
>>> parse("e^-x")
('exp', ('neg', ('x',)))
"""

from __future__ import annotations

from fractions import Fraction

from jaxsgd.derivatives._notation import (
    _MAX_EXPONENT_BITS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_NODE_ORDER,
    derivative_order,
    from_latex,
    shown,
    tokens,
)
from jaxsgd.errors import ExpressionError


def uses(node, kinds) -> bool:
    """Whether the tree ``node`` contains a node of one of ``kinds``."""
    if node[0] in kinds:
        return True
    if node[0] in ("sum", "prod"):
        return any(uses(c, kinds) for _, c in node[1])
    return any(isinstance(c, tuple) and uses(c, kinds) for c in node[1:])


_FUNCTIONS = ("exp", "tanh", "sinh", "cosh", "sech")


def _product(factors):
    return factors[0][1] if len(factors) == 1 and factors[0][0] == 1 else ("prod", tuple(factors))


class _Parser:
    def __init__(self, tokens):
        self.t = tokens
        self.i = 0
        self.depth = 0
        self.groups = {}  # token index of '(' -> (tree, index after ')'), so each group is parsed once
        self.notes = set()  # readings worth echoing, found while parsing

    def peek(self, ahead=0):
        return self.t[self.i + ahead][0] if self.i + ahead < len(self.t) else None

    def take(self, kind):
        if self.peek() != kind:
            raise ExpressionError(f"expected {kind!r} but found {shown(self.peek())}")
        tok = self.t[self.i]
        self.i += 1
        return tok

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the expression nests deeper than {MAX_DEPTH} levels")

    def expr(self):
        self.enter()
        terms = [(1, self.term())]
        while self.peek() in ("+", "-"):
            sign = 1 if self.take(self.peek())[0] == "+" else -1
            terms.append((sign, self.term()))
        self.depth -= 1
        return terms[0][1] if len(terms) == 1 else ("sum", tuple(terms))

    def term(self):
        factors = [(1, self.unary())]
        while True:
            k = self.peek()
            if k in ("*", "/"):
                self.i += 1
                factors.append((1 if k == "*" else -1, self.unary()))
            elif k in ("num", "sig", "x", "fn", "e", "("):  # implicit multiplication
                factors.append((1, self.power()))
            else:
                return _product(factors)

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
            exponent = _parse_superscript(self.take("sup")[1])
        elif self.peek() == "^":
            self.i += 1
            self.enter()
            exponent = self.unary()
            self.depth -= 1
        else:
            return base
        if base == ("e",):
            return ("exp", exponent)
        return ("pow", base, _whole_exponent(exponent))

    def group(self):
        """``( expr )``, parsed once per position."""
        start = self.i
        if start in self.groups:
            node, self.i = self.groups[start]
            return node
        self.take("(")
        node = self.expr()
        self.take(")")
        self.groups[start] = (node, self.i)
        return node

    def atom(self):
        k = self.peek()
        if k == "num":
            return ("num", self.take("num")[1])
        if k == "x":
            self.i += 1
            return ("x",)
        if k == "e":
            self.i += 1
            return ("e",)
        if k in ("sig", "fn"):
            return self.function(self.take(k)[1])
        if k == "(":
            return self.group()
        raise ExpressionError(f"expected a number, σ, x or '(' but found {shown(k)}")

    def function(self, name):
        """σ, tanh or exp with an optional derivative order, power and argument."""
        order = 0
        if self.peek() == "prime":
            order = self.take("prime")[1]
        elif self.peek() == "sup" and self.t[self.i][1].startswith("("):
            order = derivative_order(self.take("sup")[1])
        power = None
        if self.peek() == "sup" and self.peek(1) == "(":  # tanh²(u) = tanh(u)²
            power = _whole_exponent(_parse_superscript(self.take("sup")[1]))
        elif self.peek() == "^" and self.peek(1) == "num" and self.peek(2) == "(":  # tanh^2(u), σ^2(x)
            power = _whole_exponent(("num", self.t[self.i + 1][1]))
            self.i += 2
        if order > MAX_NODE_ORDER:
            raise ExpressionError(f"derivative order {order} inside the expression is above {MAX_NODE_ORDER}")
        if name in _FUNCTIONS:
            if self.peek() != "(":
                raise ExpressionError(f"{name} needs its argument in parentheses, e.g. {name}(x)")
            arg = self.group()
            if name in ("sinh", "cosh", "sech"):
                if name == "sech" and order:
                    raise ExpressionError("derivatives of sech are not read: write them out, e.g. "
                                          "−sech(u)·tanh(u) for sech′(u)")
                if order % 2:  # sinh′ = cosh, cosh′ = sinh
                    name = "cosh" if name == "sinh" else "sinh"
                node = (name, arg)
                return node if power is None else ("pow", node, power)
        else:
            arg = ("x",)
            if self.peek() == "(":
                start = self.i
                inner = self.group()
                if uses(inner, ("sig",)):  # σ(1−σ): a product, read by the caller
                    if any(self.t[j][0] == "sig" and self.t[j + 1][0] == "(" for j in range(start, self.i - 1)):
                        self.notes.add("sigma of sigma")  # σ(σ(x)) is read as σ·σ(x), worth echoing
                    self.i = start
                else:
                    arg = inner
        node = ("exp", arg) if name == "exp" else ("tanh" if name == "tanh" else "sig", order, arg)
        return node if power is None else ("pow", node, power)


def _parse_superscript(text: str):
    p = _Parser(tokens(text))
    node = p.expr()
    if p.i != len(p.t):
        raise ExpressionError(f"cannot read the superscript {text!r}")
    return node


def _whole_exponent(node) -> int:
    value = constant_value(node)
    if value.denominator != 1:
        raise ExpressionError(f"exponents must be whole numbers, got {value}")
    if abs(value) > MAX_EXPONENT:
        digits = len(str(abs(value)))
        shown = str(value) if digits <= 20 else f"{str(value)[:12]}… ({digits} digits)"
        raise ExpressionError(f"exponent {shown} is larger than {MAX_EXPONENT} in size")
    return int(value)


def constant_value(node) -> Fraction:
    """The exact value of a constant sub-tree (exponents), refusing ones whose numbers explode."""
    if uses(node, ("sig", "x", "exp", "tanh", "e", "sinh", "cosh", "sech")):
        raise ExpressionError("exponents must be constant whole numbers, written with numbers alone: no σ, x or "
                              "function in them (only e takes any exponent)")
    kind = node[0]
    if kind == "num":
        value = node[1]
    elif kind == "neg":
        value = -constant_value(node[1])
    elif kind == "sum":
        value = sum((sign * constant_value(c) for sign, c in node[1]), Fraction(0))
    elif kind == "prod":
        value = Fraction(1)
        for op, c in node[1]:
            v = constant_value(c)
            if op < 0 and v == 0:
                raise ExpressionError("division by zero in a constant")
            value = value * v if op > 0 else value / v
    else:  # pow: |exponent| ≤ 64 and a base of ≤ 64 bits keep this small
        base = constant_value(node[1])
        if base == 0 and node[2] < 0:
            raise ExpressionError("division by zero in a constant (0 to a negative power)")
        value = base ** node[2]
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > _MAX_EXPONENT_BITS * MAX_EXPONENT:
        raise ExpressionError("an exponent is too large to work out")
    return value


def parse(src: str):
    """Reads a formula a person wrote for σ⁽ᵏ⁾ into a tree of tuples, never evaluating Python.

    The notation read (σ, primes and orders, x, e, exp, tanh, sinh, cosh, sech, numbers, the usual
    operators, implicit products, LaTeX) and what is refused are listed in the module's description
    (:mod:`jaxsgd.derivatives`); :func:`check_answer` judges the tree. The nodes are:

    - ``("num", Fraction)``, a number; ``("x",)``, the variable;
    - ``("sig", k, arg)``, σ⁽ᵏ⁾(arg), and ``("tanh", k, arg)``, tanh⁽ᵏ⁾(arg);
    - ``("exp", arg)``, ``("sinh", arg)``, ``("cosh", arg)``, ``("sech", arg)``;
    - ``("neg", a)``, −a, and ``("pow", a, n)``, aⁿ with a whole ``n``;
    - ``("sum", ((±1, term), …))`` and ``("prod", ((±1, factor), …))``, where −1 subtracts or divides.

    A bare ``e`` becomes ``("exp", ("num", 1))``.

    Args:
      src: the formula as text, at most 20,000 characters.

    Returns:
      The root node of the tree, a nested tuple as above.

    Raises:
      ExpressionError: ``src`` is empty, too long, nested too deep or cannot be read; the message says
        why in one line (e.g. ``"did you mean σ"`` for ``Σ``).

    Example:
      >>> parse("σ(1 − σ)")
      ('prod', ((1, ('sig', 0, ('x',))), (1, ('sum', ((1, ('num', Fraction(1, 1))), (-1, ('sig', 0, ('x',))))))))
      >>> parse("e^-x")
      ('exp', ('neg', ('x',)))
      >>> parse("σ''") == parse("σ⁽²⁾")
      True
    """
    return parse_with_notes(src)[0]


def parse_with_notes(src: str):
    """``(tree, notes)``: the tree of :func:`parse`, and the set of readings of ``src`` that are not literal
    and worth echoing: ``"latex"``, ``"mixed number"`` (1½ = 1 + ½), ``"number after σ"`` (σ2 = σ·2),
    ``"power"`` (σ^(1) is a power, not σ⁽¹⁾), ``"sigma of sigma"`` (σ(σ(x)) is the product σ·σ(x), as σ(1 − σ)
    is σ·(1 − σ))."""
    if not isinstance(src, str) or not src.strip():
        raise ExpressionError("the expression is empty")
    if len(src) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    notes: set = set()
    if "\\" in src:
        src = from_latex(src)
        notes.add("latex")
    toks = tokens(src, notes)
    p = _Parser(toks)
    node = p.expr()
    if p.i != len(toks):
        raise ExpressionError(f"unexpected {shown(toks[p.i][0]).removeprefix('a ')} after a complete expression")
    return _resolve_e(node), notes | p.notes


def _resolve_e(node):
    """A bare ``e`` is Euler's number, exp(1)."""
    kind = node[0]
    if kind == "e":
        return ("exp", ("num", Fraction(1)))
    if kind in ("sum", "prod"):
        return (kind, tuple((s, _resolve_e(c)) for s, c in node[1]))
    if kind in ("neg", "exp", "sinh", "cosh", "sech"):
        return (kind, _resolve_e(node[1]))
    if kind == "pow":
        return ("pow", _resolve_e(node[1]), node[2])
    if kind in ("sig", "tanh"):
        return (kind, node[1], _resolve_e(node[2]))
    return node


_ATOMS = ("num", "x", "sig", "tanh", "exp", "sinh", "cosh", "sech")


def render(node) -> str:
    """The tree in the plain notation, with every product and grouping explicit (it parses back to itself).

    >>> render(parse("σ2 - 1½σ^(1)"))
    'σ·2 − (1 + 1/2)·σ^1'
    """
    kind = node[0]
    if kind == "num":
        q = node[1]
        return str(q) if q >= 0 else f"({q})"
    if kind == "x":
        return "x"
    if kind in ("sig", "tanh"):
        name = "σ" if kind == "sig" else "tanh"
        order = f"⁽{''.join(_SUPER[c] for c in str(node[1]))}⁾" if node[1] else ""
        return f"{name}{order}" if node[2] == ("x",) and kind == "sig" else f"{name}{order}({render(node[2])})"
    if kind == "exp":
        return "e" if node[1] == ("num", Fraction(1)) else f"e^({render(node[1])})"
    if kind in ("sinh", "cosh", "sech"):
        return f"{kind}({render(node[1])})"
    if kind == "neg":
        inner = render(node[1])
        return f"−({inner})" if node[1][0] in ("sum", "neg", "prod") else f"−{inner}"
    if kind == "pow":
        base = render(node[1])
        if node[1][0] not in _ATOMS or (node[1][0] == "num" and node[1][1].denominator != 1):
            base = f"({base})"
        return f"{base}^{node[2]}" if node[2] >= 0 else f"{base}^({node[2]})"
    if kind == "sum":
        out = []
        for i, (sign, c) in enumerate(node[1]):
            text = render(c)
            if c[0] == "sum":
                text = f"({text})"
            out.append((text if sign > 0 else f"−{text}") if i == 0 else (f" + {text}" if sign > 0 else f" − {text}"))
        return "".join(out)
    out = []
    for i, (op, c) in enumerate(node[1]):
        text = render(c)
        if c[0] in ("sum", "neg", "prod") or (c[0] == "num" and (c[1].denominator != 1 or c[1] < 0)):
            text = f"({text})"
        out.append(text if i == 0 and op > 0 else (("·" if op > 0 else "/") + text if i else f"1/{text}"))
    return "".join(out)


_SUPER = {"0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹"}
