"""The batch-size study: steps and examples to several loss levels against B, with confidence intervals.

For each batch size B, every (seed × learning rate) run goes through the
engine's epoch (:mod:`jaxsgd.engine`: the learning rates of a seed share its
shuffles) and the full-data training loss is computed after every single step.
For each level

    L_j = L* + f_j · (L₀ − L*),   f = 10%, 1%, 0.1%, 0.01% by default,

(``L₀`` the loss at θ = 0, ``L*`` the best loss of long full-batch gradient
descent) the first step whose loss is ≤ ``L_j`` is recorded exactly. The best
learning rate for B at a level is the one whose median over seeds of those
steps is smallest; ``S(B)`` is that median and ``E(B) = B·S(B)``. Fitting
``S = S_min (1 + B_crit/B)`` (least squares on relative error) gives
``B_crit``, compared with the simple noise scale ``B_simple = tr Σ/|G|²``
(:mod:`jaxsgd.noise`) at the parameters where the runs first reach the level.
Confidence intervals are percentile bootstraps over seeds.

Runs stop once no unfinished run can change an answer: for every level some
learning rate has all its seeds there, and the step count has passed the
slowest of those seeds.
"""

from __future__ import annotations

import concurrent.futures
import functools
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxsgd import defaults, hits
from jaxsgd.critical_batch import LevelResult, Row, b_simple_on_path, mark_default, summarize_level
from jaxsgd.errors import InputError
from jaxsgd.hits import BatchRuns
from jaxsgd.model import init_params, mean_loss
from jaxsgd.sgd import make_optimizer, seed_key

__all__ = [
    "FRACTIONS",
    "LEARNING_RATES",
    "BatchRuns",
    "LevelResult",
    "Row",
    "StudyConfig",
    "StudyError",
    "StudyResult",
    "full_batch_reference",
    "run_study",
    "subsample",
    "validate",
]

FRACTIONS = defaults.STUDY_FRACTIONS
LEARNING_RATES = defaults.STUDY_LEARNING_RATES


class StudyConfig(NamedTuple):
    """The study's settings; the defaults are :mod:`jaxsgd.defaults`' ``STUDY_*`` values."""

    batch_sizes: tuple[int, ...] | None = None  # default 1, 2, 4, … up to defaults.MAX_BATCH or the data size
    learning_rates: tuple[float, ...] = LEARNING_RATES
    seeds: int = defaults.STUDY_SEEDS
    fractions: tuple[float, ...] = FRACTIONS
    max_rows: int = defaults.STUDY_MAX_ROWS
    max_steps: int = defaults.STUDY_MAX_STEPS
    seed: int = 0
    bootstrap: int = 1000


class StudyResult(NamedTuple):
    """Levels with their rows and fits, the runs behind them, and timings."""

    n_rows: int
    subsampled_from: int | None
    seeds: int
    learning_rates: tuple[float, ...]
    l0: float
    l_star: float
    levels: tuple[LevelResult, ...]
    seconds_per_step: dict  # batch size -> measured seconds per step of all runs together
    wall_seconds: float
    runs: tuple[BatchRuns, ...]

    @property
    def default(self) -> LevelResult:
        return next(lv for lv in self.levels if lv.default)


@functools.partial(jax.jit, static_argnums=4)
def _gd_runs(p0, lrs, xt, y, steps):
    """``steps`` of full-batch gradient descent from ``p0`` for each learning rate: loss and θ after each."""
    def run(p, lr):
        def body(p, _):
            p = jax.tree.map(lambda a, g: a - lr * g, p, jax.grad(mean_loss)(p, xt, y))
            return p, (mean_loss(p, xt, y), p.to_theta())

        return lax.scan(body, p, None, length=steps)

    return jax.vmap(run)(p0, lrs)


def full_batch_reference(x, y, *, steps: int = 4000, lrs=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0), chunk: int = 500):
    """``(L*, losses, θ after each step)`` of the best of long full-batch runs.

    Runs in chunks of ``chunk`` steps and stops early once a chunk improves the best loss by less than
    10⁻⁹ of the loss (float32 cannot resolve more), at most ``steps`` steps.
    """
    xt, yj = jnp.asarray(x).T, jnp.asarray(y)
    lr = jnp.asarray(lrs, xt.dtype)
    p = jax.tree.map(lambda a: jnp.broadcast_to(a, (len(lrs), *a.shape)), init_params(xt.shape[0], xt.dtype))
    losses, thetas, best = [], [], np.inf
    for _ in range(max(1, steps // chunk)):
        p, (loss, theta) = _gd_runs(p, lr, xt, yj, chunk)
        losses.append(np.asarray(loss, np.float64))
        thetas.append(np.asarray(theta))
        now = np.nanmin(np.where(np.isfinite(losses[-1]), losses[-1], np.inf))
        if best - now < 1e-9 * abs(now):
            break
        best = min(best, now)
    losses, thetas = np.concatenate(losses, axis=1), np.concatenate(thetas, axis=1)
    final = losses[:, -1].copy()
    final[~np.isfinite(final)] = np.inf
    i = int(np.argmin(final))
    return float(np.min(losses[i])), losses[i], thetas[i]


def subsample(x, y, cfg: StudyConfig):
    """``(x, y, rows before)``: the rows the study uses, a random ``cfg.max_rows`` of them above that many."""
    if len(y) <= cfg.max_rows:
        return x, y, None
    rows = np.sort(np.random.default_rng(cfg.seed).choice(len(y), cfg.max_rows, replace=False))
    return x[rows], y[rows], len(y)


def _default_batch_sizes(n):
    out, b = [], 1
    while b <= min(defaults.MAX_BATCH, n):
        out.append(b)
        b *= 2
    return tuple(out)


class StudyError(InputError):
    """A setting out of range: ``argument`` names the :class:`StudyConfig` field, ``problem`` says what is wrong."""

    def __init__(self, argument: str, problem: str):
        super().__init__(lambda name: f"{name(argument)}: {problem}")
        self.argument, self.problem = argument, problem


def _whole(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def validate(cfg: StudyConfig, n: int) -> tuple[int, ...]:
    """The batch sizes to study, ascending and distinct; :class:`StudyError` for anything out of range."""
    for name in ("max_rows", "seeds", "max_steps", "bootstrap"):
        if not _whole(getattr(cfg, name)):
            raise StudyError(name, f"must be a whole number, got {getattr(cfg, name)!r}")
    if cfg.max_rows < 2:
        raise StudyError("max_rows", f"at least 2 rows are needed, got {cfg.max_rows}")
    rows = min(n, cfg.max_rows)
    bsizes = tuple(cfg.batch_sizes or _default_batch_sizes(rows))
    if not all(_whole(b) for b in bsizes):
        raise StudyError("batch_sizes", f"batch sizes must be whole numbers, got {bsizes}")
    bsizes = tuple(sorted({int(b) for b in bsizes}))
    bad = [b for b in bsizes if not 0 < b <= rows]
    if bad:
        raise StudyError("batch_sizes", f"batch sizes must be between 1 and the {rows} rows studied, got "
                                        f"{', '.join(map(str, bad))}")
    if not cfg.fractions or not all(0 < f < 1 for f in cfg.fractions):
        raise StudyError("fractions", f"levels must be fractions in (0, 1), got {cfg.fractions}")
    if cfg.seeds < 1:
        raise StudyError("seeds", f"at least one seed is needed, got {cfg.seeds}")
    if cfg.seeds % jax.process_count():
        raise StudyError("seeds", f"{cfg.seeds} seeds do not split over {jax.process_count()} processes: use a "
                                  f"multiple of {jax.process_count()}")
    if cfg.max_steps < 1:
        raise StudyError("max_steps", f"at least one step is needed, got {cfg.max_steps}")
    lrs = np.asarray(cfg.learning_rates, np.float64)
    f32 = np.finfo(np.float32)
    if lrs.ndim != 1 or lrs.size == 0 or not np.all((lrs >= float(f32.smallest_subnormal)) & (lrs <= float(f32.max))):
        raise StudyError("learning_rates", "learning rates must be one or more numbers > 0 that float32 holds "
                                           f"(1.4e-45 to 3.4e38), got {', '.join(map(str, np.ravel(lrs)))}")
    if cfg.bootstrap < 1:
        raise StudyError("bootstrap", f"at least one bootstrap resample is needed, got {cfg.bootstrap}")
    return bsizes


def _all_seeds(local: np.ndarray, *, count: int) -> np.ndarray:
    """Every process's ``(J, S/P, …)`` array of its seeds ``p, p + P, …`` as one ``(J, S, …)`` in seed order."""
    from jax.experimental import multihost_utils

    every = np.asarray(multihost_utils.process_allgather(local))  # (P, J, S/P, …)
    moved = np.moveaxis(every, 0, 2)  # (J, S/P, P, …): seed i·P + p
    return moved.reshape(moved.shape[0], -1, *moved.shape[3:])


def run_study(x, y, cfg: StudyConfig | None = None, *, progress=None, also_compile=None) -> StudyResult:
    """The whole study on scaled data ``x: (N, d)``, ``y: (N,)``.

    ``progress(done, total, message)`` is called after each batch size (the
    command line draws a bar with an ETA from it). In a multi-process run
    (:mod:`jaxsgd.distributed`) every process holds the same data and runs its
    share of the seeds (``seeds`` must be a multiple of the process count); the
    first-hit steps are gathered after every chunk, so every process returns the
    same result. ``also_compile(n, d,
    batch_sizes)``, if given, runs on the study's compile thread once the
    study's own programs are compiled (the command line compiles the
    recommendation's programs there).
    """
    cfg = StudyConfig() if cfg is None else cfg
    t_start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32 becomes ±inf, refused below
        x = np.asarray(x, np.float32)
        y = np.asarray(y, np.float32)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise InputError(f"x must be (N, d) and y (N,), got {x.shape} and {y.shape}")
    for name, a in (("x", x), ("y", y)):
        if not np.all(np.isfinite(a)):
            raise InputError(f"{name} must be finite: it holds NaN or ±inf (or values beyond float32)")
    bsizes = validate(cfg, len(y))
    x, y, subsampled = subsample(x, y, cfg)
    n, d = x.shape
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    fractions = tuple(sorted(cfg.fractions, reverse=True))
    lrs = np.asarray(cfg.learning_rates, np.float32)
    optimizer = make_optimizer("sgd")
    root = seed_key(cfg.seed)
    boot_idx = np.random.default_rng([cfg.seed, 0xB007]).integers(0, cfg.seeds, (cfg.bootstrap, cfg.seeds))
    runs_of = {}
    caps = [cfg.max_steps] * len(fractions)
    order = sorted(bsizes, reverse=True)  # largest first: its steps bound the next one's
    keys_of = {b: np.asarray(jax.random.key_data(jax.random.split(jax.random.fold_in(root, b), cfg.seeds)))
               for b in order}
    me, count = jax.process_index(), jax.process_count()
    if count > 1:  # seeds split over processes: each runs its own, all decide on every seed's hits
        keys_of = {b: k[me::count] for b, k in keys_of.items()}
    gather = None if count == 1 else functools.partial(_all_seeds, count=count)
    level_spec = jax.ShapeDtypeStruct((len(fractions),), jnp.float32)
    # compiling is a third of the work: the next batch sizes compile on this thread while others run; the
    # pool ends with the study
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxsgd-compile") as pool:
        programs = [pool.submit(hits.compile_programs, x, y, b, lrs, keys_of[b], level_spec, optimizer)
                    for b in order]
        if also_compile is not None:
            pool.submit(also_compile, n, d, order)
        try:
            l0 = float(mean_loss(init_params(d), xj.T, yj))
            l_star, gd_losses, gd_thetas = full_batch_reference(x, y)
            level_losses = [l_star + f * (l0 - l_star) for f in fractions]
            levels = jnp.asarray(level_losses, jnp.float32)
            for k, b in enumerate(order):
                got = hits.runs_for_batch(x, y, b, lrs, keys_of[b], levels, caps, cfg.max_steps, optimizer,
                                          programs[k].result(), gather)
                runs_of[b] = got
                if progress is not None:
                    progress(k + 1, len(order), f"B = {b}: {got.steps_run} steps of {cfg.seeds * len(lrs)} runs")
                if k + 1 < len(order):
                    caps = [hits.next_cap(got.hits[j], b, cfg.max_steps, order[k + 1]) for j in range(len(fractions))]
        except BaseException:  # an error or Ctrl-C: the compiles not started yet are dropped, not waited for
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    results = []
    for j, (f, loss) in enumerate(zip(fractions, level_losses, strict=True)):
        rows_, s_min, b_crit, b_crit_ci = summarize_level({b: runs_of[b].hits[j] for b in bsizes}, lrs, boot_idx)
        b_simple, b_simple_ci = b_simple_on_path(xj, yj, gd_losses, gd_thetas, loss, min(cfg.bootstrap, 200),
                                                 cfg.seed)
        results.append(LevelResult(f, loss, False, b_crit, b_crit_ci, s_min, b_simple, b_simple_ci, rows_))
    return StudyResult(n, subsampled, cfg.seeds, tuple(float(v) for v in lrs), l0, l_star,
                       tuple(mark_default(results)), {b: runs_of[b].seconds_per_step for b in bsizes},
                       time.perf_counter() - t_start, tuple(runs_of[b] for b in bsizes))


