"""σ⁽ᵏ⁾(x) for any order k: several methods, one accurate default.

Methods (``sigmoid_derivative(x, k, method=...)``), elementwise, jit/vmap-friendly,
in the dtype of ``x``:

* ``"closed_form"`` — the Eulerian form ``Σⱼ (−1)ʲ A(k, j) sʲ⁺¹ tᵏ⁻ʲ`` with
  ``s = σ(x)``, ``t = σ(−x)``, evaluated at ``−|x|`` as a Horner polynomial in
  ``q = e^{−|x|}`` times ``(1 + q)^{−(k+1)}`` (and reflected, ``σ⁽ᵏ⁾(−x) =
  (−1)ᵏ⁺¹σ⁽ᵏ⁾(x)``); where the coefficients ``A(k, j)`` exceed the dtype the
  terms are formed in log space so nothing overflows before the result does.
  Accurate in both tails; near 0 the alternating sum cancels and loses digits
  as k grows. Orders up to 42 in float32 (every order in float64): the terms add
  up to ``k!/2ᵏ⁺¹`` at x = 0, and beyond the dtype their rounding alone is ±inf.
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
  Orders up to 34 in float32 (jet scales the k-th term by ``k!``).
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
  cancellation near 0 is mild at low order, except near 0 at even k (|x| ≤ 1), where σ⁽ᵏ⁾ → 0 and
  the tanh form ``2⁻ᵏ⁻¹ Pₖ(tanh(x/2))``, T times a polynomial in T², keeps the relative accuracy.

Range: ``|σ⁽ᵏ⁾|`` peaks near x = 0 at about ``2·k!/πᵏ⁺¹``, which exceeds float32's range from
k = 50 and float64's from k ≈ 218; coefficients and ``k!`` exceed it sooner. Where they do, every
factor of that size is kept as a logarithm split into a whole number of octaves and a remainder,
and applied once, at the end, as an exact power of two: a value the dtype holds comes back finite
(σ⁽⁵⁰⁾(0.001) = −4.36e37 in float32; σ⁽⁵⁰⁾(0) = 0 exactly), one it does not is ±inf, never NaN.
Orders go up to :data:`NUMERIC_MAX_ORDER` (``ACCURACY_MAX_ORDER``, as ``jaxsgd check``): higher ones raise.

>>> third = jax.jit(lambda x: sigmoid_derivative(x, 3))    # k and method are static, x is traced
>>> round(float(third(0.0)), 6)
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

from jaxsgd.defaults import ACCURACY_MAX_ORDER
from jaxsgd.derivatives._polynomials import eulerian, tanh_polynomial
from jaxsgd.errors import InputError

# the methods of sigmoid_derivative: "auto" picks, per point, the accurate one of the others
METHODS = ("auto", "closed_form", "pole", "taylor", "nested_grad", "naive_grad")
POLE_TERMS = 64
POLE_MIN_ORDER = 8
NUMERIC_MAX_ORDER = ACCURACY_MAX_ORDER  # the highest order any method evaluates (jaxsgd check is held to the same)
NAIVE_GRAD_MAX_ORDER = 10  # naive nesting compiles ~2.9× longer per order: ~15 s at 10, minutes at 12
TANH_RADIUS = 1.0  # even k < 8: the tanh form for |x| ≤ this, where σ⁽ᵏ⁾ → 0 at x = 0


@functools.cache
def _eulerian_logs(k: int):
    """``log A(k, j) = nⱼ·ln 2 + rⱼ`` for j = 0..k−1: integers ``nⱼ`` and ``rⱼ ∈ [0, ln 2)``.

    The split keeps the coefficients' size out of the rounding: ``rⱼ`` is small, ``nⱼ`` is applied as an
    exact power of two (:func:`_exp_times_pow2`).
    """
    n, r = [], []
    for j in range(k):
        a = eulerian(k, j)
        e = a.bit_length() - 1
        n.append(e)
        r.append(math.log(a / 2**e))  # a / 2**e ∈ [1, 2), correctly rounded
    return np.array(n, np.int64), np.array(r, np.float64), np.array([(-1.0) ** j for j in range(k)])


# ln 2 in two parts (Cody and Waite): p·LN2_HI is exact for |p| < 2¹², so p·ln 2 loses nothing to rounding
_LN2 = {4: (0.693145751953125, 1.428606765330187045e-06),
        8: (6.93147180369123816490e-01, 1.90821492927058770002e-10)}


def _ln2_parts(dt):
    size = jnp.dtype(dt).itemsize
    if size in _LN2:
        return _LN2[size]
    hi = float(np.asarray(math.log(2.0), dt))  # float16, bfloat16: one part suffices for their few bits
    return hi, math.log(2.0) - hi


def _pow2(n, dt):
    """``2ⁿ`` exactly, for whole ``n`` in the dtype's normal range (built from its bits)."""
    fi = jnp.finfo(dt)
    bits = jnp.dtype(dt).itemsize * 8
    itype = jnp.dtype(f"int{bits}")
    n = jnp.clip(n, int(fi.minexp), int(fi.maxexp) - 1).astype(itype)
    return lax.bitcast_convert_type((n + (int(fi.maxexp) - 1)) << int(fi.nmant), dt)


def _exp_times_pow2(arg, n):
    """``exp(arg)·2ⁿ`` rounded once, where either factor alone may overflow or underflow.

    ``arg = p·ln 2 + s`` with whole p and ``|s| ≤ ln 2 / 2``; the result is ``eˢ·2^(n+p)``, the power of two
    applied in two exact halves. ``arg = −∞`` gives 0; a result beyond the dtype is ±inf, honestly.
    """
    dt = arg.dtype
    fi = jnp.finfo(dt)
    hi, lo = _ln2_parts(dt)
    zero = arg == -jnp.inf
    arg = jnp.where(zero, 0, arg)
    p = jnp.clip(jnp.round(arg * (1 / math.log(2.0))), -2.0**20, 2.0**20)  # whole, and held by int32
    s = (arg - p * jnp.asarray(hi, dt)) - p * jnp.asarray(lo, dt)
    itype = jnp.dtype(f"int{jnp.dtype(dt).itemsize * 8}")
    t = jnp.clip(p.astype(itype) + jnp.asarray(n).astype(itype),
                 int(fi.minexp) - int(fi.nmant) - 2, int(fi.maxexp) + 1)
    half = t // 2
    return jnp.where(zero, 0, jnp.exp(s) * _pow2(half, dt) * _pow2(t - half, dt))


def _closed_form(x, k: int):
    """The Eulerian sum (k ≥ 1; σ itself for k = 0).

    With ``a = −|x|``, ``q = eᵃ ∈ (0, 1]``: ``σ⁽ᵏ⁾(a) = (1 + q)^{−(k+1)} Σⱼ (−1)ʲ A(k, j) qʲ⁺¹``
    (Horner in q), and ``σ⁽ᵏ⁾(x) = (−1)ᵏ⁺¹ σ⁽ᵏ⁾(−x)``. Where the coefficients do not fit the dtype the
    terms are scaled by the largest, ``A(k, j*) q^{j*+1}``: the sum is of numbers ≤ 1 and the scale,
    ``exp(log A(k, j*) + (j* + 1)a − (k + 1) log(1 + q))``, is applied once (:func:`_exp_times_pow2`).
    """
    if k == 0:
        return jax.nn.sigmoid(x)
    dt = x.dtype
    a = -jnp.abs(x)
    flip = jnp.where(x > 0, (-1.0) ** (k + 1), 1.0).astype(dt)
    ns, rs, signs = _eulerian_logs(k)
    if (ns.max() + 1) * math.log(2.0) < 0.9 * math.log(float(jnp.finfo(dt).max)):
        q = jnp.exp(a)
        coeffs = np.array([float((-1) ** j * eulerian(k, j)) for j in range(k)])[::-1]
        cs = jnp.asarray(coeffs, dt)

        # Horner in q; unrolled so that XLA fuses it into one elementwise kernel
        acc = lax.fori_loop(0, k, lambda i, acc: acc * q + cs[i], jnp.zeros_like(q), unroll=True)
        return flip * acc * q * jnp.exp(-(k + 1) * jnp.log1p(q))
    itype = jnp.dtype(f"int{jnp.dtype(dt).itemsize * 8}")
    def row(v, t):  # shaped to broadcast against x[..., None] (rank promotion stays explicit)
        return jnp.asarray(v, t).reshape((1,) * x.ndim + (k,))

    j, n_j, r_j, sign_j = row(np.arange(k), itype), row(ns, itype), row(rs, dt), row(signs, dt)
    ln2 = jnp.asarray(math.log(2.0), dt)
    aa = a[..., None]
    # log of term j, up to the common factor (1 + q)^{−(k+1)}: nⱼ ln 2 + rⱼ + (j + 1)a; its largest, j*
    star = jnp.argmax(n_j.astype(dt) * ln2 + r_j + (j + 1).astype(dt) * aa, axis=-1)[..., None]
    n_star, r_star = jnp.take(ns.astype(itype), star), jnp.take(rs.astype(dt), star)
    d = (n_j - n_star).astype(dt) * ln2 + (r_j - r_star) + (j - star).astype(dt) * aa
    total = jnp.sum(sign_j * jnp.exp(d), axis=-1)  # term j* is 1: no overflow, no 0/0
    log_scale = r_star[..., 0] + (star[..., 0] + 1).astype(dt) * a - (k + 1) * jnp.log1p(jnp.exp(a))
    mag = _exp_times_pow2(log_scale + jnp.log(jnp.abs(total)), n_star[..., 0])
    return flip * jnp.sign(total) * mag


# why a method stops below NUMERIC_MAX_ORDER in a dtype: what overflows there, as a function of k
_OVERFLOWS = {
    # at x = 0 the Eulerian terms add up to k!/2ᵏ⁺¹ (Σⱼ A(k, j) = k!), the most they add up to at any x: beyond
    # the dtype, the rounding of their cancellation alone gives ±inf where the value fits
    "closed_form": (lambda k: math.factorial(k) / 2 ** (k + 1), "its Eulerian sum, up to k!/2^(k+1),"),
    "taylor": (math.factorial, "the k! that jax.experimental.jet scales its terms by"),  # then 0·inf = NaN
}


@functools.cache
def _max_order(method: str, dtype) -> int:
    """The highest order ``method`` takes in ``dtype``: ``"closed_form"`` stops where its Eulerian sum
    (``k!/2ᵏ⁺¹`` at x = 0) exceeds the dtype, ``"taylor"`` where ``k!`` does (float32: 42 and 34; float64: every
    order); beyond, a value the dtype holds would come back ±inf or NaN."""
    if method not in _OVERFLOWS:
        return NUMERIC_MAX_ORDER
    size, top = _OVERFLOWS[method][0], float(jnp.finfo(dtype).max)
    return max(k for k in range(NUMERIC_MAX_ORDER + 1) if size(k) <= top)


def pole_terms(k: int, dtype) -> int:
    """Terms of the pole sum that make its truncation negligible for |x| ≤ 2 + k/4.

    The m-th pair of poles contributes ~|x − iπ(2m+1)|^{−(k+1)}; relative to the
    first it is below ε once ``|w_m| ≥ |w_0|·ε^{−1/(k+1)}``.
    """
    eps = float(jnp.finfo(dtype).eps) * 1e-2
    w0 = math.hypot(pole_radius(k), math.pi)
    return max(4, min(POLE_TERMS, math.ceil(w0 * eps ** (-1.0 / (k + 1)) / (2 * math.pi))))


@functools.cache
def _pole_scale(k: int):
    """``log(2·k!/πᵏ⁺¹) = n·ln 2 + r``: whole n and ``r ∈ [0, ln 2)``, to 30 digits (mpmath)."""
    import mpmath as mp

    with mp.workdps(30 + len(str(k))):
        log_g = mp.log(2) + mp.loggamma(k + 1) - (k + 1) * mp.log(mp.pi)
        n = int(mp.floor(log_g / mp.log(2)))
        return n, float(log_g - n * mp.log(2))


def _pole_polar(x, k: int, terms: int):
    """The pole sum in polar form, every factor of its size kept in logarithms.

    With ``u = x/π`` and ``ρₘ² = u² + (2m + 1)²``, the m-th pair of poles gives
    ``2·k!/πᵏ⁺¹ · ρₘ^{−(k+1)} · cos((k + 1)θₘ)``, ``θₘ = −π/2 + arctan(u/(2m + 1))``. The cosine is
    taken of ``(k + 1)·arctan(u/(2m + 1))`` shifted by the exact quarter turns ``(k + 1)·π/2``, so it is
    exactly 0 at x = 0 for even k and keeps its relative accuracy near there; the terms are scaled by
    the largest and ``2·k!/πᵏ⁺¹`` is applied once with the result (:func:`_exp_times_pow2`).
    """
    dt = x.dtype
    u = (x * jnp.asarray(1 / math.pi, dt))[..., None]
    odd = jnp.asarray(2 * np.arange(terms) + 1, dt).reshape((1,) * x.ndim + (terms,))
    psi = (k + 1) * jnp.arctan(u / odd)
    quarter = (k + 1) % 4  # cos(ψ − quarter·π/2)
    cos = (jnp.cos(psi), jnp.sin(psi), -jnp.cos(psi), -jnp.sin(psi))[quarter]
    log_rho2 = jnp.concatenate([jnp.log1p(u[..., :1] ** 2), jnp.log(u**2 + odd[..., 1:] ** 2)], axis=-1)
    logs = jnp.log(jnp.abs(cos)) - (0.5 * (k + 1)) * log_rho2
    top = jnp.max(logs, axis=-1)
    zero = top == -jnp.inf  # every cosine 0: x = 0 at even k
    top = jnp.where(zero, 0, top)
    total = jnp.sum(jnp.sign(cos) * jnp.exp(logs - top[..., None]), axis=-1)
    n, r = _pole_scale(k)
    mag = _exp_times_pow2(top + jnp.log(jnp.abs(total)) + jnp.asarray(r, dt), n)
    return jnp.where(zero, 0, jnp.sign(total) * mag)


def _pole(x, k: int, terms: int | None = None):
    if k == 0:
        return jax.nn.sigmoid(x)
    dt = x.dtype
    terms = terms or pole_terms(k, dt)
    if math.lgamma(k + 1) < 0.9 * math.log(float(jnp.finfo(dt).max)):
        # 2·k!·Re[w^{−(k+1)}], w = x − iπ(2m+1): w/8 (exact scaling) is raised to k + 1 by
        # repeated squaring, then inverted once. Only the rounding of π(2m+1) is amplified
        # (k + 1 times); terms are unrolled so that XLA fuses the sum into one kernel. Beyond
        # pole_radius(k) the powers could overflow: the polar form takes over there.
        near = jnp.abs(x) <= pole_radius(k)
        xn = jnp.where(near, x, 0)
        total = jnp.zeros_like(x)
        for m in range(terms):
            pr, pi = _cpow(xn * 0.125, jnp.asarray(-math.pi * (2 * m + 1) / 8, dt), k + 1)
            h = jnp.hypot(pr, pi)
            total = total + (pr / h) / h  # Re(1/P) without overflowing |P|²
        total = jnp.asarray(2.0 * math.exp(math.lgamma(k + 1) - (k + 1) * math.log(8.0)), dt) * total
        total = jnp.where(near, total, _pole_polar(jnp.where(near, pole_radius(k), x), k, terms))
    else:  # k! beyond the dtype
        total = _pole_polar(x, k, terms)
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
    """The radius within which method ``"auto"`` of :func:`sigmoid_derivative` sums the poles: ``2 + k/4``.

    For ``k ≥ 8``, ``"auto"`` uses the pole expansion where ``|x| ≤ 2 + k/4`` and the Eulerian form beyond:
    the Eulerian sum cancels near 0, the pole terms must cancel down to ``e^{−|x|}`` in the tails. The
    radius is the crossover measured in float64.

    Args:
      k: the order of the derivative.

    Returns:
      The radius in x, a Python float.

    Example:
      >>> pole_radius(8), pole_radius(100)
      (4.0, 27.0)
    """
    return 2.0 + 0.25 * k


def _tanh_form(x, k: int):
    """``σ⁽ᵏ⁾(x) = 2⁻ᵏ⁻¹ Pₖ(T)``, ``T = tanh(x/2)``, Horner in T² (k ≥ 1).

    For even k, Pₖ is T times a polynomial in T² that is nonzero at 0, so the value keeps its relative
    accuracy as x → 0 (the Eulerian sum cancels to O(x) there); ``1 − T²`` loses the tails.
    """
    coeffs = tanh_polynomial(k)
    t = jnp.tanh(x * 0.5)
    t2 = t * t
    parity = k % 2 == 0  # even k: odd powers of T only
    cs = [float(c) for c in coeffs[1 if parity else 0::2]][::-1]
    acc = jnp.zeros_like(x)
    for c in cs:
        acc = acc * t2 + jnp.asarray(c, x.dtype)
    acc = acc * t if parity else acc
    return acc * jnp.asarray(2.0 ** -(k + 1), x.dtype)


def _auto(x, k: int):
    """The pole expansion near 0, the Eulerian form beyond ``pole_radius(k)``; below order 8 the Eulerian
    form, and for even orders the tanh form near 0."""
    if k < POLE_MIN_ORDER:
        if k == 0 or k % 2:
            return _closed_form(x, k)
        near = jnp.abs(x) <= TANH_RADIUS
        return jnp.where(near, _tanh_form(jnp.where(near, x, 0), k), _closed_form(jnp.where(near, 1, x), k))
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
    r"""The k-th derivative of σ at ``x``, elementwise in the dtype of ``x`` (``k = 0`` is σ itself).

    With the Eulerian numbers ``A(k, j)`` (:func:`eulerian`),

    .. math::

       \sigma^{(k)}(x) = \sum_{j=0}^{k-1} (-1)^j A(k, j) \, \sigma(x)^{j+1} \sigma(-x)^{k-j},

    evaluated as the module's description (:mod:`jaxsgd.derivatives`) says for each of :data:`METHODS`.
    Jit- and vmap-friendly: ``k`` and ``method`` are static, ``x`` is traced.

    With ``"auto"`` (and ``"nested_grad"``, built on it) a value the dtype holds comes back finite and to a
    relative error of a few ``(k + 1)·ε·(1 + κ)``, where ``κ = |x·σ⁽ᵏ⁺¹⁾(x)/σ⁽ᵏ⁾(x)|`` is the condition
    number in x (``tests/test_numeric.py``); exact zeros (x = 0 at even k ≥ 2) are exactly 0. A value
    beyond the dtype's range is ±inf with the right sign, never NaN: ``|σ⁽ᵏ⁾|`` peaks near 0 at about
    ``2·k!/πᵏ⁺¹``, beyond float32 from k = 50 (σ⁽⁵⁰⁾(0.001) = −4.36e37 still fits float32; float64 holds
    every value up to the bound: at most 1.1e108, at k = 100). A value below the smallest normal number
    may be flushed to 0 by the backend. The other methods hold their accuracy only in their domains
    (:data:`DOMAINS`); at the orders they take, a value the dtype holds still comes back finite.

    Args:
      x: a number or array, of any shape; integers are taken as the default float dtype.
      k: the order, a whole number from 0 to ``NUMERIC_MAX_ORDER`` (100, ``jaxsgd.defaults.ACCURACY_MAX_ORDER``,
        the bound of ``jaxsgd check --max-order``); ``"naive_grad"`` stops at ``NAIVE_GRAD_MAX_ORDER`` (10), and
        in float32 ``"closed_form"`` at 42 and ``"taylor"`` at 34, where their sums or ``k!`` leave its range.
      method: one of :data:`METHODS`: ``"auto"`` (the default, accurate everywhere), ``"closed_form"``,
        ``"pole"``, ``"taylor"``, ``"nested_grad"`` or ``"naive_grad"``.

    Returns:
      ``σ⁽ᵏ⁾(x)``, a JAX array of the shape of ``x`` and its floating dtype.

    Raises:
      InputError: an order that is not whole, below 0 or above the bound (the method's, in the dtype of ``x``);
        an unknown method.

    Example:
      >>> first = jax.jit(lambda v: sigmoid_derivative(v, 1))
      >>> round(float(first(0.0)), 6)                      # σ(0)·(1 − σ(0))
      0.25
      >>> y = jax.jit(lambda v: sigmoid_derivative(v, 3))(jnp.array([-1.0, 0.0, 1.0]))
      >>> y.shape, y.dtype, [round(float(v), 6) for v in y]
      ((3,), dtype('float32'), [-0.035326, -0.125, -0.035326])
      >>> sigmoid_derivative(0.0, 1, method="exact")
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: unknown method 'exact': choose one of auto, closed_form, pole, taylor, ...
    """
    if method not in _IMPL:
        raise InputError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or not 0 <= k <= NUMERIC_MAX_ORDER:
        raise InputError(f"the order k must be a whole number from 0 to {NUMERIC_MAX_ORDER} (ACCURACY_MAX_ORDER, the "
                         f"highest order the numerical methods are checked to), got {k!r}")
    if method == "naive_grad" and k > NAIVE_GRAD_MAX_ORDER:
        raise InputError(f"method 'naive_grad' takes orders up to {NAIVE_GRAD_MAX_ORDER} (its compile time grows "
                         f"~2.9× per order), got {k}; use method 'nested_grad' or 'auto' for higher orders")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    top = _max_order(method, x.dtype)
    if k > top:
        raise InputError(f"method {method!r} takes orders up to {top} in {x.dtype} ({_OVERFLOWS[method][1]} exceeds "
                         f"{x.dtype}'s range from k = {top + 1}), got {k}; method=\"auto\" works at any order")
    return _IMPL[method](x, int(k))
