"""One validator per kind of argument; each raises :class:`~jaxsgd.errors.InputError` naming the argument.

The library checks its arguments here and nowhere else, so that ``fit``,
``sweep``, the study and the jobs refuse the same input with the same words (and
the command line renders those words with its flags). numpy only: JAX arrays
are read through ``np.asarray``.

>>> count("epochs", 3)
3
>>> count("epochs", 0)
Traceback (most recent call last):
...
jaxsgd.errors.InputError: epochs must be a whole number > 0, got 0
"""

from __future__ import annotations

import math

import numpy as np

from jaxsgd.errors import InputError

__all__ = ["batch_size", "choice", "count", "data", "finite", "keys", "learning_rate", "learning_rates", "seed",
           "whole"]


def whole(v) -> bool:
    """A whole number (``int`` or a numpy integer, not ``bool``)."""
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def count(name: str, v, *, at_least: int = 1) -> int:
    """A whole number ``≥ at_least`` (epochs, seeds, steps, rows)."""
    if not whole(v) or v < at_least:
        bound = "> 0" if at_least == 1 else f"≥ {at_least}"
        raise InputError(lambda n: f"{n(name)} must be a whole number {bound}, got {v!r}")
    return int(v)


def seed(v, name: str = "seed") -> int:
    """A seed in ``[0, 2⁶⁴)``."""
    if not whole(v) or not 0 <= int(v) < 2**64:
        raise InputError(lambda n: f"{n(name)} must be a whole number in [0, 2**64), got {v!r}")
    return int(v)


def choice(name: str, v, options) -> str:
    """One of ``options``."""
    if v not in options:
        raise InputError(lambda n: f"unknown {n(name)} {v!r}: choose one of {', '.join(options)}")
    return v


def finite(name: str, a, *, beyond: str = "") -> None:
    """An array without NaN or ±inf."""
    if not np.all(np.isfinite(np.asarray(a))):
        raise InputError(lambda n: f"{n(name)} must be finite: it holds NaN or ±inf{beyond}")


def data(x, y, *, floating: bool = True) -> tuple[int, int]:
    """Features ``x (N, d)`` and targets ``y (N,)``, finite (and floating point); returns ``(N, d)``."""
    xs, ys = np.shape(x), np.shape(y)
    if len(xs) != 2 or ys != (xs[0],):
        raise InputError(lambda n: f"{n('x')} must be (N, d) and {n('y')} (N,), got {xs} and {ys}")
    if floating and not np.issubdtype(np.asarray(x).dtype, np.floating) \
            and "float" not in str(getattr(x, "dtype", "")):
        raise InputError(lambda n: f"{n('x')} must hold floating-point numbers (scaled features), got "
                                   f"{getattr(x, 'dtype', type(x))}")
    finite("x", x)
    finite("y", y)
    return xs


def _short(v: float) -> str:
    return f"{v:.2g}".replace("e+", "e")


def _held(dtype):
    try:
        return np.finfo(dtype)
    except (TypeError, ValueError):
        return np.finfo(np.float32)


def learning_rate(v, dtype=np.float32, name: str = "learning_rate") -> float:
    """A finite learning rate ``> 0`` that ``dtype`` holds."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = math.nan
    if not (math.isfinite(f) and f > 0):
        raise InputError(lambda n: f"{n(name)} must be a finite number > 0, got {v!r}")
    held = _held(dtype)
    if not float(held.smallest_subnormal) <= f <= float(held.max):
        raise InputError(lambda n: f"{n(name)} must be one that {held.dtype} holds "
                                   f"({_short(held.smallest_subnormal)} to {_short(held.max)}), got {v!r}")
    return f


def learning_rates(values, dtype=np.float32, name: str = "learning_rates") -> np.ndarray:
    """A non-empty list of learning rates, each as :func:`learning_rate` requires."""
    try:
        lrs = np.asarray(values, np.float64)
    except (TypeError, ValueError):
        lrs = np.asarray([math.nan])
    held = _held(dtype)
    if lrs.ndim != 1 or lrs.size == 0 or not np.all((lrs >= float(held.smallest_subnormal))
                                                    & (lrs <= float(held.max))):
        shown = ", ".join(f"{v:g}" for v in np.ravel(lrs)) if lrs.size else "none"
        raise InputError(lambda n: f"{n(name)} must be one or more numbers > 0 that {held.dtype} holds "
                                   f"({_short(held.smallest_subnormal)} to {_short(held.max)}), got {shown}")
    return lrs


def batch_size(b, n, name: str = "batch_size") -> int:
    """A whole batch size from 1 to the ``n`` rows there are."""
    if not whole(b) or b <= 0:
        raise InputError(lambda a: f"{a(name)} must be a whole number > 0, got {b!r}")
    if b > n:
        raise InputError(lambda a: f"{a(name)} {b} is larger than the {n} training rows: use at most {n}")
    return int(b)


def keys(k, name: str = "keys") -> np.ndarray:
    """``(seeds, 2)`` uint32 key data with at least one seed, as ``np.uint32``."""
    a = np.asarray(k)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] != 2 or not np.issubdtype(a.dtype, np.integer) \
            or a.min() < 0 or a.max() > np.iinfo(np.uint32).max:
        raise InputError(lambda n: f"{n(name)} must be (seeds, 2) uint32 key data (e.g. jax.random.key_data("
                                   f"jax.random.split(key, seeds))) with at least one seed, got shape {a.shape} and "
                                   f"dtype {a.dtype}")
    return a.astype(np.uint32)
