"""First hits: the runs of one batch size, stepped until no later step can change the study's answer.

Every (seed × learning rate) run of batch size ``B`` steps through the engine
(:func:`jaxsgd.train.runs_step`) in compiled chunks; after every step the
full-data loss of each run is compared with each level, and the first step at or
below it is kept exactly, with θ there. Between chunks, :func:`settled` decides
whether any unfinished run could still change a median the study reports.
"""

from __future__ import annotations

import functools
import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxsgd import train


class BatchRuns(NamedTuple):
    """The raw runs of one batch size: ``hits[j, s, l]`` is the first step at level j of seed s and learning
    rate l (−1: not reached in ``steps_run`` steps); ``keys[s]`` is seed s's key data; ``at_hit[j, s, l]``
    is θ = (b, w) there; ``seconds_per_step`` of all runs together, compiling excluded."""

    batch_size: int
    keys: np.ndarray
    hits: np.ndarray
    steps_run: int
    at_hit: np.ndarray
    seconds_per_step: float


def median_steps(h):
    """Median over seeds (axis 0) per learning rate; a run that never got there counts as infinitely slow."""
    return np.median(np.where(h > 0, h, np.inf), axis=0)



class BatchSetup(NamedTuple):
    """What the runs of one batch size need: the data, the grid of (seed × learning rate) runs, the levels."""

    x: np.ndarray  # (N, d) float32, scaled
    y: np.ndarray  # (N,)
    batch_size: int
    learning_rates: np.ndarray  # (L,) float32
    keys: np.ndarray  # (S, 2) uint32: this process's seeds
    levels: jax.Array  # (J,) float32 loss levels
    max_steps: int
    optimizer: object


class _Carry(NamedTuple):
    params: object
    opt_state: object
    hits: jax.Array  # (J, S, L) first step at each level, −1: not yet
    at_hit: jax.Array  # (J, S, L, d + 1) θ there


@functools.partial(jax.jit, static_argnames=("optimizer",))
def _chunk(carry: _Carry, xs, ys, t0, valid, data, *, optimizer) -> _Carry:
    """Steps ``t0 + 1 …`` over the batches ``xs (T, S, d, B)``, the loss of every run after each.

    ``data = (levels, xt, y)``: the levels and the full data the loss is taken on. Steps at or beyond
    ``valid`` are not taken.
    """
    levels, xt, y = data
    update = train.runs_step(optimizer)

    def body(carry, batch):
        params, opt_state, hits, at_hit = carry
        xb, yb, i = batch
        new_params, new_opt = update(params, opt_state, xb, yb)
        take = i < valid
        params = jax.tree.map(lambda a, b: jnp.where(take, a, b), new_params, params)
        opt_state = jax.tree.map(lambda a, b: jnp.where(take, a, b), new_opt, opt_state)
        loss = train.runs_loss(params, xt, y)  # (S, L)
        first = take & (hits < 0) & (loss[None] <= levels[:, None, None])
        hits = jnp.where(first, t0 + i + 1, hits)
        theta = jnp.concatenate([params.b[..., None], params.w], axis=-1)
        at_hit = jnp.where(first[..., None], theta[None], at_hit)
        return _Carry(params, opt_state, hits, at_hit), None

    steps = jnp.arange(xs.shape[0], dtype=jnp.int32)
    out, _ = lax.scan(body, carry, (xs, ys, steps))
    return out


@functools.partial(jax.jit, static_argnames=("batch_size",))
def _batches(perms, rows, *, batch_size):
    return train.shuffled_batches(perms, rows, batch_size)[:2]


def settled(hits: np.ndarray, t: int, caps) -> bool:
    """Whether no later step can change an answer (the best median or a bootstrap replicate of it): at each
    level, a learning rate has all its seeds there (so every resample's best is at most ``M``, the smallest
    of those learning rates' slowest seeds) and no median that takes in a run still going (its hit > ``t``)
    can come below ``M``; or ``t`` has reached the level's cap.

    With an odd number of seeds such a median is the unfinished run itself, > ``t`` ≥ ``M``. With an even
    number it may average the run with a finished one: the learning rate's earliest hit ``h₀`` gives the
    bound ``(h₀ + t + 1)/2``, which must reach ``M``.
    """
    for h, cap in zip(hits, caps, strict=True):  # (S, L) per level
        if t >= cap:
            continue
        done = np.all(h > 0, axis=0)
        if not done.any():
            return False
        bound = int(np.min(np.max(h[:, done], axis=0)))
        if t < bound:
            return False
        if h.shape[0] % 2 == 0:
            for col in h[:, ~done].T:
                got = col[col > 0]
                if ((int(got.min()) if got.size else t + 1) + t + 1) / 2 < bound:
                    return False
    return True


def _chunk_size(n, b):
    return min(n // b, 64)  # steps per compiled call between checks


def _start(setup: BatchSetup):
    """The arrays a batch size starts from: data, runs, no hits yet."""
    x, keys, levels = setup.x, setup.keys, setup.levels
    d = x.shape[1]
    runs = train.TrainState.create_runs(d, keys, setup.learning_rates, optimizer=setup.optimizer)
    s, n_lr = keys.shape[0], len(setup.learning_rates)
    carry = _Carry(runs.params, runs.opt_state, jnp.full((len(levels), s, n_lr), -1, jnp.int32),
                   jnp.zeros((len(levels), s, n_lr, d + 1), jnp.float32))
    return train.rows_of(x, setup.y), (levels, jnp.asarray(x).T, jnp.asarray(setup.y)), carry


def compile_programs(setup: BatchSetup):
    """Both programs of one batch size, compiled ahead (the study compiles the next sizes on a thread while
    the current one runs): ``(batches, chunk)``."""
    rows, data, carry = _start(setup)
    (n, d), s, b = setup.x.shape, setup.keys.shape[0], setup.batch_size
    t = _chunk_size(n, b)

    def spec(shape, dtype=jnp.float32):
        return jax.ShapeDtypeStruct(shape, dtype)

    batches = _batches.lower(spec((s, n), jnp.int32), rows, batch_size=b).compile()
    i32 = spec((), jnp.int32)
    chunk = _chunk.lower(carry, spec((t, s, d, b)), spec((t, s, b)), i32, i32, data,
                         optimizer=setup.optimizer).compile()
    return batches, chunk


def runs_for_batch(setup: BatchSetup, programs, caps, gather=None) -> BatchRuns:
    """The runs of one batch size stepped until :func:`settled` (or ``setup.max_steps``), with the programs
    of :func:`compile_programs`; ``caps`` are the steps allowed per level.

    ``gather``, for runs split over processes (``setup.keys`` this process's seeds), maps this process's
    arrays with a seeds axis 1 to every process's, in the order of all seeds: every process then
    decides alike when to stop, and returns the whole study's runs.
    """
    gather = gather or (lambda a: a)
    n, b = setup.x.shape[0], setup.batch_size
    rows, data, carry = _start(setup)
    batches, run_chunk = programs
    nb = n // b
    chunk = _chunk_size(n, b)
    t, e, spent, timed = 0, 0, 0.0, 0
    limit = min(setup.max_steps, max(caps))
    h, done = gather(np.asarray(carry.hits)), limit <= 0
    with train.Shuffler(setup.keys, n) as shuffler:
        while not done:
            xs, ys = batches(jnp.asarray(shuffler.get(e)), rows)
            for c0 in range(0, nb, chunk):
                sl = slice(c0, min(c0 + chunk, nb))
                xc, yc = xs[sl], ys[sl]
                if xc.shape[0] < chunk:  # same shapes every call: pad, and take only the valid steps
                    pad = chunk - xc.shape[0]
                    xc = jnp.concatenate([xc, jnp.zeros((pad, *xc.shape[1:]), xc.dtype)])
                    yc = jnp.concatenate([yc, jnp.zeros((pad, *yc.shape[1:]), yc.dtype)])
                valid = min(sl.stop - sl.start, limit - t)
                t0 = time.perf_counter()
                carry = run_chunk(carry, xc, yc, jnp.int32(t), jnp.int32(valid), data)
                h = gather(np.asarray(carry.hits))
                spent += time.perf_counter() - t0
                timed += valid
                t += valid
                done = settled(h, t, caps) or t >= limit
                if done:
                    break
            e += 1
    return BatchRuns(b, gather(np.asarray(setup.keys)[None])[0], h, t, gather(np.asarray(carry.at_hit)),
                     spent / timed if timed else math.nan)


CAP_FACTOR = 4  # a halved batch may take at most this many times the steps of the larger one


def next_cap(h, b, max_steps, next_b) -> int:
    """Steps allowed at the next smaller batch size ``next_b`` for a level: ``CAP_FACTOR × (b/next_b)/2 ×``
    the median steps here (``CAP_FACTOR ×`` for a halving).

    With perfect tuning ``S(B') ≤ (B/B')·S(B)`` (``S = S_min(1 + B_crit/B)``), ``S(B/2) ≤ 2·S(B)``; twice that
    leaves room for the learning-rate grid. A level this batch size did not reach gets no steps at the
    smaller one.
    """
    best = float(np.min(median_steps(h)))
    factor = CAP_FACTOR * max(1.0, b / next_b) / 2
    return 0 if not np.isfinite(best) else min(max_steps, math.ceil(factor * best))
