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

:func:`run_claims` tests both; :func:`with_timings` adds the step and epoch times around powers of two.
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
    """Both claims about the mini-batch gradient ``G_B`` at one batch size, over ``D`` draws.

    Attributes:
      batch_size: the batch size ``B``.
      bias: ``|Ḡ − G|``, the distance between the draws' mean gradient and the full-data gradient.
      bias_detectable: three standard errors of ``|Ḡ − G|``: the smallest bias the test would have found.
      chi2: the statistic ``T = D·(Ḡ − G)ᵀ Ĉ⁻¹ (Ḡ − G)``, about χ² with ``p = d + 1`` degrees of freedom when
        ``G_B`` is unbiased.
      p_value: its p-value (:func:`chi2_sf`).
      unbiased: the claim stands at the test's level: ``p_value ≥`` :data:`ALPHA` (0.01).
      variance: the mean of ``|G_B − G|²`` over the draws.
      predicted_variance: the claim's ``tr(Σ)/B · (N − B)/(N − 1)``.
      variance_ratio_se: the standard error of ``variance / predicted_variance``.

    Example:
      >>> row = ClaimRow(4, bias=0.0008, bias_detectable=0.0044, chi2=1.6, p_value=0.66, unbiased=True,
      ...                variance=0.00109, predicted_variance=0.00108, variance_ratio_se=0.06)
      >>> row.unbiased, round(row.variance / row.predicted_variance, 2)
      (True, 1.01)
    """

    batch_size: int
    bias: float
    bias_detectable: float
    chi2: float
    p_value: float
    unbiased: bool
    variance: float
    predicted_variance: float
    variance_ratio_se: float


class Claims(NamedTuple):
    """What :func:`run_claims` found, with the timings and the network claims when the job adds them.

    Attributes:
      rows: one :class:`ClaimRow` per batch size tested (those below the rows ``N``).
      draws: the mini-batches ``D`` drawn per batch size.
      theta: the parameters the gradients were taken at, ``(b, w₁, …, w_d)`` as floats.
      timing: :func:`step_timings` around powers of two on this backend, one dict per batch size
        (``()`` until :func:`with_timings` adds them).
      network: the :class:`NetworkClaims` (generalisation, sharpness, learning-rate scaling), or ``None``.

    Example:
      >>> row = ClaimRow(4, 0.0008, 0.0044, 1.6, 0.66, True, 0.00109, 0.00108, 0.06)
      >>> c = Claims(rows=(row,), draws=512, theta=(0.0, 1.0, 0.0))
      >>> [r.batch_size for r in c.rows], c.timing, c.network is None
      ([4], (), True)
    """

    rows: tuple[ClaimRow, ...]
    draws: int
    theta: tuple[float, ...]
    timing: tuple[dict, ...] = ()
    network: object = None


def chi2_sf(t: float, p: int) -> float:
    r"""The survival function ``P(χ²_p > t)``, by the Wilson–Hilferty cube-root normal approximation.

    .. math::

      P(\chi^2_p > t) \approx \frac{1}{2} \operatorname{erfc}\left(\frac{z}{\sqrt 2}\right), \qquad
      z = \frac{(t/p)^{1/3} - (1 - 2/(9p))}{\sqrt{2/(9p)}}

    Args:
      t: the statistic, a float (``t ≤ 0`` gives 1).
      p: the degrees of freedom, a positive int.

    Returns:
      The probability, a float in [0, 1].

    Example:
      >>> round(chi2_sf(7.81, 3), 3)   # the exact value is 0.050
      0.049
      >>> chi2_sf(0.0, 3)
      1.0

    References:
      Wilson and Hilferty, 1931, "The distribution of chi-square", PNAS 17(12).
    """
    if t <= 0:
        return 1.0
    z = ((t / p) ** (1 / 3) - (1 - 2 / (9 * p))) / math.sqrt(2 / (9 * p))
    return 0.5 * math.erfc(z / math.sqrt(2))


def bias_test(draws, target) -> tuple[float, float]:
    r"""Hotelling's test of whether the mean of ``D`` draws is ``target``.

    With ``d̄`` the draws' mean and ``Ĉ`` their sample covariance,

    .. math::

      T = D\,(\bar d - t)^\top \hat C^{-1} (\bar d - t)

    is about χ² with ``p`` degrees of freedom when the draws' expectation is ``t`` (for large ``D``); its
    p-value is :func:`chi2_sf`.

    Args:
      draws: the draws ``(D, p)``, e.g. mini-batch gradients; computed in float64.
      target: the claimed mean ``(p,)``, e.g. the full-data gradient.

    Returns:
      ``(T, p_value)``, two floats.

    Example:
      >>> draws = np.random.default_rng(3).normal(size=(400, 3))   # mean 0
      >>> t, p = bias_test(draws, np.zeros(3))
      >>> round(t, 2), p > ALPHA
      (2.59, True)
      >>> bias_test(draws, np.full(3, 0.5))[1] < ALPHA
      True
    """
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
    """Tests both claims about the neuron's mini-batch gradient ``G_B`` at ``params``, for each batch size.

    For each ``B`` below the rows ``N``, ``draws`` mini-batches of ``B`` rows are drawn, each without
    replacement, from the per-example gradients at ``params``; their means ``G_B`` are tested for bias against
    the full-data gradient ``G`` (:func:`bias_test`), and the mean of ``|G_B − G|²`` is compared with
    ``tr(Σ)/B · (N − B)/(N − 1)``.

    Args:
      x: the scaled features ``(N, d)`` (float32 is used).
      y: the scaled targets ``(N,)``.
      batch_sizes: the batch sizes to test; those not below ``N`` are skipped. Default powers of four,
        1 to 1024.
      draws: mini-batches drawn per batch size; default 4096.
      seed: the draws' seed; default 0.
      params: the neuron's :class:`jaxsgd.model.Params` to test at; default ``None``: the first point of a
        200-step full-batch path from θ = 0 whose loss is at or below halfway from its first to its last.

    Returns:
      A :class:`Claims`: one :class:`ClaimRow` per batch size tested, the draws, and ``params`` as ``theta``.

    Example:
      >>> x = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> c = run_claims(x, y, batch_sizes=(4, 64), draws=512, seed=0)
      >>> [row.unbiased for row in c.rows], len(c.theta)
      ([True, True], 3)
    """
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
    """``claims`` with the step and epoch times of one run around powers of two, on 65,536 built-in rows.

    The rows are :func:`jaxsgd.data.synthetic_house_prices` (seed 1), scaled; the times are
    :func:`step_timings` on this backend.

    Args:
      claims: the :class:`Claims` to add the timings to.
      sizes: the batch sizes to time; default each side of 32, 64 and 256.

    Returns:
      ``claims`` with ``timing`` set: one dict per size (see :func:`step_timings`).

    Example:
      >>> c = with_timings(Claims((), 0, ()), sizes=(256,))
      >>> [t["batch_size"] for t in c.timing], sorted(c.timing[0])
      ([256], ['batch_size', 'epoch_seconds', 'examples_per_second', 'step_seconds'])
    """
    from jaxsgd.data import fit_transform, synthetic_house_prices  # the data package needs no JAX: cheap

    ds = synthetic_house_prices(1 << 16, seed=1)
    tr = fit_transform(ds)
    return claims._replace(timing=tuple(step_timings(tr.features(ds.x), tr.target(ds.y), sizes)))


def step_seconds(x, y, batch_size: int, learning_rate: float = LEARNING_RATE, *, repeats: int = 200) -> float:
    """Seconds per compiled SGD step (:func:`jaxsgd.train.step`) of one neuron run, compiling not counted.

    The one step timing, used by the power-of-two claim and by the study's advice: the first ``batch_size``
    rows, stepped ``repeats`` times from θ = 0 after one step that compiles.

    Args:
      x: the features ``(N, d)``; their dtype is the run's.
      y: the targets ``(N,)``.
      batch_size: the batch size, at most ``N``.
      learning_rate: the step's learning rate; default ``defaults.LEARNING_RATE`` (0.5).
      repeats: the steps timed; default 200.

    Returns:
      The mean seconds per step, a float (it varies between runs and machines).

    Example:
      >>> x = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> 0 < step_seconds(x, y, 4, repeats=3) < 1
      True
    """
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
    """Seconds per compiled SGD step and per compiled epoch, for each batch size: are powers of two faster?

    The step is :func:`step_seconds` (``10 × repeats`` steps); the epoch is one run's
    :func:`jaxsgd.train.epoch`, shuffle included, the fastest of ``max(3, repeats // 4)`` after one that
    compiles.

    Args:
      x: the features ``(N, d)``.
      y: the targets ``(N,)``.
      batch_sizes: the batch sizes to time, each at most ``N``.
      repeats: sets the work timed (see above); default 20.

    Returns:
      A list of one dict per batch size: ``"batch_size"`` (int), ``"step_seconds"``, ``"epoch_seconds"`` and
      ``"examples_per_second"`` (an epoch's whole batches over its time), floats that vary between runs.

    Example:
      >>> from jaxsgd.data import fit_transform, synthetic_house_prices
      >>> ds = synthetic_house_prices(1 << 16, seed=1)   # the rows with_timings times
      >>> tr = fit_transform(ds)
      >>> [t["batch_size"] for t in step_timings(tr.features(ds.x), tr.target(ds.y), (256,), repeats=1)]
      [256]
    """
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
