"""Gradient noise: per-example gradients, the simple noise scale and the Hessian-weighted one.

McCandlish et al. (2018), "An Empirical Model of Large-Batch Training": with
``G`` the full-data gradient and ``Σ`` the covariance of per-example gradients,

    B_simple = tr(Σ) / |G|²,      E|G_B|² = |G|² + tr(Σ)/B   (B examples drawn i.i.d.)

so two batch sizes give unbiased estimates of both ``|G|²`` and ``tr(Σ)``:

    |G|²  ≈ (B_big |G_big|² − B_small |G_small|²) / (B_big − B_small)
    tr(Σ) ≈ (|G_small|² − |G_big|²) / (1/B_small − 1/B_big)

each averaged over draws before dividing. Here ``Σ = (1/N) Σᵢ (gᵢ − G)(gᵢ − G)ᵀ``
(the population covariance of the N per-example gradients).

The noise scale of their theory, where the loss is locally quadratic with
Hessian ``H``, is

    B_noise = tr(HΣ) / (Gᵀ H G),

the batch size at which a step's expected improvement is half of the
noiseless one; ``B_simple`` is it with ``H`` replaced by the identity. ``H`` is
the exact Hessian of the full loss here (3 × 3 at d = 2, by :func:`jax.hessian`);
:func:`noise_scales` also takes Hessian-vector products (exact, one per parameter)
or Hutchinson's estimator ``tr(HΣ) ≈ (1/K) Σₖ (H zₖ)ᵀ(Σ zₖ)`` with Rademacher
``zₖ``, for models whose Hessian is too large to form.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxsgd.errors import InputError
from jaxsgd.model import Params, mean_loss, mean_loss_of, per_example_grads


class NoiseScale(NamedTuple):
    """``|G|²``, ``tr(Σ)`` and their ratio ``B_simple``."""

    g2: float  # |G|²
    trace: float  # tr(Σ)
    b_simple: float


def _flat(grads: Params):
    return jnp.concatenate([grads.b[:, None], grads.w], axis=1)


@functools.partial(jax.jit, static_argnames="loss")
def per_example_gradients(params, x, y, loss=None):
    """``(N, p)``: every example's gradient ``∇Lᵢ`` as a row: ``(∂L/∂b, ∂L/∂w)`` for the neuron, or the
    per-example ``loss``'s gradient over any parameter pytree, flattened (``jax.flatten_util.ravel_pytree``)."""
    if loss is None:
        return _flat(per_example_grads(params, x, y))
    grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, x, y)
    return jax.vmap(lambda g: ravel_pytree(g)[0])(grads)


def noise_scale_of(g) -> NoiseScale:
    """``|G|²``, ``tr(Σ)`` and ``B_simple = tr(Σ)/|G|²`` of per-example gradient rows ``g (N, p)``, in float64.

    The one definition of ``B_simple``: :func:`noise_scale` and the study's
    bootstrap both call it.

    >>> noise_scale_of(np.array([[1.0, 0.0], [3.0, 0.0]]))   # G = (2, 0), Σ's trace 1
    NoiseScale(g2=4.0, trace=1.0, b_simple=0.25)
    """
    g = np.asarray(g, np.float64)
    mean = g.mean(axis=0)
    g2 = float(mean @ mean)
    tr = float(((g - mean) ** 2).sum(axis=1).mean())
    return NoiseScale(g2, tr, tr / g2 if g2 > 0 else float("inf"))


class NoiseScales(NamedTuple):
    """Both noise scales at one θ: ``B_simple = tr Σ/|G|²`` and ``B_noise = tr(HΣ)/(GᵀHG)``."""

    g2: float
    trace: float
    b_simple: float
    ghg: float  # GᵀHG
    trace_h_sigma: float  # tr(HΣ)
    b_noise: float


def _ratio(num, den):
    return num / den if den > 0 else float("inf")


def noise_scales_of(g, hessian) -> NoiseScales:
    """Both noise scales of per-example gradient rows ``g (N, p)`` and the full loss's Hessian ``(p, p)``,
    in float64: the one definition of ``B_noise``.

    >>> noise_scales_of(np.array([[1.0, 0.0], [3.0, 0.0]]), np.diag([2.0, 1.0])).b_noise   # 2·1/(2·4)
    0.25
    """
    g = np.asarray(g, np.float64)
    h = np.asarray(hessian, np.float64)
    mean = g.mean(axis=0)
    c = g - mean
    simple = noise_scale_of(g)
    ghg = float(mean @ h @ mean)
    ths = float(np.einsum("ip,pq,iq->", c, h, c) / len(g))
    return NoiseScales(simple.g2, simple.trace, simple.b_simple, ghg, ths, _ratio(ths, ghg))


def _flat_loss(theta, x, y):
    return mean_loss(Params.from_theta(theta), x.T, y)


def _flat_of(params, x, y, loss):
    """The full mean loss as a function of the flat parameter vector, and that vector."""
    if loss is None:
        return (lambda t: _flat_loss(t, x, y)), params.to_theta()
    theta, unravel = ravel_pytree(params)
    mean = mean_loss_of(loss)
    return (lambda t: mean(unravel(t), x.T, y)), theta


@functools.partial(jax.jit, static_argnames="loss")
def hessian(params, x, y, loss=None):
    """``(p, p)``: the exact Hessian of the full mean loss in the flat parameters (:func:`jax.hessian`):
    ``θ = (b, w)`` for the neuron, ``ravel_pytree(params)`` for any ``loss``."""
    f, theta = _flat_of(params, x, y, loss)
    return jax.hessian(f)(theta)


@functools.partial(jax.jit, static_argnames="loss")
def hessian_vector_product(params, x, y, v, loss=None):
    """``H v`` by forward-over-reverse differentiation, without forming ``H``."""
    f, theta = _flat_of(params, x, y, loss)
    return jax.jvp(jax.grad(f), (theta,), (v,))[1]


def noise_scales(params, x, y, *, method: str = "exact", probes: int = 256, key=None, loss=None) -> NoiseScales:
    """``B_simple`` and ``B_noise`` at ``params`` on the rows ``x``, ``y``.

    ``method``: ``"exact"`` forms ``H`` (:func:`hessian`); ``"hvp"`` builds it from one Hessian-vector
    product per parameter (exact too, and never more than ``p`` full-data passes); ``"hutchinson"`` never
    forms it: ``tr(HΣ) ≈ (1/K) Σₖ (H zₖ)ᵀ(Σ zₖ)`` over ``probes`` Rademacher vectors ``zₖ`` drawn from ``key``,
    and ``GᵀHG = Gᵀ(HG)`` from one product. ``loss``: any model's per-example loss over the pytree
    ``params`` (default the neuron's); gradients and products come from it, flattened.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    g = np.asarray(per_example_gradients(params, x, y, loss), np.float64)
    p = g.shape[1]
    if method == "exact":
        return noise_scales_of(g, np.asarray(hessian(params, x, y, loss)))
    if method == "hvp":
        basis = jnp.eye(p, dtype=x.dtype)
        h = np.stack([np.asarray(hessian_vector_product(params, x, y, e, loss)) for e in basis])
        return noise_scales_of(g, (h + h.T) / 2)
    if method != "hutchinson":
        raise InputError(lambda n: f"unknown {n('method')} {method!r}: choose one of exact, hvp, hutchinson")
    key = jax.random.key(0) if key is None else key
    z = np.asarray(jax.random.rademacher(key, (probes, p), jnp.float32), np.float64)
    mean = g.mean(axis=0)
    c = g - mean
    sz = (c @ z.T).T @ c / len(g)  # (K, p): Σ zₖ
    hz = np.stack([np.asarray(hessian_vector_product(params, x, y, jnp.asarray(v, x.dtype), loss)) for v in z])
    ths = float(np.mean(np.sum(hz * sz, axis=1)))
    ghg = float(mean @ np.asarray(hessian_vector_product(params, x, y, jnp.asarray(mean, x.dtype), loss)))
    simple = noise_scale_of(g)
    return NoiseScales(simple.g2, simple.trace, simple.b_simple, ghg, ths, _ratio(ths, ghg))


def bootstrap_noise_scales(g, hessian, *, resamples: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates over rows of ``B_simple`` and ``B_noise`` from per-example gradients ``g (N, p)``
    and the full loss's Hessian ``(p, p)``, each corrected for the resampling's own noise.

    Resampling N rows with replacement inflates ``|G_r|²`` by ``tr Σ/N`` on average (and ``G_rᵀ H G_r`` by
    ``tr(HΣ)/N``), which at a small gradient makes the plain ratios of the replicates fall well below the
    estimate, and their percentile interval miss it. The replicates here divide by ``|G_r|² − tr Σ_r/N`` and
    ``G_rᵀHG_r − tr(HΣ_r)/N`` (+inf where that is not positive), whose means are ``|G|²`` and ``GᵀHG`` up to
    a factor ``(N − 1)/N``. ``H`` is held at the full data's: the rows' share of the Hessian's own sampling
    noise is of second order, and holding it needs no per-example Hessians (any model's Hessian-vector
    products give it). Returns ``(b_simple (R,), b_noise (R,))``.
    """
    g = np.asarray(g, np.float64)
    h = np.asarray(hessian, np.float64)
    n = len(g)
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(resamples)]) / n  # (R, N)
    mean = counts @ g  # (R, p)
    gh = g @ h  # (N, p): each row's gᵢᵀH
    tr = counts @ np.einsum("ip,ip->i", g, g) - np.einsum("rp,rp->r", mean, mean)  # tr Σ_r
    ths = counts @ np.einsum("ip,ip->i", gh, g) - np.einsum("rp,pq,rq->r", mean, h, mean)  # tr(HΣ_r)
    g2 = np.einsum("rp,rp->r", mean, mean) - tr / n
    ghg = np.einsum("rp,pq,rq->r", mean, h, mean) - ths / n
    with np.errstate(divide="ignore", invalid="ignore"):
        simple = np.where(g2 > 0, tr / g2, np.inf)
        noise = np.where(ghg > 0, ths / ghg, np.inf)
    return simple, noise


def noise_scale(params: Params, x, y) -> NoiseScale:
    """Exact ``B_simple`` from all per-example gradients (vmap); for data that fits in memory."""
    return noise_scale_of(per_example_gradients(params, jnp.asarray(x), jnp.asarray(y)))


def _batch_grad_sq(params, x, y, key, b):
    idx = jax.random.randint(key, (b,), 0, x.shape[0])  # i.i.d. draws, with replacement
    g = jnp.mean(_flat(per_example_grads(params, x[idx], y[idx])), axis=0)
    return jnp.sum(g**2)


_mean_batch_grad_sq = jax.jit(
    lambda params, x, y, keys, b: jnp.mean(jax.vmap(_batch_grad_sq, in_axes=(None, None, None, 0, None))(
        params, x, y, keys, b)), static_argnums=4)


def noise_scale_two_batch(params: Params, x, y, *, b_small: int, b_big: int, draws: int, key) -> NoiseScale:
    """The unbiased two-batch estimate of ``|G|²`` and ``tr(Σ)``; ``B_simple`` is their ratio."""
    if not 0 < b_small < b_big:
        raise InputError(lambda n: f"need 0 < {n('b_small')} < {n('b_big')}, got {b_small}, {b_big}")
    x, y = jnp.asarray(x), jnp.asarray(y)
    ks, kb = jax.random.split(key)
    small = float(_mean_batch_grad_sq(params, x, y, jax.random.split(ks, draws), b_small))
    big = float(_mean_batch_grad_sq(params, x, y, jax.random.split(kb, draws), b_big))
    g2 = (b_big * big - b_small * small) / (b_big - b_small)
    tr = (small - big) / (1.0 / b_small - 1.0 / b_big)
    return NoiseScale(g2, tr, tr / g2 if g2 > 0 else float("inf"))
