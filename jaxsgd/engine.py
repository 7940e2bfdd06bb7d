"""The one shuffled mini-batch SGD epoch, for one run or many: a leading ``(seeds, learning rates)`` runs axis.

A sweep of ``S`` seeds × ``L`` learning rates holds parameters of shape
``b: (S, L)``, ``w: (S, L, d)``. Each seed has its own permutation of the rows
per epoch; the ``L`` runs of a seed share it (common random numbers: learning
rates are compared on the same batches, and one gather serves them all).
:func:`jaxsgd.fit` is the case ``S = L = 1``.

The update is written once (:func:`step`): the gradient of
:func:`jaxsgd.model.mean_loss` over the batch by :func:`jax.grad`, then the
optimizer (plain SGD ``θ ← θ − α g`` by default). :func:`epoch` gathers each
seed's shuffled rows once and ``lax.scan``s over the batches; batching over runs
is ``jax.vmap`` (learning rates share the batch, seeds do not).

The order of the rows in each epoch comes from :mod:`jaxsgd.shuffles`
(permutations that are a pure function of the key and the epoch, and the
:class:`~jaxsgd.shuffles.Shuffler` that draws the next epoch's while one runs).

>>> import jax.numpy as jnp, numpy as np
>>> x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
>>> y = (x[:, 0] > 0).astype(np.float32)
>>> runs = sweep(x, y, learning_rates=[0.5, 2.0], keys=np.array([[0, 1], [0, 2]], np.uint32), batch_size=8, epochs=2)
>>> runs.params.w.shape
(2, 2, 2)
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxsgd.defaults import SHUFFLES
from jaxsgd.model import Params, init_params, mean_loss
from jaxsgd.optimizers import make_optimizer
from jaxsgd.shuffles import Shuffler, part_keys, permutations, seed_key

__all__ = ["SHUFFLES", "Runs", "Shuffler", "epoch", "epoch_of_batches", "init_runs", "part_keys", "permutations",
           "rows_of", "runs_loss", "runs_step", "seed_key", "set_learning_rate", "shuffled_batches", "step", "sweep"]



class Runs(NamedTuple):
    """``S × L`` runs: parameters and optimizer state with leading ``(S, L)`` axes, one key per seed."""

    params: Params
    opt_state: Any
    keys: jax.Array  # (S, 2) uint32 key data
    epoch: jax.Array  # int32, epochs completed


def step(optimizer: optax.GradientTransformation, params: Params, opt_state, xt, y):
    """One update of one run on a feature-major batch ``xt: (d, B)``: ``g = ∇ mean_loss``, then the optimizer."""
    g = jax.grad(mean_loss)(params, xt, y)
    updates, opt_state = optimizer.update(g, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def runs_step(optimizer):
    """:func:`step` for ``(S, L)`` runs: ``(params, opt_state, xt (S, d, B), y (S, B)) -> (params, opt_state)``."""
    one = functools.partial(step, optimizer)
    per_lr = jax.vmap(one, in_axes=(0, 0, None, None))  # learning rates share the batch
    return jax.vmap(per_lr, in_axes=(0, 0, 0, 0))  # seeds do not


def init_runs(d: int, keys, learning_rates, *, optimizer, dtype=jnp.float32) -> Runs:
    """Zero parameters for every (seed, learning rate); ``keys``: ``(S, 2)`` uint32 key data."""
    keys = jnp.asarray(keys, jnp.uint32)
    lrs = jnp.asarray(learning_rates, dtype)
    s, n_lr = keys.shape[0], lrs.shape[0]
    params = jax.tree.map(lambda a: jnp.broadcast_to(a, (s, n_lr, *a.shape)), init_params(d, dtype))
    per_lr = jax.vmap(lambda p, a: set_learning_rate(optimizer.init(p), a), in_axes=(0, 0))
    opt_state = jax.vmap(per_lr, in_axes=(0, None))(params, lrs)
    return Runs(params, opt_state, keys, jnp.zeros((), jnp.int32))


def set_learning_rate(opt_state, learning_rate):
    """``opt_state`` with its injected learning rate replaced (a runtime value: no recompile)."""
    if not hasattr(opt_state, "hyperparams"):
        raise ValueError("learning_rate was given but the optimizer has no injected learning rate; "
                         "pass optimizer=optax.inject_hyperparams(...)(learning_rate=...) or leave it out")
    hp = dict(opt_state.hyperparams)
    hp["learning_rate"] = jnp.asarray(learning_rate, jnp.result_type(hp["learning_rate"]))
    return opt_state._replace(hyperparams=hp)


runs_loss = jax.vmap(jax.vmap(mean_loss, in_axes=(0, None, None)), in_axes=(0, None, None))
runs_loss.__doc__ = "``(S, L)`` full-data losses of every run: ``runs_loss(params, xt (d, N), y (N,))``."


def shuffled_batches(perms, rows, batch_size: int):
    """Each seed's rows in its shuffled order, cut into full batches: ``xs (nb, S, d, B)``, ``ys (nb, S, B)``,
    and the shuffled rows ``(S, N, d + 1)`` (for a last partial batch). One gather per seed (traceable)."""
    n, d = rows.shape[0], rows.shape[1] - 1
    nb = n // batch_size
    shuffled = rows[perms]
    body = shuffled[:, :nb * batch_size].reshape(perms.shape[0], nb, batch_size, d + 1).transpose(1, 0, 3, 2)
    return body[:, :, :d], body[:, :, d], shuffled


def _shard(a, mesh, spec):
    if mesh is None:
        return a
    return lax.with_sharding_constraint(a, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec)))


@functools.partial(jax.jit, static_argnames=("optimizer", "batch_size", "drop_last", "mesh", "trace"))
def epoch(runs: Runs, perms, rows, *, optimizer, batch_size: int, drop_last: bool = True, mesh=None,
          trace: bool = False):
    """One epoch of every run: ``perms (S, N)`` int32, ``rows (N, d + 1)`` holding ``[x | y]``.

    Shapes, optimizer, batch size, the mesh and ``trace`` are static; learning
    rates (in the optimizer state), keys and data are runtime values. With a
    ``mesh`` (a ``"batch"`` axis) every mini-batch is split over its devices.
    Returns the new :class:`Runs`; with ``trace=True`` also the parameters
    after every full batch (a leading steps axis).
    """
    n, d = rows.shape[0], rows.shape[1] - 1
    nb, rem = divmod(n, batch_size)
    xs, ys, shuffled = shuffled_batches(perms, rows, batch_size)
    update = runs_step(optimizer)
    (params, opt_state), steps = _scan(update, runs, xs, ys, mesh, trace)
    if rem and not drop_last:  # the last partial batch, with its own 1/|batch| weight
        tail = shuffled[:, nb * batch_size:].transpose(0, 2, 1)
        params, opt_state = update(params, opt_state, _shard(tail[:, :d], mesh, (None, None, "batch")),
                                   _shard(tail[:, d], mesh, (None, "batch")))
    new = Runs(params, opt_state, runs.keys, runs.epoch + 1)
    return (new, steps) if trace else new


def _scan(update, runs, xs, ys, mesh, trace):
    xs = _shard(xs, mesh, (None, None, None, "batch"))  # (nb, S, d, B)
    ys = _shard(ys, mesh, (None, None, "batch"))  # (nb, S, B)

    def scan_step(carry, batch):
        new = update(*carry, *batch)
        return new, (new[0] if trace else None)

    return lax.scan(scan_step, (runs.params, runs.opt_state), (xs, ys), unroll=2)


@functools.partial(jax.jit, static_argnames=("optimizer", "mesh", "trace"))
def epoch_of_batches(runs: Runs, xs, ys, *, optimizer, mesh=None, trace: bool = False):
    """:func:`epoch` on batches already cut: ``xs (nb, S, d, B)``, ``ys (nb, S, B)``.

    For data sharded over processes: each process cuts its own batches of ``B/P``
    rows from its share (:func:`part_keys` shuffles it), and the global batch is
    their concatenation along the last axis (``jax.make_array_from_process_local_data``).
    """
    (params, opt_state), steps = _scan(runs_step(optimizer), runs, xs, ys, mesh, trace)
    new = Runs(params, opt_state, runs.keys, runs.epoch + 1)
    return (new, steps) if trace else new


def rows_of(x, y) -> jax.Array:
    """``[x | y]`` as one ``(N, d + 1)`` array: each example's features and target side by side for the gather."""
    x = jnp.asarray(x)
    return jnp.concatenate([x, jnp.asarray(y, x.dtype)[:, None]], axis=1)


def _whole(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _check_sweep(x, y, learning_rates, keys, batch_size, epochs) -> np.ndarray:
    """:func:`sweep`'s arguments checked by name; returns the keys as ``(S, 2)`` uint32."""
    y = jnp.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (N, d) and y (N,), got {x.shape} and {y.shape}")
    for name, a in (("x", x), ("y", y)):
        if not bool(jnp.all(jnp.isfinite(a))):
            raise ValueError(f"{name} must be finite: it holds NaN or ±inf")
    lrs = np.asarray(learning_rates, np.float64)
    held = jnp.finfo(x.dtype) if jnp.issubdtype(x.dtype, jnp.floating) else jnp.finfo(jnp.float32)
    if lrs.ndim != 1 or lrs.size == 0 or not np.all((lrs >= float(held.smallest_subnormal))
                                                    & (lrs <= float(held.max))):
        raise ValueError(f"learning_rates must be a non-empty list of numbers > 0 that {held.dtype} holds, got "
                         f"{learning_rates!r}")
    if isinstance(keys, jax.Array) and jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.key_data(keys)
    k = np.asarray(keys)
    if k.ndim != 2 or k.shape[0] < 1 or k.shape[1] != 2 or not np.issubdtype(k.dtype, np.integer) \
            or k.min() < 0 or k.max() > np.iinfo(np.uint32).max:
        raise ValueError(f"keys must be (seeds, 2) uint32 key data (e.g. jax.random.key_data(jax.random.split("
                         f"key, seeds))) with at least one seed, got shape {k.shape} and dtype {k.dtype}")
    n = x.shape[0]
    if not _whole(batch_size) or not 0 < batch_size <= n:
        raise ValueError(f"batch_size must be a whole number between 1 and the {n} rows, got {batch_size!r}")
    if not _whole(epochs) or epochs < 1:
        raise ValueError(f"epochs must be a whole number > 0, got {epochs!r}")
    return k.astype(np.uint32)


def sweep(x, y, *, learning_rates, keys, batch_size: int, epochs: int, optimizer=None, drop_last: bool = True,
          shuffle: str = "auto", shard_runs: bool | None = None) -> Runs:
    """``len(keys) × len(learning_rates)`` runs of ``epochs`` epochs from zero parameters.

    Run ``(i, j)`` equals ``jaxsgd.fit(x, y, learning_rate=learning_rates[j],
    key=keys[i], …)`` up to float32 rounding (the same batches and arithmetic,
    compiled for another shape). ``shard_runs`` splits the seeds over all
    of this process's devices (default: when there are several and they divide the
    number of seeds); the data are replicated.
    """
    optimizer = make_optimizer("sgd") if optimizer is None else optimizer
    x = jnp.asarray(x)
    keys = _check_sweep(x, y, learning_rates, keys, batch_size, epochs)
    rows = rows_of(x, y)
    runs = init_runs(x.shape[1], keys, learning_rates, optimizer=optimizer, dtype=x.dtype)
    n_dev = jax.local_device_count()  # a sweep stays within its process (see jaxsgd.distributed)
    if shard_runs is None:
        shard_runs = n_dev > 1 and len(keys) % n_dev == 0
    seeds = None  # replicated unless the seeds axis is split over the devices
    if shard_runs:
        if len(keys) % n_dev:
            raise ValueError(f"{len(keys)} seeds do not split over {n_dev} devices: use a multiple of {n_dev}")
        seeds = jax.sharding.NamedSharding(jax.sharding.Mesh(np.asarray(jax.local_devices()), ("runs",)),
                                           jax.sharding.PartitionSpec("runs"))

    def place(a):
        return a if seeds is None else jax.device_put(a, seeds)

    runs = Runs(jax.tree.map(place, runs.params), jax.tree.map(place, runs.opt_state), runs.keys, runs.epoch)
    with Shuffler(keys, x.shape[0], shuffle) as shuffler:
        for e in range(epochs):
            runs = epoch(runs, place(jnp.asarray(shuffler.get(e))), rows, optimizer=optimizer,
                         batch_size=int(batch_size), drop_last=bool(drop_last))
    return runs
