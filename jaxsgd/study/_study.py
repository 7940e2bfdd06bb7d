"""The batch-size study: steps and examples to several loss levels against B, with confidence intervals.

For each batch size B, every (seed × learning rate) run goes through the
engine's step (:func:`jaxsgd.train.runs_step`: the learning rates of a seed
share its shuffles), and for each level

    L_j = L* + f_j · (L₀ − L*),   f = 10%, 1%, 0.1%, 0.01% by default,

(``L₀`` the loss at θ = 0, ``L*`` the best loss of long full-batch gradient
descent) the run's **arrival** is recorded: the step ``S`` from which its
full-data loss stays at or below ``L_j`` through step ``2S`` (see
:mod:`jaxsgd.study._hits`; a first dip below the level is not an arrival). The
best learning rate for B at a level is the one whose upper quartile of arrivals
over seeds is smallest; ``S(B)`` is that quartile and ``E(B) = B·S(B)``. The rates run at B
are a window of half-octaves around the larger batch size's best, extended by
another window wherever the best sits at an edge. Fitting
``S = S_min (1 + B_crit/B)`` (least squares on relative error) gives ``B_crit``,
compared with the noise scales ``B_simple = tr Σ/|G|²`` and
``B_noise = tr(HΣ)/(GᵀHG)`` (McCandlish et al. 2018) where the full-batch path
reaches the level. Confidence intervals are percentile bootstraps over seeds
(``B_crit``) and over rows (the noise scales).

Runs stop once no unfinished run can change an answer.
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
from jaxsgd.errors import InputError, StudyError
from jaxsgd.model import Model, init_params, mean_loss_of, neuron
from jaxsgd.study import _hits as hits
from jaxsgd.study._critical_batch import LevelResult, mark_default, monotone, noise_on_path, summarize_level
from jaxsgd.study._hits import BatchRuns

FRACTIONS = defaults.STUDY_FRACTIONS  # the loss levels L* + f·(L₀ − L*) studied by default, as the fractions f
LEARNING_RATES = defaults.STUDY_LEARNING_RATES  # the first window of learning rates, octaves apart


class StudyConfig(NamedTuple):
    """The settings of :func:`run_study`; the defaults are the ``STUDY_*`` values of :mod:`jaxsgd.defaults`.

    Attributes:
      batch_sizes: the batch sizes ``B`` to study, whole numbers between 1 and the rows studied (any order;
        duplicates are dropped). Default ``None``: 1, 2, 4, … up to ``defaults.MAX_BATCH`` (4096) or the rows
        studied, whichever is smaller.
      learning_rates: the learning rates the largest batch size runs first (and every batch size, without
        ``adapt``), positive numbers that float32 holds; default ``2^-2 … 2^6`` in octaves. Windows of
        half-octave rates are added wherever the best rate sits at an edge.
      seeds: runs per batch size and learning rate, each with its own shuffles; the intervals are over them.
        In a multi-process run, a multiple of the process count. Default 8.
      fractions: the levels ``L* + f·(L₀ − L*)`` as fractions ``f`` in (0, 1); default 10%, 1%, 0.1%, 0.01%.
      max_rows: the most rows studied: above this many, a random subset of this many (:func:`subsample`), at
        least 2. Default 100,000.
      max_steps: the most steps of any run. Default 20,000.
      seed: the seed of the shuffles, the subset and the bootstrap, a whole number in ``[0, 2⁶⁴)``.
      bootstrap: bootstrap resamples of the seeds for the intervals (at most 200 of them over rows for the
        noise scales). Default 1000.
      adapt: each smaller batch size starts from a window of ``window`` half-octave rates around the larger
        one's best, instead of running all of ``learning_rates``.
      window: the width of that window, in learning rates. Default 5.
      profile: also time each batch size's compiled chunk alone, per SGD step and per full-loss
        evaluation, so that the profile splits the runs' time into steps, evaluations and host work
        (:func:`jaxsgd.study.chunk_costs`; a few extra chunks per batch size).

    Example:
      >>> cfg = StudyConfig(batch_sizes=(32, 4), seeds=2, fractions=(0.1,), bootstrap=20)
      >>> cfg.seeds, cfg.max_steps, validate(cfg, 400)
      (2, 20000, (4, 32))
    """

    batch_sizes: tuple[int, ...] | None = None
    learning_rates: tuple[float, ...] = LEARNING_RATES
    seeds: int = defaults.STUDY_SEEDS
    fractions: tuple[float, ...] = FRACTIONS
    max_rows: int = defaults.STUDY_MAX_ROWS
    max_steps: int = defaults.STUDY_MAX_STEPS
    seed: int = 0
    bootstrap: int = 1000
    adapt: bool = True
    window: int = defaults.STUDY_WINDOW
    profile: bool = False


class StudyResult(NamedTuple):
    """What :func:`run_study` measured: the levels with their rows and fits, the runs behind them, and timings.

    Attributes:
      n_rows: the rows studied ``N``.
      subsampled_from: the rows there were before :func:`subsample` (``None``: all were studied).
      seeds: runs per batch size and learning rate.
      learning_rates: the configured learning rates, as floats (the batch sizes' windows are in ``runs``).
      l0: ``L₀``, the mean loss where the runs start (θ = 0 for the neuron).
      l_star: ``L*``, the best loss of long full-batch gradient descent.
      levels: one :class:`LevelResult` per fraction, deepest last (fractions descending).
      seconds_per_step: batch size → measured seconds per step of all its runs together, compiling excluded.
      wall_seconds: the study's wall-clock seconds.
      runs: one :class:`BatchRuns` per batch size, ascending: the raw arrivals.
      profile: where the time went: seconds by part (``"reference"``, ``"runs"``, ``"compile_wait"``,
        ``"noise_scales"``, ``"statistics"``) and ``"evaluations_per_run"`` by batch size.
      adapted: the smaller batch sizes' rates were windows around the larger one's best
        (:attr:`StudyConfig.adapt`).

    Example:
      >>> from jaxsgd.study import LevelResult, Row
      >>> level = LevelResult(0.1, 0.02, True, None, None, None, None, None, (Row(8, 0.5, 40.0, None, 320.0, None),))
      >>> result = StudyResult(n_rows=400, subsampled_from=None, seeds=2, learning_rates=(0.5, 1.0), l0=0.2,
      ...                      l_star=0.0, levels=(level,), seconds_per_step={8: 1e-4}, wall_seconds=1.0,
      ...                      runs=(), profile={})
      >>> result.default.fraction, result.default.rows[0].steps
      (0.1, 40.0)
    """

    n_rows: int
    subsampled_from: int | None
    seeds: int
    learning_rates: tuple[float, ...]
    l0: float
    l_star: float
    levels: tuple[LevelResult, ...]
    seconds_per_step: dict
    wall_seconds: float
    runs: tuple[BatchRuns, ...]
    profile: dict
    adapted: bool = True

    @property
    def default(self) -> LevelResult:
        """The study's default level: the :class:`LevelResult` of ``levels`` whose ``default`` is set."""
        return next(lv for lv in self.levels if lv.default)


def subsample(x, y, cfg: StudyConfig):
    """The rows the study uses: all of them, or a random ``cfg.max_rows`` of them above that many.

    The subset is drawn without replacement by ``numpy.random.default_rng(cfg.seed)`` and kept in the rows'
    order, so the same seed gives the same rows.

    Args:
      x: the features ``(N, d)``, a NumPy array.
      y: the targets ``(N,)``.
      cfg: the :class:`StudyConfig`; its ``max_rows`` and ``seed`` are used.

    Returns:
      ``(x, y, rows_before)``: ``x`` and ``y`` themselves and ``None`` when ``N ≤ cfg.max_rows``, else the
      subset ``(max_rows, d)``, ``(max_rows,)`` and ``N``.

    Example:
      >>> x, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
      >>> xs, ys, before = subsample(x, y, StudyConfig(max_rows=4))
      >>> xs.shape, ys.shape, before, bool(np.all(np.diff(ys) > 0))
      ((4, 2), (4,), 10, True)
      >>> subsample(x, y, StudyConfig())[2] is None
      True
    """
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
    """Checks every setting of a study of ``n`` rows, and gives the batch sizes it will run.

    Args:
      cfg: the :class:`StudyConfig`.
      n: the rows of the data, before :func:`subsample` (the study uses ``min(n, cfg.max_rows)`` of them).

    Returns:
      The batch sizes, a tuple of ints, ascending and distinct: ``cfg.batch_sizes``, or by default the powers
      of two up to ``defaults.MAX_BATCH`` or the rows studied.

    Raises:
      StudyError: a setting out of range (an :class:`~jaxsgd.errors.InputError` whose ``argument`` names the
        field): a batch size outside 1 … rows studied, a fraction outside (0, 1), no seeds, steps, resamples or
        window, a count that is not whole, or seeds that do not split over the processes.
      InputError: a bad ``seed`` or ``learning_rates``.

    Example:
      >>> validate(StudyConfig(batch_sizes=(32, 4, 4)), 400)
      (4, 32)
      >>> validate(StudyConfig(max_rows=20), 1000)
      (1, 2, 4, 8, 16)
      >>> validate(StudyConfig(batch_sizes=(8, 500)), 400)
      Traceback (most recent call last):
      ...
      jaxsgd.errors.StudyError: batch_sizes: batch sizes must be between 1 and the 400 rows studied, got 500
    """
    for name in ("max_rows", "seeds", "max_steps", "bootstrap", "window"):
        if not checks.whole(getattr(cfg, name)):
            raise StudyError(name, f"must be a whole number, got {getattr(cfg, name)!r}")
    checks.seed(cfg.seed)
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
    if cfg.window < 1:
        raise StudyError("window", f"a window needs at least one learning rate, got {cfg.window}")
    return bsizes


def _all_seeds(local: np.ndarray, *, count: int) -> np.ndarray:
    """Every process's ``(J, S/P, …)`` array of its seeds ``p, p + P, …`` as one ``(J, S, …)`` in seed order."""
    from jax.experimental import multihost_utils

    every = np.asarray(multihost_utils.process_allgather(local))  # (P, J, S/P, …)
    moved = np.moveaxis(every, 0, 2)  # (J, S/P, P, …): seed i·P + p
    return moved.reshape(moved.shape[0], -1, *moved.shape[3:])


def run_study(x, y, cfg: StudyConfig | None = None, *, progress=None, also_compile=None,
              target_scale: float | None = None, loss=None, params=None, model=None) -> StudyResult:
    r"""Steps and examples to several loss levels against the batch size B, with intervals over seeds.

    For each batch size B every (seed × learning rate) run trains from θ = 0
    (any other model: from its ``init`` with a key of the seed's), and at each level

    .. math::

      L_j = L^* + f_j (L_0 − L^*)

    its arrival is recorded: the step ``S`` from which its full-data loss stays at or
    below ``L_j`` through step ``max(2S, S + 16)`` (a first dip below it is not an arrival). ``S(B)`` is the
    smallest over the learning rates of the upper quartile over seeds of those
    steps (the step by which three in four runs have arrived), and
    ``E(B) = B·S(B)``. Each level's ``S(B)`` is fitted by
    ``S = S_min(1 + B_crit/B)`` (McCandlish et al.'s trade-off curve), and
    ``B_noise = tr(HΣ)/(GᵀHG)`` and ``B_simple = tr Σ/|G|²`` are measured where
    the full-batch path reaches it.

    In a multi-process run (:mod:`jaxsgd.distributed`) every process holds the
    same data and runs its share of the seeds (``seeds`` must be a multiple of
    the process count); the arrivals are gathered after every chunk, so every
    process returns the same result.

    Args:
      x: scaled features ``(N, d)`` (float32 is used).
      y: scaled targets ``(N,)``.
      cfg: the :class:`StudyConfig` (default ``None``: the ``STUDY_*`` values of :mod:`jaxsgd.defaults`).
      progress: ``progress(done, total, message, eta=seconds)``, called after
        each batch size with the study's estimate of the seconds left (the
        command line draws a bar with it); default ``None``: no calls.
      also_compile: ``also_compile(n, d, batch_sizes)``, run on the study's
        compile thread once the study's own programs are compiled (the batch-size
        job compiles the recommendation's programs there); default ``None``.
      target_scale: the target's scale ``hi − lo`` (scaled target ``t = (y − lo)/(hi − lo)``): each level's
        loss is then also given as an RMSE in the target's units, ``√(2L)·(hi − lo)``; default ``None``: not.
      loss: any model's per-example loss ``loss(params, x, y) -> scalar``, with ``params``; default ``None``:
        the sigmoid neuron's.
      params: where the runs of ``loss`` start: a pytree (every seed alike) or ``init(key, d)``, called with a
        key of each seed's; required with ``loss`` (the neuron starts from θ = 0).
      model: a :class:`jaxsgd.model.Model` instead of ``loss`` and ``params`` (not both).

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
    model = _model_of(model, loss, params)
    x, y, subsampled = subsample(x, y, cfg)
    n, d = x.shape
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    fractions = tuple(sorted(cfg.fractions, reverse=True))
    first = np.asarray(cfg.learning_rates, np.float32)
    optimizer = train.make_optimizer("sgd")
    root = train.seed_key(cfg.seed)
    boot_idx = np.random.default_rng([cfg.seed, 0xB007]).integers(0, cfg.seeds, (cfg.bootstrap, cfg.seeds))
    runs_of = {}
    caps = [cfg.max_steps // 2] * len(fractions)
    order = sorted(bsizes, reverse=True)  # largest first: its steps bound the next one's
    keys_of = {b: np.asarray(jax.random.key_data(jax.random.split(jax.random.fold_in(root, b), cfg.seeds)))
               for b in order}
    me, count = jax.process_index(), jax.process_count()
    if count > 1:  # seeds split over processes: each runs its own, all decide on every seed's hits
        keys_of = {b: k[me::count] for b, k in keys_of.items()}
    gather = None if count == 1 else functools.partial(_all_seeds, count=count)
    level_spec = jax.ShapeDtypeStruct((len(fractions),), jnp.float32)
    prof = dict.fromkeys(("reference", "runs", "compile_wait", "noise_scales", "statistics"), 0.0)
    eta = _Eta()
    # compiling is a third of the work: the next batch sizes compile on this thread while others run; the
    # pool ends with the study
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxsgd-compile") as pool:
        width = {b: len(first) if (k == 0 or not cfg.adapt) else cfg.window for k, b in enumerate(order)}
        # the programs' shapes: each batch size's first window is set at run time, from the larger one's best
        setups = {b: hits.BatchSetup(x, y, b, np.resize(first, width[b]), keys_of[b], level_spec, cfg.max_steps,
                                     optimizer, model) for b in order}
        def compiled_in(setup):  # the programs, and the seconds compiling them took on the pool's thread
            t = time.perf_counter()
            return hits.compile_programs(setup), time.perf_counter() - t

        programs = [pool.submit(compiled_in, setups[b]) for b in order]
        by_batch = {}
        if also_compile is not None:
            pool.submit(also_compile, n, d, order)
        try:
            t0 = time.perf_counter()
            # the reference path starts where seed 0 of the largest batch size does
            start = None if model is None else hits.initial_params(model, keys_of[order[0]][:1], d)(0)
            l0 = float(mean_loss_of(None if model is None else model.loss)(
                init_params(d) if start is None else start, xj.T, yj))
            l_star, gd_losses, gd_thetas = train.full_batch_reference(
                x, y, loss=None if model is None else model.loss, params=start)
            level_losses = [l_star + f * (l0 - l_star) for f in fractions]
            levels = jnp.asarray(level_losses, jnp.float32)
            prof["reference"] = time.perf_counter() - t0
            window = first
            for k, b in enumerate(order):
                t0 = time.perf_counter()
                compiled, compile_seconds = programs[k].result()
                t1 = time.perf_counter()
                got = hits.runs_for_batch(setups[b]._replace(levels=levels, learning_rates=window), compiled, caps,
                                          gather, refine=cfg.adapt and k == 0)
                t2 = time.perf_counter()
                prof["compile_wait"] += t1 - t0
                prof["runs"] += t2 - t1
                runs_of[b] = got
                by_batch[b] = {"compile": compile_seconds, "runs": t2 - t1, "steps": got.steps_timed,
                               "evaluations": got.evaluations}
                if cfg.profile:
                    step_s, eval_s = hits.chunk_costs(setups[b]._replace(levels=levels), compiled)
                    steps_s, evals_s = got.steps_timed * step_s, got.evaluations * eval_s
                    by_batch[b].update(step_seconds=step_s, evaluation_seconds=eval_s, steps_total=steps_s,
                                       evaluations_total=evals_s, host=max(0.0, t2 - t1 - steps_s - evals_s))
                if k + 1 < len(order):
                    caps = [hits.next_cap(got.arrivals[j], b, cfg.max_steps, order[k + 1])
                            for j in range(len(fractions))]
                    if cfg.adapt:
                        window = _window_near(got, cfg.window)
                if progress is not None:
                    left = eta.after(t2 - t0, order[k + 1:])
                    progress(k + 1, len(order), f"B = {b}: {int(got.steps_run.max())} steps, "
                             f"{len(got.learning_rates)} rates × {cfg.seeds} seeds", eta=left)
        except BaseException:  # an error or Ctrl-C: the compiles not started yet are dropped, not waited for
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    t0 = time.perf_counter()
    ordered = [runs_of[b] for b in bsizes]
    results = []
    for j, (f, loss) in enumerate(zip(fractions, level_losses, strict=True)):
        rows_, s_min, b_crit, b_crit_ci, fitted = summarize_level(ordered, j, boot_idx)
        t1 = time.perf_counter()
        scales, simple_ci, noise_ci = noise_on_path(xj, yj, gd_losses, gd_thetas, loss, min(cfg.bootstrap, 200),
                                                    cfg.seed, model, start)
        prof["noise_scales"] += time.perf_counter() - t1
        rmse = None if target_scale is None else float(np.sqrt(2 * loss) * target_scale)
        beyond = b_crit is not None and bool(fitted) and b_crit > max(fitted)
        results.append(LevelResult(
            f, loss, False, b_crit, b_crit_ci, s_min, None if scales is None else scales.b_simple, simple_ci, rows_,
            b_noise=None if scales is None else scales.b_noise, b_noise_ci=noise_ci, rmse=rmse, fitted=fitted,
            monotone=monotone(rows_), beyond=beyond))
    prof["statistics"] = time.perf_counter() - t0 - prof["noise_scales"]
    prof["evaluations_per_run"] = {b: runs_of[b].evaluations for b in bsizes}
    prof["by_batch"] = {b: by_batch[b] for b in bsizes if b in by_batch}
    return StudyResult(n, subsampled, cfg.seeds, tuple(float(v) for v in first), l0, l_star,
                       tuple(mark_default(results)), {b: runs_of[b].seconds_per_step for b in bsizes},
                       time.perf_counter() - t_start, tuple(ordered), prof, cfg.adapt)


def _model_of(model, loss, params):
    """The study's model: ``None`` for the neuron, else a :class:`Model` (from ``loss`` and ``params``)."""
    if model is not None and loss is not None:
        raise InputError(lambda a: f"give {a('model')} or {a('loss')} and {a('params')}, not both")
    if loss is not None:
        if params is None:
            raise InputError(lambda a: f"{a('loss')} was given without {a('params')}: give the model's initial "
                                       "parameters too (a pytree, or init(key, d))")
        init = params if callable(params) else (lambda key, d: params)
        model = Model(loss, init)
    if model is not None and model.loss is neuron().loss and model.init is neuron().init:
        return None  # the neuron from θ = 0: exactly the default
    return model


def _window_near(runs: BatchRuns, size: int) -> np.ndarray:
    """The next (smaller) batch size's first window: ``size`` half-octave rates around this one's smallest
    best rate over the levels it reached (the deepest level's, as a rule), mostly below it: smaller batches
    want smaller rates, and shallower levels' larger rates are found by extending upwards, cheaply."""
    best = [i for i in (hits.window_best(runs.arrivals)) if i is not None]
    if not best:
        k = hits.lattice_index(float(np.min(runs.learning_rates)))  # nothing arrived: start below
        return hits.lattice(range(k - size, k))
    k = min(hits.lattice_index(float(runs.learning_rates[i])) for i, _ in best)
    low = k - size // 2 - (1 if size > 2 else 0)
    return hits.lattice(range(low, low + size))


class _Eta:
    """Seconds left in a study: the batch sizes left times the mean seconds of the last three done. Smaller
    batches take more steps, each cheaper (fewer examples) and with the loss evaluated at the same schedule,
    so a batch size's time varies far less than its steps (California: 2–5 s from B = 512 down to B = 1)."""

    def __init__(self):
        self.seconds = []

    def after(self, seconds: float, rest) -> float:
        self.seconds.append(seconds)
        recent = self.seconds[-3:]
        return sum(recent) / len(recent) * len(rest)
