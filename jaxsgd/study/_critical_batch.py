"""The study's statistics: best learning rate and arrival step (upper quartile over seeds) per batch size, the fit
``S = S_min(1 + B_crit/B)``, ``B_simple`` and ``B_noise`` on the full-batch path, and percentile-bootstrap
intervals.

>>> s_min, b_crit = fit_critical_batch([1, 2, 4, 8], [130.0, 70.0, 40.0, 25.0])
>>> round(s_min), round(b_crit)
(10, 12)
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxsgd.model import Params
from jaxsgd.study._hits import QUANTILE, arrival_steps
from jaxsgd.study._noise import (
    bootstrap_noise_scales,
    hessian,
    noise_scales_of,
    per_example_gradients,
)

MIN_DEFAULT_STEPS = 10  # the default level is the first the largest batch needs at least this many steps for


class Row(NamedTuple):
    """One batch size at one loss level: its arrival step at its best learning rate, with 95% intervals.

    ``steps`` is the upper quartile over seeds of the runs' arrival steps at the best learning rate: the rate,
    among those run at this B, with the smallest (a run that never arrived counts as infinitely slow).
    ``examples`` is ``E(B) = B·S(B)``. The intervals are percentile bootstraps over seeds, each resample
    choosing its own best rate.

    Attributes:
      batch_size: the batch size ``B``.
      best_lr: the best learning rate at this ``B`` (``None`` if no run arrived).
      steps: ``S(B)``, the step by which three in four runs at ``best_lr`` have arrived (``None``: none did).
      steps_ci: the 95% interval ``(lo, hi)`` of ``steps`` over seeds (``None`` with one seed or no arrival).
      examples: ``E(B) = B·S(B)``, the examples seen by the arrival step (``None`` with ``steps``).
      examples_ci: ``B`` times ``steps_ci``.
      capped: some run here was stopped at the level's step cap before it arrived.
      edge: the best rate is the smallest or the largest this ``B`` ran (the windows of learning rates stopped
        extending at their limits), so a better one may lie beyond.
      not_run: the larger batch sizes never reached the level, so it was not run at this ``B``.

    Example:
      >>> row = Row(batch_size=8, best_lr=0.5, steps=40.0, steps_ci=(36.0, 48.0), examples=320.0,
      ...           examples_ci=(288.0, 384.0))
      >>> row.examples == row.batch_size * row.steps, row.capped, row.edge
      (True, False, False)
    """

    batch_size: int
    best_lr: float | None
    steps: float | None
    steps_ci: tuple[float, float] | None
    examples: float | None
    examples_ci: tuple[float, float] | None
    capped: bool = False
    edge: bool = False
    not_run: bool = False


class LevelResult(NamedTuple):
    r"""One loss level of the study: a :class:`Row` per batch size, the fit of ``S(B)`` and the noise scales.

    The level is ``L = L* + f·(L₀ − L*)``; its rows' steps are fitted (least squares on relative error) by
    McCandlish et al.'s trade-off curve

    .. math::

      S(B) = S_{min} \left(1 + \frac{B_{crit}}{B}\right)

    over the batch sizes ``fitted`` (:func:`fit_critical_batch`), and ``B_simple = tr Σ/|G|²`` and
    ``B_noise = tr(HΣ)/(GᵀHG)`` are measured at the first point of the full-batch path at or below ``L``.

    Attributes:
      fraction: the level's fraction ``f`` of the way from ``L*`` back to ``L₀``.
      loss: the level ``L`` (the mean loss on the scaled data).
      default: this is the study's default level: the first (shallowest) that the largest batch size reaching it
        needs at least :data:`MIN_DEFAULT_STEPS` steps for.
      b_crit: the fitted ``B_crit``; ``None`` if ``S(B)`` could not be fitted, ``inf`` if it falls like ``1/B``
        or faster throughout (``B_crit`` beyond the largest batch size).
      b_crit_ci: its 95% bootstrap interval over seeds (``None`` with one seed, or when over 10% of the
        resamples could not be fitted).
      s_min: the fitted ``S_min`` (``None`` with no fit or an infinite ``B_crit``).
      b_simple: ``B_simple`` where the full-batch path reaches the level (``None`` if it never does).
      b_simple_ci: its 95% bootstrap interval over rows.
      rows: one :class:`Row` per batch size, ascending in ``B``.
      b_noise: ``B_noise`` where the full-batch path reaches the level (``None`` if it never does).
      b_noise_ci: its 95% bootstrap interval over rows.
      rmse: the level in the target's units, ``√(2L)`` times the target's scale (``None`` unless the study was
        given it).
      fitted: the batch sizes whose rows have steps: those the fit used.
      monotone: ``S(B)`` does not rise with ``B`` beyond its intervals.
      beyond: ``B_crit`` lies beyond the largest batch size fitted: the fit extrapolates it.

    Example:
      >>> rows = (Row(4, 0.25, 70.0, None, 280.0, None), Row(32, 1.0, 25.0, None, 800.0, None))
      >>> s_min, b_crit = fit_critical_batch([4, 32], [70.0, 25.0])
      >>> level = LevelResult(0.1, 0.02, True, b_crit, None, s_min, None, None, rows, fitted=(4, 32))
      >>> round(level.b_crit, 2), round(level.s_min, 2), [row.batch_size for row in level.rows]
      (11.08, 18.57, [4, 32])
    """

    fraction: float
    loss: float
    default: bool
    b_crit: float | None
    b_crit_ci: tuple[float, float] | None
    s_min: float | None
    b_simple: float | None
    b_simple_ci: tuple[float, float] | None
    rows: tuple[Row, ...]
    b_noise: float | None = None
    b_noise_ci: tuple[float, float] | None = None
    rmse: float | None = None
    fitted: tuple[int, ...] = ()
    monotone: bool = True
    beyond: bool = False


def _best_index(med) -> int:
    """The best learning rate's index: the smallest S, the larger rate on a tie (rates ascending)."""
    return int(np.flatnonzero(med == med.min())[-1])


def row_of(runs, j: int, boot_idx) -> tuple[Row, np.ndarray]:
    """The row of one batch size's runs (:class:`~jaxsgd.study.BatchRuns`) at level ``j``, and the
    bootstrap replicates of its best median (each resample picks its own best rate)."""
    b, a, lrs = runs.batch_size, runs.arrivals[j], runs.learning_rates
    med = arrival_steps(a)
    capped = bool(runs.capped[j])
    not_run = runs.ran is not None and not bool(runs.ran[j])
    i = _best_index(med)
    if not np.isfinite(med[i]):
        return Row(b, None, None, None, None, None, capped and not not_run, False, not_run), \
            np.full(len(boot_idx), np.inf)
    resampled = np.where(a > 0, a, np.inf)[boot_idx]  # (R, S, L): each replicate's seeds
    reps = np.quantile(resampled, QUANTILE, axis=1, method="inverted_cdf").min(axis=1)
    steps = float(med[i])
    edge = i in (0, len(lrs) - 1) and len(lrs) > 1
    if a.shape[0] < 2:  # one seed: no interval over seeds
        return Row(b, float(lrs[i]), steps, None, steps * b, None, capped, edge), reps
    lo, hi = _percentiles(reps)
    return Row(b, float(lrs[i]), steps, (lo, hi), steps * b, (lo * b, hi * b), capped, edge), reps


def _percentiles(values, q=(0.025, 0.975)):
    """Order statistics (no interpolation, so an infinite replicate stays infinite without arithmetic)."""
    v = np.sort(np.asarray(values, float))
    return tuple(float(v[min(len(v) - 1, max(0, math.ceil(p * len(v)) - 1))]) for p in q)


def fit_critical_batch(bs, steps):
    r"""The fit ``S = S_min(1 + B_crit/B)`` of steps against batch size, by least squares on relative error.

    With ``c = S_min·B_crit`` the curve ``S = S_min + c/B`` is linear in ``(S_min, c)``; the fit minimises

    .. math::

      \sum_B \left(\frac{S_{min} + c/B - S(B)}{S(B)}\right)^2

    over the batch sizes whose steps are finite (a batch size that never arrived is left out).

    Args:
      bs: the batch sizes ``B``, a sequence of ``K`` positive numbers.
      steps: the steps ``S(B)`` at each, a sequence of ``K`` floats; ``inf`` or NaN leaves that batch size out.

    Returns:
      ``(S_min, B_crit)``, two floats: ``(nan, nan)`` if ``S`` does not fall with ``B`` (or fewer than two
      batch sizes are left), ``(0.0, inf)`` if it falls like ``1/B``, or faster, throughout (``B_crit`` beyond
      the largest ``B``).

    Example:
      >>> s_min, b_crit = fit_critical_batch([1, 2, 4, 8], [130.0, 70.0, 40.0, 25.0])
      >>> round(s_min), round(b_crit)
      (10, 12)
      >>> fit_critical_batch([1, 2, 4], [10.0, 10.0, 10.0])   # S does not fall: no B_crit
      (nan, nan)
      >>> fit_critical_batch([1, 2, 4, 8], [100.0, 40.0, 15.0, 5.0])   # faster than 1/B: beyond
      (0.0, inf)
      >>> fit_critical_batch([1, 2, 4, 8], [100.0, 50.0, 25.0, 12.5])   # exactly 1/B, S_min = 0 to rounding
      (0.0, inf)

    References:
      McCandlish, Kaplan, Amodei et al., 2018, "An Empirical Model of Large-Batch Training".
    """
    s_min, b_crit = fit_critical_batches(bs, np.asarray(steps, float)[None])
    return float(s_min[0]), float(b_crit[0])


def fit_critical_batches(bs, steps):
    """:func:`fit_critical_batch` of every row of ``steps (R, len(bs))`` at once (the bootstrap's replicates):
    the weighted least squares by its 2 × 2 normal equations, batch sizes with no finite steps left out."""
    bs = np.asarray(bs, float)
    steps = np.asarray(steps, float)
    ok = np.isfinite(steps)
    inv = np.where(ok, 1.0 / np.where(ok, steps, 1.0), 0.0)  # 1/S, 0 where left out
    u = 1.0 / bs
    a11, a12, a22 = (inv**2).sum(1), (inv**2 * u).sum(1), (inv**2 * u * u).sum(1)
    r1, r2 = inv.sum(1), (inv * u).sum(1)
    det = a11 * a22 - a12**2
    with np.errstate(divide="ignore", invalid="ignore"):
        s_min = (a22 * r1 - a12 * r2) / det
        slope = (a11 * r2 - a12 * r1) / det
        smallest = np.where(ok, bs, np.inf).min(1)
        fits = (ok.sum(1) >= 2) & (np.abs(det) > 1e-300 * np.maximum(a11 * a22, 1e-300))
        largest = np.where(ok, bs, 0.0).max(1)
        # S falls like 1/B throughout (S_min = 0, or within rounding of 0: B_crit over 10⁹ × the largest B),
        # so B_crit lies beyond the largest batch size
        beyond = fits & (slope > 0) & (s_min <= 1e-9 * slope / largest)
        good = fits & ~beyond & (s_min > 0) & (slope > 1e-6 * s_min * smallest)  # B_crit ≈ 0 is rounding: no fall
        b_crit = np.where(good, slope / s_min, np.where(beyond, np.inf, np.nan))
    return np.where(good, s_min, np.where(beyond, 0.0, np.nan)), b_crit


def _ci(values):
    """95% percentile interval of bootstrap replicates; None when over 10% of them have no value (no fit)."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if len(v) == 0 or len(v) < 0.9 * len(values):
        return None
    return _percentiles(v)


def summarize_level(runs: list, j: int, boot_idx):
    """Rows, ``S_min``, ``B_crit``, its interval and the batch sizes fitted, from every batch size's runs at
    level ``j`` (``runs`` ascending in B).

    ``boot_idx (R, S)``: seed indices of R bootstrap resamples; each replicate picks its best learning rate
    and fits again, so the interval carries the tuning's noise too.
    """
    rows_, reps = [], []
    for r in runs:
        row, rep = row_of(r, j, boot_idx)
        rows_.append(row)
        reps.append(rep)
    bsizes = [r.batch_size for r in runs]
    fitted = tuple(b for b, row in zip(bsizes, rows_, strict=True) if row.steps is not None)
    s_min, b_crit = fit_critical_batch(bsizes, [r.steps if r.steps else np.inf for r in rows_])
    if math.isnan(b_crit):
        return tuple(rows_), None, None, None, fitted
    s_min = None if math.isinf(b_crit) else s_min
    if boot_idx.shape[1] < 2:  # one seed: no interval over seeds
        return tuple(rows_), s_min, b_crit, None, fitted
    boot = fit_critical_batches(bsizes, np.stack(reps, axis=1))[1]
    return tuple(rows_), s_min, b_crit, _ci(boot), fitted


def monotone(rows) -> bool:
    """Whether ``S(B)`` never rises with B beyond its intervals (a larger B's interval wholly above a smaller
    B's): what tuning every batch size well gives."""
    have = [r for r in rows if r.steps is not None]
    for small, big in itertools.pairwise(have):
        lo_big = big.steps_ci[0] if big.steps_ci else big.steps
        hi_small = small.steps_ci[1] if small.steps_ci else small.steps
        if lo_big > hi_small:
            return False
    return True


def mark_default(levels: list[LevelResult]) -> list[LevelResult]:
    """The default level: the first (shallowest) that the largest batch size reaching it needs ≥ 10 steps for."""
    chosen = None
    for i, lv in enumerate(levels):
        have = [r for r in lv.rows if r.steps is not None]
        if have and have[-1].steps >= MIN_DEFAULT_STEPS:
            chosen = i
            break
    if chosen is None:  # otherwise the deepest level that any batch size reached
        reached = [i for i, lv in enumerate(levels) if any(r.steps for r in lv.rows)]
        chosen = reached[-1] if reached else len(levels) - 1
    return [lv._replace(default=(i == chosen)) for i, lv in enumerate(levels)]


def noise_on_path(x, y, gd_losses, gd_thetas, level, n_boot, seed, model=None, start=None):
    """``(NoiseScales, B_simple interval, B_noise interval)`` at the first point of the full-batch path at or
    below ``level`` (``(None, None, None)`` if the path never gets there), with bootstrap intervals over rows
    (the path has no seeds: the data are what varies), corrected for the resampling's own noise
    (:func:`jaxsgd.study.bootstrap_noise_scales`)."""
    hit = np.flatnonzero(gd_losses <= level)
    if len(hit) == 0:
        return None, None, None
    loss = None if model is None else model.loss
    if model is None:
        theta = Params.from_theta(jnp.asarray(gd_thetas[hit[0]]))
    else:  # any model: the path holds ravel_pytree(params) of its start's structure
        theta = ravel_pytree(start)[1](jnp.asarray(gd_thetas[hit[0]]))
    g = np.asarray(per_example_gradients(theta, x, y, loss), np.float64)  # (N, p)
    h = np.asarray(hessian(theta, x, y, loss))  # (p, p): exact; the study's models are small
    value = noise_scales_of(g, h)
    if n_boot < 2:
        return value, None, None
    simple, noise = bootstrap_noise_scales(g, h, resamples=n_boot, seed=[seed, 0x51])
    return value, _percentiles(simple), _percentiles(noise)
