"""What a person types, made into tokens: Unicode folded to the plain characters, primes, superscripts,
names and numbers, under limits on length and size (the parser makes a tree of them).

>>> [kind for kind, _ in tokens("2σ′(x)")]
['num', 'sig', 'prime', '(', 'x', ')']
"""

from __future__ import annotations

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
_NAMES = ("sigmoid", "sigma", "tanh", "exp", "σ", "s", "x", "e")
_KIND = {"sigmoid": "sig", "sigma": "sig", "σ": "sig", "s": "sig", "tanh": "fn", "exp": "fn", "x": "x", "e": "e"}
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


def _fold(src: str) -> str:
    """Letters, digits and signs from other Unicode blocks to the ones read; invisible characters refused."""
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
            folded = "(" + folded.replace("⁄", "/") + ")"
        elif not any(lo <= ord(ch) <= hi for lo, hi in _FOLDED) or not all(c.isascii() or c == "σ" for c in folded):
            folded = ch
        out.append(folded)
    return "".join(out)


def tokens(src: str):
    src = _fold(src)
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
            out.append((ch, None))
            i += 1
        elif ch == "=":
            raise ExpressionError("'=' is not read: give only the formula for the derivative, the right-hand side "
                                  "(e.g. σ(1−σ), not σ′ = σ(1−σ))")
        else:
            raise ExpressionError(f"unexpected character {_char(ch)} at position {i + 1}: use numbers, σ, x, e, exp, "
                                  "tanh, + − * / ^ and parentheses")
    return out


def _split_word(word: str):
    """``sigma``, ``σσ``, ``xσ``, ``exp``… into variable and function tokens."""
    out, low = [], word.lower()
    while low:
        name = next((n for n in _NAMES if low.startswith(n)), None)
        if name is None:
            odd = next((c for c in word if not c.isascii() and c not in "σ"), None)  # a lookalike: say which
            shown = _char(word) if len(word) == 1 else repr(word[:30]) + (f", with {_char(odd)}" if odd else "")
            raise ExpressionError(f"unknown name {shown}: use σ (or s, sigma, sigmoid), x, e, exp, tanh")
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
