"""jaxsgd: SGD on the sigmoid neuron h(x) = σ(b + w·x), exact and compiled with JAX.

One subpackage per pillar, each the one public home of its names:

- :mod:`jaxsgd.model`: σ, the neuron, its per-example and batch loss;
- :mod:`jaxsgd.exercise`: the exercise's worked SGD step, written out;
- :mod:`jaxsgd.derivatives`: σ⁽ᵏ⁾ as exact polynomials, a person's answer judged, numerical methods;
- :mod:`jaxsgd.data`: the built-in data, CSV and Parquet tables, scaling;
- :mod:`jaxsgd.train`: the SGD step, epochs, ``fit``, ``sweep``, checkpoints, the train job;
- :mod:`jaxsgd.study`: the batch-size study, the noise scale, advice and claims;
- :mod:`jaxsgd.distributed`, :mod:`jaxsgd.errors`, :mod:`jaxsgd.checks`, :mod:`jaxsgd.defaults`,
  :mod:`jaxsgd.paths`: what every pillar shares.

Each is imported on first use (``jaxsgd.train.fit``), so that commands which need
no JAX (``jaxsgd derivative``, ``jaxsgd check-derivative``) start quickly.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("checks", "data", "defaults", "derivatives", "distributed", "errors", "exercise", "model", "paths",
               "study", "train")

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxsgd.{name}")
    raise AttributeError(f"module 'jaxsgd' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES])
