"""The higher-order derivative checker: every method against a high-precision reference.

The reference is the Eulerian form evaluated with :mod:`decimal` at
``50 + 2k`` significant digits (enough to absorb its cancellation near 0, which
is at most ~log₁₀ k! digits), with ``σ(x) = 1/(1 + e⁻ˣ)`` from ``Decimal.exp``.

Relative error is measured on a grid over [−40, 40] (step 0.25, tails
included), excluding the neighbourhoods of the zeros of σ⁽ᵏ⁾: points where
``|σ⁽ᵏ⁾(x)|`` is below 5% of its largest value within ``x ± 0.5``. Each method
is held to the tolerance of its documented domain (:data:`DOMAINS`).
"""

from __future__ import annotations

import decimal
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd.defaults import ACCURACY_MAX_ORDER, CHECK_MAX_ORDER
from jaxsgd.derivatives._numeric import pole_radius, sigmoid_derivative
from jaxsgd.derivatives._polynomials import eulerian

GRID = np.arange(-40.0, 40.0 + 1e-9, 0.25)


class Domain(NamedTuple):
    """Where a method is documented to hold, and to what relative error."""

    max_order: int  # highest order checked by default
    tol32: float
    tol64: float
    where: str  # "all" | "bulk" (|x| ≤ 8) | "pole" (|x| ≤ 2 + k/4) | "tails" (|x| ≥ 2 + k/4 for k ≥ 8)
    min_order: int = 1


DOMAINS = {
    "auto": Domain(ACCURACY_MAX_ORDER, 1e-5, 1e-12, "all"),
    "nested_grad": Domain(ACCURACY_MAX_ORDER, 1e-5, 1e-12, "all"),
    "closed_form": Domain(ACCURACY_MAX_ORDER, 1e-5, 1e-12, "tails"),
    "pole": Domain(ACCURACY_MAX_ORDER, 1e-5, 1e-12, "pole", min_order=8),
    # σ(1 − σ) inside: 1 − σ(8) ≈ 3.4e-4 carries float32's rounding error ~2e-4 relative
    "taylor": Domain(12, 2e-3, 1e-9, "bulk"),
    "naive_grad": Domain(6, 2e-3, 1e-9, "bulk"),
}


def reference(xs, k: int) -> np.ndarray:
    """σ⁽ᵏ⁾ at float64 points ``xs`` to ~16 significant digits (Decimal arithmetic)."""
    ctx = decimal.Context(prec=50 + 2 * k)
    coeffs = [(-1) ** j * eulerian(k, j) for j in range(k)] if k else []
    out = []
    for x in xs:
        dx = decimal.Decimal(float(x))
        e = ctx.exp(-dx)
        s = ctx.divide(1, ctx.add(1, e))
        if k == 0:
            out.append(float(s))
            continue
        t = ctx.subtract(1, s) if x < 0 else ctx.divide(e, ctx.add(1, e))
        total = decimal.Decimal(0)
        for j, c in enumerate(coeffs):
            total = ctx.add(total, ctx.multiply(c, ctx.multiply(ctx.power(s, j + 1), ctx.power(t, k - j))))
        out.append(float(total))
    return np.array(out)


def _mask(ref, xs, k, where):
    amp = np.array([np.abs(ref[max(0, i - 2):i + 3]).max() for i in range(len(ref))])
    keep = (np.abs(ref) >= 0.05 * amp) & np.isfinite(ref) & (ref != 0)
    r = pole_radius(k)
    if where == "bulk":
        keep &= np.abs(xs) <= 8
    elif where == "pole":
        keep &= np.abs(xs) <= r
    elif where == "tails" and k >= 8:
        keep &= np.abs(xs) >= r
    return keep


class AccuracyRow(NamedTuple):
    method: str
    dtype: str
    order: int
    max_rel_error: float
    tolerance: float
    seconds: float

    @property
    def ok(self) -> bool:
        return bool(self.max_rel_error <= self.tolerance)


def cases(max_order: int = CHECK_MAX_ORDER, methods=None, dtypes=("float32", "float64"), orders=None) -> list[tuple]:
    """The ``(dtype, order, method)`` triples :func:`run_checks` checks: each method within its domain."""
    methods = methods or list(DOMAINS)
    orders = orders or list(range(1, max_order + 1))
    return [(dtype, k, m) for dtype in dtypes for k in orders for m in methods
            if DOMAINS[m].min_order <= k <= DOMAINS[m].max_order and not (dtype == "float32" and k > 30)]


def run_checks(max_order: int = CHECK_MAX_ORDER, methods=None, dtypes=("float32", "float64"), orders=None):
    """Yields one :class:`AccuracyRow` per case of :func:`cases`; ``seconds`` is one evaluation on the grid,
    compiled beforehand (compiling is not counted)."""
    refs = {}
    for dtype, k, m in cases(max_order, methods, dtypes, orders):
        with jax.enable_x64(dtype == "float64"):
            xs = np.asarray(jnp.asarray(GRID, dtype), np.float64)
            if (dtype, k) not in refs:
                refs[(dtype, k)] = reference(xs, k)
            ref = refs[(dtype, k)]
            dom = DOMAINS[m]
            arg = jnp.asarray(xs, dtype)
            fn = jax.jit(lambda v, m=m, k=k: sigmoid_derivative(v, k, method=m)).lower(arg).compile()
            t0 = time.perf_counter()
            got = np.asarray(fn(arg), np.float64)
            secs = time.perf_counter() - t0
            keep = _mask(ref, xs, k, dom.where)
            err = np.abs(got[keep] - ref[keep]) / np.abs(ref[keep])
            worst = float(np.max(err)) if err.size else 0.0
            if not np.all(np.isfinite(got[keep])):
                worst = float("inf")
            tol = dom.tol32 if dtype == "float32" else dom.tol64
            yield AccuracyRow(m, dtype, k, worst, tol, secs)
