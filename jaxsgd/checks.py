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
    """Whether ``v`` is a whole number: an ``int`` or a numpy integer, not a ``bool`` (nor ``3.0``).

    Args:
      v: any value.

    Returns:
      ``True`` for a whole number, else ``False``; it never raises.

    Example:
      >>> whole(3), whole(np.int64(3)), whole(True), whole(3.0)
      (True, True, False, False)
    """
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def count(name: str, v, *, at_least: int = 1) -> int:
    """Checks a count: a whole number ``≥ at_least`` (epochs, seeds, steps, rows).

    Args:
      name: the argument's Python name, for the message, e.g. ``"epochs"``.
      v: the value given.
      at_least: the smallest count allowed (default 1).

    Returns:
      ``v`` as an ``int``.

    Raises:
      InputError: ``v`` is not a whole number (see :func:`whole`) or is below ``at_least``.

    Example:
      >>> count("epochs", 3), count("rows", np.int32(0), at_least=0)
      (3, 0)
      >>> count("seeds", 2.0)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: seeds must be a whole number > 0, got 2.0
    """
    if not whole(v) or v < at_least:
        bound = "> 0" if at_least == 1 else f"≥ {at_least}"
        raise InputError(lambda n: f"{n(name)} must be a whole number {bound}, got {v!r}")
    return int(v)


def seed(v, name: str = "seed") -> int:
    """Checks a seed: a whole number in ``[0, 2⁶⁴)``, which a PRNG key holds.

    Args:
      v: the value given.
      name: the argument's Python name, for the message (default ``"seed"``).

    Returns:
      ``v`` as an ``int``.

    Raises:
      InputError: ``v`` is not a whole number or is outside ``[0, 2⁶⁴)``.

    Example:
      >>> seed(42)
      42
      >>> seed(-1)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: seed must be a whole number in [0, 2**64), got -1
    """
    if not whole(v) or not 0 <= int(v) < 2**64:
        raise InputError(lambda n: f"{n(name)} must be a whole number in [0, 2**64), got {v!r}")
    return int(v)


def choice(name: str, v, options) -> str:
    """Checks that ``v`` is one of ``options``.

    Args:
      name: the argument's Python name, for the message, e.g. ``"optimizer"``.
      v: the value given.
      options: the values allowed, strings (e.g. :data:`jaxsgd.defaults.OPTIMIZERS`).

    Returns:
      ``v`` unchanged.

    Raises:
      InputError: ``v`` is not among ``options``; the message lists them.

    Example:
      >>> choice("optimizer", "adam", ("sgd", "momentum", "adam"))
      'adam'
      >>> choice("optimizer", "lbfgs", ("sgd", "momentum", "adam"))
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: unknown optimizer 'lbfgs': choose one of sgd, momentum, adam
    """
    if v not in options:
        raise InputError(lambda n: f"unknown {n(name)} {v!r}: choose one of {', '.join(options)}")
    return v


def finite(name: str, a, *, beyond: str = "") -> None:
    """Checks that an array holds no NaN or ±inf.

    Args:
      name: the argument's Python name, for the message, e.g. ``"x"``.
      a: an array (numpy, JAX, or anything ``np.asarray`` takes), of any shape.
      beyond: text appended to the message, e.g. where the value came from (default none).

    Returns:
      ``None``.

    Raises:
      InputError: ``a`` holds NaN or ±inf.

    Example:
      >>> finite("y", [0.5, 1.0])
      >>> finite("y", [0.5, np.nan], beyond=" (row 2 of data.csv)")
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: y must be finite: it holds NaN or ±inf (row 2 of data.csv)
    """
    if not np.all(np.isfinite(np.asarray(a))):
        raise InputError(lambda n: f"{n(name)} must be finite: it holds NaN or ±inf{beyond}")


def data(x, y, *, floating: bool = True) -> tuple[int, int]:
    """Checks a data set: features ``x`` of shape ``(N, d)`` and targets ``y`` of shape ``(N,)``, all finite.

    Args:
      x: the features, shape ``(N, d)``; floating point unless ``floating`` is false.
      y: the targets, shape ``(N,)``.
      floating: whether ``x`` must hold floating-point numbers (default ``True``: scaled features).

    Returns:
      The shape ``(N, d)`` of ``x``, a tuple of two ints.

    Raises:
      InputError: the shapes do not fit, ``x`` is not floating point, or either holds NaN or ±inf.

    Example:
      >>> data(np.zeros((4, 2)), np.ones(4))
      (4, 2)
      >>> data(np.zeros((4, 2)), np.ones(3))
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: x must be (N, d) and y (N,), got (4, 2) and (3,)
    """
    xs, ys = np.shape(x), np.shape(y)
    if len(xs) != 2 or ys != (xs[0],):
        raise InputError(lambda n: f"{n('x')} must be (N, d) and {n('y')} (N,), got {xs} and {ys}")
    if floating and not np.issubdtype(np.asarray(x).dtype, np.floating) \
            and "float" not in str(getattr(x, "dtype", "")):
        raise InputError(lambda n: f"{n('x')} must hold floating-point numbers (scaled features), got "
                                   f"{getattr(x, 'dtype', type(x))}")
    for name, v in (("x", x), ("y", y)):
        dt = np.asarray(v).dtype if not hasattr(v, "dtype") else v.dtype
        if not (np.issubdtype(dt, np.number) or np.issubdtype(dt, np.bool_)) and "float" not in str(dt):
            raise InputError(lambda n, name=name, dt=dt: f"{n(name)} must hold numbers, got {dt}")
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
    """Checks a learning rate: a finite number ``> 0`` that ``dtype`` holds (not rounded to 0 or inf).

    Args:
      v: the value given, anything ``float()`` takes.
      dtype: the dtype training runs in (default float32): ``v`` must lie from its smallest
        subnormal to its largest finite number.
      name: the argument's Python name, for the message (default ``"learning_rate"``).

    Returns:
      ``v`` as a Python ``float``.

    Raises:
      InputError: ``v`` is not a number, not finite, ``≤ 0``, or outside ``dtype``'s range.

    Example:
      >>> learning_rate(0.5), learning_rate("1e-3")
      (0.5, 0.001)
      >>> learning_rate(1e-50)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: learning_rate must be one that float32 holds (1.4e-45 to 3.4e38), got 1e-50
    """
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
    """Checks a non-empty list of learning rates, each as :func:`learning_rate` requires.

    Args:
      values: the learning rates, a sequence or 1-D array of numbers.
      dtype: the dtype training runs in (default float32), which must hold each.
      name: the argument's Python name, for the message (default ``"learning_rates"``).

    Returns:
      The learning rates, a float64 array of shape ``(k,)``.

    Raises:
      InputError: ``values`` is empty, not one-dimensional, or holds one that is not finite, ``≤ 0``
        or outside ``dtype``'s range; the message lists them.

    Example:
      >>> learning_rates([0.25, 1, 4])
      array([0.25, 1.  , 4.  ])
      >>> learning_rates([0.5, -1])
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: learning_rates must be one or more numbers > 0 that float32 holds (...), got 0.5, -1
    """
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
    """Checks a batch size: a whole number from 1 to the ``n`` rows there are.

    Args:
      b: the batch size given.
      n: the number of training rows.
      name: the argument's Python name, for the message (default ``"batch_size"``).

    Returns:
      ``b`` as an ``int``.

    Raises:
      InputError: ``b`` is not a whole number, is ``≤ 0``, or is larger than ``n``.

    Example:
      >>> batch_size(32, 100)
      32
      >>> batch_size(128, 100)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: batch_size 128 is larger than the 100 training rows: use at most 100
    """
    if not whole(b) or b <= 0:
        raise InputError(lambda a: f"{a(name)} must be a whole number > 0, got {b!r}")
    if b > n:
        raise InputError(lambda a: f"{a(name)} {b} is larger than the {n} training rows: use at most {n}")
    return int(b)


def keys(k, name: str = "keys") -> np.ndarray:
    """Checks PRNG key data for several seeds: shape ``(seeds, 2)``, integers that ``uint32`` holds.

    Such data is what ``jax.random.key_data(jax.random.split(key, seeds))`` gives (the default
    threefry keys), one row per seed.

    Args:
      k: the key data, an array of shape ``(seeds, 2)`` with ``seeds ≥ 1``.
      name: the argument's Python name, for the message (default ``"keys"``).

    Returns:
      The key data as a ``np.uint32`` array of shape ``(seeds, 2)``.

    Raises:
      InputError: ``k`` is not two-dimensional with two columns and at least one row, or holds
        values that are not integers in ``[0, 2³²)``.

    Example:
      >>> keys([[0, 1], [0, 2]]).dtype
      dtype('uint32')
      >>> keys(np.zeros((3,), np.uint32))
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: keys must be (seeds, 2) uint32 key data (... got shape (3,) and dtype uint32
    """
    a = np.asarray(k)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] != 2 or not np.issubdtype(a.dtype, np.integer) \
            or a.min() < 0 or a.max() > np.iinfo(np.uint32).max:
        raise InputError(lambda n: f"{n(name)} must be (seeds, 2) uint32 key data (e.g. jax.random.key_data("
                                   f"jax.random.split(key, seeds))) with at least one seed, got shape {a.shape} and "
                                   f"dtype {a.dtype}")
    return a.astype(np.uint32)
