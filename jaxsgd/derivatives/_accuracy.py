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


# the ranges of x each accuracy check covers, by name: the method's own domain and the tails
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
    """σ⁽ᵏ⁾ at float64 points, to float64's last digit: the reference every numerical method is held to.

    The Eulerian form ``σ⁽ᵏ⁾ = Σⱼ (−1)ʲ A(k, j) sʲ⁺¹ tᵏ⁻ʲ`` (``s = σ(x)``, ``t = 1 − s``) in :mod:`decimal`
    arithmetic at ``50 + 2k`` significant digits, enough to absorb its cancellation near 0 (at most
    ~log₁₀ k! digits), with ``σ(x) = 1/(1 + e⁻ˣ)`` from ``Decimal.exp``; pure Python, no JAX.

    Args:
      xs: the points, an iterable of numbers (each taken as a float64).
      k: the order, a whole number ``≥ 0``.

    Returns:
      A float64 NumPy array of shape ``(n,)`` for ``n`` points, σ⁽ᵏ⁾ at each to ~16 significant digits.

    Example:
      >>> [round(float(v), 12) for v in reference([0.0, 1.0], 1)]    # σ′(0) = ¼
      [0.25, 0.196611933241]
      >>> float(reference([0.0], 2)[0])               # an exact zero stays exact
      0.0
    """
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
    """One case of :func:`run_checks`: a method's worst relative error at one order and dtype.

    Attributes:
      method: the method, one of :data:`METHODS`.
      dtype: ``"float32"`` or ``"float64"``.
      order: the order k of the derivative.
      max_rel_error: the largest relative error against :func:`reference` over the grid points of the
        method's domain (:data:`DOMAINS`), zeros' neighbourhoods left out; ``inf`` if a value there is not
        finite.
      tolerance: the relative error the method is held to in that dtype.
      seconds: the time of one evaluation on the whole grid, compiled beforehand.

    Example:
      >>> row = AccuracyRow("auto", "float64", 3, 2.2e-16, 1e-12, 0.001)
      >>> row.ok, row.order
      (True, 3)
    """

    method: str
    dtype: str
    order: int
    max_rel_error: float
    tolerance: float
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the method held: ``max_rel_error ≤ tolerance``."""
        return bool(self.max_rel_error <= self.tolerance)


def cases(max_order: int = CHECK_MAX_ORDER, methods=None, dtypes=("float32", "float64"), orders=None) -> list[tuple]:
    """The ``(dtype, order, method)`` triples that :func:`run_checks` checks: each method within its domain.

    A method is checked only at the orders of its domain (:data:`DOMAINS`: ``"pole"`` from 8,
    ``"taylor"`` up to 12, ``"naive_grad"`` up to 6), and float32 only up to order 30.

    Args:
      max_order: check orders ``1 … max_order`` (default ``CHECK_MAX_ORDER``, 12); ignored when ``orders``
        is given.
      methods: the methods to check, names in :data:`DOMAINS`; default (``None``) all of them.
      dtypes: the dtypes, a tuple of ``"float32"`` and ``"float64"`` (default both).
      orders: the orders to check, a sequence of whole numbers; default (``None``) ``1 … max_order``.

    Returns:
      A list of ``(dtype, order, method)`` tuples, by dtype, then order, then method.

    Example:
      >>> cases(9, methods=["auto", "pole"], dtypes=("float64",))[-3:]
      [('float64', 8, 'pole'), ('float64', 9, 'auto'), ('float64', 9, 'pole')]
      >>> cases(orders=[40], methods=["auto"])      # float32 stops at order 30
      [('float64', 40, 'auto')]
    """
    methods = methods or list(DOMAINS)
    orders = orders or list(range(1, max_order + 1))
    return [(dtype, k, m) for dtype in dtypes for k in orders for m in methods
            if DOMAINS[m].min_order <= k <= DOMAINS[m].max_order and not (dtype == "float32" and k > 30)]


def run_checks(max_order: int = CHECK_MAX_ORDER, methods=None, dtypes=("float32", "float64"), orders=None):
    """Holds every numerical method of :func:`sigmoid_derivative` to :func:`reference`, case by case.

    For each case of :func:`cases`, the method is compiled for the grid ``[−40, 40]`` in steps of 0.25
    (float64 cases with x64 enabled for their duration), evaluated once and compared with the reference.
    Points where ``|σ⁽ᵏ⁾(x)|`` is below 5% of its largest value within ``x ± 0.5`` (the neighbourhoods of
    its zeros) are left out, and so are points outside the method's domain (:data:`DOMAINS`). This is what
    ``jaxsgd check`` runs.

    Args:
      max_order: check orders ``1 … max_order`` (default ``CHECK_MAX_ORDER``, 12); ignored when ``orders``
        is given.
      methods: the methods to check, names in :data:`DOMAINS`; default (``None``) all of them.
      dtypes: the dtypes, a tuple of ``"float32"`` and ``"float64"`` (default both).
      orders: the orders to check, a sequence of whole numbers; default (``None``) ``1 … max_order``.

    Yields:
      One :class:`AccuracyRow` per case, in the order of :func:`cases`; its ``seconds`` is one evaluation
      on the grid, compiling not counted.

    Example:
      >>> [row] = run_checks(orders=[1], methods=["closed_form"], dtypes=("float64",))
      >>> row.method, row.dtype, row.order, row.ok
      ('closed_form', 'float64', 1, True)
    """
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
