"""The batch-size study: steps and examples to several loss levels against B, with confidence intervals.

For each batch size B, every (seed × learning rate) run goes through the
engine's epoch (:func:`jaxsgd.train.epoch`: the learning rates of a seed share its
shuffles) and the full-data training loss is computed after every single step.
For each level

    L_j = L* + f_j · (L₀ − L*),   f = 10%, 1%, 0.1%, 0.01% by default,

(``L₀`` the loss at θ = 0, ``L*`` the best loss of long full-batch gradient
descent) the first step whose loss is ≤ ``L_j`` is recorded exactly. The best
learning rate for B at a level is the one whose median over seeds of those
steps is smallest; ``S(B)`` is that median and ``E(B) = B·S(B)``. Fitting
``S = S_min (1 + B_crit/B)`` (least squares on relative error) gives
``B_crit``, compared with the simple noise scale ``B_simple = tr Σ/|G|²``
(:func:`jaxsgd.study.noise_scale`) at the parameters where the runs first reach the level.
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

from jaxsgd import checks, defaults, train
from jaxsgd.errors import StudyError
from jaxsgd.model import init_params, mean_loss
from jaxsgd.study import _hits as hits
from jaxsgd.study._critical_batch import LevelResult, b_simple_on_path, mark_default, summarize_level
from jaxsgd.study._hits import BatchRuns

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


def validate(cfg: StudyConfig, n: int) -> tuple[int, ...]:
    """The batch sizes to study, ascending and distinct; :class:`StudyError` for anything out of range."""
    for name in ("max_rows", "seeds", "max_steps", "bootstrap"):
        if not checks.whole(getattr(cfg, name)):
            raise StudyError(name, f"must be a whole number, got {getattr(cfg, name)!r}")
    if cfg.max_rows < 2:
        raise StudyError("max_rows", f"at least 2 rows are needed, got {cfg.max_rows}")
    rows = min(n, cfg.max_rows)
    bsizes = tuple(cfg.batch_sizes or _default_batch_sizes(rows))
    if not all(checks.whole(b) for b in bsizes):
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
    checks.learning_rates(cfg.learning_rates, np.float32)
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
    r"""Steps and examples to several loss levels against the batch size B, with intervals over seeds.

    For each batch size B every (seed × learning rate) run trains from θ = 0,
    the full-data loss after every step; at each level

    .. math::

      L_j = L^* + f_j (L_0 − L^*)

    the first step at or below ``L_j`` is recorded exactly. ``S(B)`` is the
    smallest median over seeds of those steps among the learning rates, and
    ``E(B) = B·S(B)``. Each level's ``S(B)`` is fitted by
    ``S = S_min(1 + B_crit/B)`` (McCandlish et al.'s trade-off curve), and
    ``B_simple = tr Σ/|G|²`` is measured where the full-batch path reaches it.

    Args:
      x: scaled features ``(N, d)`` (float32 is used).
      y: scaled targets ``(N,)``.
      cfg: the :class:`StudyConfig` (default: the ``STUDY_*`` values of :mod:`jaxsgd.defaults`).
      progress: ``progress(done, total, message)``, called after each batch
        size (the command line draws a bar with an ETA from it).
      also_compile: ``also_compile(n, d, batch_sizes)``, run on the study's
        compile thread once the study's own programs are compiled (the batch-size
        job compiles the recommendation's programs there).

    In a multi-process run (:mod:`jaxsgd.distributed`) every process holds the
    same data and runs its share of the seeds (``seeds`` must be a multiple of
    the process count); the hits are gathered after every chunk, so every
    process returns the same result.

    Returns:
      A :class:`StudyResult`: levels with their rows (best learning rate, ``S``,
      ``E`` and their 95% bootstrap intervals), ``B_crit`` and ``B_simple`` with
      theirs, the raw runs, and timings.

    Raises:
      InputError: a bad setting (a :class:`~jaxsgd.errors.StudyError` naming the field) or bad data.

    Example:
      >>> import numpy as np
      >>> x = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32)
      >>> y = (1 / (1 + np.exp(-x[:, 0] + 0.5 * np.random.default_rng(1).normal(size=500)))).astype(np.float32)
      >>> r = run_study(x, y, StudyConfig(batch_sizes=(4, 32), seeds=2, fractions=(0.1,), bootstrap=20))
      >>> [row.batch_size for row in r.default.rows], r.default.fraction
      ([4, 32], 0.1)

    References:
      McCandlish, Kaplan, Amodei et al., 2018, "An Empirical Model of Large-Batch Training".
    """
    cfg = StudyConfig() if cfg is None else cfg
    t_start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32 becomes ±inf, refused below
        x = np.asarray(x, np.float32)
        y = np.asarray(y, np.float32)
    checks.data(x, y)  # values beyond float32 became ±inf: refused as such
    bsizes = validate(cfg, len(y))
    x, y, subsampled = subsample(x, y, cfg)
    n, d = x.shape
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    fractions = tuple(sorted(cfg.fractions, reverse=True))
    lrs = np.asarray(cfg.learning_rates, np.float32)
    optimizer = train.make_optimizer("sgd")
    root = train.seed_key(cfg.seed)
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
        setups = {b: hits.BatchSetup(x, y, b, lrs, keys_of[b], level_spec, cfg.max_steps, optimizer) for b in order}
        programs = [pool.submit(hits.compile_programs, setups[b]) for b in order]
        if also_compile is not None:
            pool.submit(also_compile, n, d, order)
        try:
            l0 = float(mean_loss(init_params(d), xj.T, yj))
            l_star, gd_losses, gd_thetas = train.full_batch_reference(x, y)
            level_losses = [l_star + f * (l0 - l_star) for f in fractions]
            levels = jnp.asarray(level_losses, jnp.float32)
            for k, b in enumerate(order):
                got = hits.runs_for_batch(setups[b]._replace(levels=levels), programs[k].result(), caps, gather)
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


