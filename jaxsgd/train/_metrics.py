"""How good a fit is, in price units: predictions, RMSE and R², θ for unscaled features; pooled over every
process's rows when they are sharded (:mod:`jaxsgd.distributed`), with the scaling fitted on all of them."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import data as data_mod
from jaxsgd.distributed import every_process, process_count
from jaxsgd.errors import DataError
from jaxsgd.model import sigmoid


class Metrics(NamedTuple):
    """Fit quality in price units: what :func:`metrics` returns.

    Attributes:
      rmse: the root-mean-square error ``√((1/N) Σᵢ (priceᵢ − predictionᵢ)²)`` in
        price units; NaN for no rows.
      r2: the coefficient of determination ``R² = 1 − SS_res/SS_tot`` (1 is a
        perfect fit, 0 no better than the mean); NaN for no rows or targets all
        equal.

    Example:
      >>> Metrics(rmse=3.79, r2=0.994).rmse
      3.79
      >>> Metrics(math.nan, math.nan)._fields
      ('rmse', 'r2')
    """

    rmse: float
    r2: float


def metrics(params, transform, x_raw, y_raw, *, pooled: bool = False, model=None) -> Metrics:
    r"""RMSE and R² in price units of the model's predictions on raw rows.

    .. math::

      \mathrm{RMSE} = (hi − lo)\sqrt{\tfrac1N \textstyle\sum_i (t_i − h_i)^2}, \qquad
      R^2 = 1 − \frac{\sum_i (t_i − h_i)^2}{\sum_i (t_i − \bar t)^2}

    Computed in the model's units ``t = (y − lo)/(hi − lo)``, where squares cannot
    overflow whatever the price scale, and brought back by ``hi − lo``. Each part's
    count, squared residuals, sum and squares about its own mean are combined
    exactly (the parallel form of the two-pass variance), so one part gives the
    two-pass figures themselves.

    Args:
      params: the trained parameters (:class:`jaxsgd.model.Params` for the
        neuron, or ``model``'s pytree).
      transform: the :class:`jaxsgd.data.Transform` the model was trained with.
      x_raw: raw (unscaled) features ``(N, d)``.
      y_raw: raw targets ``(N,)`` in price units.
      pooled: combine every process's rows (data sharded over processes,
        :mod:`jaxsgd.distributed`); default ``False``: this process's rows only.
      model: any :class:`jaxsgd.model.Model` with a ``predict`` (default
        ``None``: the neuron, evaluated in float64).

    Returns:
      ``Metrics(rmse, r2)``, both Python floats (NaN for no rows; ``r2`` NaN
      when the targets are all equal).

    Raises:
      DataError: a row too far from the training rows to predict (as :func:`predict_prices`).

    Example:
      >>> from jaxsgd.data import Transform
      >>> from jaxsgd.model import Params
      >>> tr = Transform(np.array([0.0]), np.array([1.0]), 100.0, 300.0)   # price = 100 + 200·h
      >>> m = metrics(Params.from_theta([0.0, 1.0]), tr, np.array([[-1.0], [1.0]]), np.array([150.0, 250.0]))
      >>> round(m.rmse, 4), round(m.r2, 4)   # predictions 153.79 and 246.21
      (3.7883, 0.9943)
    """
    scale = transform.y_hi - transform.y_lo
    t = (np.asarray(y_raw, np.float64) - transform.y_lo) / scale
    resid = t - _predict(params, transform, x_raw, model=model) if len(t) else t
    mine = [len(t), float(np.sum(resid**2)), float(np.sum(t)), float(np.sum((t - t.mean()) ** 2)) if len(t) else 0.0]
    parts = every_process(mine) if pooled else np.asarray([mine])
    n = parts[:, 0].sum()
    if n == 0:
        return Metrics(math.nan, math.nan)
    means = np.divide(parts[:, 2], parts[:, 0], out=np.zeros(len(parts)), where=parts[:, 0] > 0)
    ss_tot = float(np.sum(parts[:, 3] + parts[:, 0] * (means - parts[:, 2].sum() / n) ** 2))
    ss_res = float(parts[:, 1].sum())
    return Metrics(math.sqrt(ss_res / n) * scale, 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan)


def scores(params, transform, x_raw, *, feature_names=None, lines=None, unit: str = "row") -> np.ndarray:
    r"""The model's scores ``z = b + Σⱼ wⱼ·(xⱼ − meanⱼ)/stdⱼ`` of raw rows, in float64 on the host.

    Each standardised column is formed in float64 and the sum runs column by
    column, in the same order for every row, so that a row's score does not
    depend on the other rows of the file (a float32 matrix product rounds
    differently as the row count changes its blocking). The terms are divided
    by a power of two at least the largest of them (exactly) and summed with
    Neumaier's compensation, so the sum cannot overflow to ``inf − inf`` and
    ``b`` survives terms that cancel (``2·1e300 − 2·1e300``); a score beyond
    float64's range comes out as ``±inf``, where σ is exactly 0 or 1.

    Raises ``DataError`` naming the column (and the row, by ``lines`` and
    ``unit``) when a standardised value itself overflows float64: a row some
    1e308 standard deviations from the training rows.

    >>> from jaxsgd import data
    >>> from jaxsgd.model import Params
    >>> tr = data.Transform(np.array([1.0]), np.array([2.0]), 0.0, 1.0)
    >>> scores(Params.from_theta([0.5, 1.0]), tr, np.array([[1.0], [5.0]])).tolist()
    [0.5, 2.5]
    """
    x = np.asarray(x_raw, np.float64)
    theta = np.asarray(params.to_theta(), np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        xs = (x - transform.mean) / transform.std
        terms = xs * theta[1:]
    far = ~np.isfinite(xs)
    if far.any():
        i, j = (int(v[0]) for v in np.nonzero(far))
        name = feature_names[j] if feature_names is not None else f"feature {j}"
        where = f"{unit} {lines[i]}" if lines is not None else f"row {i}"
        raise DataError(f"{where}, column {name}: {x[i, j]:.6g} lies beyond float64's range in training units "
                        f"((x − {transform.mean[j]:.6g})/{transform.std[j]:.6g} overflows), so no prediction "
                        "can be made: check the row, or train on data of its scale")
    terms = np.concatenate([np.broadcast_to(theta[0], (len(x), 1)), terms], axis=1)
    top = np.max(np.abs(terms), axis=1) if len(x) else np.ones(0)
    scale = np.ldexp(1.0, np.frexp(np.where(top > 0, top, 1.0))[1])  # a power of two ≥ the largest term: exact
    total, carry = np.zeros(len(x)), np.zeros(len(x))
    for j in range(terms.shape[1]):  # column by column, Neumaier's compensated sum: b survives w·x = a − a
        u = terms[:, j] / scale
        t = total + u
        carry += np.where(np.abs(total) >= np.abs(u), (total - t) + u, (u - t) + total)
        total = t
    with np.errstate(over="ignore"):
        return (total + carry) * scale


def _sigmoid(z) -> np.ndarray:
    """σ in float64 (:func:`jaxsgd.model.sigmoid`, evaluated with x64 enabled)."""
    with jax.enable_x64(True):
        return np.asarray(sigmoid(jnp.asarray(z, jnp.float64)), np.float64)


def _predict(params, transform, x_raw, model=None, **where) -> np.ndarray:
    """The model's outputs ``h ∈ [0, 1]`` for raw feature rows, as float64: the neuron's in float64 (see
    :func:`scores`); any other model's ``predict`` on the scaled rows, in the parameters' dtype."""
    if model is None:
        return _sigmoid(scores(params, transform, x_raw, **where))
    x = jnp.asarray(transform.features(np.asarray(x_raw, np.float64)), jax.tree.leaves(params)[0].dtype)
    return np.asarray(_batched(model.predict)(params, x), np.float64)


@functools.lru_cache(maxsize=16)
def _batched(predict):
    return jax.jit(jax.vmap(predict, in_axes=(None, 0)))


def predict_prices(params, transform, x_raw, *, feature_names=None, lines=None, unit: str = "row",
                   model=None) -> np.ndarray:
    """Predictions in price units for raw feature rows: ``lo + (hi − lo)·σ(z)``.

    ``z = b + Σⱼ wⱼ·(xⱼ − meanⱼ)/stdⱼ`` is computed in float64 (:func:`scores`), so a
    row's prediction is the same whichever other rows come with it; a row far
    outside the training range saturates σ to exactly 0 or 1.

    Args:
      params: the trained parameters (:class:`jaxsgd.model.Params` for the
        neuron, or ``model``'s pytree).
      transform: the :class:`jaxsgd.data.Transform` the model was trained with.
      x_raw: raw (unscaled) features ``(N, d)``.
      feature_names: the columns' names, for the error message (default
        ``None``: ``feature j``).
      lines: each row's line (or row) in its file, for the error message
        (default ``None``: the row's index).
      unit: what ``lines`` counts, ``"row"`` (default) or ``"line"``.
      model: any :class:`jaxsgd.model.Model` with a ``predict``, applied to the
        scaled rows in the parameters' dtype (default ``None``: the neuron).

    Returns:
      A float64 numpy array ``(N,)`` of predicted prices, each in ``[lo, hi]``.

    Raises:
      DataError: a row so far from the training rows that its standardised
        value overflows float64, naming its column and row.

    Example:
      >>> from jaxsgd import data
      >>> from jaxsgd.model import Params
      >>> tr = data.Transform(np.array([0.0]), np.array([1.0]), 100.0, 300.0)
      >>> predict_prices(Params.from_theta([0.0, 1.0]), tr, np.array([[0.0], [1e300]])).tolist()
      [200.0, 300.0]
      >>> tiny = data.Transform(np.array([0.0]), np.array([1e-10]), 100.0, 300.0)
      >>> predict_prices(Params.from_theta([0.0, 1.0]), tiny, np.array([[0.0], [1e300]]), feature_names=["area"])
      Traceback (most recent call last):
      ...
      jaxsgd.errors.DataError: row 1, column area: 1e+300 lies beyond float64's range in training units ...
    """
    return transform.price(_predict(params, transform, x_raw, model, feature_names=feature_names, lines=lines,
                                    unit=unit))


def shared_transform(ds: data_mod.Dataset, rows) -> data_mod.Transform:
    """:func:`jaxsgd.data.fit_transform` of every process's ``rows`` together (data sharded over processes).

    Each process's count ``nₚ``, feature means ``x̄ₚ`` and variances ``vₚ`` and
    target range are gathered and pooled exactly:
    ``x̄ = Σ nₚ x̄ₚ / Σ nₚ``, ``std = √(Σ nₚ (vₚ + (x̄ₚ − x̄)²) / Σ nₚ)``, and the
    target range ``[min, max]`` padded by 5 % on each side. With one process it
    is :func:`jaxsgd.data.fit_transform` itself.

    Args:
      ds: this process's :class:`jaxsgd.data.Dataset`.
      rows: the indices of this process's training rows in ``ds``.

    Returns:
      The :class:`jaxsgd.data.Transform` fitted on every process's rows, the
      same on every process.

    Raises:
      DataError: a feature or the target is constant or out of range in the
        rows (as :func:`jaxsgd.data.fit_transform` says, for this process's rows).

    Example:
      >>> from jaxsgd import data
      >>> ds = data.load(data.DataSource(n_rows=100))
      >>> tr = shared_transform(ds, np.arange(80))
      >>> bool(np.array_equal(tr.mean, data.fit_transform(ds, np.arange(80)).mean)), tr.std.shape
      (True, (2,))
    """
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
    r"""θ for unscaled features, and the price change per unit of each feature at the average training row.

    With ``x̃ⱼ = (xⱼ − meanⱼ)/stdⱼ`` the scaled model ``σ(b + Σ wⱼ x̃ⱼ)`` is
    ``h = σ(b_raw + Σ wⱼ,raw xⱼ)`` on raw features, ``price = lo + (hi − lo)·h``:

    .. math::

      w_{j,\mathrm{raw}} = \frac{w_j}{\mathrm{std}_j}, \qquad
      b_\mathrm{raw} = b − \sum_j w_j \frac{\mathrm{mean}_j}{\mathrm{std}_j}, \qquad
      \frac{∂\,\mathrm{price}}{∂x_j} = (hi − lo)\,σ′(\bar z)\,w_{j,\mathrm{raw}}

    at ``z̄``, the score of the average row of ``x_raw``. Each is formed in an order
    whose steps stay inside float64 for features and prices of any scale: ``z̄``
    from the standardised rows (raw features near 1e307 would overflow their own
    mean), the price change as ``((hi − lo)/stdⱼ)·σ′(z̄)·θⱼ``
    (``θⱼ/stdⱼ`` first would underflow to 0 when both the features and the prices
    are huge). A value float64 cannot hold comes out as ``±inf`` (see :func:`raw_unit_warnings`).

    Args:
      params: the neuron's trained :class:`jaxsgd.model.Params` (on scaled features).
      transform: the :class:`jaxsgd.data.Transform` it was trained with.
      x_raw: the raw training rows ``(N, d)``; the price change is taken at their average row.

    Returns:
      A JSON-able dict: ``"raw_params"`` ``[b_raw, w1_raw, …, wd_raw]``,
      ``"price_per_unit"`` ``[∂price/∂x1, …]`` (``d`` floats) and
      ``"price_scale"`` ``[lo, hi]``.

    Example:
      >>> from jaxsgd.data import Transform
      >>> from jaxsgd.model import Params
      >>> tr = Transform(np.array([10.0]), np.array([2.0]), 100.0, 300.0)
      >>> raw = raw_units(Params.from_theta([0.5, 1.0]), tr, np.array([[8.0], [12.0]]))
      >>> [float(v) for v in raw["raw_params"]], round(raw["price_per_unit"][0], 4), raw["price_scale"]
      ([-4.5, 0.5], 23.5004, [100.0, 300.0])
    """
    theta = np.asarray(params.to_theta(), np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        w_raw = theta[1:] / transform.std
        b_raw = theta[0] - float(np.sum(theta[1:] * (transform.mean / transform.std)))
        x = np.asarray(x_raw, np.float64)
        z = float(theta[0] + np.sum(theta[1:] * ((x - transform.mean) / transform.std).mean(axis=0)))
        e = math.exp(-abs(z)) if math.isfinite(z) else 0.0
        slope = e / (1 + e) ** 2
        # as a sum of logarithms: (hi − lo)/stdⱼ or θⱼ/stdⱼ alone may overflow or underflow where the product
        # does not (prices near 1e308 with features of unit spread)
        span = transform.y_hi - transform.y_lo
        log_span = math.log(span) if math.isfinite(span) else math.log(transform.y_hi / 2 - transform.y_lo / 2) \
            + math.log(2)
        with np.errstate(divide="ignore"):
            logs = log_span + math.log(slope) + np.log(np.abs(theta[1:])) - np.log(transform.std) if slope > 0 \
                else np.full(theta[1:].shape, -np.inf)
        per_unit = np.sign(theta[1:]) * np.exp(logs)
    return {"raw_params": [b_raw, *map(float, w_raw)], "price_per_unit": [float(v) for v in per_unit],
            "price_scale": [float(transform.y_lo), float(transform.y_hi)]}


def raw_unit_warnings(raw: dict, feature_names) -> list[str]:
    """One line per feature whose raw-unit θ or price change per unit float64 cannot hold (see :func:`raw_units`)."""
    out = []
    for j, name in enumerate(feature_names):
        w, per = raw["raw_params"][1 + j], raw["price_per_unit"][j]
        if math.isfinite(w) and not math.isfinite(per):
            out.append(f"feature {name}: its price change per unit ({per:.3g}) is beyond float64, as the target's "
                       f"scale ({raw['price_scale'][1] - raw['price_scale'][0]:.3g}) is so large: rescale the target "
                       "(e.g. divide it by 1e300) to read it; the scaled θ and the predictions are unaffected")
        elif not (math.isfinite(w) and math.isfinite(per)):
            out.append(f"feature {name}: its θ in raw units ({w:.3g}) or price change per unit ({per:.3g}) is beyond "
                       "float64, as its standard deviation is so small: rescale the column (e.g. multiply it by "
                       "1e300) to read them; the scaled θ and the predictions are unaffected")
    if not math.isfinite(raw["raw_params"][0]):
        out.append("the intercept b in raw units is beyond float64 (a feature's mean/std overflows): centre or "
                   "rescale the features to read it; the scaled θ and the predictions are unaffected")
    return out
