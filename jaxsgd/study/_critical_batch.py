"""The study's statistics: best learning rate and median steps per batch size, the fit
``S = S_min(1 + B_crit/B)``, ``B_simple`` on the full-batch path, and percentile-bootstrap intervals.

>>> s_min, b_crit = fit_critical_batch([1, 2, 4, 8], [130.0, 70.0, 40.0, 25.0])
>>> round(s_min), round(b_crit)
(10, 12)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxsgd.model import Params
from jaxsgd.study._hits import median_steps
from jaxsgd.study._noise import noise_scale_of, per_example_gradients

MIN_DEFAULT_STEPS = 10  # the default level is the first the largest batch needs at least this many steps for


class Row(NamedTuple):
    """One batch size at one level: median steps over seeds at the best learning rate, with 95% intervals."""

    batch_size: int
    best_lr: float | None
    steps: float | None
    steps_ci: tuple[float, float] | None
    examples: float | None
    examples_ci: tuple[float, float] | None


class LevelResult(NamedTuple):
    """One loss level: its rows, the fit ``S = S_min(1 + B_crit/B)`` and ``B_simple`` on the full-batch path."""

    fraction: float
    loss: float
    default: bool
    b_crit: float | None
    b_crit_ci: tuple[float, float] | None
    s_min: float | None
    b_simple: float | None
    b_simple_ci: tuple[float, float] | None
    rows: tuple[Row, ...]


def row_of(b, h, lrs, boot_idx) -> tuple[Row, np.ndarray]:
    med = median_steps(h)
    i = int(np.argmin(med))
    if not np.isfinite(med[i]):
        return Row(b, None, None, None, None, None), np.full(len(boot_idx), np.inf)
    reps = np.array([np.min(median_steps(h[idx])) for idx in boot_idx])
    steps = float(med[i])
    if h.shape[0] < 2:  # one seed: no interval over seeds
        return Row(b, float(lrs[i]), steps, None, steps * b, None), reps
    lo, hi = _percentiles(reps)
    return Row(b, float(lrs[i]), steps, (lo, hi), steps * b, (lo * b, hi * b)), reps


def _percentiles(values, q=(0.025, 0.975)):
    """Order statistics (no interpolation, so an infinite replicate stays infinite without arithmetic)."""
    v = np.sort(np.asarray(values, float))
    return tuple(float(v[min(len(v) - 1, max(0, math.ceil(p * len(v)) - 1))]) for p in q)


def fit_critical_batch(bs, steps):
    """Least squares of ``S = S_min + S_min·B_crit/B`` weighted by 1/S: ``(S_min, B_crit)``, NaN if S does not fall."""
    bs, steps = np.asarray(bs, float), np.asarray(steps, float)
    ok = np.isfinite(steps)
    bs, steps = bs[ok], steps[ok]
    if len(bs) < 2:
        return math.nan, math.nan
    a = np.stack([np.ones_like(bs), 1.0 / bs], axis=1) / steps[:, None]
    (s_min, slope), *_ = np.linalg.lstsq(a, np.ones_like(steps), rcond=None)
    if not (s_min > 0 and slope > 1e-6 * s_min * bs.min()):  # B_crit ≈ 0 is rounding: S does not fall
        return math.nan, math.nan
    return float(s_min), float(slope / s_min)


def _ci(values):
    """95% percentile interval of bootstrap replicates; None when over 10% of them have no value (no fit)."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if len(v) == 0 or len(v) < 0.9 * len(values):
        return None
    return _percentiles(v)


def summarize_level(hits_by_batch: dict, lrs, boot_idx):
    """Rows, ``S_min``, ``B_crit`` and its interval from first-hit steps ``{B: (S, L)}`` at one level.

    ``boot_idx (R, S)``: seed indices of R bootstrap resamples; each replicate picks its best learning rate
    and fits again, so the interval carries the tuning's noise too.
    """
    rows_, reps = [], []
    for b, h in hits_by_batch.items():
        row, rep = row_of(b, h, lrs, boot_idx)
        rows_.append(row)
        reps.append(rep)
    bsizes = list(hits_by_batch)
    s_min, b_crit = fit_critical_batch(bsizes, [r.steps if r.steps else np.inf for r in rows_])
    if math.isnan(b_crit):
        return tuple(rows_), None, None, None
    if boot_idx.shape[1] < 2:  # one seed: no interval over seeds
        return tuple(rows_), s_min, b_crit, None
    boot = [fit_critical_batch(bsizes, [rep[i] for rep in reps])[1] for i in range(len(boot_idx))]
    return tuple(rows_), s_min, b_crit, _ci(boot)


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


def b_simple_on_path(x, y, gd_losses, gd_thetas, level, n_boot, seed):
    """``B_simple = tr Σ/|G|²`` at the first point of the full-batch path at or below ``level``, with a
    bootstrap interval over rows (the path has no seeds: the data are what varies)."""
    hit = np.flatnonzero(gd_losses <= level)
    if len(hit) == 0:
        return None, None
    theta = Params.from_theta(jnp.asarray(gd_thetas[hit[0]]))
    g = np.asarray(per_example_gradients(theta, x, y), np.float64)  # (N, d + 1)
    value = noise_scale_of(g).b_simple
    idx = np.random.default_rng([seed, 0x51]).integers(0, len(g), (n_boot, len(g)))
    return value, _ci([noise_scale_of(g[i]).b_simple for i in idx])
