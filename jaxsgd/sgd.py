"""Training one run: :func:`fit` around the epoch of :mod:`jaxsgd.engine`.

For a batch ``β`` of size ``B`` the update is ``θ ← θ − α · (1/B) Σᵢ∈β ∇Lᵢ(θ)``,
the gradient of :func:`jaxsgd.model.mean_loss` by :func:`jax.grad`
(:func:`jaxsgd.engine.step`). Any optax ``GradientTransformation`` plugs in; the
default is the exercise's rule with the learning rate in the optimizer state
(:func:`runtime_sgd`), so that it is a runtime value.

A run is the one-run case (one seed, one learning rate) of the engine's sweep:
the same permutations (a pure function of the key and the epoch number) and the
same compiled epoch, one call per epoch.

>>> import jax, optax
>>> ds_x = jax.numpy.array([[0.0], [1.0], [2.0], [3.0]])
>>> ds_y = jax.numpy.array([0.2, 0.4, 0.6, 0.8])
>>> state, hist = fit(ds_x, ds_y, batch_size=2, epochs=3, learning_rate=0.5, key=jax.random.key(0))
>>> len(hist.train_loss), state.params.w.shape, int(state.epoch)
(3, (1,), 3)
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import engine
from jaxsgd.defaults import BATCH_SIZE, EPOCHS, LEARNING_RATE, OPTIMIZERS
from jaxsgd.distributed import mean_over_processes, min_over_processes, process_count, process_index
from jaxsgd.errors import InputError
from jaxsgd.model import Params, init_params, mean_loss
from jaxsgd.optimizers import RuntimeSGDState, make_optimizer, runtime_sgd  # noqa: F401  (re-exported)
from jaxsgd.shuffles import seed_key

__all__ = [
    "FitResult",
    "History",
    "TrainState",
    "check_divisible",
    "data_mesh",
    "evaluate_loss",
    "fit",
    "init_state",
    "make_optimizer",
    "run_epochs",
    "seed_key",
]



class TrainState(NamedTuple):
    """Everything a run needs to continue: a pytree, checkpointable as arrays."""

    params: Params
    opt_state: Any
    key: jax.Array  # raw uint32[2] key data (threefry), split once per epoch
    epoch: jax.Array  # int32, epochs completed


class History(NamedTuple):
    """Per-epoch losses (mean ½(y − h)² in the model's scaled units) and throughput.

    ``curve`` holds ``(examples seen, full training loss)`` pairs from the start:
    at 0, at steps spaced geometrically within the first epoch, then after every epoch.
    """

    train_loss: list
    val_loss: list
    examples_per_second: list
    curve: list


def _set_lr(opt_state, learning_rate):
    return opt_state if learning_rate is None else engine.set_learning_rate(opt_state, learning_rate)


def init_state(d: int, *, key, optimizer=None, learning_rate=None, dtype=jnp.float32, params=None) -> TrainState:
    """A fresh :class:`TrainState`: zero parameters unless given, epoch 0."""
    optimizer = make_optimizer("sgd") if optimizer is None else optimizer
    params = init_params(d, dtype) if params is None else params
    opt_state = _set_lr(optimizer.init(params), learning_rate)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return TrainState(params, opt_state, jnp.asarray(key, jnp.uint32), jnp.zeros((), jnp.int32))


def data_mesh(devices=None):
    """A 1-D mesh with a ``"batch"`` axis over ``devices`` (default: all visible devices)."""
    devices = jax.devices() if devices is None else devices
    return jax.sharding.Mesh(np.asarray(devices), ("batch",))


def check_divisible(batch_size: int, n_devices: int, drop_last: bool = True, n: int | None = None) -> None:
    """Data parallelism needs every mini-batch to split evenly over the devices."""
    if batch_size % n_devices:
        raise InputError(lambda a: f"{a('batch_size')} {batch_size} is not divisible by the {n_devices} devices: "
                                   f"use a multiple of {n_devices}")
    if not drop_last and n is not None and (n % batch_size) % n_devices:
        raise InputError(lambda a: f"the last partial batch of {n % batch_size} rows does not split over "
                                   f"{n_devices} devices: drop it ({a('drop_last')}) or pick a batch size that "
                                   f"divides {n}")


def _as_runs(state: TrainState) -> engine.Runs:
    one = functools.partial(jax.tree.map, lambda a: jnp.asarray(a)[None, None])
    return engine.Runs(one(state.params), one(state.opt_state), jnp.asarray(state.key, jnp.uint32)[None],
                       state.epoch)


def _as_state(runs: engine.Runs) -> TrainState:
    first = functools.partial(jax.tree.map, lambda a: a[0, 0])
    return TrainState(first(runs.params), first(runs.opt_state), runs.keys[0], runs.epoch)


def run_epochs(state: TrainState, x, y, num_epochs: int, *, optimizer=None, batch_size: int = BATCH_SIZE,
               drop_last: bool = True, shuffle: str = "auto", mesh=None) -> TrainState:
    """``num_epochs`` more epochs from ``state`` on rows ``x (N, d)``, ``y (N,)``: one compiled call each.

    Epoch ``e`` shuffles with :func:`jaxsgd.engine.permutations` of ``(state.key, e)``,
    so stopping and continuing gives the same parameters as one long run.
    """
    optimizer = make_optimizer("sgd") if optimizer is None else optimizer
    rows = engine.rows_of(x, y)
    runs = _as_runs(state)
    start = int(state.epoch)
    with engine.Shuffler(np.asarray(runs.keys), rows.shape[0], shuffle) as shuffler:
        for e in range(start, start + int(num_epochs)):
            runs = engine.epoch(runs, shuffler.get(e), rows, optimizer=optimizer, batch_size=int(batch_size),
                                drop_last=bool(drop_last), mesh=mesh)
    return _as_state(runs)


_mean_loss = jax.jit(mean_loss)


def evaluate_loss(params, xt, y):
    """Mean ``½(y − h)²`` over a feature-major data set (NaN for an empty one)."""
    if xt.shape[1] == 0:
        return float("nan")
    return float(_mean_loss(params, xt, y))


def _curve_of(state, trace, xt, y, batch_size, points: int = 12):
    """``(examples seen, loss)`` at 0 and at about ``points`` geometrically spaced steps of one epoch's trace."""
    nb = trace.b.shape[0]
    steps = sorted({round(nb ** (i / points)) for i in range(points)} - {nb})
    out = [(0, evaluate_loss(state.params, xt, y))]
    for t in steps:  # parameters after t steps
        params = Params(trace.b[t - 1, 0, 0], trace.w[t - 1, 0, 0])
        out.append((t * batch_size, evaluate_loss(params, xt, y)))
    return out


def _check_batch(batch_size, n):
    if not isinstance(batch_size, int | np.integer) or batch_size <= 0:
        raise InputError(lambda a: f"{a('batch_size')} must be a whole number > 0, got {batch_size!r}")
    if batch_size > n:
        raise InputError(lambda a: f"{a('batch_size')} {batch_size} is larger than the {n} training rows: use at "
                                   f"most {n}")


class FitResult(NamedTuple):
    """What :func:`fit` returns: the state to continue from, and the run's :class:`History`."""

    state: TrainState
    history: History


def _check_inputs(x, y, epochs, learning_rate):
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise InputError(f"x must be (N, d) and y (N,), got {x.shape} and {y.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise InputError(f"x must hold floating-point numbers (scaled features), got {x.dtype}")
    for name, a in (("x", x), ("y", y)):
        if not bool(jnp.all(jnp.isfinite(a))):
            raise InputError(f"{name} must be finite: it holds NaN or ±inf")
    if not isinstance(epochs, int | np.integer) or epochs <= 0:
        raise InputError(lambda a: f"{a('epochs')} must be a whole number > 0, got {epochs!r}")
    if learning_rate is None:
        return
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise InputError(lambda a: f"{a('learning_rate')} must be a finite number > 0, got {learning_rate!r}")
    held = jnp.finfo(x.dtype)
    if not float(held.smallest_subnormal) <= float(learning_rate) <= float(held.max):
        raise InputError(lambda a: f"{a('learning_rate')} must be one that {x.dtype} holds "
                                   f"({held.smallest_subnormal:.2g} to {held.max:.2g}), got {learning_rate!r}")


def fit(x, y, *, batch_size: int = BATCH_SIZE, epochs: int = EPOCHS, optimizer=None, learning_rate=None, key=None,
        x_val=None, y_val=None, drop_last: bool = True, shuffle: str = "auto", state: TrainState | None = None,
        on_epoch: Callable | None = None, parallel: bool | None = None, shard_data: bool = False) -> FitResult:
    """Trains ``h = σ(b + w·x)`` by mini-batch SGD; returns ``FitResult(state, history)``.

    Args:
      x: features ``(N, d)``, already scaled (see :mod:`jaxsgd.data`).
      y: targets ``(N,)`` in the model's range (0, 1).
      batch_size: ``B``; the last ``N mod B`` rows of each shuffled epoch are
        dropped (``drop_last=True``) or form a smaller batch of their own.
      epochs: total epochs; with ``state`` given, continue from ``state.epoch``.
      optimizer: any optax ``GradientTransformation``; default plain SGD, the
        exercise's rule. ``learning_rate`` sets the rate of the built-in
        optimizers (default :data:`jaxsgd.defaults.LEARNING_RATE`) and of any
        ``optax.inject_hyperparams`` one.
      key: a ``jax.random.key``; the same key gives identical parameters.
      x_val, y_val: optional validation rows (scaled like ``x``, ``y``): their loss
        after every epoch goes to ``history.val_loss`` (NaN without them).
      shuffle: where permutations are drawn (:data:`jaxsgd.defaults.SHUFFLES`).
      state: continue from this :class:`TrainState` (e.g. a checkpoint's).
      on_epoch: called as ``on_epoch(state, train_loss, val_loss, examples_per_second)``
        after every epoch; returning ``False`` stops the run there, and the
        returned state is the one from before that epoch (e.g. on a non-finite
        loss), while the history keeps that epoch's losses. This is the one way
        to stop a run early.
      parallel: shard every mini-batch over all visible devices (data
        parallel); the default ``None`` does so when more than one device is
        visible. The batch size must then be a multiple of the device count,
        otherwise an ``InputError`` says so (it is refused, not padded).
      shard_data: ``x``, ``y`` (and ``x_val``, ``y_val``) are this process's share of the
        rows of a multi-process run (:mod:`jaxsgd.distributed`): each process shuffles
        its share (keys :func:`jaxsgd.engine.part_keys`), cuts batches of ``B/P`` rows, and
        each global batch is every process's side by side; losses are means over all
        processes' rows. Each process uses as many rows as the process with the fewest.

    Raises:
      InputError: bad arguments, named by their Python names.
    """
    x = jnp.asarray(x)
    y = jnp.asarray(y, x.dtype)
    optimizer = make_optimizer("sgd") if optimizer is None else optimizer
    if learning_rate is None and state is None and optimizer in {make_optimizer(o) for o in OPTIMIZERS}:
        learning_rate = LEARNING_RATE
    _check_inputs(x, y, epochs, learning_rate)
    n, d = x.shape
    _check_batch(batch_size, math.inf if shard_data else n)  # sharded: B/P against each process's rows, below
    if state is None:
        key = jax.random.key(0) if key is None else key
        state = init_state(d, key=key, optimizer=optimizer, learning_rate=learning_rate, dtype=x.dtype)
    elif learning_rate is not None:
        state = state._replace(opt_state=_set_lr(state.opt_state, learning_rate))
    xvt = None if x_val is None else jnp.asarray(x_val, x.dtype).T
    yv = None if y_val is None else jnp.asarray(y_val, x.dtype)
    keys = np.asarray(state.key, np.uint32)[None]
    if shard_data:
        x, y, keys, run, mesh = _sharded(x, y, keys, int(batch_size), drop_last, optimizer)
        n = x.shape[0]  # this process's rows, trimmed to the fewest any process has

        def loss_of(params, xt, yy):
            return mean_over_processes(evaluate_loss(params, xt, yy), xt.shape[1])
    else:
        n_dev, mesh, loss_of = jax.device_count(), None, evaluate_loss
        if parallel or (parallel is None and n_dev > 1):
            check_divisible(int(batch_size), n_dev, drop_last, n)
            mesh = data_mesh()
        run = functools.partial(engine.epoch, optimizer=optimizer, batch_size=int(batch_size),
                                drop_last=bool(drop_last), mesh=mesh)
    rows = engine.rows_of(x, y)
    hist = History([], [], [], [])
    per_epoch = n if not drop_last else n - n % int(batch_size)  # examples seen in an epoch, every process's
    if shard_data:
        per_epoch = n // (int(batch_size) // process_count()) * int(batch_size)
    with engine.Shuffler(keys, n, shuffle) as shuffler:
        for e in range(int(state.epoch), epochs):
            t0 = time.perf_counter()
            # parameters after every step come along (one compiled program for every epoch); the first
            # epoch's give the curve's start
            runs, trace = run(_as_runs(state), shuffler.get(e), rows, trace=True)
            if e == 0 and not shard_data:
                hist.curve.extend(_curve_of(state, trace, x.T, y, int(batch_size)))
            elif e == 0:
                hist.curve.append((0, loss_of(state.params, x.T, y)))
            new = _as_state(runs)
            loss = loss_of(new.params, x.T, y)
            rate = n / (time.perf_counter() - t0)
            val = loss_of(new.params, xvt, yv) if xvt is not None else float("nan")
            hist.train_loss.append(loss)
            hist.val_loss.append(val)
            hist.examples_per_second.append(rate)
            hist.curve.append(((e + 1) * per_epoch, loss))
            if on_epoch is not None and on_epoch(new, loss, val, rate) is False:
                break  # the stopping epoch is in the history but not in the returned state
            state = new
    return FitResult(state, hist)


_cut = jax.jit(engine.shuffled_batches, static_argnums=2)


def _sharded(x, y, keys, batch_size, drop_last, optimizer):
    """For rows sharded over processes: this process's rows trimmed to the fewest any process has, the keys
    that shuffle its part, and an epoch that cuts batches of ``B/P`` rows here and runs the global ones."""
    count, me = process_count(), process_index()
    if not drop_last:
        raise InputError(lambda a: f"with data sharded over processes every batch is full: partial batches are "
                                   f"dropped ({a('drop_last')})")
    if batch_size % count:
        raise InputError(lambda a: f"with data sharded over {count} processes, {a('batch_size')} must be a "
                                   f"multiple of {count}, got {batch_size}")
    n = min_over_processes(x.shape[0])
    if n < batch_size // count:
        raise InputError(lambda a: f"a process has only {n} rows, fewer than its {batch_size // count} of each "
                                   f"batch: lower {a('batch_size')} or use fewer processes")
    mesh = data_mesh() if jax.device_count() > 1 else None
    spec = jax.sharding.PartitionSpec
    def run(runs, perms, rows, trace):
        xs, ys, _ = _cut(jnp.asarray(perms), rows, batch_size // count)
        if mesh is not None:  # the global batch: every process's rows side by side
            xs = jax.make_array_from_process_local_data(jax.sharding.NamedSharding(mesh, spec(None, None, None,
                                                                                                "batch")), xs)
            ys = jax.make_array_from_process_local_data(jax.sharding.NamedSharding(mesh, spec(None, None, "batch")),
                                                        ys)
        return engine.epoch_of_batches(runs, xs, ys, optimizer=optimizer, mesh=mesh, trace=trace)

    return x[:n], y[:n], engine.part_keys(keys, me), run, mesh
