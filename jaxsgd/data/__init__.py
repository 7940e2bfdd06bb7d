"""Data in: the built-in synthetic house prices, CSV and Parquet tables, scaling and the split (no JAX).

The model's output is ``σ(z) ∈ (0, 1)``, so targets are scaled into that range
and features standardised; a :class:`Transform` keeps both maps so that
predictions and errors come back in price units. :func:`load` reads a
:class:`DataSource`; :func:`read_table` is the column reader under it, checked
cell by cell and able to read one shard of a file per process.

>>> ds = load(DataSource(n_rows=100))
>>> tr = fit_transform(ds)
>>> tr.features(ds.x).shape, round(float(tr.features(ds.x).mean()), 6) == 0.0
((100, 2), True)
"""

from jaxsgd.data._datasets import (
    BYTES_PER_ROW,
    FAR_TARGET,
    NOISE,
    PRICE_CAP,
    TRUE_RAW,
    Dataset,
    DataSource,
    Transform,
    check_targets,
    dropped_note,
    fit_transform,
    load,
    load_table,
    physical_memory,
    split,
    synthetic_house_prices,
    true_theta,
)
from jaxsgd.data._tables import MISSING, Table, read_table

__all__ = [
    "BYTES_PER_ROW",
    "FAR_TARGET",
    "MISSING",
    "NOISE",
    "PRICE_CAP",
    "TRUE_RAW",
    "DataSource",
    "Dataset",
    "Table",
    "Transform",
    "check_targets",
    "dropped_note",
    "fit_transform",
    "load",
    "load_table",
    "physical_memory",
    "read_table",
    "split",
    "synthetic_house_prices",
    "true_theta",
]
