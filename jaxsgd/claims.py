"""Two textbook claims about mini-batch gradients, tested with enough draws to tell.

For ``B`` rows drawn without replacement from ``N``, with ``G`` the full-data
gradient and ``Σ`` the covariance of per-example gradients:

- **unbiased**: ``E[G_B] = G``. Over ``D`` independent draws, the mean ``Ḡ``
  gives ``T = D·(Ḡ − G)ᵀ Ĉ⁻¹ (Ḡ − G)``, ``Ĉ`` the covariance of the draws;
  ``T`` is about χ² with ``p = d + 1`` degrees of freedom when the claim holds.
  The verdict quotes its p-value and the smallest bias the test would have
  found (three standard errors of ``|Ḡ − G|``).
- **variance**: ``E|G_B − G|² = tr(Σ)/B · (N − B)/(N − 1)``: the measured
  ratio to this prediction, with its standard error.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32)
>>> y = (x[:, 0] > 0).astype(np.float32)
>>> c = run_claims(x, y, batch_sizes=(4, 64), draws=512, seed=0)
>>> [row.unbiased for row in c.rows]
[True, True]
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import noise
from jaxsgd.model import Params, init_params

__all__ = ["ClaimRow", "Claims", "format_claims", "run_claims"]

ALPHA = 0.01  # the test's level


class ClaimRow(NamedTuple):
    batch_size: int
    bias: float  # |Ḡ − G|
    bias_detectable: float  # three standard errors of |Ḡ − G|
    chi2: float
    p_value: float
    unbiased: bool  # p_value ≥ ALPHA
    variance: float  # mean |G_B − G|² over the draws
    predicted_variance: float
    variance_ratio_se: float


class Claims(NamedTuple):
    rows: tuple[ClaimRow, ...]
    draws: int
    theta: tuple[float, ...]


def _chi2_sf(t: float, p: int) -> float:
    """Survival function of χ²_p by the Wilson–Hilferty cube-root normal approximation."""
    if t <= 0:
        return 1.0
    z = ((t / p) ** (1 / 3) - (1 - 2 / (9 * p))) / math.sqrt(2 / (9 * p))
    return 0.5 * math.erfc(z / math.sqrt(2))


@jax.jit
def _draw_means(g_all, keys, idx_len):
    n = g_all.shape[0]
    return jax.vmap(lambda k: jnp.mean(g_all[jax.random.permutation(k, n)[:idx_len.shape[0]]], axis=0))(keys)


def run_claims(x, y, *, batch_sizes=(1, 4, 16, 64, 256, 1024), draws: int = 4096, seed: int = 0,
               params: Params | None = None) -> Claims:
    """Both claims at ``params`` (default: halfway along a full-batch path from θ = 0), for each batch size."""
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    n, d = x.shape
    if params is None:
        from jaxsgd.study import full_batch_reference

        _, losses, thetas = full_batch_reference(np.asarray(x), np.asarray(y), steps=200)
        half = losses[0] - 0.5 * (losses[0] - losses[-1])
        params = Params.from_theta(jnp.asarray(thetas[int(np.argmax(losses <= half))]))
    params = init_params(d) if params is None else params
    g_all = noise.per_example_gradients(params, x, y)
    full = np.asarray(jnp.mean(g_all, axis=0), np.float64)
    tr = float(np.mean(np.sum((np.asarray(g_all, np.float64) - full) ** 2, axis=1)))
    rows = []
    key = jax.random.key(seed)
    for b in [b for b in batch_sizes if b < n]:
        key, sub = jax.random.split(key)
        gb = np.asarray(_draw_means(g_all, jax.random.split(sub, draws), jnp.zeros(b)), np.float64)
        dev = gb.mean(axis=0) - full
        cov = np.cov(gb, rowvar=False)
        chi2 = float(draws * dev @ np.linalg.solve(cov, dev))
        p = _chi2_sf(chi2, len(full))
        sq = np.sum((gb - full) ** 2, axis=1)
        pred = tr / b * (n - b) / (n - 1)
        rows.append(ClaimRow(b, float(np.linalg.norm(dev)), 3 * math.sqrt(np.trace(cov) / draws), chi2, p,
                             p >= ALPHA, float(sq.mean()), pred, float(sq.std() / math.sqrt(draws) / pred)))
    return Claims(tuple(rows), draws, tuple(float(v) for v in params.to_theta()))


def format_claims(c: Claims) -> str:
    lines = [f"Claims, {c.draws} mini-batches per B, at θ = ({', '.join(f'{v:.4g}' for v in c.theta)}):",
             f"{'B':>6} {'|E G_B − G|':>12} {'detectable':>11} {'p-value':>8}  {'verdict':<10} "
             f"{'E|G_B − G|²':>12} {'tr(Σ)/B·(N−B)/(N−1)':>20} {'ratio':>12}"]
    for r in c.rows:
        verdict = "unbiased" if r.unbiased else "BIASED"
        ratio = f"{r.variance / r.predicted_variance:.3f}±{r.variance_ratio_se:.3f}"
        lines.append(f"{r.batch_size:>6} {r.bias:>12.3g} {r.bias_detectable:>11.3g} {r.p_value:>8.3f}  "
                     f"{verdict:<10} {r.variance:>12.4g} {r.predicted_variance:>20.4g} {ratio:>12}")
    lines.append(f"'unbiased': no bias found at the {ALPHA:g} level by a χ² test on the mean of the draws; "
                 "'detectable' is the bias size it would have found.")
    return "\n".join(lines)
