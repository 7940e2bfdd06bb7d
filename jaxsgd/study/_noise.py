"""Gradient noise: per-example gradients and the simple noise scale, exactly and from two batch sizes.

McCandlish et al. (2018), "An Empirical Model of Large-Batch Training": with
``G`` the full-data gradient and ``Σ`` the covariance of per-example gradients,

    B_simple = tr(Σ) / |G|²,      E|G_B|² = |G|² + tr(Σ)/B   (B examples drawn i.i.d.)

so two batch sizes give unbiased estimates of both ``|G|²`` and ``tr(Σ)``:

    |G|²  ≈ (B_big |G_big|² − B_small |G_small|²) / (B_big − B_small)
    tr(Σ) ≈ (|G_small|² − |G_big|²) / (1/B_small − 1/B_big)

each averaged over draws before dividing. Here ``Σ = (1/N) Σᵢ (gᵢ − G)(gᵢ − G)ᵀ``
(the population covariance of the N per-example gradients).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd.errors import InputError
from jaxsgd.model import Params, per_example_grads


class NoiseScale(NamedTuple):
    """``|G|²``, ``tr(Σ)`` and their ratio ``B_simple``."""

    g2: float  # |G|²
    trace: float  # tr(Σ)
    b_simple: float


def _flat(grads: Params):
    return jnp.concatenate([grads.b[:, None], grads.w], axis=1)


@jax.jit
def per_example_gradients(params: Params, x, y):
    """``(N, d + 1)``: ``∇Lᵢ = (∂L/∂b, ∂L/∂w)`` of every example, as rows."""
    return _flat(per_example_grads(params, x, y))


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
