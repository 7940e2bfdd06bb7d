"""Training one run: :func:`fit`, the one training function, and :class:`History`, the one training record.

For a batch ``β`` of size ``B`` the update is ``θ ← θ − α · (1/B) Σᵢ∈β ∇Lᵢ(θ)``
(:func:`jaxsgd.train.step`). A run is the one-run case (one seed, one learning
rate) of the engine's sweep: the same permutations (a pure function of the key
and the epoch number) and the same compiled epoch, one call per epoch.

>>> import jax, numpy as np
>>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
>>> state, hist = fit(x, (x[:, 0] > 0).astype(np.float32), batch_size=8, epochs=3, key=jax.random.key(0))
>>> len(hist.train_loss), state.params.w.shape, int(state.epoch)
(3, (2,), 3)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import checks
from jaxsgd.defaults import BATCH_SIZE, EPOCHS, LEARNING_RATE, OPTIMIZERS
from jaxsgd.distributed import mean_over_processes, min_over_processes, process_count, process_index
from jaxsgd.errors import InputError, TrainingStopped
from jaxsgd.model import init_params
from jaxsgd.train._engine import TrainState, epoch, epoch_of_batches, rows_of, set_learning_rate, shuffled_batches
from jaxsgd.train._optimizers import make_optimizer
from jaxsgd.train._reference import evaluate_loss
from jaxsgd.train._shuffles import Shuffler, part_keys


class History(NamedTuple):
    """A run's record, from θ = 0 (a resumed run's included): losses are mean ½(y − h)² in the model's units.

    ``train_loss`` and ``val_loss`` (NaN without validation rows) are the full
    losses after each epoch, ``examples_per_second`` each epoch's speed, and
    ``curve`` the ``(examples seen, full training loss)`` pairs: at 0, at steps
    spaced geometrically within the first epoch, then after every epoch.

    Attributes:
      train_loss: the full training loss after each epoch, Python floats, one per epoch.
      val_loss: the validation loss after each epoch (NaN without validation rows).
      examples_per_second: each epoch's training speed (it varies from run to run).
      curve: ``(examples seen, full training loss)`` pairs, from ``(0, L(θ₀))``.

    Example:
      >>> import jax, numpy as np
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> _, history = fit(x, (x[:, 0] > 0).astype(np.float32), batch_size=8, epochs=2, key=jax.random.key(0))
      >>> len(history.train_loss), history.val_loss   # no validation rows
      (2, [nan, nan])
      >>> history.curve[0], [n for n, _ in history.curve]   # θ = 0: ½(y − ½)² = ⅛; 8 steps of 8, 2 epochs
      ((0, 0.125), [0, 8, 16, 24, 32, 40, 48, 56, 64, 128])
    """

    train_loss: list
    val_loss: list
    examples_per_second: list
    curve: list

    @classmethod
    def empty(cls) -> History:
        """The history of a run that has not started.

        Returns:
          A :class:`History` of four empty lists.

        Example:
          >>> History.empty()
          History(train_loss=[], val_loss=[], examples_per_second=[], curve=[])
        """
        return cls([], [], [], [])


class FitResult(NamedTuple):
    """What :func:`fit` returns: the state to continue from, and the run's :class:`History`.

    Attributes:
      state: the :class:`TrainState` after the last epoch completed (before the
        one ``on_epoch`` stopped, if it did).
      history: the run's :class:`History` from θ = 0.

    Example:
      >>> import jax, numpy as np
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.float32)
      >>> result = fit(x, y, batch_size=8, epochs=2, key=jax.random.key(0))
      >>> more = fit(x, y, batch_size=8, epochs=3, state=result.state, history=result.history)   # one epoch more
      >>> isinstance(more, FitResult), int(more.state.epoch), len(more.history.train_loss)
      (True, 3, 3)
    """

    state: TrainState
    history: History


def data_mesh(devices=None):
    """A 1-D mesh with a ``"batch"`` axis over ``devices``, for data-parallel mini-batches (:func:`epoch`).

    Args:
      devices: the devices, a sequence (default ``None``: ``jax.devices()``,
        all visible devices of every process).

    Returns:
      A ``jax.sharding.Mesh`` of shape ``(len(devices),)`` with the one axis ``"batch"``.

    Example:
      >>> mesh = data_mesh()
      >>> mesh.axis_names, mesh.devices.shape == (jax.device_count(),)
      (('batch',), True)
    """
    devices = jax.devices() if devices is None else devices
    return jax.sharding.Mesh(np.asarray(devices), ("batch",))


def check_divisible(batch_size: int, n_devices: int, drop_last: bool = True, n: int | None = None) -> None:
    """Checks that every mini-batch splits evenly over the devices, as data parallelism needs.

    Args:
      batch_size: ``B``.
      n_devices: the devices every batch is split over.
      drop_last: whether the last partial batch is dropped (default ``True``);
        when it is not, it must split too.
      n: the number of rows (default ``None``: the last batch is not checked).

    Returns:
      ``None``, when ``B`` (and, kept, the last ``n mod B`` rows) split evenly.

    Raises:
      InputError: they do not; the message names ``batch_size`` (or
        ``drop_last``) and the multiples that work.

    Example:
      >>> check_divisible(8, 4) is None
      True
      >>> check_divisible(6, 4)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.InputError: batch_size 6 does not split over the 4 devices: use a multiple of 4 (4, 8, 12, …)
    """
    if batch_size % n_devices:
        local = n_devices // process_count()
        per = "" if process_count() == 1 else (f" ({process_count()} processes × {local} "
                                                f"device{'s' if local > 1 else ''} each)")
        works = ", ".join(str(n_devices * k) for k in range(1, 4))
        raise InputError(lambda a: f"{a('batch_size')} {batch_size} does not split over the {n_devices} devices"
                                   f"{per}: use a multiple of {n_devices} ({works}, …)")
    if not drop_last and n is not None and (n % batch_size) % n_devices:
        raise InputError(lambda a: f"the last partial batch of {n % batch_size} rows does not split over "
                                   f"{n_devices} devices: drop it ({a('drop_last')}) or pick a batch size that "
                                   f"divides {n}")


def _curve_of(state, trace, xt, y, batch_size, loss=None, points: int = 12):
    """``(examples seen, loss)`` at 0 and at about ``points`` geometrically spaced steps of one epoch's trace."""
    nb = jax.tree.leaves(trace)[0].shape[0]
    steps = sorted({round(nb ** (i / points)) for i in range(points)} - {nb})
    out = [(0, evaluate_loss(state.params, xt, y, loss))]
    for t in steps:  # parameters after t steps
        params = jax.tree.map(lambda a, t=t: a[t - 1, 0, 0], trace)
        out.append((t * batch_size, evaluate_loss(params, xt, y, loss)))
    return out


def _all_finite(params) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(a)))) for a in jax.tree.leaves(params))


def examples_per_epoch(n: int, batch_size: int, *, drop_last: bool = True, sharded: bool = False) -> int:
    """Examples one epoch of ``n`` rows feeds to the updates, every process's together.

    ``n − (n mod B)`` with ``drop_last`` (full batches only), else ``n``;
    sharded over ``P`` processes, each gives ``B/P`` rows to each batch:
    ``⌊n / (B/P)⌋ · B``.

    Args:
      n: the number of rows (this process's, when ``sharded``).
      batch_size: ``B``.
      drop_last: the last ``n mod B`` rows are dropped (default ``True``).
      sharded: the rows are this process's share of a multi-process run
        (default ``False``).

    Returns:
      The number of examples, an ``int``.

    Example:
      >>> examples_per_epoch(100, 32), examples_per_epoch(100, 32, drop_last=False)
      (96, 100)
    """
    if sharded:
        return n // (batch_size // process_count()) * batch_size
    return n - n % batch_size if drop_last else n


def fit(x, y, *, batch_size: int = BATCH_SIZE, epochs: int = EPOCHS, optimizer=None, learning_rate=None, key=None,
        x_val=None, y_val=None, drop_last: bool = True, shuffle: str = "auto", state: TrainState | None = None,
        history: History | None = None, on_epoch: Callable | None = None, parallel: bool | None = None,
        shard_data: bool = False, loss: Callable | None = None, params=None) -> FitResult:
    r"""Trains ``h = σ(b + w·x)`` by mini-batch SGD; returns ``FitResult(state, history)``.

    Each epoch shuffles the rows (a permutation drawn from ``key`` and the epoch
    number) and takes one step per batch ``β`` of ``B`` rows:

    .. math::

      θ ← θ − α \frac{1}{B} \sum_{i ∈ β} ∇_θ \tfrac12 (y_i − σ(b + w·x_i))^2

    (with the default optimizer; any optax ``GradientTransformation`` replaces
    the update). Each epoch is one compiled call; the full training loss (and
    validation loss) after it goes to the history.

    The arguments are keyword-only and flat, not a config NamedTuple: ``fit`` is
    the library's front door, called like ``optax`` and ``sklearn`` entry points
    with a few named settings, and every one has a default from
    :mod:`jaxsgd.defaults`.

    Args:
      x: features ``(N, d)``, already scaled (see :func:`jaxsgd.data.fit_transform`).
      y: targets ``(N,)`` in the model's range (0, 1).
      batch_size: ``B``; the last ``N mod B`` rows of each shuffled epoch are
        dropped (``drop_last=True``) or form a smaller batch of their own.
      epochs: total epochs; with ``state`` given, continue from ``state.epoch``.
      optimizer: any optax ``GradientTransformation``; default plain SGD, the
        exercise's rule. ``learning_rate`` sets the rate of the built-in
        optimizers (default :data:`jaxsgd.defaults.LEARNING_RATE`) and of any
        ``optax.inject_hyperparams`` one.
      learning_rate: α, a runtime value (changing it does not recompile).
      key: a ``jax.random.key``; the same key gives identical parameters.
      x_val, y_val: optional validation rows (scaled like ``x``, ``y``): their loss
        after every epoch goes to ``history.val_loss`` (NaN without them).
      drop_last: see ``batch_size``.
      shuffle: where permutations are drawn (:data:`jaxsgd.defaults.SHUFFLES`).
      state: continue from this :class:`TrainState` (e.g. a checkpoint's).
      history: the :class:`History` of ``state`` so far (e.g. a checkpoint's), which this run continues.
      on_epoch: called as ``on_epoch(state, history)`` after every epoch, the
        history holding that epoch's losses last; returning ``False`` stops the
        run there, and the returned state is the one from before that epoch
        (e.g. on a non-finite loss), while the history keeps that epoch's
        losses. This is the one way to stop a run early.
      parallel: shard every mini-batch over all visible devices (data
        parallel); the default ``None`` does so when more than one device is
        visible. The batch size must then be a multiple of the device count,
        otherwise an ``InputError`` says so (it is refused, not padded).
      loss: any model's per-example loss ``loss(params, x, y) -> scalar`` (``x`` of
        shape ``(d,)``, ``y`` a scalar; a :class:`jaxsgd.model.Model`'s
        ``loss``), batched by ``vmap``; default the neuron's ``½(y − σ(b + w·x))²``,
        bit-for-bit as without it. Needs ``params`` (or ``state``).
      params: the initial parameters, any pytree of float arrays (e.g.
        ``model.init(key, d)``); default the neuron's θ = 0. The returned
        state's ``params`` has the same structure.
      shard_data: ``x``, ``y`` (and ``x_val``, ``y_val``) are this process's share of the
        rows of a multi-process run (:mod:`jaxsgd.distributed`): each process shuffles
        its share (keys :func:`jaxsgd.train.part_keys`), cuts batches of ``B/P`` rows, and
        each global batch is every process's side by side; losses are means over all
        processes' rows. Each process uses as many rows as the process with the fewest.

    Returns:
      ``FitResult(state, history)``: the :class:`TrainState` to continue from
      and the run's :class:`History`.

    Raises:
      InputError: bad arguments, named by their Python names.
      TrainingStopped: the training loss (or validation loss, or θ) is not finite after an epoch that
        ``on_epoch`` did not stop: the run diverged. Its message names the epoch and suggests a smaller
        learning rate; its ``result`` attribute is the ``FitResult`` before that epoch.

    Example:
      >>> import jax, numpy as np
      >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
      >>> y = (1 / (1 + np.exp(-x[:, 0]))).astype(np.float32)   # θ = (0, 1, 0) fits exactly
      >>> state, history = fit(x, y, batch_size=8, epochs=5, learning_rate=2.0, key=jax.random.key(0))
      >>> bool(history.train_loss[-1] < history.train_loss[0] < history.curve[0][1])
      True
      >>> stopped = fit(x, y, batch_size=8, epochs=5, key=jax.random.key(0),
      ...               on_epoch=lambda state, history: len(history.train_loss) < 2)   # stop at epoch 2
      >>> int(stopped.state.epoch), len(stopped.history.train_loss)   # the state before it, its losses kept
      (1, 2)

    References:
      Robbins and Monro, 1951, "A Stochastic Approximation Method".
    """
    checks.data(x, y)  # before any conversion: a bad array is named, not passed to JAX
    x = jnp.asarray(x)
    y = jnp.asarray(y, x.dtype)
    optimizer = make_optimizer("sgd") if optimizer is None else optimizer
    if learning_rate is None and state is None and optimizer in {make_optimizer(o) for o in OPTIMIZERS}:
        learning_rate = LEARNING_RATE
    n, d = checks.data(x, y)
    checks.count("epochs", epochs)
    if learning_rate is not None:
        checks.learning_rate(learning_rate, x.dtype)
    checks.batch_size(batch_size, math.inf if shard_data else n)  # sharded: B/P against each process's rows
    if loss is not None and params is None and state is None:
        raise InputError(lambda a: f"{a('loss')} was given without {a('params')}: give the model's initial "
                                   "parameters too (e.g. params=model.init(key, d))")
    if state is None:
        key = jax.random.key(0) if key is None else key
        start = init_params(d, x.dtype) if params is None else jax.tree.map(jnp.asarray, params)
        state = TrainState.create(start, optimizer=optimizer, key=key, learning_rate=learning_rate)
    elif learning_rate is not None:
        state = state._replace(opt_state=set_learning_rate(state.opt_state, learning_rate))
    xvt = None if x_val is None else jnp.asarray(x_val, x.dtype).T
    yv = None if y_val is None else jnp.asarray(y_val, x.dtype)
    keys = np.asarray(state.key, np.uint32)[None]
    if shard_data:
        x, y, keys, run, mesh = _sharded(x, y, keys, int(batch_size), drop_last, optimizer, loss)
        n = x.shape[0]  # this process's rows, trimmed to the fewest any process has

        def loss_of(params, xt, yy):
            return mean_over_processes(evaluate_loss(params, xt, yy, loss), xt.shape[1])
    else:
        n_dev, mesh = jax.device_count(), None

        def loss_of(params, xt, yy):
            return evaluate_loss(params, xt, yy, loss)
        if parallel or (parallel is None and n_dev > 1):
            check_divisible(int(batch_size), n_dev, drop_last, n)
            mesh = data_mesh()

        def run(runs, perms, rows, trace):
            return epoch(runs, perms, rows, optimizer=optimizer, batch_size=int(batch_size),
                         drop_last=bool(drop_last), mesh=mesh, trace=trace, loss=loss)
    rows = rows_of(x, y)
    prior = History.empty() if history is None else history
    hist = History(*(list(v) for v in prior))
    per_epoch = examples_per_epoch(n, int(batch_size), drop_last=drop_last, sharded=shard_data)
    with Shuffler(keys, n, shuffle) as shuffler:
        for e in range(int(state.epoch), epochs):
            t0 = time.perf_counter()
            # parameters after every step come along (one compiled program for every epoch); the first
            # epoch's give the curve's start
            runs, trace = run(state.as_runs(), shuffler.get(e), rows, trace=True)
            if e == 0 and not shard_data:
                hist.curve[:] = _curve_of(state, trace, x.T, y, int(batch_size), loss)
            elif e == 0:
                hist.curve[:] = [(0, loss_of(state.params, x.T, y))]
            new = runs.run()
            train_loss = loss_of(new.params, x.T, y)
            rate = n / (time.perf_counter() - t0)
            hist.train_loss.append(train_loss)
            hist.val_loss.append(loss_of(new.params, xvt, yv) if xvt is not None else float("nan"))
            hist.examples_per_second.append(rate)
            hist.curve.append(((e + 1) * per_epoch, train_loss))
            if on_epoch is not None and on_epoch(new, hist) is False:
                break  # the stopping epoch is in the history but not in the returned state
            # the losses are host floats already; θ is d + 1 numbers: checking them costs nothing
            finite = math.isfinite(train_loss) and (xvt is None or xvt.shape[1] == 0
                                                    or math.isfinite(hist.val_loss[-1]))
            if not (finite and _all_finite(new.params)):
                raise _diverged(e + 1, learning_rate, FitResult(state, hist))
            state = new
    return FitResult(state, hist)


def _diverged(at: int, learning_rate, result: FitResult) -> TrainingStopped:
    """The error for a run whose loss or θ stopped being finite at epoch ``at``; carries the last good result."""
    rate = "" if learning_rate is None else f" {float(learning_rate):g}"

    def say(n):
        smaller = f"a smaller {n('learning_rate')}" + (f" than{rate}" if rate else "")
        return (f"the loss or θ is not finite after epoch {at} (the run diverged): try {smaller}; "
                f"the state after epoch {at - 1} is kept (the error's .result)")

    err = TrainingStopped(say)
    err.result = result
    return err


_cut = jax.jit(shuffled_batches, static_argnums=2)


def _sharded(x, y, keys, batch_size, drop_last, optimizer, loss=None):
    """For rows sharded over processes: this process's rows trimmed to the fewest any process has, the keys
    that shuffle its part, and an epoch that cuts batches of ``B/P`` rows here and runs the global ones."""
    count, me = process_count(), process_index()
    if not drop_last:
        raise InputError(lambda a: f"with data sharded over processes every batch is full: partial batches are "
                                   f"dropped ({a('drop_last')})")
    if batch_size % count:
        raise InputError(lambda a: f"with data sharded over {count} processes, {a('batch_size')} must be a "
                                   f"multiple of {count}, got {batch_size}")
    if jax.device_count() > 1:  # each process's B/P rows split over its own devices
        check_divisible(batch_size, jax.device_count())
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
        return epoch_of_batches(runs, xs, ys, optimizer=optimizer, mesh=mesh, trace=trace, loss=loss)

    return x[:n], y[:n], part_keys(keys, me), run, mesh
