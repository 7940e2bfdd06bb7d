"""What a person types, made into tokens: Unicode folded to the plain characters, primes, superscripts,
names and numbers, under limits on length and size (the parser makes a tree of them).

>>> [kind for kind, _ in tokens("2σ′(x)")]
['num', 'sig', 'prime', '(', 'x', ')']
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

from jaxsgd.errors import ExpressionError

MAX_LENGTH = 20_000  # holds the printed forms of σ⁽¹⁰⁰⁾ (~16,000 characters)
MAX_DEPTH = 60
MAX_EXPONENT = 128  # σ¹⁰¹ appears in σ⁽¹⁰⁰⁾
MAX_NODE_ORDER = 100  # σ⁽ᵏ⁾ and tanh⁽ᵏ⁾ inside an answer
MAX_DIGITS = 1000  # digits in one number
_MAX_EXPONENT_BITS = 64  # size of the numbers met while working out a constant exponent

_SUPERSCRIPTS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8",
                 "⁹": "9", "⁻": "-", "⁺": "+", "⁽": "(", "⁾": ")", "ˣ": "x"}
_REPLACE = {"−": "-", "–": "-", "·": "*", "⋅": "*", "∙": "*", "×": "*", "÷": "/", "′": "'", "’": "'",
            "″": "''", "‴": "'''", "[": "(", "]": ")", "{": "(", "}": ")"}
_DIGITS = "0123456789"
_NAMES = ("sigmoid", "sigma", "tanh", "sinh", "sech", "cosh", "exp", "σ", "s", "x", "e")
_KIND = {"sigmoid": "sig", "sigma": "sig", "σ": "sig", "s": "sig", "tanh": "fn", "sinh": "fn", "sech": "fn",
         "cosh": "fn", "exp": "fn", "x": "x", "e": "e"}
# blocks whose letters, digits and signs stand for plain ones (NFKC): mathematical italic and bold
# (a copy from a rendered PDF gives 𝜎(𝑥)), fullwidth forms (CJK keyboards), small form variants
_FOLDED = ((0x1D400, 0x1D7FF), (0xFF01, 0xFF5E), (0xFE50, 0xFE6F))
_SHOWN = {"prime": "prime (′)", "sup": "superscript", "num": "number", "sig": "σ", "fn": "function", "x": "x",
          "e": "e"}


def shown(kind) -> str:
    """A token kind as a message names it: ``a prime (′)``, ``')'``, ``the end``."""
    if kind is None:
        return "the end"
    return f"a {_SHOWN[kind]}" if kind in _SHOWN else repr(kind)


def _char(ch: str) -> str:
    """``'!'``, or ``'е' (U+0435 CYRILLIC SMALL LETTER IE)`` for a character beyond ASCII."""
    if ch.isascii():
        return repr(ch)
    return f"{ch!r} (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')})"


def _fold(src: str, notes: set | None = None) -> str:
    """Letters, digits and signs from other Unicode blocks to the ones read; invisible characters refused.

    A vulgar fraction right after digits is a mixed number, ``1½`` = (1 + 1/2); after digits and a space it
    is refused as ambiguous (a mixed number or a product).
    """
    out = []
    for i, ch in enumerate(src):
        if ch.isascii() or ch in _SUPERSCRIPTS or ch in _REPLACE:
            out.append(ch)
            continue
        if unicodedata.category(ch) == "Cf":
            raise ExpressionError(f"invisible character U+{ord(ch):04X} ({unicodedata.name(ch, 'format character')}) "
                                  f"at position {i + 1}: delete it")
        folded = unicodedata.normalize("NFKC", ch)
        if "⁄" in folded and unicodedata.category(ch) == "No":  # ½, ¼, ⅓, …: a number in parentheses
            fraction = folded.replace("⁄", "/")
            j = len(out)
            while j > 0 and out[j - 1] in _DIGITS:
                j -= 1
            if j < len(out) and (j == 0 or out[j - 1] != "."):  # 1½: a mixed number, 1 + 1/2
                whole = "".join(out[j:])
                del out[j:]
                out.append(f"({whole}+{fraction})")
                if notes is not None:
                    notes.add("mixed number")
                continue
            before = src[:i].rstrip()
            if before[-1:] in tuple(_DIGITS) and before != src[:i]:
                k = len(before)
                while k > 0 and before[k - 1] in _DIGITS:
                    k -= 1
                raise ExpressionError(f"{before[k:]} {ch} is ambiguous: write {before[k:]}{ch} (no space) for the "
                                      f"mixed number {before[k:]} + {fraction}, or {before[k:]}*{ch} for a product")
            folded = "(" + fraction + ")"
        elif not any(lo <= ord(ch) <= hi for lo, hi in _FOLDED) or not all(c.isascii() or c == "σ" for c in folded):
            folded = ch
        out.append(folded)
    return "".join(out)


_LEIBNIZ = re.compile(r"(?<![a-zA-Zσ])d\s*(\^\s*\(?\s*\d+\s*\)?|[²³⁴⁵⁶⁷⁸⁹¹⁰]+)?\s*"
                      r"(σ|sigma|sigmoid|s)?\s*(\(\s*x\s*\))?\s*/\s*d\s*x(\s*\^\s*\(?\s*\d+\s*\)?|[²³⁴⁵⁶⁷⁸⁹¹⁰]+)?")


def tokens(src: str, notes: set | None = None):
    """The tokens of ``src``; ``notes`` (a set) collects the readings worth echoing (``"mixed number"``,
    ``"number after σ"``, ``"power"``)."""
    if "Σ" in src:
        raise ExpressionError(f"Σ (capital sigma, U+03A3) at position {src.index('Σ') + 1} is not read: did you mean "
                              "σ (lower case)?")
    src = _fold(src, notes)
    leibniz = _LEIBNIZ.search(src)
    if leibniz:
        raise ExpressionError(f"Leibniz notation {leibniz.group(0).strip()!r} is not read: give the derivative as a "
                              "formula in σ (e.g. σ(1 − σ) for dσ/dx), or write σ′, σ″, σ⁽ᵏ⁾ for the k-th derivative")
    for a, b in _REPLACE.items():
        src = src.replace(a, b)
    src = src.replace("**", "^")
    out, i = [], 0
    while i < len(src):
        ch = src[i]
        if ch.isspace():
            i += 1
        elif ch in _DIGITS or (ch == "." and src[i + 1:i + 2] in tuple(_DIGITS)):
            j = i
            while j < len(src) and (src[j] in _DIGITS or src[j] == "."):
                j += 1
            lit = src[i:j]
            if lit.count(".") > 1:
                raise ExpressionError(f"malformed number {lit[:20]!r}")
            if j - i > MAX_DIGITS:
                raise ExpressionError(f"a number has more than {MAX_DIGITS} digits")
            after = src[j + 1:j + 2] if src[j + 1:j + 2] not in ("+", "-") else src[j + 2:j + 3]
            if src[j:j + 1] in ("e", "E") and after and after in _DIGITS:  # 2.5e-1 is not 2.5·e − 1
                k = j + 1
                while k < len(src) and (src[k] in _DIGITS or (k == j + 1 and src[k] in "+-")):
                    k += 1
                raise ExpressionError(f"scientific notation {src[i:k]!r} is not read (e is Euler's number): write "
                                      "the number out, e.g. 0.25 for 2.5e-1, or as a power of 10, e.g. 10^-3")
            if notes is not None and out and out[-1][0] in ("sig", "prime", "x"):
                notes.add("number after σ")  # σ2 is σ·2
            _refuse_spaced_fraction(src, i, j, out)
            out.append(("num", Fraction(lit)))
            i = j
        elif ch in _SUPERSCRIPTS:
            j = i
            while j < len(src) and src[j] in _SUPERSCRIPTS:
                j += 1
            out.append(("sup", "".join(_SUPERSCRIPTS[c] for c in src[i:j])))
            i = j
        elif ch == "'":
            j = i
            while j < len(src) and src[j] == "'":
                j += 1
            out.append(("prime", j - i))
            i = j
        elif ch.isalpha():
            j = i
            while j < len(src) and src[j].isalpha() and src[j] not in _SUPERSCRIPTS:
                j += 1
            out.extend(_split_word(src[i:j]))
            i = j
        elif ch in "+-*/^()":
            if (notes is not None and ch == "^" and out and out[-1][0] in ("sig", "prime")
                    and re.match(r"\^\s*\(\s*\d+\s*\)", src[i:])):
                notes.add("power")  # σ^(1) is σ to the power 1, not σ⁽¹⁾
            out.append((ch, None))
            i += 1
        elif ch == "=":
            raise ExpressionError("'=' is not read: give only the formula for the derivative, the right-hand side "
                                  "(e.g. σ(1−σ), not σ′ = σ(1−σ))")
        else:
            if ch == "\\":
                raise ExpressionError(f"a backslash at position {i + 1} that is not LaTeX read here: type the "
                                      "formula plainly, e.g. σ(1 − σ)")
            raise ExpressionError(f"unexpected character {_char(ch)} at position {i + 1}: use numbers, σ, x, e, exp, "
                                  "tanh, + − * / ^ and parentheses")
    return out


_SPACED_FRACTION = re.compile(r"\s*/\s*(\d+)(?![\d.])")


def _refuse_spaced_fraction(src: str, i: int, j: int, out: list) -> None:
    """``1 1/2`` (a whole number, a space, then a fraction of whole numbers) refused as ambiguous: a mixed number
    or a product. ``x^2 1/2`` (the number is an exponent) and ``1.5 1/2`` are not mixed numbers and are read."""
    if (not out or out[-1][0] != "num" or out[-1][1].denominator != 1 or not src[i - 1:i].isspace()
            or any(c not in _DIGITS for c in src[i:j])):
        return
    before = src[:i].rstrip()
    k = len(before)
    while k > 0 and before[k - 1] in _DIGITS:
        k -= 1
    if k == len(before) or before[k - 1:k] == "." or re.search(r"\^\s*[-+]?\s*$", before[:k]):
        return
    frac = _SPACED_FRACTION.match(src, j)
    if frac is None or int(frac.group(1)) == 0:
        return
    whole, fraction = before[k:], f"{src[i:j]}/{frac.group(1)}"
    value = int(whole) + Fraction(int(src[i:j]), int(frac.group(1)))
    raise ExpressionError(f"{whole} {fraction} is ambiguous: write {whole}+{fraction} or {value} for the mixed "
                          f"number, or {whole}*{fraction} for the product")


def _split_word(word: str):
    """``sigma``, ``σσ``, ``xσ``, ``exp``… into variable and function tokens."""
    out, low = [], word.lower()
    while low:
        name = next((n for n in _NAMES if low.startswith(n)), None)
        if name is None:
            odd = next((c for c in word if not c.isascii() and c not in "σ"), None)  # a lookalike: say which
            shown = _char(word) if len(word) == 1 else repr(word[:30]) + (f", with {_char(odd)}" if odd else "")
            raise ExpressionError(f"unknown name {shown}: use σ (or s, sigma, sigmoid), x, e, exp, tanh, sinh, cosh, "
                                  "sech")
        out.append((_KIND[name], name))
        low = low[len(name):]
    return out


def derivative_order(text: str) -> int:
    inner = text[1:-1] if text.endswith(")") else ""
    if not inner or any(c not in _DIGITS for c in inner):
        raise ExpressionError(f"a derivative order is written ⁽ᵏ⁾ with digits k, got {text[:20]!r}")
    digits = inner.lstrip("0") or "0"
    if len(digits) > len(str(MAX_NODE_ORDER)):  # before int(): thousands of digits would not convert
        raise ExpressionError(f"derivative order {digits[:10]}… inside the expression is above {MAX_NODE_ORDER}")
    return int(digits)


_LATEX_WORDS = {"sigma": "σ", "tanh": "tanh", "exp": "exp", "sinh": "sinh", "cosh": "cosh", "sech": "sech",
                "cdot": "*", "times": "*", "div": "/", "left": "", "right": "", "bigl": "", "bigr": "", "big": "",
                "Bigl": "", "Bigr": "", "Big": "", "displaystyle": "", "prime": "'", "lbrack": "(", "rbrack": ")",
                "quad": " ", "qquad": " ", "e": "e"}
_LATEX_WRAPPERS = ("mathrm", "operatorname", "text", "mathit", "textrm")
_LATEX_FRACTIONS = ("frac", "dfrac", "tfrac")


def _latex_group(src: str, i: int) -> tuple[str, int]:
    """The argument of a LaTeX command at ``src[i]``: a ``{…}`` group, or one character."""
    while i < len(src) and src[i].isspace():
        i += 1
    if i >= len(src):
        raise ExpressionError("a LaTeX command is missing its argument in braces, e.g. \\frac{1}{4}")
    if src[i] != "{":
        return (src[i], i + 1) if src[i] != "\\" else _latex_command(src, i)
    depth, j = 0, i
    while j < len(src):
        depth += {"{": 1, "}": -1}.get(src[j], 0)
        if depth == 0:
            return src[i + 1:j], j + 1
        j += 1
    raise ExpressionError("a LaTeX '{' is never closed: add the matching '}'")


def _latex_command(src: str, i: int) -> tuple[str, int]:
    """The plain text of the LaTeX command starting with the backslash at ``src[i]``, and the index after it."""
    j = i + 1
    while j < len(src) and src[j].isalpha():
        j += 1
    name = src[i + 1:j]
    if not name:  # \, \; \! \: \{ \}: spacing and literal braces
        sym = src[j:j + 1]
        return {"{": "(", "}": ")", "|": "|"}.get(sym, " "), j + 1
    if name in _LATEX_FRACTIONS:
        num, j = _latex_group(src, j)
        den, j = _latex_group(src, j)
        return f"(({from_latex(num)})/({from_latex(den)}))", j
    if name in _LATEX_WRAPPERS:
        inner, j = _latex_group(src, j)
        return from_latex(inner), j
    if name == "Sigma":
        raise ExpressionError("\\Sigma (capital sigma) is not read: did you mean \\sigma (lower case)?")
    if name not in _LATEX_WORDS:
        raise ExpressionError(f"the LaTeX command \\{name} is not read: type the formula plainly, e.g. "
                              "-σ^2 + σ for -\\sigma^{2} + \\sigma, with σ, x, e, exp, tanh, + − * / ^ and parentheses")
    return _LATEX_WORDS[name], j


def from_latex(src: str) -> str:
    r"""LaTeX as :func:`jaxsgd.derivatives.latex` prints it (``\sigma``, ``\frac{a}{b}``, ``\left(``, ``\cdot``,
    ``^{…}``, ``\tanh``, ``\exp``, ``\mathrm{e}``) in the plain notation; ``^{(k)}`` is the derivative order.

    >>> from_latex(r"\frac{1}{4}\left(1 - \tanh^{2}\frac{x}{2}\right)")
    '((1)/(4))(1 - tanh^2((x)/(2)))'
    """
    out, i = [], 0
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            text, i = _latex_command(src, i)
            if text.isalpha() and out and out[-1][-1:].isalpha():
                out.append(" ")
            out.append(text)
            continue
        order = re.match(r"\^\s*\{\s*\(\s*(\d+)\s*\)\s*\}", src[i:])
        if order:  # σ^{(3)}: the derivative of order 3
            out.append("⁽" + "".join(_TO_SUPERSCRIPT[c] for c in order.group(1)) + "⁾")
            i += order.end()
            continue
        power = re.match(r"\^\s*\{\s*(\d+)\s*\}", src[i:])
        if power:  # \tanh^{2}\frac{x}{2}: tanh^2(…), a power before the argument
            out.append("^" + power.group(1))
            i += power.end()
            continue
        out.append({"{": "(", "}": ")"}.get(ch, ch))
        i += 1
    return "".join(out)


_TO_SUPERSCRIPT = {v: k for k, v in _SUPERSCRIPTS.items()}
