"""Derivatives of σ of any order: exact polynomials, a person's answer judged, and numerical methods.

With ``s = σ(x)``, ``σ′ = s(1 − s)`` and every σ⁽ᵏ⁾ is an integer polynomial in
``s`` (:func:`sigmoid_polynomial`); ``σ(x) = (1 + tanh(x/2))/2`` gives
``σ⁽ᵏ⁾(x) = 2⁻ᵏ⁻¹ tanh⁽ᵏ⁾(x/2)`` for ``k ≥ 1`` (:func:`tanh_polynomial`).
:func:`check_answer` judges a formula a person wrote, exactly or by interval
arithmetic. :func:`sigmoid_derivative` evaluates σ⁽ᵏ⁾ with JAX, and
:func:`run_checks` holds every numerical method to a high-precision reference.

Only those last two need JAX; they are imported on first use, so that the
exact part (and ``jaxsgd derivative``, ``jaxsgd check-derivative``) runs
without it.

>>> text(sigmoid_polynomial(2))
'2σ³ − 3σ² + σ'
>>> check_answer(1, "σ(1 − σ)").correct
True
"""

import importlib

from jaxsgd.derivatives._answer import CheckResult
from jaxsgd.derivatives._answer import check as check_answer
from jaxsgd.derivatives._expression import parse
from jaxsgd.derivatives._polynomials import (
    MAX_ORDER,
    ZEROS_MAX_ORDER,
    derivative_zeros,
    eulerian,
    eulerian_form,
    evaluate_exact,
    factored,
    latex,
    sigmoid_polynomial,
    stirling2,
    stirling_form,
    superscript,
    tanh_form,
    tanh_polynomial,
    text,
)

_LAZY = {  # the numerical part: JAX, imported on first use
    "METHODS": "jaxsgd.derivatives._numeric",
    "pole_radius": "jaxsgd.derivatives._numeric",
    "sigmoid_derivative": "jaxsgd.derivatives._numeric",
    "DOMAINS": "jaxsgd.derivatives._accuracy",
    "AccuracyRow": "jaxsgd.derivatives._accuracy",
    "cases": "jaxsgd.derivatives._accuracy",
    "reference": "jaxsgd.derivatives._accuracy",
    "run_checks": "jaxsgd.derivatives._accuracy",
}

__all__ = [
    "DOMAINS",
    "MAX_ORDER",
    "METHODS",
    "ZEROS_MAX_ORDER",
    "AccuracyRow",
    "CheckResult",
    "cases",
    "check_answer",
    "derivative_zeros",
    "eulerian",
    "eulerian_form",
    "evaluate_exact",
    "factored",
    "latex",
    "parse",
    "pole_radius",
    "reference",
    "run_checks",
    "sigmoid_derivative",
    "sigmoid_polynomial",
    "stirling2",
    "stirling_form",
    "superscript",
    "tanh_form",
    "tanh_polynomial",
    "text",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jaxsgd.derivatives' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
