"""Arrivals: the runs of one batch size, stepped until no later step can change the study's answer.

A run has **arrived** at a loss level ``L`` at step ``S`` when its full-data
loss is at or below ``L`` at every evaluation from step ``S`` through step
``max(2S, S + 16)``: it got there and stayed, for a window as long as the way
there (and at least :data:`MIN_STAY` steps, so that one or two lucky steps of a
large learning rate are not an arrival). The
first step whose loss merely dips below ``L`` (a *first hit*) is a lucky draw of
a noisy loss at deep levels; the arrival is what a user means by "reaches the
level". The loss is evaluated after every step up to :data:`EVERY_STEP`, then at
steps at most 1% apart (:func:`schedule`): the definition is on those
evaluations (a rise above the level between two of them goes unseen), so ``S``
is one of them, within 1% of any step in between, and evaluating costs a few
hundred full-data passes per run, not one per step.

Every (seed × learning rate) run of batch size ``B`` steps through
:func:`jaxsgd.train.runs_step` in compiled chunks; between chunks,
:func:`settled` decides whether any unfinished run could still change an arrival
step (or a bootstrap replicate of one) that the study reports.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import threading
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxsgd import train

EVERY_STEP = 128  # the loss is evaluated after every one of the first this many steps
MIN_STAY = 16  # an arrival at S holds through step max(2S, S + MIN_STAY)
SPACING = 0.01  # then at steps at most this fraction apart


def schedule(t0: int, t1: int) -> np.ndarray:
    """Whether the loss is evaluated after each step ``t0 + 1 … t1``: every step up to :data:`EVERY_STEP`,
    then every ``k``-th step with ``k = ⌊t·SPACING⌋`` (gaps at most 1% of the step), a pure function of t.

    >>> (np.flatnonzero(schedule(0, 300)) + 1).tolist()[-3:]   # every 2nd step from 200, every 3rd from 300
    [296, 298, 300]
    """
    t = np.arange(t0 + 1, t1 + 1)
    k = np.maximum(1, (t * SPACING).astype(np.int64))
    return (t <= EVERY_STEP) | (t % k == 0)


class BatchRuns(NamedTuple):
    """The raw runs of one batch size, over every learning rate it ran (the union of its windows).

    A run has arrived at a level at step ``S`` when its full-data loss is at or below the level at every
    evaluation from ``S`` through ``max(2S, S + 16)``; ``J`` is the number of levels, ``S`` of seeds and ``L``
    of learning rates.

    Attributes:
      batch_size: the batch size ``B``.
      keys: the seeds' PRNG key data ``(S, 2)`` uint32, one per seed (its shuffles).
      learning_rates: every learning rate run at this ``B``, ascending ``(L,)`` float32.
      arrivals: ``arrivals[j, s, l]``, the arrival step at level ``j`` of seed ``s`` at ``learning_rates[l]``
        ``(J, S, L)`` ints (−1: not within the steps run).
      lower: a lower bound on each arrival step ``(J, S, L)`` (the arrival itself once known; 0 where that rate
        came in an extension window that did not run level ``j``).
      steps_run: the steps each learning rate's runs took ``(L,)``.
      capped: ``capped[j]``, a window stopped at level ``j``'s step cap while a later step could still change
        the answer there ``(J,)`` bool.
      seconds_per_step: seconds per step of all runs of a window together, compiling excluded.
      evaluations: evaluations of the full-data loss, per run.
      ran: ``ran[j]``, level ``j`` was run at all at this ``B`` (not when the larger batch sizes never reached
        it) ``(J,)`` bool; ``None`` for runs made without that record.
      steps_timed: the steps of every window added up, each a step of all the window's runs (0: not recorded).

    Example:
      >>> runs = BatchRuns(batch_size=8, keys=np.zeros((2, 2), np.uint32),
      ...                  learning_rates=np.array([0.5, 1.0], np.float32), arrivals=np.array([[[40, 30], [44, -1]]]),
      ...                  lower=np.array([[[40, 30], [44, 90]]]), steps_run=np.array([180, 180]),
      ...                  capped=np.array([False]), seconds_per_step=1e-4, evaluations=180)
      >>> runs.arrivals.shape, int(runs.arrivals[0, :, 0].max())   # (levels, seeds, rates); lr 0.5: both arrived
      ((1, 2, 2), 44)
    """

    batch_size: int
    keys: np.ndarray
    learning_rates: np.ndarray
    arrivals: np.ndarray
    lower: np.ndarray
    steps_run: np.ndarray
    capped: np.ndarray
    seconds_per_step: float
    evaluations: int
    ran: np.ndarray | None = None
    steps_timed: int = 0  # the steps of every window, added up (each a step of all runs of the window)


QUANTILE = 0.75  # S(B) is the step by which three in four runs have arrived


def arrival_steps(a):
    """Per learning rate, the upper quartile over seeds (axis 0) of the arrival steps: the step by which three
    in four runs have arrived (an order statistic, ``⌈0.75·S⌉``-th of S seeds); a run that never arrived
    counts as infinitely slow. The upper quartile, not the median: at the median half the runs are still on
    their way, and the row should mean that the runs are there."""
    return np.quantile(np.where(a > 0, a, np.inf), QUANTILE, axis=0, method="inverted_cdf")


class BatchSetup(NamedTuple):
    """What the runs of one batch size need: the data, the (seed × learning rate) runs, the levels."""

    x: np.ndarray  # (N, d) float32, scaled
    y: np.ndarray  # (N,)
    batch_size: int
    learning_rates: np.ndarray  # (L,) float32: one window
    keys: np.ndarray  # (S, 2) uint32: this process's seeds
    levels: jax.Array  # (J,) float32 loss levels
    max_steps: int
    optimizer: object
    model: object = None  # a jaxsgd.model.Model (None: the neuron, every run from θ = 0)


def initial_params(model, keys: np.ndarray, d: int):
    """Where each seed's runs start: ``None`` for the neuron (θ = 0 for all), else ``seed index -> params``,
    the model's ``init`` with a key folded from that seed's (the shuffle keeps the seed's own key)."""
    if model is None:
        return None
    inits = [model.init(jax.random.fold_in(jax.random.wrap_key_data(jnp.asarray(k, jnp.uint32)), 0x1417), d)
             for k in np.asarray(keys)]
    return lambda i: inits[i]


class _Carry(NamedTuple):
    params: object
    opt_state: object
    cand: jax.Array  # (J, S, L) step from which the loss has stayed ≤ the level (−1: above at the last look)
    arrived: jax.Array  # (J, S, L) arrival step (−1: not yet)
    last: jax.Array  # (S, L) the full-data loss at the last look (+inf before the first)


@functools.partial(jax.jit, static_argnames=("optimizer", "loss"))
def _chunk(carry: _Carry, idx_all, rows, c0, t0, valid, evaluate, data, *, optimizer, loss=None) -> _Carry:
    """Steps ``t0 + 1 …`` over the batches ``c0 … c0 + T − 1`` of ``idx_all (M, S, B)``, each seed's row indices
    of every batch of K epochs in turn (``T = len(evaluate)``: the slice is cut inside the program, so a chunk
    is one call; each step gathers its batch from ``rows (N, d + 1)``, so no epoch's batches are written out);
    the full loss of every run after the steps ``evaluate (T,)`` marks. ``data = (levels, xt, y)``. Steps at
    or beyond ``valid`` are not taken."""
    idx = lax.dynamic_slice_in_dim(idx_all, c0, evaluate.shape[0])
    d = rows.shape[1] - 1
    levels, xt, y = data
    update = train.runs_step(optimizer, loss)
    lv = levels[:, None, None]

    def body(carry, batch):
        params, opt_state, cand, arrived, last = carry
        ib, i, ev = batch
        rb = rows[ib]  # (S, B, d + 1): the step's batch of every seed
        new_params, new_opt = update(params, opt_state, jnp.swapaxes(rb[..., :d], 1, 2), rb[..., d])
        take = i < valid
        params = jax.tree.map(lambda a, b: jnp.where(take, a, b), new_params, params)
        opt_state = jax.tree.map(lambda a, b: jnp.where(take, a, b), new_opt, opt_state)
        t = t0 + i + 1
        look = take & ev
        value = lax.cond(look, lambda p: train.runs_loss(p, xt, y, loss),
                         lambda p: jnp.full(arrived.shape[1:], jnp.inf), params)[None]  # (1, S, L); unlooked: no change
        below = value <= lv
        open_ = arrived < 0
        cand = jnp.where(look & open_ & ~below, -1, jnp.where(look & open_ & below & (cand < 0), t, cand))
        held = t >= jnp.maximum(2 * cand, cand + MIN_STAY)
        arrived = jnp.where(look & open_ & below & (cand > 0) & held, cand, arrived)
        return _Carry(params, opt_state, cand, arrived, jnp.where(look, value[0], last)), None

    steps = jnp.arange(idx.shape[0], dtype=jnp.int32)
    out, _ = lax.scan(body, carry, (idx, steps, evaluate))
    return out


@functools.partial(jax.jit, static_argnames=("batch_size", "chunk"))
def _batches(perms, rows, *, batch_size, chunk):
    """The row indices of the batches of ``K`` epochs in turn (``perms (K, S, N)`` → ``(M, S, B)``, each epoch's
    last ``N mod B`` rows dropped), padded with row 0 to a whole number of chunks (the padding's steps are not
    taken)."""
    k, s, n = perms.shape
    nb = n // batch_size
    idx = perms[:, :, :nb * batch_size].reshape(k, s, nb, batch_size).transpose(0, 2, 1, 3).reshape(-1, s,
                                                                                                    batch_size)
    pad = -idx.shape[0] % chunk
    return jnp.concatenate([idx, jnp.zeros((pad, s, batch_size), idx.dtype)])


def lower_bounds(arrived: np.ndarray, cand: np.ndarray, t: int) -> np.ndarray:
    """A lower bound on every run's arrival after ``t`` steps: the arrival if known; else the step from which
    the loss has stayed at or below the level (it cannot arrive before it), or ``t + 1``."""
    return np.where(arrived > 0, arrived, np.where(cand > 0, cand, t + 1))


def settled(arrivals: np.ndarray, lower: np.ndarray, limits, t: int, prior=None) -> bool:
    """Whether no later step can change an answer (the best median or a bootstrap replicate of it): every
    level is :func:`level_settled` or at its step limit."""
    return all(t >= limit or level_settled(a, lb, None if prior is None else prior[j])
               for j, (a, lb, limit) in enumerate(zip(arrivals, lower, limits, strict=True)))


def level_settled(a: np.ndarray, lb: np.ndarray, prior=None) -> bool:
    """Whether no later step can change an answer at one level (``a``, ``lb``: ``(S, L)``).

    A learning rate has all its seeds arrived (or an earlier window of this batch size gave ``prior``), so
    every resample's best is at most ``M`` (the smallest of those learning rates' slowest seeds); and no
    quantile (an order statistic of the seeds, :func:`arrival_steps`) that takes in an unfinished run can
    come below ``M``: such a statistic is either a finished run's step, known already, or an unfinished
    run's, at least its lower bound ``ℓ``; so every unfinished run needs ``ℓ > M``.
    """
    done = np.all(a > 0, axis=0)
    bound = int(np.min(np.max(a[:, done], axis=0))) if done.any() else math.inf
    if prior is not None:
        bound = min(bound, prior)
    if not math.isfinite(bound):
        return False
    return all(int(lcol[col <= 0].min()) > bound for col, lcol in zip(a[:, ~done].T, lb[:, ~done].T, strict=True))


CHUNK = 64  # steps per compiled call between checks (where an epoch is shorter: K whole epochs, see _chunk_size)
_EPOCHS_INDICES = 1 << 23  # the most row indices of batches cut at once (32 MB of int32)


def epochs_per_call(n: int, b: int, seeds: int, d: int) -> int:
    """Epochs whose batches are cut at once, ``K``: enough for a whole chunk of :data:`CHUNK` steps where an
    epoch has fewer (B = 4096 on 20,433 rows: 4 steps an epoch, 16 epochs a call), so that the compiled calls
    and the checks between them are not one per epoch; at most ``_EPOCHS_INDICES`` row indices.

    >>> epochs_per_call(20433, 4096, 4, 8), epochs_per_call(20433, 32, 4, 8), epochs_per_call(10**6, 4096, 8, 2)
    (16, 1, 1)
    """
    nb = n // b
    want = -(-CHUNK // nb)
    fit = max(1, _EPOCHS_INDICES // max(1, nb * b * seeds))
    return max(1, min(want, fit))


def _chunk_size(n, b, epochs=1):
    """Steps per compiled call: :data:`CHUNK`, or where ``K > 1`` epochs are cut at once, all ``K`` epochs' steps
    (fewer than ``CHUNK + N // B``), so that no call is a short remainder."""
    return epochs * (n // b) if epochs > 1 else min(n // b, CHUNK)


def _start(setup: BatchSetup):
    """The arrays a window starts from: data, runs, nothing arrived."""
    x, keys, levels = setup.x, setup.keys, setup.levels
    d = x.shape[1]
    runs = train.TrainState.create_runs(d, keys, setup.learning_rates, optimizer=setup.optimizer,
                                        params=initial_params(setup.model, keys, d))
    shape = (len(levels), keys.shape[0], len(setup.learning_rates))
    carry = _Carry(runs.params, runs.opt_state, jnp.full(shape, -1, jnp.int32), jnp.full(shape, -1, jnp.int32),
                   jnp.full(shape[1:], jnp.inf, jnp.float32))
    return train.rows_of(x, setup.y), (levels, jnp.asarray(x).T, jnp.asarray(setup.y)), carry


def seed_groups_of(setup: BatchSetup) -> int:
    """Groups of seeds the runs of a window are stepped in, side by side on host threads: for any model
    other than the neuron on a CPU in one process, one group per core (:func:`jaxsgd.train.seed_groups`; each
    group's chunk is one program call, so both cores work); 1 for the neuron, whose steps are too small for a
    thread to pay (measured slower), on an accelerator and across processes."""
    if setup.model is None or jax.default_backend() != "cpu" or jax.process_count() > 1:
        return 1
    return train.seed_groups(setup.keys.shape[0])


def _group(setup: BatchSetup, g: int, groups: int) -> BatchSetup:
    k = setup.keys.shape[0] // groups
    return setup._replace(keys=setup.keys[g * k:(g + 1) * k])


def compile_programs(setup: BatchSetup):
    """Both programs of one batch size, compiled ahead (the study compiles the next sizes on a thread while
    the current one runs): ``(batches, chunk)``, for one group of :func:`seed_groups_of` seeds. Compiled once
    per shape and optimizer: a study run again on data of the same shapes reuses them (the programs take
    everything else as runtime values)."""
    setup = _group(setup, 0, seed_groups_of(setup))
    key = (setup.x.shape, setup.batch_size, len(setup.learning_rates), setup.keys.shape[0], len(setup.levels),
           id(setup.optimizer), setup.model)
    with _LOCK:
        if key in _PROGRAMS and _PROGRAMS[key][0] is setup.optimizer:
            return _PROGRAMS[key][1]
    programs = _compile(setup)
    with _LOCK:
        _PROGRAMS[key] = (setup.optimizer, programs)
        while len(_PROGRAMS) > _MAX_PROGRAMS:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
    return programs


_PROGRAMS: dict = {}  # (shapes, optimizer) -> (optimizer, programs), oldest first
_MAX_PROGRAMS = 64  # about two studies' worth
_LOCK = threading.Lock()  # the study compiles on a thread of its own


def _loss(setup: BatchSetup):
    return None if setup.model is None else setup.model.loss


def _compile(setup: BatchSetup):
    rows, data, carry = _start(setup)
    (n, d), s, b = setup.x.shape, setup.keys.shape[0], setup.batch_size
    k = epochs_per_call(n, b, s, d)
    t = _chunk_size(n, b, k)

    def spec(shape, dtype=jnp.float32):
        return jax.ShapeDtypeStruct(shape, dtype)

    batches = _batches.lower(spec((k, s, n), jnp.int32), rows, batch_size=b, chunk=t).compile()
    i32 = spec((), jnp.int32)
    m = -(-(k * (n // b)) // t) * t  # the K epochs' steps, padded to whole chunks
    chunk = _chunk.lower(carry, spec((m, s, b), jnp.int32), rows, i32, i32, i32, spec((t,), jnp.bool_), data,
                         optimizer=setup.optimizer, loss=_loss(setup)).compile()
    return batches, chunk


class Window(NamedTuple):
    """One window of learning rates of one batch size, stepped until settled or stopped."""

    arrivals: np.ndarray  # (J, S, L)
    lower: np.ndarray  # (J, S, L)
    steps: int
    seconds: float
    timed: int
    evaluations: int
    last: np.ndarray | None = None  # (S, L) the full-data loss at the last look


def step_limit(cap: int, max_steps: int) -> int:
    """Steps that confirm an arrival at up to ``cap`` (0: the level is not run at this batch size)."""
    if cap <= 0:
        return 0
    end = max(2 * cap, cap + MIN_STAY)
    return min(max_steps, end + math.ceil(end * SPACING) + 1)  # the first look at or past the end


def run_window(setup: BatchSetup, programs, caps, gather=None, prior=None) -> Window:
    """The runs of one window stepped until :func:`settled` (or every level's :func:`step_limit`).

    ``gather``, for runs split over processes (``setup.keys`` this process's seeds), maps this process's
    arrays with a seeds axis 1 to every process's, in the order of all seeds: every process then decides
    alike when to stop, and returns the whole study's runs.
    """
    gather = gather or (lambda a: a)
    n, b = setup.x.shape[0], setup.batch_size
    groups = seed_groups_of(setup)
    k = setup.keys.shape[0] // groups
    starts = [_start(_group(setup, g, groups)) for g in range(groups)]
    rows, data = starts[0][:2]
    carries = [c for _, _, c in starts]
    batches, run_chunk = programs
    epochs = epochs_per_call(n, b, k, setup.x.shape[1])  # K epochs' batches per call of `batches`
    nb = epochs * (n // b)
    chunk = _chunk_size(n, b, epochs)
    limits = [step_limit(c, setup.max_steps) for c in caps]
    limit = max(limits)
    t, e, spent, timed, looks = 0, 0, 0.0, 0, 0

    def seeds_of(field):  # (J, S, L) over every group, seeds in order
        return np.concatenate([np.asarray(getattr(c, field)) for c in carries], axis=1)

    arr = gather(seeds_of("arrived"))
    lb = lower_bounds(arr, gather(seeds_of("cand")), 0)
    done = limit <= 0 or settled(arr, lb, limits, t, prior)
    pool = concurrent.futures.ThreadPoolExecutor(groups, thread_name_prefix="jaxsgd-study") if groups > 1 else None

    def each(f, *args):  # f(g, *args) for every group: side by side on the pool's threads where there are several
        if pool is None:
            return [f(0, *args)]
        return [fut.result() for fut in [pool.submit(f, g, *args) for g in range(groups)]]

    def step_group(g, epoch, c0, t, valid, ev):
        out = run_chunk(carries[g], epoch[g], rows, np.int32(c0), np.int32(t), np.int32(valid), ev, data)
        jax.block_until_ready(out.arrived)
        return out

    try:
        def draw(first):  # K epochs' permutations (K, S, N), as a Shuffler gives them one epoch at a time
            return np.stack([train.permutations(setup.keys, first + i, n) for i in range(epochs)])

        shuffles = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxsgd-shuffle")
        try:
            ahead = shuffles.submit(draw, 0)
            while not done:
                perms = ahead.result()
                ahead = shuffles.submit(draw, e + epochs)  # the next K epochs', drawn while these run
                epoch = each(lambda g, perms: batches(jnp.asarray(perms[:, g * k:(g + 1) * k]), rows), perms)
                for c0 in range(0, nb, chunk):
                    valid = min(min(c0 + chunk, nb) - c0, limit - t)  # the last chunk's padding is not stepped
                    ev = schedule(t, t + chunk)
                    ev[valid:] = False
                    t0 = time.perf_counter()
                    # numpy scalars and arrays go to the compiled program as they are: no op-by-op dispatch
                    carries = each(step_group, epoch, c0, t, valid, ev)
                    arr = gather(seeds_of("arrived"))
                    spent += time.perf_counter() - t0
                    timed += valid
                    looks += int(ev.sum())
                    t += valid
                    lb = lower_bounds(arr, gather(seeds_of("cand")), t)
                    done = settled(arr, lb, limits, t, prior) or t >= limit
                    if done:
                        break
                e += epochs
        finally:  # an error or Ctrl-C: a draw not started yet is dropped
            shuffles.shutdown(wait=True, cancel_futures=True)
    finally:
        if pool is not None:
            pool.shutdown()
    last = gather(np.concatenate([np.asarray(c.last) for c in carries], axis=0)[None])[0]
    return Window(arr, lb, t, spent, timed, looks, last)


def window_best(arrivals) -> list:
    """Per level, ``(index, S)`` of the best learning rate (smallest :func:`arrival_steps`; the larger rate
    on a tie, for rates in ascending order), or ``None`` where no learning rate has a finite S."""
    out = []
    for a in arrivals:
        med = arrival_steps(a)
        if not np.isfinite(med).any():
            out.append(None)
            continue
        best = np.flatnonzero(med == med.min())[-1]
        out.append((int(best), float(med[best])))
    return out


HALF_OCTAVE = 2.0**0.5  # the lattice of learning rates the windows take theirs from: 2^(k/2)
LR_FLOOR, LR_CEILING = 2.0**-14, 2.0**12  # no window goes beyond these
MAX_WINDOWS = 4  # the first window and up to three extensions, per batch size


def lattice(k) -> np.ndarray:
    """Learning rates ``2^(k/2)`` for integers ``k``, as float32."""
    return np.asarray(2.0 ** (np.asarray(k, np.float64) / 2), np.float32)


def lattice_index(lr: float) -> int:
    """The nearest lattice point's ``k``."""
    return round(2 * math.log2(lr))


def _extension(lrs: np.ndarray, best, caps, size: int, final=None):
    """The next window beyond an edge the best learning rate sits at, and the levels it is for; or ``None``.

    Downwards when, at a level still run, the best rate is the smallest tried (a smaller rate lowers SGD's
    noise floor); else upwards when it is the largest tried. Only those levels are run in it: where the best
    rate is inside the window, rates beyond its edge are not better (the steps to a level rise on both sides
    of the best rate). A level no rate arrived at within its cap does not extend the window: smaller rates
    would take more steps still, and its row says it was capped; but where no rate arrived at any level, the
    window goes where the loss at the last look (``final``, per rate, the median over seeds) is lowest: down
    when that is the smallest rate (or no loss is finite: the rates diverge or stall on their noise floor), up
    when it is the largest; where it is a rate inside the window, neither way is better (smaller rates are
    slower, larger ones noisier), and the window is not extended.
    """
    lo, hi = float(lrs.min()), float(lrs.max())
    k_floor, k_ceiling = lattice_index(LR_FLOOR), lattice_index(LR_CEILING)
    if all(b is None for b in best) and any(c > 0 for c in caps):  # no rate arrived anywhere
        finite = final is not None and bool(np.isfinite(final).any())
        lowest = int(np.argmin(np.where(np.isfinite(final), final, np.inf))) if finite else 0
        if 0 < lowest < len(lrs) - 1:
            return None  # the best rate is inside the window: it only needed more steps than the cap
        if finite and lowest == len(lrs) - 1 and len(lrs) > 1:
            k = lattice_index(hi)
            return (lattice(range(k + 1, min(k_ceiling, k + size) + 1)), [c > 0 for c in caps]) \
                if k < k_ceiling else None
        k = lattice_index(lo)
        return (lattice(range(max(k_floor, k - size), k)), [c > 0 for c in caps]) if k > k_floor else None
    at_lo = [c > 0 and b is not None and lrs[b[0]] == lo for b, c in zip(best, caps, strict=True)]
    at_hi = [c > 0 and b is not None and lrs[b[0]] == hi for b, c in zip(best, caps, strict=True)]
    if lattice_index(lo) > k_floor and any(at_lo):
        k = lattice_index(lo)
        return lattice(range(max(k_floor, k - size), k)), at_lo
    if lattice_index(hi) < k_ceiling and any(at_hi):
        k = lattice_index(hi)
        return lattice(range(k + 1, min(k_ceiling, k + size) + 1)), at_hi
    return None


def _refinement(lrs: np.ndarray, best, size: int) -> np.ndarray | None:
    """Half-octaves around the best rates of an octave grid (the first batch size's), ``size`` of them."""
    ks = sorted({lattice_index(float(lrs[b[0]])) for b in best if b is not None})
    have = {lattice_index(float(v)) for v in lrs}
    new = sorted({k + dk for k in ks for dk in (-1, 1)} - have)
    return lattice(new[:size]) if new else None


def _slowest_of_complete(arrivals):
    """Per level, the smallest over learning rates with every seed arrived of their slowest seed (None if
    none): every bootstrap replicate's best median is at most this."""
    out = []
    for a in arrivals:
        done = np.all(a > 0, axis=0)
        out.append(int(np.min(np.max(a[:, done], axis=0))) if done.any() else None)
    return out


def runs_for_batch(setup: BatchSetup, programs, caps, gather=None, *, refine: bool = False) -> BatchRuns:
    """Every window of one batch size: ``setup.learning_rates`` first; with ``refine``, the half-octaves
    next to its best rates; then windows of as many rates beyond an edge while the best rate sits there (at
    most :data:`MAX_WINDOWS` in all). Each later window stops as soon as it cannot beat what the earlier ones
    found. ``caps`` are the steps to arrival allowed per level.
    """
    size = len(setup.learning_rates)
    lrs_parts, arr_parts, lb_parts, steps_parts, capped_parts, last_parts = [], [], [], [], [], []
    spent, timed, looks = 0.0, 0, 0
    window, prior = np.asarray(setup.learning_rates, np.float32), None
    limits = [step_limit(c, setup.max_steps) for c in caps]
    caps = list(caps)
    run_caps = list(caps)  # the levels this window runs (0: not run)
    for w in range(MAX_WINDOWS):
        k = len(window)
        if setup.model is not None and k <= size * 2 // 3:
            # a network's steps are costly: a narrow window gets programs of its own width (compiled once per
            # width, a few seconds) rather than the first window's, padded with copies of its last rate
            narrow = setup._replace(learning_rates=window)
            got = run_window(narrow, compile_programs(narrow), run_caps, gather, prior)
        else:
            full = np.concatenate([window, np.full(size - k, window[-1], np.float32)])  # a fixed width
            got = run_window(setup._replace(learning_rates=full), programs, run_caps, gather, prior)
        ran = np.asarray([c > 0 for c in run_caps])[:, None, None]  # levels this window did not run: nothing
        lrs_parts.append(window)
        arr_parts.append(np.where(ran, got.arrivals[:, :, :k], -1))
        lb_parts.append(np.where(ran, got.lower[:, :, :k], 0))
        steps_parts.append(np.full(k, got.steps))
        last_parts.append(got.last[:, :k])
        capped_parts.append(np.asarray([c > 0 and got.steps >= lim and not level_settled(
            a, lb, None if prior is None else prior[j]) for j, (a, lb, lim, c) in enumerate(
            zip(got.arrivals, got.lower, limits, run_caps, strict=True))]))
        spent, timed, looks = spent + got.seconds, timed + got.timed, looks + got.evaluations
        order = np.argsort(np.concatenate(lrs_parts), kind="stable")  # ascending: ties go to the larger rate
        lrs = np.concatenate(lrs_parts)[order]
        arr = np.concatenate(arr_parts, axis=2)[:, :, order]
        prior = _slowest_of_complete(arr)
        best = window_best(arr)
        for j, b in enumerate(best):  # a level no rate reached within its cap is not run again at this B,
            if b is None and got.steps >= limits[j] and any(o is not None for o in best):  # unless none was
                caps[j] = 0
        window, run_caps = (_refinement(lrs, best, size), list(caps)) if refine and w == 0 else (None, None)
        if window is None:
            final = np.median(np.concatenate(last_parts, axis=1)[:, order], axis=0)  # per rate, ascending
            ext = _extension(lrs, best, caps, size, final)
            if ext is None:
                break
            window, run_caps = ext[0], [c if keep else 0 for c, keep in zip(caps, ext[1], strict=True)]
        window = window[~np.isin(window, lrs)]
        if not len(window):
            break
    lb = np.concatenate(lb_parts, axis=2)[:, :, order]
    steps = np.concatenate(steps_parts)[order]
    capped = np.any(np.stack(capped_parts), axis=0)  # (J,): a window stopped at the level's cap, unsettled
    keys = gather(np.asarray(setup.keys)[None])[0] if gather else np.asarray(setup.keys)
    return BatchRuns(setup.batch_size, keys, lrs, arr, lb, steps, capped, spent / timed if timed else math.nan,
                     looks, np.asarray([c > 0 for c in limits]), timed)


def chunk_costs(setup: BatchSetup, programs, repeats: int = 3) -> tuple[float, float]:
    """What one batch size's compiled chunk costs, timed alone: seconds per SGD step of all the runs, and per
    full-loss evaluation of all the runs (the study's two kinds of work), from one chunk with no evaluation
    and one with an evaluation after every step (best of ``repeats`` each).

    Args:
      setup: the runs of one batch size, with the shapes ``programs`` were compiled for.
      programs: :func:`compile_programs` of ``setup``.
      repeats: timed calls of each kind; the fastest counts.

    Returns:
      ``(seconds per step, seconds per evaluation)``, floats ≥ 0.

    Example:
      >>> x = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
      >>> s = BatchSetup(x, (x[:, 0] > 0).astype(np.float32), 8, np.ones(2, np.float32),
      ...                np.zeros((2, 2), np.uint32), jnp.array([0.1], jnp.float32), 100, train.make_optimizer("sgd"))
      >>> step, evaluation = chunk_costs(s, compile_programs(s), repeats=1)
      >>> step > 0 and evaluation >= 0
      True
    """
    n, b = setup.x.shape[0], setup.batch_size
    groups = seed_groups_of(setup)  # every group's chunk side by side, as run_window steps them
    batches, run_chunk = programs
    epochs = epochs_per_call(n, b, setup.keys.shape[0] // groups, setup.x.shape[1])
    chunk = _chunk_size(n, b, epochs)
    calls = []
    for g in range(groups):
        part = _group(setup, g, groups)
        rows, data, carry = _start(part)
        perms = np.stack([train.permutations(part.keys, e, n) for e in range(epochs)])
        calls.append((carry, batches(jnp.asarray(perms), rows), rows, data))

    def best(evaluate):
        ev = np.full((chunk,), evaluate)

        def once(call):
            carry, idx, rows, data = call
            return jax.block_until_ready(run_chunk(carry, idx, rows, np.int32(0), np.int32(0), np.int32(chunk), ev,
                                                   data))

        with concurrent.futures.ThreadPoolExecutor(groups) as pool:
            list(pool.map(once, calls))  # warm
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                list(pool.map(once, calls))
                times.append(time.perf_counter() - t0)
        return min(times)

    plain, every = best(False), best(True)
    return plain / chunk, max(0.0, every - plain) / chunk


CAP_FACTOR = 4  # a halved batch may take at most this many times the steps of the larger one


def next_cap(a, b, max_steps, next_b) -> int:
    """Steps to arrival allowed at the next smaller batch size ``next_b`` for a level: ``CAP_FACTOR ×
    (b/next_b)/2 ×`` the best arrival step (upper quartile) here (``CAP_FACTOR ×`` for a halving), at most half the step
    limit (an arrival at S is known at step 2S).

    With perfect tuning ``S(B') ≤ (B/B')·S(B)`` (``S = S_min(1 + B_crit/B)``), ``S(B/2) ≤ 2·S(B)``; twice that
    leaves room for the learning-rate grid. A level this batch size did not reach gets no steps at the
    smaller one.
    """
    best = float(np.min(arrival_steps(a)))
    factor = CAP_FACTOR * max(1.0, b / next_b) / 2
    return 0 if not np.isfinite(best) else min(max_steps // 2, math.ceil(factor * best))

