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

import functools
import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import train
from jaxsgd.defaults import LEARNING_RATE
from jaxsgd.model import Params, init_params
from jaxsgd.study._noise import per_example_gradients

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
    timing: tuple[dict, ...] = ()  # step_timings around powers of two, on this backend
    network: object = None  # jaxsgd.study.NetworkClaims: generalisation, sharpness, learning-rate scaling


def chi2_sf(t: float, p: int) -> float:
    """Survival function of χ²_p by the Wilson–Hilferty cube-root normal approximation."""
    if t <= 0:
        return 1.0
    z = ((t / p) ** (1 / 3) - (1 - 2 / (9 * p))) / math.sqrt(2 / (9 * p))
    return 0.5 * math.erfc(z / math.sqrt(2))


def bias_test(draws, target) -> tuple[float, float]:
    """``(T, p-value)`` of ``T = D·(d̄ − target)ᵀ Ĉ⁻¹ (d̄ − target)`` for ``D`` draws ``(D, p)``: χ²_p if unbiased."""
    draws = np.asarray(draws, np.float64)
    dev = draws.mean(axis=0) - np.asarray(target, np.float64)
    cov = np.atleast_2d(np.cov(draws, rowvar=False))
    chi2 = float(len(draws) * dev @ np.linalg.solve(cov, dev))
    return chi2, chi2_sf(chi2, len(dev))


def _draw_means(g_all: np.ndarray, b: int, draws: int, rng) -> np.ndarray:
    """Means of ``draws`` mini-batches of ``b`` rows, each drawn without replacement: ``(draws, p)``."""
    n = len(g_all)
    idx = np.stack([rng.choice(n, b, replace=False) for _ in range(draws)])
    return g_all[idx].mean(axis=1)


def run_claims(x, y, *, batch_sizes=(1, 4, 16, 64, 256, 1024), draws: int = 4096, seed: int = 0,
               params: Params | None = None) -> Claims:
    """Both claims at ``params`` (default: halfway along a full-batch path from θ = 0), for each batch size."""
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    n, d = x.shape
    if params is None:
        _, losses, thetas = train.full_batch_reference(np.asarray(x), np.asarray(y), steps=200)
        half = losses[0] - 0.5 * (losses[0] - losses[-1])
        params = Params.from_theta(jnp.asarray(thetas[int(np.argmax(losses <= half))]))
    params = init_params(d) if params is None else params
    g_all = np.asarray(per_example_gradients(params, x, y), np.float64)
    full = g_all.mean(axis=0)
    tr = float(np.mean(np.sum((g_all - full) ** 2, axis=1)))
    rows = []
    rng = np.random.default_rng([seed, 0xC1A1])
    for b in [b for b in batch_sizes if b < n]:
        gb = _draw_means(g_all, b, draws, rng)
        chi2, p = bias_test(gb, full)
        sq = np.sum((gb - full) ** 2, axis=1)
        pred = tr / b * (n - b) / (n - 1)
        rows.append(ClaimRow(b, float(np.linalg.norm(gb.mean(axis=0) - full)),
                             3 * math.sqrt(np.trace(np.cov(gb, rowvar=False)) / draws), chi2, p, p >= ALPHA,
                             float(sq.mean()), pred, float(sq.std() / math.sqrt(draws) / pred)))
    return Claims(tuple(rows), draws, tuple(float(v) for v in params.to_theta()))


def with_timings(claims: Claims, *, sizes=(31, 32, 33, 63, 64, 65, 255, 256, 257)) -> Claims:
    """``claims`` plus the step and epoch times of one run around powers of two (65,536 built-in rows)."""
    from jaxsgd.data import fit_transform, synthetic_house_prices  # the data package needs no JAX: cheap

    ds = synthetic_house_prices(1 << 16, seed=1)
    tr = fit_transform(ds)
    return claims._replace(timing=tuple(step_timings(tr.features(ds.x), tr.target(ds.y), sizes)))


def step_seconds(x, y, batch_size: int, learning_rate: float = LEARNING_RATE, *, repeats: int = 200) -> float:
    """Seconds per compiled SGD step (:func:`jaxsgd.train.step`) of one run at ``batch_size``, compiling not
    counted: the one step timing, used by the power-of-two claim and by the study's advice."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    opt = train.make_optimizer("sgd")
    state = train.TrainState.create(init_params(x.shape[1], x.dtype), optimizer=opt, key=jax.random.key(0),
                                    learning_rate=learning_rate)
    p, s = state.params, state.opt_state
    step = functools.partial(jitted_step, opt)
    xb, yb = x.T[:, :batch_size], y[:batch_size]
    jax.block_until_ready(step(p, s, xb, yb))
    t0 = time.perf_counter()
    for _ in range(repeats):
        p, s = step(p, s, xb, yb)
    jax.block_until_ready(p)
    return (time.perf_counter() - t0) / repeats


jitted_step = jax.jit(train.step, static_argnums=0)


def step_timings(x, y, batch_sizes, *, repeats: int = 20) -> list[dict]:
    """Seconds per compiled SGD step (:func:`step_seconds`) and per compiled epoch (shuffle included,
    compiling not), for each batch size: the evidence for or against powers of two being faster."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    rows = train.rows_of(x, y)
    d = x.shape[1]
    opt = train.make_optimizer("sgd")
    keys = np.zeros((1, 2), np.uint32)
    out = []
    for b in batch_sizes:
        t_step = step_seconds(x, y, b, repeats=repeats * 10)
        runs = train.TrainState.create_runs(d, keys, [LEARNING_RATE], optimizer=opt)
        best = float("inf")
        with train.Shuffler(keys, x.shape[0]) as shuffler:
            for e in range(max(3, repeats // 4) + 1):
                t0 = time.perf_counter()
                runs = train.epoch(runs, shuffler.get(e), rows, optimizer=opt, batch_size=int(b))
                jax.block_until_ready(runs.params)
                if e:  # the first call compiles
                    best = min(best, time.perf_counter() - t0)
        out.append({"batch_size": int(b), "step_seconds": t_step, "epoch_seconds": best,
                    "examples_per_second": x.shape[0] // b * b / best})
    return out
