"""Mini-batch SGD with the whole epoch — shuffle and every batch — in one compiled call.

For a batch ``β`` of size ``B`` the update is ``θ ← θ − α · (1/B) Σᵢ∈β ∇Lᵢ(θ)``,
with per-example gradients from ``jax.vmap(jax.value_and_grad(example_loss))``
and their mean the batch gradient. Any optax ``GradientTransformation`` plugs in;
the default is the exercise's rule, ``optax.sgd`` with the learning rate held in
the optimizer state (``optax.inject_hyperparams``) so that it is a runtime value.

Layout: features are stored feature-major, ``xt`` of shape ``(d, N)``, so that a
batch is a contiguous ``(d, B)`` block; the epoch gathers the shuffled copy once
and then ``lax.scan``s over the batches.

Shuffling is a uniformly random permutation per epoch, reproducible from the key:

* ``"host"``: Fisher–Yates (numpy's ``Generator.permutation``) called from inside
  the compiled epoch with ``jax.pure_callback``, seeded by 64 bits drawn from the
  epoch's key. Exactly uniform; O(N) and about 20 ms for 10⁶ rows on one CPU core,
  which overlaps the previous epoch: each epoch's callback also starts the next
  epoch's permutation (its key is known) on a background thread.
* ``"sort"``: :func:`jax.random.permutation` (sorting random keys): stays on the
  device, the fast choice on GPU/TPU, but ~0.5 s per 10⁶ rows on a CPU.
* ``"auto"`` (default): ``"host"`` on the CPU backend, ``"sort"`` elsewhere.

>>> import jax, optax
>>> ds_x = jax.numpy.array([[0.0], [1.0], [2.0], [3.0]])
>>> ds_y = jax.numpy.array([0.2, 0.4, 0.6, 0.8])
>>> params, hist = train(ds_x, ds_y, batch_size=2, epochs=3, learning_rate=0.5, key=jax.random.key(0))
>>> len(hist.train_loss), params.w.shape
(3, (1,))
"""

from __future__ import annotations

import concurrent.futures
import functools
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxsgd.model import Params, example_loss, init_params

__all__ = [
    "History",
    "TrainState",
    "epoch_fn",
    "evaluate_loss",
    "full_loss",
    "init_state",
    "make_optimizer",
    "check_divisible",
    "data_mesh",
    "permutation",
    "run_epochs",
    "seed_key",
    "train",
]

OPTIMIZERS = ("sgd", "momentum", "adam")
SHUFFLES = ("auto", "host", "sort")


class TrainState(NamedTuple):
    """Everything a run needs to continue: a pytree, checkpointable as arrays."""

    params: Params
    opt_state: Any
    key: jax.Array  # raw uint32[2] key data (threefry), split once per epoch
    epoch: jax.Array  # int32, epochs completed


class History(NamedTuple):
    """Per-epoch losses (mean ½(y − h)² in the model's scaled units) and throughput."""

    train_loss: list
    val_loss: list
    examples_per_second: list


class RuntimeSGDState(NamedTuple):
    """The learning rate as state, so that changing it does not recompile."""

    hyperparams: dict


def runtime_sgd(learning_rate=0.1) -> optax.GradientTransformation:
    """``θ ← θ − α g`` with α in the optimizer state: the same arithmetic as ``optax.sgd(α)``
    (``updates = (−α)·g``), bit for bit, and lighter than ``optax.inject_hyperparams``."""

    def init(params):
        dtype = jax.tree.leaves(params)[0].dtype
        return RuntimeSGDState({"learning_rate": jnp.asarray(learning_rate, dtype)})

    def update(grads, state, params=None):
        step = -state.hyperparams["learning_rate"]
        return jax.tree.map(lambda g: step.astype(g.dtype) * g, grads), state

    return optax.GradientTransformation(init, update)


@functools.cache
def make_optimizer(name: str = "sgd") -> optax.GradientTransformation:
    """A built-in optimizer whose learning rate lives in its state (runtime value).

    ``"sgd"`` is the exercise's rule ``θ ← θ − α g`` (:func:`runtime_sgd`, equal to
    ``optax.sgd`` bit for bit), ``"momentum"``
    is ``optax.sgd(α, momentum=0.9)``, ``"adam"`` is ``optax.adam(α)``. Cached, so
    every call with the same name returns the same object and reuses compiled code.
    """
    if name == "sgd":
        return runtime_sgd(0.1)
    if name == "momentum":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9)
    if name == "adam":
        return optax.inject_hyperparams(optax.adam)(learning_rate=0.1)
    raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")


def _set_lr(opt_state, learning_rate):
    if learning_rate is None:
        return opt_state
    if not hasattr(opt_state, "hyperparams"):
        raise ValueError("learning_rate was given but the optimizer has no injected learning rate; "
                         "pass optimizer=optax.inject_hyperparams(...)(learning_rate=...) or leave it out")
    hp = dict(opt_state.hyperparams)
    hp["learning_rate"] = jnp.asarray(learning_rate, jnp.result_type(hp["learning_rate"]))
    return opt_state._replace(hyperparams=hp)


def seed_key(seed: int) -> jax.Array:
    """A PRNG key from a seed in ``[0, 2⁶⁴)``, all 64 bits used (``jax.random.key`` keeps 32 without x64).

    Equal to ``jax.random.key(seed)`` for ``seed < 2³²``.

    >>> bool(jax.random.key_data(seed_key(7)).tolist() == jax.random.key_data(jax.random.key(7)).tolist())
    True
    >>> seed_key(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed must be a whole number in [0, 2**64), got -1
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be a whole number in [0, 2**64), got {seed!r}")
    seed = int(seed)
    return jax.random.wrap_key_data(np.array([seed >> 32, seed & 0xFFFFFFFF], np.uint32))


def init_state(d: int, *, key, optimizer=None, learning_rate=None, dtype=jnp.float32, params=None) -> TrainState:
    """A fresh :class:`TrainState`: zero parameters unless given, epoch 0."""
    optimizer = make_optimizer("sgd") if optimizer is None else optimizer
    params = init_params(d, dtype) if params is None else params
    opt_state = _set_lr(optimizer.init(params), learning_rate)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return TrainState(params, opt_state, jnp.asarray(key, jnp.uint32), jnp.zeros((), jnp.int32))


def _fisher_yates(seed: tuple[int, int], n: int) -> np.ndarray:
    return np.random.default_rng(list(seed)).permutation(n).astype(np.int32)


class _Prefetcher:
    """Computes the next epoch's permutation on a background thread while XLA runs this one.

    A cache of futures keyed by (seed, n): a hit returns the precomputed array, a
    miss computes it now; either way the permutation is the same pure function
    of the seed, so results do not depend on timing.
    """

    def __init__(self, max_entries: int = 64):
        self.lock = threading.Lock()
        self.pool = None
        self.futures: dict = {}
        self.max_entries = max_entries

    def get(self, seed, n, next_seed=None):
        key = (tuple(int(v) for v in seed), n)
        with self.lock:
            fut = self.futures.pop(key, None)
            if next_seed is not None:
                nxt = (tuple(int(v) for v in next_seed), n)
                if nxt not in self.futures:
                    if self.pool is None:
                        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxsgd-shuffle")
                    while len(self.futures) >= self.max_entries:
                        self.futures.pop(next(iter(self.futures)))
                    self.futures[nxt] = self.pool.submit(_fisher_yates, nxt[0], n)
        return fut.result() if fut is not None else _fisher_yates(key[0], n)


_PREFETCH = _Prefetcher()


def _host_permutation(seed, n, next_seed=None):
    if next_seed is None:
        fn = lambda s: _PREFETCH.get(np.asarray(s, np.uint64), n)  # noqa: E731
        args = (seed,)
    else:
        fn = lambda s, t: _PREFETCH.get(np.asarray(s, np.uint64), n, np.asarray(t, np.uint64))  # noqa: E731
        args = (seed, next_seed)
    return jax.pure_callback(fn, jax.ShapeDtypeStruct((n,), jnp.int32), *args, vmap_method="sequential")


def permutation(key, n: int, method: str = "auto", *, next_key=None):
    """A uniformly random permutation of ``range(n)`` (int32) from ``key``; see the module doc.

    With ``method="host"``, ``next_key`` (the key the next call will use) lets the
    permutation for that call be computed in the background meanwhile.
    """
    if method == "auto":
        method = "host" if jax.default_backend() == "cpu" else "sort"
    if method == "host":
        nxt = None if next_key is None else jax.random.bits(next_key, (2,), jnp.uint32)
        return _host_permutation(jax.random.bits(key, (2,), jnp.uint32), n, nxt)
    if method == "sort":
        return jax.random.permutation(key, n).astype(jnp.int32)
    raise ValueError(f"unknown shuffle {method!r}: choose one of {', '.join(SHUFFLES)}")


# per-example gradients, feature-major in and out: w-gradients come out as (d, B)
_grads = jax.vmap(jax.grad(example_loss), in_axes=(None, 1, 0), out_axes=Params(0, 1))


def _batch_grad(params, xb, yb):
    """``(1/B) Σᵢ ∇Lᵢ`` of a feature-major batch ``xb: (d, B)``: the mean of per-example gradients."""
    grads = _grads(params, xb, yb)
    return Params(jnp.mean(grads.b), jnp.mean(grads.w, axis=1))


def data_mesh(devices=None):
    """A 1-D mesh with a ``"batch"`` axis over ``devices`` (default: all visible devices)."""
    devices = jax.devices() if devices is None else devices
    return jax.sharding.Mesh(np.asarray(devices), ("batch",))


def check_divisible(batch_size: int, n_devices: int, drop_last: bool = True, n: int | None = None) -> None:
    """Data parallelism needs every mini-batch to split evenly over the devices."""
    if batch_size % n_devices:
        raise ValueError(f"batch size {batch_size} is not divisible by the {n_devices} devices: use a multiple "
                         f"of {n_devices} (or parallel=False to train on one device)")
    if not drop_last and n is not None and (n % batch_size) % n_devices:
        raise ValueError(f"the last partial batch of {n % batch_size} rows does not split over {n_devices} "
                         f"devices: drop it (drop_last=True) or pick a batch size that divides {n}")


def _shard(a, mesh, spec):
    if mesh is None:
        return a
    return lax.with_sharding_constraint(a, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec)))


def _epoch(optimizer, batch_size, drop_last, shuffle, state: TrainState, xt, y, mesh=None):
    d, n = xt.shape
    key, sub = jax.random.split(jax.random.wrap_key_data(state.key))
    next_sub = jax.random.split(key)[1]  # what the next epoch will shuffle with: prefetched on the host
    perm = permutation(sub, n, shuffle, next_key=next_sub)
    shuffled = jnp.concatenate([xt, y[None, :]])[:, perm]  # one gather of (d + 1, N)
    xs, ys = shuffled[:d], shuffled[d]
    nb, rem = divmod(n, batch_size)
    m = nb * batch_size
    xb = xs[:, :m].reshape(d, nb, batch_size).transpose(1, 0, 2)
    yb = ys[:m].reshape(nb, batch_size)
    # data parallel: every batch split over the devices, parameters replicated; XLA
    # inserts the all-reduce for the mean gradient
    xb = _shard(xb, mesh, (None, None, "batch"))
    yb = _shard(yb, mesh, (None, "batch"))

    def step(params, opt_state, batch):
        g = _batch_grad(params, *batch)
        updates, opt_state = optimizer.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    # no per-step loss: on the CPU every extra kernel in the loop body costs ~0.5 µs a
    # step, more than the SGD arithmetic; the epoch reports the full-data loss instead
    (params, opt_state), _ = lax.scan(lambda c, b: (step(*c, b), None), (state.params, state.opt_state), (xb, yb),
                                      unroll=2)
    if rem and not drop_last:  # the last partial batch, with its own 1/|batch| weight
        params, opt_state = step(params, opt_state, (_shard(xs[:, m:], mesh, (None, "batch")),
                                                     _shard(ys[m:], mesh, ("batch",))))
    loss = full_loss(params, xt, y)
    new = TrainState(params, opt_state, jax.random.key_data(key), state.epoch + 1)
    return new, loss


@functools.cache
def epoch_fn(optimizer=None, batch_size: int = 32, drop_last: bool = True, shuffle: str = "auto",
             mesh=None) -> Callable:
    """The compiled epoch ``(state, xt, y) -> (state, full-data loss after the epoch)``.

    ``xt`` is feature-major ``(d, N)``. Shapes, batch size, optimizer and shuffle
    method are static; learning rate (in ``state.opt_state``), key and epoch are
    runtime values, so changing them does not recompile. With a ``mesh`` (see
    :func:`data_mesh`) every mini-batch is sharded over its ``"batch"`` axis.
    """
    optimizer = make_optimizer("sgd") if optimizer is None else optimizer
    return jax.jit(functools.partial(_epoch, optimizer, batch_size, drop_last, shuffle, mesh=mesh))


@functools.cache
def _run_epochs_fn(optimizer, batch_size, drop_last, shuffle):
    def run(state, xt, y, num_epochs):
        body = lambda _, s: _epoch(optimizer, batch_size, drop_last, shuffle, s, xt, y)[0]
        return lax.fori_loop(0, num_epochs, body, state)

    return jax.jit(run)


def run_epochs(state, xt, y, num_epochs, *, optimizer=None, batch_size=32, drop_last=True, shuffle="auto"):
    """``num_epochs`` epochs as one compiled call (``num_epochs`` is a runtime value).

    Gives the same parameters as calling :func:`epoch_fn` ``num_epochs`` times.
    """
    optimizer = make_optimizer("sgd") if optimizer is None else optimizer
    return _run_epochs_fn(optimizer, batch_size, drop_last, shuffle)(state, xt, y, num_epochs)


def full_loss(params: Params, xt, y):
    """Mean ``½(y − h)²`` over a feature-major data set ``xt: (d, N)`` (traceable)."""
    return jnp.mean(jax.vmap(example_loss, in_axes=(None, 1, 0))(params, xt, y))


_mean_loss = jax.jit(full_loss)


def evaluate_loss(params, xt, y):
    """Mean ``½(y − h)²`` over a feature-major data set (NaN for an empty one)."""
    if xt.shape[1] == 0:
        return float("nan")
    return float(_mean_loss(params, xt, y))


def _check_batch(batch_size, n):
    if not isinstance(batch_size, int | np.integer) or batch_size <= 0:
        raise ValueError(f"batch size must be a whole number > 0, got {batch_size!r}")
    if batch_size > n:
        raise ValueError(f"batch size {batch_size} is larger than the {n} training rows: use at most {n}")


def train(x, y, *, batch_size: int = 32, epochs: int = 10, optimizer=None, learning_rate=None, key=None,
          x_val=None, y_val=None, drop_last: bool = True, shuffle: str = "auto", state: TrainState | None = None,
          on_epoch: Callable | None = None, parallel: bool | None = None):
    """Trains ``h = σ(b + w·x)`` by mini-batch SGD; returns ``(params, History)``.

    Args:
      x: features ``(N, d)``, already scaled (see :mod:`jaxsgd.data`).
      y: targets ``(N,)`` in the model's range (0, 1).
      batch_size: ``B``; the last ``N mod B`` rows of each shuffled epoch are
        dropped (``drop_last=True``) or form a smaller batch of their own.
      epochs: total epochs; with ``state`` given, continue from ``state.epoch``.
      optimizer: any optax ``GradientTransformation``; default plain SGD, the
        exercise's rule. ``learning_rate`` sets the rate of the built-in
        optimizers (default 0.1) and of any ``optax.inject_hyperparams`` one.
      key: a ``jax.random.key``; the same key gives identical parameters.
      on_epoch: called as ``on_epoch(state, train_loss, val_loss, examples_per_second)``
        after every epoch; return ``False`` to stop, keeping the state from
        before that epoch (e.g. on a non-finite loss).

    The state after the run is ``History``'s companion: use :func:`fit` for both.
    """
    params, hist, _ = fit(x, y, batch_size=batch_size, epochs=epochs, optimizer=optimizer,
                          learning_rate=learning_rate, key=key, x_val=x_val, y_val=y_val, drop_last=drop_last,
                          shuffle=shuffle, state=state, on_epoch=on_epoch, parallel=parallel)
    return params, hist


def fit(x, y, *, batch_size=32, epochs=10, optimizer=None, learning_rate=None, key=None, x_val=None, y_val=None,
        drop_last=True, shuffle="auto", state=None, on_epoch=None, parallel=None):
    """Like :func:`train` but also returns the final :class:`TrainState`.

    ``parallel``: shard every mini-batch over all visible devices (data
    parallel); the default ``None`` does so when more than one device is
    visible. The batch size must then be a multiple of the device count —
    otherwise a ``ValueError`` says so (it is refused, not padded).
    """
    x = jnp.asarray(x)
    y = jnp.asarray(y, x.dtype)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (N, d) and y (N,), got {x.shape} and {y.shape}")
    n, d = x.shape
    _check_batch(batch_size, n)
    if not isinstance(epochs, int | np.integer) or epochs <= 0:
        raise ValueError(f"epochs must be a whole number > 0, got {epochs!r}")
    optimizer = make_optimizer("sgd") if optimizer is None else optimizer
    if learning_rate is None and state is None and optimizer in {make_optimizer(o) for o in OPTIMIZERS}:
        learning_rate = 0.1  # the built-in optimizers' default
    if learning_rate is not None and not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning rate must be a finite number > 0, got {learning_rate!r}")
    if state is None:
        key = jax.random.key(0) if key is None else key
        state = init_state(d, key=key, optimizer=optimizer, learning_rate=learning_rate, dtype=x.dtype)
    elif learning_rate is not None:
        state = state._replace(opt_state=_set_lr(state.opt_state, learning_rate))
    xt = x.T
    xvt = None if x_val is None else jnp.asarray(x_val, x.dtype).T
    yv = None if y_val is None else jnp.asarray(y_val, x.dtype)
    n_dev = jax.device_count()
    mesh = None
    if parallel or (parallel is None and n_dev > 1):
        check_divisible(int(batch_size), n_dev, drop_last, n)
        mesh = data_mesh()
    step = epoch_fn(optimizer, int(batch_size), bool(drop_last), shuffle, mesh)
    hist = History([], [], [])
    for _ in range(int(state.epoch), epochs):
        t0 = time.perf_counter()
        new, loss = step(state, xt, y)
        loss = float(loss)
        rate = n / (time.perf_counter() - t0)
        val = evaluate_loss(new.params, xvt, yv) if xvt is not None else float("nan")
        hist.train_loss.append(loss)
        hist.val_loss.append(val)
        hist.examples_per_second.append(rate)
        if on_epoch is not None and on_epoch(new, loss, val, rate) is False:
            break  # the stopping epoch is in the history but not in the returned state
        state = new
    return state.params, hist, state
