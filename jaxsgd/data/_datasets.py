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
from jaxsgd.errors import DataError, InputError, python_name

PRICE_CAP = 1_000_000.0  # the built-in prices' scale: the noise-free price is PRICE_CAP·σ(z)
TRUE_RAW = (-4.0, 0.03, -0.02)  # the true θ of the built-in data in raw units: c, αa (per m²), αg (per year)
NOISE = 200_000.0  # label noise: enough scatter that the batch size matters (B_crit well above 1)
_CHUNK = 1 << 20
# training on the built-in data holds the two raw arrays (24 bytes a row) and working copies (the split,
# the scaled float32 arrays, the device's copies, the shuffle); 128 bytes a row covers them with a margin
BYTES_PER_ROW = 128


class Dataset(NamedTuple):
    """Raw data in the file's units, as :func:`load`, :func:`load_table` and :func:`synthetic_house_prices` give it.

    :func:`fit_transform` fits the scaling that takes it into the model's units.

    Attributes:
      x: the features, a float64 array of shape ``(N, d)``.
      y: the targets (prices), a float64 array of shape ``(N,)``; empty, shape ``(0,)``, for rows read
        without a target (new rows to predict).
      feature_names: the ``d`` column names of ``x``.
      target_name: the column name of ``y`` (``""`` when there is no target).
      source: where the rows come from: the file's path, or ``"synthetic(n=…, seed=…)"``.
      price_cap: the built-in data's known price scale ``P`` (:data:`PRICE_CAP`), ``None`` for a file.
      dropped_lines: the lines (CSV) or rows (Parquet) skipped for missing values, ascending; default ``()``.
      lines: the file's line (CSV, header = 1) or row (Parquet, first = 1) of each row, an int64 array of
        shape ``(N,)``; ``None`` (the default) for built-in data.
      unit: what ``lines`` counts, ``"line"`` (the default) or ``"row"``.

    Example:
      >>> ds = synthetic_house_prices(4, seed=0)
      >>> ds.x.shape, ds.y.shape, ds.feature_names, ds.target_name
      ((4, 2), (4,), ('floor_area_m2', 'age_years'), 'price')
      >>> ds.source, ds.price_cap, ds.lines is None
      ('synthetic(n=4, seed=0)', 1000000.0, True)
    """

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
    r"""The two maps between raw data and the model's units, fitted by :func:`fit_transform`.

    Features are standardised and targets scaled into the range of ``σ``:

    .. math::

       \tilde x = \frac{x - \mathrm{mean}}{\mathrm{std}}, \qquad t = \frac{y - y_{lo}}{y_{hi} - y_{lo}},

    and :meth:`price` takes a model output ``t`` back to price units.

    Attributes:
      mean: the features' means, a float64 array of shape ``(d,)``.
      std: the features' standard deviations (all ``> 0``), a float64 array of shape ``(d,)``.
      y_lo: the price that maps to ``t = 0``.
      y_hi: the price that maps to ``t = 1``.

    Example:
      >>> tr = Transform(mean=np.array([100.0, 40.0]), std=np.array([50.0, 20.0]), y_lo=0.0, y_hi=1e6)
      >>> tr.features([[150.0, 20.0]])
      array([[ 1., -1.]], dtype=float32)
      >>> float(tr.target(250_000.0)), float(tr.price(0.25))
      (0.25, 250000.0)
    """

    mean: np.ndarray
    std: np.ndarray
    y_lo: float
    y_hi: float

    def features(self, x):
        """Standardised features ``(x − mean)/std``, the model's input.

        Args:
          x: raw features, array-like of shape ``(N, d)`` (or ``(d,)`` for one row).

        Returns:
          A float32 array of the shape of ``x``; values beyond float32's range (far outside the fitted
          range, where σ is saturated) are clipped to its largest finite values.

        Example:
          >>> tr = Transform(np.array([100.0]), np.array([50.0]), 0.0, 1e6)
          >>> tr.features([[50.0], [200.0]])
          array([[-1.],
                 [ 2.]], dtype=float32)
        """
        # far outside the fitted range a score can pass float32's range; σ is saturated there, so clip
        with np.errstate(over="ignore"):
            z = (np.asarray(x, np.float64) - self.mean) / self.std
        top = np.finfo(np.float32).max
        return np.clip(z, -top, top).astype(np.float32)

    def target(self, y):
        """Scaled targets ``t = (y − y_lo)/(y_hi − y_lo)``, the model's training labels.

        Args:
          y: prices, array-like of any shape.

        Returns:
          A float32 array of the shape of ``y``; not clipped (:func:`check_targets` refuses those too far out).

        Example:
          >>> Transform(np.array([0.0]), np.array([1.0]), 0.0, 1e6).target([250_000.0, 1e6])
          array([0.25, 1.  ], dtype=float32)
        """
        with np.errstate(over="ignore"):  # see check_targets for values this map cannot take
            return ((np.asarray(y, np.float64) - self.y_lo) / (self.y_hi - self.y_lo)).astype(np.float32)

    def price(self, t):
        """A model output ``t`` back in price units: ``y_lo + t·(y_hi − y_lo)``, the inverse of :meth:`target`.

        Args:
          t: model outputs (or scaled targets), array-like of any shape.

        Returns:
          Prices, a float64 array of the shape of ``t``.

        Example:
          >>> Transform(np.array([0.0]), np.array([1.0]), 0.0, 1e6).price([0.25, 0.5])
          array([250000., 500000.])
        """
        return self.y_lo + np.asarray(t, np.float64) * (self.y_hi - self.y_lo)


def synthetic_house_prices(n: int = TRAIN_ROWS, *, seed: int = 0) -> Dataset:
    r"""The built-in data set: ``n`` houses with floor area and age, and a noisy σ-shaped price.

    Floor area ``a ~ U(40, 250)`` m², age ``g ~ U(0, 80)`` years, and

    .. math::

       \mathrm{price} = P \, \sigma(c + \alpha_a a + \alpha_g g) + \varepsilon, \qquad
       \varepsilon \sim N(0, s^2),

    with ``P`` = :data:`PRICE_CAP` (1,000,000), ``(c, αa, αg)`` = :data:`TRUE_RAW` (−4, 0.03, −0.02) and
    ``s`` = :data:`NOISE` (200,000), so some prices are negative. Generated in chunks: memory is the two
    output arrays (24 bytes a row), no per-row Python objects; deterministic by ``seed``.

    Args:
      n: the number of rows, ``> 0`` (default ``TRAIN_ROWS``, 100,000).
      seed: the seed of NumPy's ``default_rng``, a whole number in ``[0, 2**64)`` (default 0).

    Returns:
      A :class:`Dataset` with ``x`` of shape ``(n, 2)`` (``floor_area_m2``, ``age_years``), ``y`` of shape
      ``(n,)`` (``price``) and ``price_cap`` = ``P``.

    Raises:
      DataError: ``n ≤ 0``; a seed out of range; or training on ``n`` rows (~:data:`BYTES_PER_ROW` bytes
        a row) would not fit in this machine's physical memory.

    Example:
      >>> ds = synthetic_house_prices(1000, seed=0)
      >>> ds.x.shape, ds.y.shape, ds.feature_names
      ((1000, 2), (1000,), ('floor_area_m2', 'age_years'))
      >>> bool((synthetic_house_prices(5, seed=3).y == synthetic_house_prices(5, seed=3).y).all())
      True
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
    """The bytes of physical memory on this machine, from ``os.sysconf``.

    :func:`synthetic_house_prices` checks its rows against it.

    Returns:
      The size in bytes, an int; ``None`` where the system cannot say (no ``sysconf``, as on Windows).

    Example:
      >>> memory = physical_memory()
      >>> memory is None or memory > 0
      True
    """
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def true_theta(transform: Transform) -> np.ndarray:
    r"""The built-in data's true parameters ``(b*, w*₁, w*₂)`` in the model's units for ``transform``.

    With the target scaled by ``t = price / P`` and features standardised, ``x̃ = (x − μ)/σₓ``,

    .. math::

       b^* = c + \sum_j \alpha_j \mu_j, \qquad w^*_j = \alpha_j \sigma_{x,j},

    with ``(c, α)`` = :data:`TRUE_RAW`. Least squares on ``t`` is consistent for them because
    ``E[t | x] = σ(z)``.

    Args:
      transform: a :class:`Transform` fitted on built-in data (:func:`fit_transform`), so that its target
        scale is ``t = price / P``.

    Returns:
      ``(b*, w*₁, w*₂)``, a float64 array of shape ``(3,)``.

    Raises:
      DataError: the transform's target scale is not ``t = price / P`` (it was not fitted on built-in data).

    Example:
      >>> ds = synthetic_house_prices(1000, seed=0)
      >>> true_theta(fit_transform(ds)).round(2)
      array([-0.31,  1.79, -0.47])
    """
    c, a_area, a_age = TRUE_RAW
    alpha = np.array([a_area, a_age])
    scale = (transform.y_hi - transform.y_lo) / PRICE_CAP
    if transform.y_lo != 0.0 or not math.isclose(scale, 1.0):
        raise DataError("the synthetic truth is σ-shaped only for the target scale t = price / P: give the "
                        "transform fitted on the built-in data (data.fit_transform of synthetic_house_prices)")
    return np.concatenate([[c + alpha @ transform.mean], alpha * transform.std])


def fit_transform(ds: Dataset, rows=None) -> Transform:
    """Fits the standardisation of the features and a target scale into (0, 1), on the training rows.

    Features: ``x̃ = (x − mean)/std`` with the rows' means and standard deviations (computed on a power-of-two
    rescaling, so values near ±1e±200 neither overflow nor underflow). Targets: ``t = y / P`` for the
    built-in data (its known cap ``P``), otherwise ``t = (y − lo)/(hi − lo)`` with ``[lo, hi]`` the observed
    range widened by 5% on each side, so every observed target lies strictly inside (0, 1).

    Args:
      ds: the raw data, a :class:`Dataset`.
      rows: the training rows to fit on, an integer index array (or boolean mask) into ``ds``, e.g. the first
        array of :func:`split`; default ``None``, all rows.

    Returns:
      The fitted :class:`Transform`.

    Raises:
      DataError: a feature is constant in the rows, spans more than float64 can hold or varies too little
        for ``1/std`` to be held; the target is constant or its range overflows.

    Example:
      >>> ds = synthetic_house_prices(100, seed=0)
      >>> tr = fit_transform(ds, rows=np.arange(80))
      >>> tr.mean.shape, tr.y_lo, tr.y_hi
      ((2,), 0.0, 1000000.0)
      >>> bool(abs(tr.features(ds.x[:80]).mean()) < 1e-6)
      True
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
    """Checks that ``transform`` maps every target of ``ds`` within ``|t| ≤ FAR_TARGET`` (1e15).

    Rows outside the fitted ones (validation rows, or all rows when resuming from a checkpoint fitted
    elsewhere) can lie so far outside its range that ``½(t − h)²``, summed over rows, overflows float32.

    Args:
      ds: the data, a :class:`Dataset` with targets.
      transform: the :class:`Transform` that will scale them.

    Returns:
      ``None``, when every target is within range.

    Raises:
      DataError: a target maps beyond ``|t| ≤ FAR_TARGET`` (or is NaN); the message names the first such
        line or row and how many there are.

    Example:
      >>> ds = synthetic_house_prices(100, seed=0)
      >>> tr = fit_transform(ds)
      >>> check_targets(ds, tr)
      >>> check_targets(ds._replace(y=ds.y + 1e22), tr)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.DataError: target price at row 0 is 1e+22, too far outside the range [0, 1e+06] ...
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
    """Train and validation row indices: a random split of ``0 … n − 1``, deterministic by ``seed``.

    ``round(n·val_fraction)`` rows go to validation, the rest to training.

    Args:
      n: the number of rows.
      val_fraction: the share of rows for validation, in ``[0, 1)``; 0 gives no validation rows.
      seed: the seed of the permutation (keyword-only).

    Returns:
      Two sorted int64 index arrays ``(train, val)``, disjoint, together ``0 … n − 1``.

    Raises:
      DataError: ``val_fraction`` is outside ``[0, 1)``, or no training row would be left.

    Example:
      >>> train, val = split(10, 0.2, seed=0)
      >>> train.tolist(), val.tolist()
      ([0, 1, 2, 3, 4, 5, 6, 8], [7, 9])
      >>> split(10, 1.0, seed=0)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.DataError: val_fraction must be in [0, 1), got 1.0
    """
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(lambda n: f"{n('val_fraction')} must be in [0, 1), got {val_fraction}")
    perm = np.random.default_rng([seed, 0x5EED]).permutation(n)
    n_val = round(n * val_fraction)
    if n - n_val < 1:
        raise DataError(lambda n: f"no training rows left after the validation split: lower {n('val_fraction')}")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def load_table(path, features, target, *, drop_missing: bool = False, max_missing_rows_shown: int = 5,
             needed_by: str | None = None, shard: tuple[int, int] | None = None) -> Dataset:
    r"""Reads ``features`` and ``target`` columns (by header name) of a CSV or Parquet file into a :class:`Dataset`.

    The columns are read by :func:`read_table` (through pyarrow), every cell checked. Empty cells (or ``NA``,
    :data:`MISSING`) are missing: an error listing their count and first lines unless ``drop_missing``.
    Non-numeric or non-finite cells are an error naming file, line and column.

    Args:
      path: the file, a ``str`` or path-like; ``.parquet`` or ``.pq`` is read as Parquet, anything else
        as CSV.
      features: the feature columns' names, a sequence of strings (spaces around a name are ignored).
      target: the target column's name; ``None`` reads the features only (new rows to predict), and ``y``
        is then empty.
      drop_missing: skip rows with a missing value (listed in ``dropped_lines``) instead of raising;
        default ``False``.
      max_missing_rows_shown: how many lines of rows with missing values the error lists (default 5).
      needed_by: who asks for the features (e.g. ``"the checkpoint"``), named in the message for a missing
        column; default ``None``.
      shard: ``(i, n)`` reads only the ``i``-th of ``n`` parts of the rows (see :func:`read_table`); default
        ``None``, all rows.

    Returns:
      A :class:`Dataset` with ``source`` the path, ``lines`` the file's line or row of each row and
      ``price_cap`` ``None``.

    Raises:
      DataError: no feature names, a column both feature and target, a missing column, a cell that is not
        a finite number, rows with missing values (without ``drop_missing``), or no data rows.

    Example:
      >>> import os, tempfile
      >>> with tempfile.TemporaryDirectory() as folder:
      ...     path = os.path.join(folder, "houses.csv")
      ...     with open(path, "w") as f:
      ...         _ = f.write("area,age,price\n100,10,300000\n150,,450000\n80,30,200000\n")
      ...     ds = load_table(path, ["area", "age"], "price", drop_missing=True)
      ...     load_table(path, ["area", "age"], "price")
      Traceback (most recent call last):
      ...
      jaxsgd.errors.DataError: ...houses.csv: 1 row(s) with missing values in age (first at line 3); skip them ...
      >>> ds.x.tolist(), ds.y.tolist(), ds.lines.tolist(), ds.dropped_lines
      ([[100.0, 10.0], [80.0, 30.0]], [300000.0, 200000.0], [2, 4], (3,))
    """
    path = os.fspath(path)
    if isinstance(features, str) or not all(isinstance(f, str) for f in features):  # "abc" is not a, b, c
        raise DataError(lambda n: f"{n('features')} is a sequence of column names, e.g. ['median_income'], got "
                                  f"{features!r}")
    features = [f.strip() for f in features]
    target = target.strip() if isinstance(target, str) else target
    if not features or any(not f for f in features):
        raise DataError(lambda n: f"{n('features')} needs at least one column name")
    if target is not None and target in features:
        raise DataError(f"column {target} is both a feature and the target")
    wanted = [*features] + ([] if target is None else [target])
    try:
        table = read_table(path, wanted, needed_by=needed_by, shard=shard)
    except DataError as err:
        def feature_hint(n):
            return f"leave {target} out of {n('features')}, or encode it as 0/1 columns, one per category"

        if target is None or feature_hint(python_name) not in str(err):
            raise
        # the column of text is the target: the hint for a feature does not apply
        raise DataError(lambda n, said=err: said.render(n).replace(
            feature_hint(n), f"the target must be numbers: choose another {n('target')}")) from None
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
    """One line on the rows that :func:`load_table` skipped for missing values (``drop_missing``).

    Args:
      ds: the data, a :class:`Dataset`.
      shown: how many of the skipped lines to list before ``...`` (default 5).

    Returns:
      The note as a string, or ``None`` when no row was skipped.

    Example:
      >>> ds = synthetic_house_prices(10, seed=0)
      >>> dropped_note(ds) is None
      True
      >>> dropped_note(ds._replace(dropped_lines=(3, 7)))
      'dropped 2 row(s) with missing values (line 3, 7)'
    """
    if not ds.dropped_lines:
        return None
    more = ", ..." if len(ds.dropped_lines) > shown else ""
    return (f"dropped {len(ds.dropped_lines)} row(s) with missing values ({ds.unit} "
            f"{', '.join(map(str, ds.dropped_lines[:shown]))}{more})")


class DataSource(NamedTuple):
    """Where a job's rows come from: a file's columns, or ``n_rows`` of the built-in data drawn with ``seed``.

    :func:`load` reads it.

    Attributes:
      csv: the path of a ``.csv`` or ``.parquet`` file; ``None`` (the default): the built-in data.
      features: the file's feature columns, a tuple of names (a file only; default ``None``).
      target: the file's target column (a file only; default ``None``).
      drop_missing: skip the file's rows with missing values instead of refusing them (default ``False``).
      n_rows: how many rows of built-in data (default ``TRAIN_ROWS``, 100,000).
      seed: the seed of the built-in data (default 0).

    Example:
      >>> load(DataSource(n_rows=10, seed=1)).source
      'synthetic(n=10, seed=1)'
      >>> DataSource(csv="houses.csv", features=("area", "age"), target="price").drop_missing
      False
    """

    csv: str | None = None  # a .csv or .parquet path; None: the built-in data
    features: tuple[str, ...] | None = None
    target: str | None = None
    drop_missing: bool = False
    n_rows: int = TRAIN_ROWS  # built-in data only
    seed: int = 0  # built-in data only


def load(source: DataSource, shard: tuple[int, int] | None = None) -> Dataset:
    """The rows a :class:`DataSource` names: built-in data, or the columns of a file.

    ``source.n_rows`` rows of :func:`synthetic_house_prices` drawn with ``source.seed`` when ``source.csv``
    is ``None``; otherwise ``source.features`` and ``source.target`` of the file ``source.csv``, read by
    :func:`load_table`.

    Args:
      source: the :class:`DataSource`.
      shard: ``(i, n)`` reads only the file's ``i``-th of ``n`` parts (one process's share; see
        :func:`read_table`); default ``None``, all rows.

    Returns:
      The raw :class:`Dataset`.

    Raises:
      InputError: a file without ``features`` and ``target``; ``features``, ``target`` or ``shard`` without
        a file.
      DataError: the rows cannot be made or read (see :func:`synthetic_house_prices`, :func:`load_table`).

    Example:
      >>> load(DataSource(n_rows=10)).x.shape
      (10, 2)
      >>> load(DataSource(features=("area",)))
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: features and target name columns of a file: give csv
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
