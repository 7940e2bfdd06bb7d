"""Many training runs in one compiled program: a leading runs axis over learning rates and seeds.

:func:`train_many` vmaps whole mini-batch SGD runs (the same epoch as
:mod:`jaxsgd.sgd`); :func:`steps_to_target` runs every (learning rate × seed)
combination for one batch size until each reaches a target training loss,
checking the full-data loss after every single step (no interpolation).

>>> import jax, jax.numpy as jnp
>>> x = jax.random.normal(jax.random.key(0), (64, 2)); y = jax.nn.sigmoid(x @ jnp.array([1.0, -1.0]))
>>> p = train_many(x, y, jnp.array([0.1, 1.0]), jax.random.split(jax.random.key(1), 2), batch_size=8, epochs=2)
>>> p.w.shape
(2, 2)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxsgd.model import Params, init_params
from jaxsgd.sgd import _batch_grad, _set_lr, full_loss, init_state, make_optimizer, permutation

__all__ = ["StepsResult", "full_loss", "steps_to_target", "train_many"]


@functools.cache
def _many_fn(batch_size, epochs, shuffle):
    from jaxsgd.sgd import _epoch

    opt = make_optimizer("sgd")

    def one(lr, key, xt, y):
        state = init_state(xt.shape[0], key=key, learning_rate=lr, dtype=xt.dtype)
        state = lax.fori_loop(0, epochs, lambda _, s: _epoch(opt, batch_size, True, shuffle, s, xt, y)[0], state)
        return state.params

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None)))


def train_many(x, y, learning_rates, keys, *, batch_size: int, epochs: int, shuffle: str = "auto",
               shard_runs: bool | None = None) -> Params:
    """``len(learning_rates)`` independent SGD runs (plain SGD, zero init) as one program.

    ``keys`` has one PRNG key per run (``jax.random.split``). Returns ``Params``
    with a leading runs axis. Run i equals ``jaxsgd.train(x, y, …,
    learning_rate=learning_rates[i], key=keys[i], shuffle=shuffle)``.
    ``shard_runs`` splits the runs axis over all visible devices (default: when
    there are several and they divide the number of runs); the data are replicated.
    """
    x = jnp.asarray(x)
    lrs = jnp.asarray(learning_rates, x.dtype)
    if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.key_data(keys)
    n_dev = jax.device_count()
    if shard_runs is None:
        shard_runs = n_dev > 1 and lrs.shape[0] % n_dev == 0
    if shard_runs:
        if lrs.shape[0] % n_dev:
            raise ValueError(f"{lrs.shape[0]} runs do not split over {n_dev} devices: use a multiple of {n_dev}")
        mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("runs",))
        runs_axis = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("runs"))
        lrs, keys = jax.device_put(lrs, runs_axis), jax.device_put(keys, runs_axis)
    return _many_fn(int(batch_size), int(epochs), shuffle)(lrs, keys, x.T, jnp.asarray(y, x.dtype))


class StepsResult(NamedTuple):
    """Per run: the first step whose full-data loss is ≤ the target (−1 if none), final loss."""

    steps: jax.Array
    final_loss: jax.Array
    steps_run: jax.Array


@functools.cache
def _steps_fn(batch_size: int, n: int, d: int, n_lr: int, n_seed: int, max_epochs: int):
    nb = n // batch_size
    opt = make_optimizer("sgd")

    def run(lrs, keys, xt, y, target):
        runs = n_lr * n_seed
        lr = jnp.repeat(lrs, n_seed)
        params = jax.vmap(lambda _: init_params(d, xt.dtype))(jnp.arange(runs))
        opt_state = jax.vmap(lambda p, a: _set_lr(opt.init(p), a))(params, lr)
        hit = jnp.full((runs,), -1, jnp.int32)

        def epoch(carry):
            params, opt_state, keys, hit, e = carry
            keys, sub = jax.vmap(lambda k: tuple(jax.random.split(k)))(keys)
            perms = jax.vmap(lambda k: permutation(k, n, "sort"))(sub)[:, :nb * batch_size]
            batches = perms.reshape(runs, nb, batch_size).transpose(1, 0, 2)

            def step(c, idx_t):
                params, opt_state, hit = c
                idx, t = idx_t

                def one(p, s, ix):
                    g = _batch_grad(p, xt[:, ix], y[ix])
                    u, s = opt.update(g, s, p)
                    p = jax.tree.map(lambda a, b: a + b, p, u)
                    return p, s, full_loss(p, xt, y)

                params, opt_state, loss = jax.vmap(one)(params, opt_state, idx)
                hit = jnp.where((hit < 0) & (loss <= target), t + 1, hit)
                return (params, opt_state, hit), None

            steps = e * nb + jnp.arange(nb, dtype=jnp.int32)
            (params, opt_state, hit), _ = lax.scan(step, (params, opt_state, hit), (batches, steps))
            return params, opt_state, keys, hit, e + 1

        def keep_going(carry):
            _, _, _, hit, e = carry
            # the best learning rate so far: all its seeds reached the target; a run that has
            # not reached it by then cannot be the best, so stop there
            per_lr = hit.reshape(n_lr, n_seed)
            done_lr = jnp.all(per_lr >= 0, axis=1)
            bound = jnp.min(jnp.where(done_lr, jnp.max(per_lr, axis=1), jnp.iinfo(jnp.int32).max))
            return (e < max_epochs) & jnp.any(hit < 0) & (e * nb < bound)

        params, _, _, hit, e = lax.while_loop(keep_going, epoch, (params, opt_state, keys, hit, jnp.int32(0)))
        final = jax.vmap(full_loss, in_axes=(0, None, None))(params, xt, y)
        return hit, final, e * nb

    return jax.jit(run)


def steps_to_target(x, y, *, batch_size: int, learning_rates, seeds: int, target: float, max_epochs: int,
                    key) -> StepsResult:
    """Steps S for every (learning rate × seed) to reach full-data loss ≤ ``target``.

    One compiled program per batch size (the learning rates and keys are runtime
    values). Runs are ordered lr-major: run ``i·seeds + j`` is learning rate i,
    seed j. The loop stops early once no unfinished run can beat the best
    learning rate (all of whose seeds have finished).
    """
    x = jnp.asarray(x)
    n, d = x.shape
    lrs = jnp.asarray(learning_rates, x.dtype)
    keys = jax.random.key_data(jax.random.split(key, lrs.shape[0] * seeds))
    fn = _steps_fn(int(batch_size), n, d, int(lrs.shape[0]), int(seeds), int(max_epochs))
    hit, final, ran = fn(lrs, keys, x.T, jnp.asarray(y, x.dtype), jnp.asarray(target, x.dtype))
    return StepsResult(hit, final, ran)
