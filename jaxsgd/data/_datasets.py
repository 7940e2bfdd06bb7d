"""Data: the built-in synthetic house prices, loading a CSV or Parquet file, scaling and the split.

The model's output is ``σ(z) ∈ (0, 1)``, so targets are scaled into that range
and features are standardised; :class:`Transform` keeps both maps so that
predictions and errors come back in price units.

Built-in data (``synthetic_house_prices``): floor area ``a ~ U(40, 250)`` m² and
age ``g ~ U(0, 80)`` years, price::

    price = P · σ(c + αa·a + αg·g) + ε,    ε ~ N(0, s²)

with ``P = 1,000,000``, ``(c, αa, αg) = (−4, 0.03, −0.02)`` and ``s = 200,000``.
With the target scaled by ``t = price / P`` and standardised features
``x̃ = (x − μ)/σₓ``, the true parameters in the model's units are
``b* = c + Σ αⱼ μⱼ`` and ``w*ⱼ = αⱼ σₓⱼ`` (:func:`true_theta`): least squares on
``t`` is consistent for them because ``E[t | x] = σ(z)``.

>>> ds = synthetic_house_prices(1000, seed=0)
>>> ds.x.shape, ds.y.shape, ds.feature_names
((1000, 2), (1000,), ('floor_area_m2', 'age_years'))
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np

from jaxsgd.data._tables import read_table
from jaxsgd.defaults import TRAIN_ROWS
from jaxsgd.errors import DataError, InputError

PRICE_CAP = 1_000_000.0
TRUE_RAW = (-4.0, 0.03, -0.02)  # c, αa (per m²), αg (per year)
NOISE = 200_000.0  # label noise: enough scatter that the batch size matters (B_crit well above 1)
_CHUNK = 1 << 20
# training on the built-in data holds the two raw arrays (24 bytes a row) and working copies (the split,
# the scaled float32 arrays, the device's copies, the shuffle); 128 bytes a row covers them with a margin
BYTES_PER_ROW = 128


class Dataset(NamedTuple):
    """Raw data: ``x`` (N, d) float64 features, ``y`` (N,) float64 prices."""

    x: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    source: str
    price_cap: float | None = None  # the synthetic data's known scale P, else None
    dropped_lines: tuple[int, ...] = ()  # CSV lines skipped for missing values
    lines: np.ndarray | None = None  # the file's line (CSV) or row (Parquet) of each row; None for built-in data
    unit: str = "line"  # what ``lines`` counts: "line" or "row"


class Transform(NamedTuple):
    """``x̃ = (x − mean)/std`` and ``t = (y − y_lo)/(y_hi − y_lo)``."""

    mean: np.ndarray
    std: np.ndarray
    y_lo: float
    y_hi: float

    def features(self, x):
        # far outside the fitted range a score can pass float32's range; σ is saturated there, so clip
        with np.errstate(over="ignore"):
            z = (np.asarray(x, np.float64) - self.mean) / self.std
        top = np.finfo(np.float32).max
        return np.clip(z, -top, top).astype(np.float32)

    def target(self, y):
        with np.errstate(over="ignore"):  # see check_targets for values this map cannot take
            return ((np.asarray(y, np.float64) - self.y_lo) / (self.y_hi - self.y_lo)).astype(np.float32)

    def price(self, t):
        """Model output ``t`` back in price units."""
        return self.y_lo + np.asarray(t, np.float64) * (self.y_hi - self.y_lo)


def synthetic_house_prices(n: int = TRAIN_ROWS, *, seed: int = 0) -> Dataset:
    """The built-in data set: ``n`` houses, deterministic by ``seed``, generated in chunks.

    Memory is the two output arrays (24 bytes per row); no per-row Python objects.
    Raises ``DataError`` when training on ``n`` rows (:data:`BYTES_PER_ROW`) would not
    fit in this machine's physical memory.
    """
    n = int(n)
    if n <= 0:
        raise DataError(f"the number of rows must be > 0, got {n}")
    memory = physical_memory()
    if memory is not None and n * BYTES_PER_ROW > memory:
        raise DataError(
            f"{n:,} rows of built-in data need about {n * BYTES_PER_ROW / 1e9:,.3g} GB of memory to train on "
            f"(~{BYTES_PER_ROW} bytes a row) but this machine has {memory / 1e9:.3g} GB: use at most "
            f"{memory // BYTES_PER_ROW:,} rows")
    if not 0 <= seed < 2**64:
        raise DataError(f"seed must be a whole number in [0, 2**64), got {seed}")
    rng = np.random.default_rng(seed)
    x = np.empty((n, 2), np.float64)
    y = np.empty(n, np.float64)
    c, a_area, a_age = TRUE_RAW
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        m = stop - start
        area = rng.uniform(40.0, 250.0, m)
        age = rng.uniform(0.0, 80.0, m)
        z = c + a_area * area + a_age * age
        x[start:stop, 0], x[start:stop, 1] = area, age
        y[start:stop] = PRICE_CAP / (1.0 + np.exp(-z)) + rng.normal(0.0, NOISE, m)
    return Dataset(x, y, ("floor_area_m2", "age_years"), "price", f"synthetic(n={n}, seed={seed})", PRICE_CAP)


def physical_memory() -> int | None:
    """Bytes of physical memory on this machine (``os.sysconf``), or ``None`` where it cannot say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def true_theta(transform: Transform) -> np.ndarray:
    """The synthetic truth ``(b*, w*₁, w*₂)`` in the model's units for ``transform``."""
    c, a_area, a_age = TRUE_RAW
    alpha = np.array([a_area, a_age])
    scale = (transform.y_hi - transform.y_lo) / PRICE_CAP
    if transform.y_lo != 0.0 or not math.isclose(scale, 1.0):
        raise ValueError("the synthetic truth is σ-shaped only for the target scale t = price / P")
    return np.concatenate([[c + alpha @ transform.mean], alpha * transform.std])


def fit_transform(ds: Dataset, rows=None) -> Transform:
    """Standardisation of the features and a target scale into (0, 1), fitted on ``rows``.

    The target map is ``t = y / P`` for the built-in data (its known cap ``P``),
    otherwise ``t = (y − lo)/(hi − lo)`` with ``[lo, hi]`` the observed range
    widened by 5% on each side, so every observed target lies strictly inside (0, 1).
    """
    x = ds.x if rows is None else ds.x[rows]
    y = ds.y if rows is None else ds.y[rows]
    with np.errstate(over="ignore"):
        span = x.max(axis=0) - x.min(axis=0)
    wide = [ds.feature_names[j] for j in np.flatnonzero(~np.isfinite(span))]
    if wide:
        raise DataError(f"feature {', '.join(wide)} spans more than float64 can hold (max − min overflows): "
                        "rescale the column, e.g. divide it by 1e300")
    mean, std = _mean_std(x)
    bad = [ds.feature_names[j] for j in np.flatnonzero(~(std > 0))]
    if bad:
        raise DataError(f"feature {', '.join(bad)} is constant in the training rows: drop it")
    with np.errstate(over="ignore", divide="ignore"):
        # θ in raw units is wⱼ/stdⱼ and b − Σ wⱼ·meanⱼ/stdⱼ: a spread so small that 1/std (or mean/std)
        # passes float64's range could be trained on, but its results not be reported
        small = [j for j in range(len(std)) if not (np.isfinite(1 / std[j]) and np.isfinite(mean[j] / std[j]))]
    if small:
        j = small[0]
        raise DataError(f"feature {ds.feature_names[j]} varies by only {std[j]:.3g} (its standard deviation), "
                        "too little for its effect per unit to be held in float64 (1/std overflows): rescale "
                        "the column, e.g. multiply it by 1e300")
    if ds.price_cap is not None:
        lo, hi = 0.0, ds.price_cap
    else:
        lo, hi = float(y.min()), float(y.max())
        if not hi > lo:
            raise DataError(f"target {ds.target_name} is constant in the training rows: nothing to fit")
        with np.errstate(over="ignore"):
            pad = 0.05 * (np.float64(hi) - np.float64(lo))
            lo, hi = float(lo - pad), float(hi + pad)
        if not all(map(math.isfinite, (lo, hi, hi - lo))):
            raise DataError(f"target {ds.target_name} ranges from {float(y.min()):.3g} to {float(y.max()):.3g}, "
                            "too wide to scale in float64 (the range overflows): rescale the column, e.g. "
                            "divide it by 1e300")
    return Transform(mean, std, lo, hi)


def _mean_std(x):
    """Column means and standard deviations, computed on ``x / 2ᵏ`` with ``2ᵏ ≤ max|x|`` so that the
    squares neither overflow (values near ±1e200) nor underflow (near ±1e-200); scaling by a power of
    two is exact, so ordinary data get the same numbers as ``x.mean(0), x.std(0)``."""
    top = np.max(np.abs(x), axis=0)
    _, e = np.frexp(np.where(top > 0, top, 1.0))
    scale = np.ldexp(1.0, e - 1)
    u = x / scale
    return u.mean(axis=0) * scale, u.std(axis=0) * scale


FAR_TARGET = 1e15  # |t| beyond this and ½(t − h)² overflows float32 once summed over rows


def check_targets(ds: Dataset, transform: Transform) -> None:
    """Raises ``DataError`` for a target that ``transform`` maps beyond ``|t| ≤ FAR_TARGET``.

    Rows outside the fitted ones (validation rows, or all rows when resuming from a
    checkpoint fitted elsewhere) can lie so far outside its range that the loss overflows.
    """
    with np.errstate(over="ignore"):
        t = (ds.y - transform.y_lo) / (transform.y_hi - transform.y_lo)
    far = np.flatnonzero(~(np.abs(t) <= FAR_TARGET))
    if far.size:
        i = int(far[0])
        where = f"{ds.unit} {ds.lines[i]}" if ds.lines is not None else f"row {i}"
        raise DataError(
            f"target {ds.target_name} at {where} is {ds.y[i]:.6g}, too far outside the range "
            f"[{transform.y_lo:.6g}, {transform.y_hi:.6g}] the target scale was fitted on (its loss would "
            f"overflow): rescale the column or remove the row ({far.size} such row(s))")


def split(n: int, val_fraction: float, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation row indices, a random split by ``seed``."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(lambda n: f"{n('val_fraction')} must be in [0, 1), got {val_fraction}")
    perm = np.random.default_rng([seed, 0x5EED]).permutation(n)
    n_val = round(n * val_fraction)
    if n - n_val < 1:
        raise DataError(lambda n: f"no training rows left after the validation split: lower {n('val_fraction')}")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def load_table(path, features, target, *, drop_missing: bool = False, max_missing_rows_shown: int = 5,
             needed_by: str | None = None, shard: tuple[int, int] | None = None) -> Dataset:
    """Reads ``features`` and ``target`` columns (by header name) from a CSV or Parquet file
    (:func:`jaxsgd.data.read_table`, through pyarrow).

    ``target=None`` reads the features only (new rows to predict); ``y`` is then empty.

    Empty cells (or ``NA``) are missing: an error listing their count and first
    lines unless ``drop_missing``. Non-numeric or non-finite cells are an error
    naming file, line and column. ``needed_by`` names who asks for the features
    (e.g. ``"the checkpoint"``) in the message for a missing column; ``shard=(i, n)``
    reads only the ``i``-th of ``n`` parts of the rows (see :func:`jaxsgd.data.read_table`).
    """
    path = os.fspath(path)
    features = [f.strip() for f in features]
    if not features or any(not f for f in features):
        raise DataError(lambda n: f"{n('features')} needs at least one column name")
    if target is not None and target in features:
        raise DataError(f"column {target} is both a feature and the target")
    wanted = [*features] + ([] if target is None else [target])
    table = read_table(path, wanted, needed_by=needed_by, shard=shard)
    nan = np.isnan(table.values)
    hole = nan.any(axis=1) if nan.any() else np.zeros(len(table.lines), bool)  # the row-wise pass only if needed
    missing = table.lines[hole]
    if missing.size and not drop_missing:
        shown = ", ".join(map(str, missing[:max_missing_rows_shown].tolist()))
        blank = ", ".join(c for c, gap in zip(wanted, nan.any(axis=0), strict=True) if gap)  # only those with gaps
        raise DataError(lambda n: f"{path}: {missing.size} row(s) with missing values in {blank} "
                                  f"(first at {table.unit} {shown}); skip them with {n('drop_missing')}")
    arr, at = (table.values[~hole], table.lines[~hole]) if missing.size else (table.values, table.lines)
    if not len(arr) and shard is None:
        raise DataError(f"{path}: no data rows" + (" left after dropping missing values" if missing.size else ""))
    dropped = tuple(missing.tolist())
    if target is None:
        return Dataset(arr, np.empty(0), tuple(features), "", path, None, dropped, at, table.unit)
    return Dataset(arr[:, :-1], arr[:, -1], tuple(features), target, path, None, dropped, at, table.unit)


def dropped_note(ds: Dataset, shown: int = 5) -> str | None:
    """One line on the rows skipped for missing values, or ``None`` when none were."""
    if not ds.dropped_lines:
        return None
    more = ", ..." if len(ds.dropped_lines) > shown else ""
    return (f"dropped {len(ds.dropped_lines)} row(s) with missing values ({ds.unit} "
            f"{', '.join(map(str, ds.dropped_lines[:shown]))}{more})")


class DataSource(NamedTuple):
    """Where a job's rows come from: a file's columns, or ``n_rows`` of the built-in data drawn with ``seed``."""

    csv: str | None = None  # a .csv or .parquet path; None: the built-in data
    features: tuple[str, ...] | None = None
    target: str | None = None
    drop_missing: bool = False
    n_rows: int = TRAIN_ROWS  # built-in data only
    seed: int = 0  # built-in data only


def load(source: DataSource, shard: tuple[int, int] | None = None) -> Dataset:
    """The built-in data, or ``source.features`` and ``source.target`` of the file ``source.csv``
    (``shard=(i, n)``: only its ``i``-th of ``n`` parts, see :func:`jaxsgd.data.read_table`).

    >>> load(DataSource(n_rows=10)).x.shape
    (10, 2)
    """
    if source.csv is None:
        if shard is not None:
            raise InputError(lambda n: f"sharded data ({n('shard_data')}) is read from a file: give {n('csv')}")
        if source.features or source.target:
            raise InputError(lambda n: f"{n('features')} and {n('target')} name columns of a file: give {n('csv')}")
        return synthetic_house_prices(source.n_rows, seed=source.seed)
    if not source.features or not source.target:
        raise InputError(lambda n: f"{n('csv')} needs {n('features')} and {n('target')}")
    return load_table(source.csv, source.features, source.target, drop_missing=source.drop_missing, shard=shard)
