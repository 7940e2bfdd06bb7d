"""Gradient noise: the simple noise scale and the mini-batch gradient's bias and variance.

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

from jaxsgd.model import Params, per_example_grads

__all__ = ["NoiseScale", "gradient_bias_variance", "noise_scale", "noise_scale_two_batch",
           "per_example_gradients"]


class NoiseScale(NamedTuple):
    g2: float  # |G|²
    trace: float  # tr(Σ)
    b_simple: float


def _flat(grads: Params):
    return jnp.concatenate([grads.b[:, None], grads.w], axis=1)


@jax.jit
def per_example_gradients(params: Params, x, y):
    """``(N, d + 1)``: ``∇Lᵢ = (∂L/∂b, ∂L/∂w)`` of every example, as rows."""
    return _flat(per_example_grads(params, x, y))


@jax.jit
def _exact(params, x, y):
    g = _flat(per_example_grads(params, x, y))
    mean = jnp.mean(g, axis=0)
    return jnp.sum(mean**2), jnp.mean(jnp.sum((g - mean[None, :]) ** 2, axis=1))


def noise_scale(params: Params, x, y) -> NoiseScale:
    """Exact ``B_simple`` from all per-example gradients (vmap); for data that fits in memory."""
    g2, tr = (float(v) for v in _exact(params, jnp.asarray(x), jnp.asarray(y)))
    return NoiseScale(g2, tr, tr / g2 if g2 > 0 else float("inf"))


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
        raise ValueError(f"need 0 < b_small < b_big, got {b_small}, {b_big}")
    x, y = jnp.asarray(x), jnp.asarray(y)
    ks, kb = jax.random.split(key)
    small = float(_mean_batch_grad_sq(params, x, y, jax.random.split(ks, draws), b_small))
    big = float(_mean_batch_grad_sq(params, x, y, jax.random.split(kb, draws), b_big))
    g2 = (b_big * big - b_small * small) / (b_big - b_small)
    tr = (small - big) / (1.0 / b_small - 1.0 / b_big)
    return NoiseScale(g2, tr, tr / g2 if g2 > 0 else float("inf"))


def gradient_bias_variance(params: Params, x, y, batch_sizes, *, draws: int = 512, key) -> list[dict]:
    """For each B: |E[G_B] − G| and E|G_B − G|² over random mini-batches drawn without replacement,
    beside the prediction tr(Σ)/B · (N − B)/(N − 1)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    n = x.shape[0]
    g_all = _flat(per_example_grads(params, x, y))
    full = jnp.mean(g_all, axis=0)
    tr = float(jnp.mean(jnp.sum((g_all - full[None, :]) ** 2, axis=1)))
    out = []
    for b, k in zip(batch_sizes, jax.random.split(key, len(batch_sizes)), strict=True):
        idx = jax.vmap(lambda kk, b=b: jax.random.permutation(kk, n)[:b])(jax.random.split(k, draws))
        gb = jnp.mean(g_all[idx], axis=1)
        bias = float(jnp.linalg.norm(jnp.mean(gb, axis=0) - full))
        var = float(jnp.mean(jnp.sum((gb - full[None, :]) ** 2, axis=1)))
        pred = tr / b * (n - b) / (n - 1)
        out.append({"batch_size": int(b), "bias": bias, "bias_standard_error": float(np.sqrt(var / draws)),
                    "variance": var, "predicted_variance": pred, "gradient_norm": float(jnp.linalg.norm(full))})
    return out
