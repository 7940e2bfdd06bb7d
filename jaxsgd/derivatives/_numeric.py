"""σ⁽ᵏ⁾(x) for any order k: several methods, one accurate default.

Methods (``sigmoid_derivative(x, k, method=...)``), elementwise, jit/vmap-friendly,
in the dtype of ``x``:

* ``"closed_form"`` — the Eulerian form ``Σⱼ (−1)ʲ A(k, j) sʲ⁺¹ tᵏ⁻ʲ`` with
  ``s = σ(x)``, ``t = σ(−x)``, evaluated at ``−|x|`` as a Horner polynomial in
  ``q = e^{−|x|}`` times ``(1 + q)^{−(k+1)}`` (and reflected, ``σ⁽ᵏ⁾(−x) =
  (−1)ᵏ⁺¹σ⁽ᵏ⁾(x)``); where the coefficients ``A(k, j)`` exceed the dtype the
  terms are formed in log space so nothing overflows before the result does.
  Accurate in both tails; near 0 the alternating sum cancels and loses digits
  as k grows.
* ``"pole"`` — the partial-fraction expansion over the poles ``iπ(2m+1)`` of σ::

      σ⁽ᵏ⁾(x) = 2 Re Σₘ₌₀^{M−1} (−1)ᵏ k! / (x − iπ(2m+1))ᵏ⁺¹      (k ≥ 1)

  each term ``k!·w^{−(k+1)}`` formed by repeated squaring of ``w/8`` (exact
  scaling) and one inversion, so only the rounding of ``π(2m+1)`` is amplified;
  beyond the dtype's ``k!`` the terms go to polar form with the magnitude in log
  space. Terms are unrolled and fused into one elementwise kernel, their number
  chosen per k and dtype (:func:`pole_terms`). No cancellation beyond the
  oscillation itself; converges fast for large k and small |x|.
* ``"taylor"`` — :mod:`jax.experimental.jet` on :func:`jax.nn.sigmoid` seeded
  with ``(1, 0, 0, …)``; uses ``σ(1 − σ)`` internally, so it loses the tails.
* ``"nested_grad"`` — literally k nested :func:`jax.grad` calls on a sigmoid whose
  custom JVP at order j is the order-(j+1) function (evaluated by ``"auto"``):
  the trace grows linearly with k instead of ~2.9× per order.
* ``"naive_grad"`` — k nested :func:`jax.grad` on :func:`jax.nn.sigmoid`: the
  reference for small k (compile time grows ~2.9× per order).
* ``"auto"`` (default) — for k ≥ 8, ``"pole"`` where ``|x| ≤ 2 + k/4`` and
  ``"closed_form"`` beyond: the Eulerian sum cancels near 0 (its condition
  number grows like k!/πᵏ there), the pole terms must cancel down to
  ``e^{−|x|}`` in the tails; the radius was chosen from the measured crossover
  in float64 (README's accuracy table). For k < 8, ``"closed_form"``, whose
  cancellation near 0 is mild at low order.

Overflow: ``|σ⁽ᵏ⁾|`` peaks near x = 0 at about ``2·k!/πᵏ⁺¹``; that exceeds float32's
range from k = 50 and float64's from k ≈ 218: there the result is ±inf, never NaN.

>>> round(float(sigmoid_derivative(0.0, 3)), 6)
-0.125
"""

from __future__ import annotations

import functools
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import jet

from jaxsgd.derivatives._polynomials import eulerian
from jaxsgd.errors import InputError

METHODS = ("auto", "closed_form", "pole", "taylor", "nested_grad", "naive_grad")
POLE_TERMS = 64
POLE_MIN_ORDER = 8


@functools.cache
def _eulerian_logs(k: int):
    """``log A(k, j)`` and signs ``(−1)ʲ`` for j = 0..k−1, in float64."""
    logs = np.array([math.log(eulerian(k, j)) for j in range(k)], np.float64)
    signs = np.array([(-1.0) ** j for j in range(k)], np.float64)
    return logs, signs


def _closed_form(x, k: int):
    """The Eulerian sum (k ≥ 1; σ itself for k = 0).

    With ``a = −|x|``, ``q = eᵃ ∈ (0, 1]``: ``σ⁽ᵏ⁾(a) = (1 + q)^{−(k+1)} Σⱼ (−1)ʲ A(k, j) qʲ⁺¹``
    (Horner in q), and ``σ⁽ᵏ⁾(x) = (−1)ᵏ⁺¹ σ⁽ᵏ⁾(−x)``. Where the coefficients do not
    fit the dtype the terms are formed in log space instead.
    """
    if k == 0:
        return jax.nn.sigmoid(x)
    dt = x.dtype
    a = -jnp.abs(x)
    flip = jnp.where(x > 0, (-1.0) ** (k + 1), 1.0).astype(dt)
    logs, signs = _eulerian_logs(k)
    if logs.max() < 0.9 * math.log(float(jnp.finfo(dt).max)):
        q = jnp.exp(a)
        coeffs = np.array([float((-1) ** j * eulerian(k, j)) for j in range(k)])[::-1]
        cs = jnp.asarray(coeffs, dt)

        # Horner in q; unrolled so that XLA fuses it into one elementwise kernel
        acc = lax.fori_loop(0, k, lambda i, acc: acc * q + cs[i], jnp.zeros_like(q), unroll=True)
        return flip * acc * q * jnp.exp(-(k + 1) * jnp.log1p(q))
    j = np.arange(k, dtype=np.float64)
    ls = jax.nn.log_sigmoid(a)[..., None]
    lt = jax.nn.log_sigmoid(-a)[..., None]
    def row(v):
        return jnp.asarray(v, dt).reshape((1,) * x.ndim + (k,))

    logm = row(logs) + row(j + 1) * ls + row(k - j) * lt
    total = jnp.sum(row(signs) * jnp.exp(logm), axis=-1)
    dominant = jnp.asarray(signs, dt)[jnp.argmax(logm, axis=-1)]
    return flip * _overflow_to_inf(total, dominant)


def _overflow_to_inf(total, dominant_sign):
    """inf − inf from overflowing terms means the true value is out of range: ±inf, not NaN."""
    return jnp.where(jnp.isnan(total), dominant_sign * jnp.inf, total)


def pole_terms(k: int, dtype) -> int:
    """Terms of the pole sum that make its truncation negligible for |x| ≤ 2 + k/4.

    The m-th pair of poles contributes ~|x − iπ(2m+1)|^{−(k+1)}; relative to the
    first it is below ε once ``|w_m| ≥ |w_0|·ε^{−1/(k+1)}``.
    """
    eps = float(jnp.finfo(dtype).eps) * 1e-2
    w0 = math.hypot(pole_radius(k), math.pi)
    return max(4, min(POLE_TERMS, math.ceil(w0 * eps ** (-1.0 / (k + 1)) / (2 * math.pi))))


def _pole(x, k: int, terms: int | None = None):
    if k == 0:
        return jax.nn.sigmoid(x)
    dt = x.dtype
    terms = terms or pole_terms(k, dt)
    if math.lgamma(k + 1) < 0.9 * math.log(float(jnp.finfo(dt).max)):
        # 2·k!·Re[w^{−(k+1)}], w = x − iπ(2m+1): w/8 (exact scaling) is raised to k + 1 by
        # repeated squaring, then inverted once. Only the rounding of π(2m+1) is amplified
        # (k + 1 times); terms are unrolled so that XLA fuses the sum into one kernel.
        total = jnp.zeros_like(x)
        for m in range(terms):
            pr, pi = _cpow(x * 0.125, jnp.asarray(-math.pi * (2 * m + 1) / 8, dt), k + 1)
            h = jnp.hypot(pr, pi)
            total = total + (pr / h) / h  # Re(1/P) without overflowing |P|²
        total = jnp.asarray(2.0 * math.exp(math.lgamma(k + 1) - (k + 1) * math.log(8.0)), dt) * total
    else:  # k! beyond the dtype: polar form, magnitude in log space
        c = jnp.asarray(np.pi * (2 * np.arange(terms) + 1), dt).reshape((1,) * x.ndim + (terms,))
        xs = x[..., None]
        log_r = 0.5 * jnp.log(xs * xs + c * c)
        mag = jnp.exp(jnp.asarray(math.lgamma(k + 1) + math.log(2.0), dt) - (k + 1) * log_r)
        parts = mag * jnp.cos((k + 1) * jnp.arctan2(-c, xs))
        total = _overflow_to_inf(jnp.sum(parts, axis=-1), jnp.sign(parts[..., 0]))
    return total if k % 2 == 0 else -total


def _cpow(re, im, n: int):
    """``(re + i·im)ⁿ`` by repeated squaring, in real arithmetic (fuses on every backend)."""
    out = None
    while n:
        if n & 1:
            out = (re, im) if out is None else (out[0] * re - out[1] * im, out[0] * im + out[1] * re)
        n >>= 1
        if n:
            re, im = re * re - im * im, 2 * re * im
    return out


def pole_radius(k: int) -> float:
    """``"auto"`` uses the pole expansion for ``|x| ≤ 2 + k/4`` (and k ≥ 8)."""
    return 2.0 + 0.25 * k


def _auto(x, k: int):
    """The pole expansion near 0, the Eulerian form beyond ``pole_radius(k)``."""
    if k < POLE_MIN_ORDER:
        return _closed_form(x, k)
    use_pole = jnp.abs(x) <= pole_radius(k)
    return jnp.where(use_pole, _pole(jnp.where(use_pole, x, 0), k), _closed_form(jnp.where(use_pole, 1, x), k))


def _taylor(x, k: int):
    if k == 0:
        return jax.nn.sigmoid(x)
    series = [jnp.ones_like(x)] + [jnp.zeros_like(x)] * (k - 1)
    _, out = jet.jet(jax.nn.sigmoid, (x,), (series,))
    return out[k - 1]


@functools.cache
def _auto_jit(order: int):
    return jax.jit(functools.partial(_auto, k=order))


@functools.cache
def _chain(order: int):
    """σ⁽ᵒʳᵈᵉʳ⁾ as a custom-JVP function whose derivative is the order + 1 function.

    The trace is pruned between levels: the primal output inside the JVP rule is
    computed under ``stop_gradient``, so when ``jax.grad`` is nested the unused
    primal branch is not differentiated again at every level (which is what
    makes naive nesting grow ~2.9× per order). Reverse-over-reverse (nested
    ``jax.grad``) is exact; do not use these functions with forward-over-forward
    differentiation of the primal output.
    """
    @jax.custom_jvp
    def f(x):
        return _auto_jit(order)(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(lax.stop_gradient(x)), _chain(order + 1)(x) * t

    return f


def _nested(fn, k):
    g = fn
    for _ in range(k):
        g = jax.grad(g)
    return g


def _elementwise(g, x):
    flat = x.reshape(-1)
    return (g(flat[0]) if flat.shape[0] == 1 else jax.vmap(g)(flat)).reshape(x.shape)


def _nested_grad(x, k: int):
    # k nested jax.grad calls trace recursively, ~25 Python frames per level in JAX's tracing machinery:
    # beyond k ≈ 35 that passes Python's default limit of 1000. The limit is process-wide (not thread-safe),
    # so it is raised only for this trace and restored in `finally` (tests/test_derivatives.py checks it).
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 2000 + 120 * k))
    try:
        return _elementwise(_nested(_chain(0), k), x)
    finally:
        sys.setrecursionlimit(limit)


def _naive_grad(x, k: int):
    return _elementwise(_nested(jax.nn.sigmoid, k), x)


_IMPL = {
    "auto": _auto,
    "closed_form": _closed_form,
    "pole": _pole,
    "taylor": _taylor,
    "nested_grad": _nested_grad,
    "naive_grad": _naive_grad,
}


def sigmoid_derivative(x, k: int, *, method: str = "auto"):
    """The k-th derivative of σ at ``x`` (elementwise, dtype of ``x``; k = 0 is σ).

    >>> float(sigmoid_derivative(1.0, 1, method="nested_grad")) == float(sigmoid_derivative(1.0, 1))
    True
    """
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 0:
        raise InputError(f"the order k must be a whole number ≥ 0, got {k!r}")
    if method not in _IMPL:
        raise InputError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return _IMPL[method](x, int(k))
