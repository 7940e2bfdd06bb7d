"""How good a fit is, in price units: predictions, RMSE and R², θ for unscaled features; pooled over every
process's rows when they are sharded (:mod:`jaxsgd.distributed`), with the scaling fitted on all of them."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxsgd import data as data_mod
from jaxsgd.distributed import every_process, process_count
from jaxsgd.model import predict_batch


class Metrics(NamedTuple):
    """Fit quality in price units."""

    rmse: float
    r2: float


def metrics(params, transform, x_raw, y_raw, *, pooled: bool = False) -> Metrics:
    """RMSE and R² in price units of the model's predictions on raw rows; ``pooled``: over every process's
    rows together (data sharded over processes).

    Computed in the model's units ``t = (y − lo)/(hi − lo)``, where squares cannot
    overflow whatever the price scale, and brought back by ``hi − lo``. Each part's
    count, squared residuals, sum and squares about its own mean are combined
    exactly (the parallel form of the two-pass variance), so one part gives the
    two-pass figures themselves.
    """
    scale = transform.y_hi - transform.y_lo
    t = (np.asarray(y_raw, np.float64) - transform.y_lo) / scale
    resid = t - _predict(params, transform, x_raw) if len(t) else t
    mine = [len(t), float(np.sum(resid**2)), float(np.sum(t)), float(np.sum((t - t.mean()) ** 2)) if len(t) else 0.0]
    parts = every_process(mine) if pooled else np.asarray([mine])
    n = parts[:, 0].sum()
    if n == 0:
        return Metrics(math.nan, math.nan)
    means = np.divide(parts[:, 2], parts[:, 0], out=np.zeros(len(parts)), where=parts[:, 0] > 0)
    ss_tot = float(np.sum(parts[:, 3] + parts[:, 0] * (means - parts[:, 2].sum() / n) ** 2))
    ss_res = float(parts[:, 1].sum())
    return Metrics(math.sqrt(ss_res / n) * scale, 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan)


def _predict(params, transform, x_raw) -> np.ndarray:
    """The model's outputs ``h = σ(z) ∈ (0, 1)`` for raw feature rows, as float64."""
    return np.asarray(predict_batch(params, jnp.asarray(transform.features(x_raw), params.w.dtype)), np.float64)


def predict_prices(params, transform, x_raw) -> np.ndarray:
    """Predictions in price units for raw feature rows ``x_raw`` (N, d)."""
    return transform.price(_predict(params, transform, x_raw))


def shared_transform(ds: data_mod.Dataset, rows) -> data_mod.Transform:
    """:func:`jaxsgd.data.fit_transform` of every process's ``rows`` together (data sharded over processes):
    each process's counts, means, variances and target range are gathered and pooled."""
    local = data_mod.fit_transform(ds, rows)
    if process_count() == 1:
        return local
    x, y = ds.x[rows], ds.y[rows]
    d = x.shape[1]
    got = every_process(np.concatenate([[len(y)], x.mean(axis=0), x.var(axis=0), [y.min(), y.max()]]))
    n, means, var = got[:, :1], got[:, 1:1 + d], got[:, 1 + d:1 + 2 * d]
    mean = (n * means).sum(axis=0) / n.sum()
    std = np.sqrt((n * (var + (means - mean) ** 2)).sum(axis=0) / n.sum())
    lo, hi = float(got[:, -2].min()), float(got[:, -1].max())
    pad = 0.05 * (hi - lo)
    return data_mod.Transform(mean, std, lo - pad, hi + pad)


def raw_units(params, transform, x_raw) -> dict:
    """θ for unscaled features, ``h = σ(b + Σ wⱼ xⱼ)`` with ``price = lo + (hi − lo)·h``, and the price change
    per unit of each feature at the average training row: ``(hi − lo)·σ′(z̄)·wⱼ``."""
    theta = np.asarray(params.to_theta(), np.float64)
    w_raw = theta[1:] / transform.std
    b_raw = theta[0] - float(np.sum(theta[1:] * transform.mean / transform.std))
    z = b_raw + float(np.asarray(x_raw, np.float64).mean(axis=0) @ w_raw)
    e = math.exp(-abs(z))
    per_unit = (transform.y_hi - transform.y_lo) * e / (1 + e) ** 2 * w_raw
    return {"raw_params": [b_raw, *map(float, w_raw)], "price_per_unit": [float(v) for v in per_unit],
            "price_scale": [float(transform.y_lo), float(transform.y_hi)]}
