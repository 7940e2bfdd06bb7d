"""Output that reaches the reader whatever the terminal: an ASCII rendering of the notation where the
terminal's encoding lacks it (``σ⁽³⁾`` → ``s^(3)``), and a failed write to standard output reported in
one line instead of a traceback.

>>> "σ⁽³⁾ = 6σ⁴ − 12σ³ + 7σ² − σ; θ¹ ≈ 10⁻³".encode("ascii", ASCII)
b's^(3) = 6s^4 - 12s^3 + 7s^2 - s; theta^1 ~ 10^-3'
"""

from __future__ import annotations

import codecs
import contextlib
import sys
import unicodedata

ASCII = "jaxsgd-ascii"  # the name of the codecs error handler

_SUPER = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁱⁿˣᵏʲ", "0123456789+-=()inxkj", strict=True))
_SUB = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ᵢⱼₖ", "0123456789+-=()ijk", strict=True))
_WORDS = {
    "σ": "s", "θ": "theta", "α": "alpha", "β": "beta", "λ": "lambda", "μ": "mu", "ε": "eps", "η": "eta",
    "Σ": "sum", "∑": "sum", "∂": "d", "∇": "grad", "·": "*", "⋅": "*", "×": "x", "−": "-", "–": "-", "—": "--",
    "…": "...", "≈": "~", "≤": "<=", "≥": ">=", "≠": "!=", "→": "->", "←": "<-", "±": "+/-", "∞": "inf",
    "′": "'", "″": "''", "‴": "'''", "√": "sqrt", "°": " deg", "½": "1/2", "¼": "1/4", "¾": "3/4",
    "“": '"', "”": '"', "‘": "'", "’": "'", "│": "|", "─": "-", "✓": "ok", "✗": "x",
}


def _ascii(text: str, before: str = "", after: str = "") -> str:
    """``text`` in ASCII; a word that stands for a symbol is kept apart from letters and digits next to it
    (``α∇L`` → ``alpha grad L``), ``before`` and ``after`` being the characters around ``text``."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        for table, mark in ((_SUPER, "^"), (_SUB, "_")):
            if ch in table:
                j = i
                while j < len(text) and text[j] in table:
                    j += 1
                out.append(mark + "".join(table[c] for c in text[i:j]))
                i = j
                break
        else:
            plain = _WORDS.get(ch)
            if plain is None:
                folded = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
                plain = folded or "?"
            elif len(plain) > 1 and plain.isalpha():
                left = out[-1][-1:] if out else before
                right = text[i + 1:i + 2] or after
                word = _WORDS.get(right, "")
                plain = ((" " if left.isascii() and left.isalnum() else "") + plain
                         + (" " if (right.isascii() and right.isalnum()) or (len(word) > 1 and word.isalpha()) else ""))
            out.append(plain)
            i += 1
    return "".join(out)


def _handler(error: UnicodeError):
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object
    return _ascii(text[error.start:error.end], text[error.start - 1:error.start],
                  text[error.end:error.end + 1]), error.end


codecs.register_error(ASCII, _handler)


def setup() -> None:
    """Standard output and error in ASCII, the notation rendered (``σ⁽³⁾`` → ``s^(3)``), where their
    encoding cannot hold it (``PYTHONIOENCODING=ascii``, a Latin-1 terminal), instead of failing."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        encoding = getattr(stream, "encoding", None)
        if not encoding or not hasattr(stream, "reconfigure"):
            continue
        try:
            "σ⁽³⁾−·θ".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            with contextlib.suppress(Exception):
                stream.reconfigure(encoding="ascii", errors=ASCII)  # ASCII is valid in every 8-bit encoding
