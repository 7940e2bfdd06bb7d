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
import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxsgd import defaults, engine, noise
from jaxsgd.model import Params, init_params, mean_loss
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
    "fit_critical_batch",
    "full_batch_reference",
    "run_study",
    "subsample",
    "summarize_level",
    "validate",
]

FRACTIONS = defaults.STUDY_FRACTIONS
LEARNING_RATES = defaults.STUDY_LEARNING_RATES
MAX_BATCH = 4096
MIN_DEFAULT_STEPS = 10  # the default level is the first the largest batch needs at least this many steps for


class StudyConfig(NamedTuple):
    batch_sizes: tuple[int, ...] | None = None  # default 1, 2, 4, … up to 4096 or the data size
    learning_rates: tuple[float, ...] = LEARNING_RATES
    seeds: int = defaults.STUDY_SEEDS
    fractions: tuple[float, ...] = FRACTIONS
    max_rows: int = defaults.STUDY_MAX_ROWS
    max_steps: int = defaults.STUDY_MAX_STEPS
    seed: int = 0
    bootstrap: int = 1000


class Row(NamedTuple):
    """One batch size at one level: median steps over seeds at the best learning rate, with 95% intervals."""

    batch_size: int
    best_lr: float | None
    steps: float | None
    steps_ci: tuple[float, float] | None
    examples: float | None
    examples_ci: tuple[float, float] | None


class LevelResult(NamedTuple):
    fraction: float
    loss: float
    default: bool
    b_crit: float | None
    b_crit_ci: tuple[float, float] | None
    s_min: float | None
    b_simple: float | None
    b_simple_ci: tuple[float, float] | None
    rows: tuple[Row, ...]


class BatchRuns(NamedTuple):
    """The raw runs of one batch size: ``hits[j, s, l]`` is the first step at level j of seed s and learning
    rate l (−1: not reached in ``steps_run`` steps); ``keys[s]`` is seed s's key data."""

    batch_size: int
    keys: np.ndarray
    hits: np.ndarray
    steps_run: int


class StudyResult(NamedTuple):
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


@functools.partial(jax.jit, static_argnames=("optimizer",))
def _chunk(params, opt_state, hits, at_hit, xs, ys, t0, valid, levels, xt, y, *, optimizer):
    """Steps ``t0 + 1 …`` over the batches ``xs (T, S, d, B)``, the loss of every run after each.

    ``hits (J, S, L)``: first step at each level (−1: not yet); ``at_hit (J, S, L, d + 1)``: θ there.
    Steps at or beyond ``valid`` are not taken.
    """
    update = engine.runs_step(optimizer)

    def body(carry, batch):
        params, opt_state, hits, at_hit = carry
        xb, yb, i = batch
        new_params, new_opt = update(params, opt_state, xb, yb)
        take = i < valid
        params = jax.tree.map(lambda a, b: jnp.where(take, a, b), new_params, params)
        opt_state = jax.tree.map(lambda a, b: jnp.where(take, a, b), new_opt, opt_state)
        loss = engine.runs_loss(params, xt, y)  # (S, L)
        first = take & (hits < 0) & (loss[None] <= levels[:, None, None])
        hits = jnp.where(first, t0 + i + 1, hits)
        theta = jnp.concatenate([params.b[..., None], params.w], axis=-1)
        at_hit = jnp.where(first[..., None], theta[None], at_hit)
        return (params, opt_state, hits, at_hit), None

    steps = jnp.arange(xs.shape[0], dtype=jnp.int32)
    (params, opt_state, hits, at_hit), _ = lax.scan(body, (params, opt_state, hits, at_hit), (xs, ys, steps))
    return params, opt_state, hits, at_hit


@functools.partial(jax.jit, static_argnames=("batch_size",))
def _batches(perms, rows, *, batch_size):
    return engine.shuffled_batches(perms, rows, batch_size)[:2]


def _settled(hits: np.ndarray, t: int, caps) -> bool:
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


def _start(x, y, lrs, keys, levels, optimizer):
    """The arrays a batch size starts from: data, runs, no hits yet."""
    d = x.shape[1]
    runs = engine.init_runs(d, keys, lrs, optimizer=optimizer)
    s, n_lr = keys.shape[0], len(lrs)
    hits = jnp.full((len(levels), s, n_lr), -1, jnp.int32)
    at_hit = jnp.zeros((len(levels), s, n_lr, d + 1), jnp.float32)
    return engine.rows_of(x, y), jnp.asarray(x).T, jnp.asarray(y), runs, hits, at_hit


def _compile(x, y, b, lrs, keys, levels, optimizer):
    """Both programs of one batch size, compiled ahead (the study compiles the next sizes on a thread while
    the current one runs): ``(batches, chunk)``."""
    rows, xt, yj, runs, hits, at_hit = _start(x, y, lrs, keys, levels, optimizer)
    n, s, d = x.shape[0], keys.shape[0], x.shape[1]
    t = _chunk_size(n, b)

    def spec(shape, dtype=jnp.float32):
        return jax.ShapeDtypeStruct(shape, dtype)

    batches = _batches.lower(spec((s, n), jnp.int32), rows, batch_size=b).compile()
    i32 = spec((), jnp.int32)
    chunk = _chunk.lower(runs.params, runs.opt_state, hits, at_hit, spec((t, s, d, b)), spec((t, s, b)), i32, i32,
                         levels, xt, yj, optimizer=optimizer).compile()
    return batches, chunk


def _runs_for_batch(x, y, b, lrs, keys, levels, caps, cfg, optimizer, programs):
    """Hits ``(J, S, L)`` (−1: not reached), θ at each hit, seconds per step, steps run."""
    n = x.shape[0]
    rows, xt, yj, runs, hits, at_hit = _start(x, y, lrs, keys, levels, optimizer)
    batches, run_chunk = programs
    nb = n // b
    chunk = _chunk_size(n, b)
    t, e, spent, timed = 0, 0, 0.0, 0
    params, opt_state = runs.params, runs.opt_state
    limit = min(cfg.max_steps, max(caps))
    with engine.Shuffler(keys, n) as shuffler:
        while t < limit:
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
                params, opt_state, hits, at_hit = run_chunk(params, opt_state, hits, at_hit, xc, yc, jnp.int32(t),
                                                            jnp.int32(valid), levels, xt, yj)
                h = np.asarray(hits)
                spent += time.perf_counter() - t0
                timed += valid
                t += valid
                if _settled(h, t, caps) or t >= limit:
                    return h, np.asarray(at_hit), (spent / timed if timed else math.nan), t
            e += 1
    return np.asarray(hits), np.asarray(at_hit), (spent / timed if timed else math.nan), t


CAP_FACTOR = 4  # a halved batch may take at most this many times the steps of the larger one


def _next_cap(h, b, max_steps, next_b) -> int:
    """Steps allowed at the next smaller batch size ``next_b`` for a level: ``CAP_FACTOR × (b/next_b)/2 ×``
    the median steps here (``CAP_FACTOR ×`` for a halving).

    With perfect tuning ``S(B') ≤ (B/B')·S(B)`` (``S = S_min(1 + B_crit/B)``), ``S(B/2) ≤ 2·S(B)``; twice that
    leaves room for the learning-rate grid. A level this batch size did not reach gets no steps at the
    smaller one.
    """
    best = float(np.min(_median_steps(h)))
    factor = CAP_FACTOR * max(1.0, b / next_b) / 2
    return 0 if not np.isfinite(best) else min(max_steps, math.ceil(factor * best))


def _one_batch_size(k, b, x, y, lrs, keys, levels, caps, cfg, optimizer, programs, per_b, timing, detail, progress,
                    total):
    h, at_hit, sec, ran = _runs_for_batch(x, y, b, lrs, keys, levels, caps, cfg, optimizer, programs)
    timing[b] = sec
    per_b[b] = (b, h, at_hit)
    detail[b] = BatchRuns(b, keys, h, ran)
    if progress is not None:
        progress(k + 1, total, f"B = {b}: {ran} steps of {len(keys) * len(lrs)} runs")


def _median_steps(h):
    """Median over seeds (axis 0) per learning rate; a run that never got there counts as infinitely slow."""
    return np.median(np.where(h > 0, h, np.inf), axis=0)


def subsample(x, y, cfg: StudyConfig):
    """``(x, y, rows before)``: the rows the study uses, a random ``cfg.max_rows`` of them above that many."""
    if len(y) <= cfg.max_rows:
        return x, y, None
    rows = np.sort(np.random.default_rng(cfg.seed).choice(len(y), cfg.max_rows, replace=False))
    return x[rows], y[rows], len(y)


def _row(b, h, lrs, boot_idx) -> tuple[Row, np.ndarray]:
    med = _median_steps(h)
    i = int(np.argmin(med))
    if not np.isfinite(med[i]):
        return Row(b, None, None, None, None, None), np.full(len(boot_idx), np.inf)
    reps = np.array([np.min(_median_steps(h[idx])) for idx in boot_idx])
    steps = float(med[i])
    if h.shape[0] < 2:  # one seed: no interval over seeds
        return Row(b, float(lrs[i]), steps, None, steps * b, None), reps
    lo, hi = _percentiles(reps)
    return Row(b, float(lrs[i]), steps, (lo, hi), steps * b, (lo * b, hi * b)), reps


def _percentiles(values, q=(0.025, 0.975)):
    """Order statistics (no interpolation, so an infinite replicate stays infinite without arithmetic)."""
    v = np.sort(np.asarray(values, float))
    return tuple(float(v[min(len(v) - 1, max(0, math.ceil(p * len(v)) - 1))]) for p in q)


def fit_critical_batch(bs, steps):
    """Least squares of ``S = S_min + S_min·B_crit/B`` weighted by 1/S: ``(S_min, B_crit)``, NaN if S does not fall."""
    bs, steps = np.asarray(bs, float), np.asarray(steps, float)
    ok = np.isfinite(steps)
    bs, steps = bs[ok], steps[ok]
    if len(bs) < 2:
        return math.nan, math.nan
    a = np.stack([np.ones_like(bs), 1.0 / bs], axis=1) / steps[:, None]
    (s_min, slope), *_ = np.linalg.lstsq(a, np.ones_like(steps), rcond=None)
    if not (s_min > 0 and slope > 1e-6 * s_min * bs.min()):  # B_crit ≈ 0 is rounding: S does not fall
        return math.nan, math.nan
    return float(s_min), float(slope / s_min)


def _ci(values):
    """95% percentile interval of bootstrap replicates; None when over 10% of them have no value (no fit)."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if len(v) == 0 or len(v) < 0.9 * len(values):
        return None
    return _percentiles(v)


def _default_batch_sizes(n):
    out, b = [], 1
    while b <= min(MAX_BATCH, n):
        out.append(b)
        b *= 2
    return tuple(out)


class StudyError(ValueError):
    """A setting out of range: ``argument`` names the :class:`StudyConfig` field, ``problem`` says what is wrong."""

    def __init__(self, argument: str, problem: str):
        super().__init__(f"{argument}: {problem}")
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
    if cfg.max_steps < 1:
        raise StudyError("max_steps", f"at least one step is needed, got {cfg.max_steps}")
    lrs = np.asarray(cfg.learning_rates, np.float64)
    f32 = np.finfo(np.float32)
    if lrs.ndim != 1 or lrs.size == 0 or not np.all((lrs >= float(f32.smallest_subnormal)) & (lrs <= float(f32.max))):
        raise StudyError("learning_rates", "learning rates must be one or more numbers > 0 that float32 holds "
                                           f"(1.4e-45 to 3.4e38), got {cfg.learning_rates}")
    if cfg.bootstrap < 1:
        raise StudyError("bootstrap", f"at least one bootstrap resample is needed, got {cfg.bootstrap}")
    return bsizes


def run_study(x, y, cfg: StudyConfig | None = None, *, progress=None, also_compile=None) -> StudyResult:
    """The whole study on scaled data ``x: (N, d)``, ``y: (N,)``.

    ``progress(done, total, message)`` is called after each batch size (the
    command line draws a bar with an ETA from it). ``also_compile(n, d,
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
        raise ValueError(f"x must be (N, d) and y (N,), got {x.shape} and {y.shape}")
    for name, a in (("x", x), ("y", y)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite: it holds NaN or ±inf (or values beyond float32)")
    bsizes = validate(cfg, len(y))
    x, y, subsampled = subsample(x, y, cfg)
    n, d = x.shape
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    fractions = tuple(sorted(cfg.fractions, reverse=True))
    lrs = np.asarray(cfg.learning_rates, np.float32)
    optimizer = make_optimizer("sgd")
    root = seed_key(cfg.seed)
    boot_idx = np.random.default_rng([cfg.seed, 0xB007]).integers(0, cfg.seeds, (cfg.bootstrap, cfg.seeds))
    per_b, timing, detail = {}, {}, {}
    caps = [cfg.max_steps] * len(fractions)
    order = sorted(bsizes, reverse=True)  # largest first: its steps bound the next one's
    keys_of = {b: np.asarray(jax.random.key_data(jax.random.split(jax.random.fold_in(root, b), cfg.seeds)))
               for b in order}
    level_spec = jax.ShapeDtypeStruct((len(fractions),), jnp.float32)
    # compiling is a third of the work: the next batch sizes compile on this thread while others run
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxsgd-compile") as pool:
        programs = [pool.submit(_compile, x, y, b, lrs, keys_of[b], level_spec, optimizer) for b in order]
        if also_compile is not None:
            pool.submit(also_compile, n, d, order)
        try:
            l0 = float(mean_loss(init_params(d), xj.T, yj))
            l_star, gd_losses, gd_thetas = full_batch_reference(x, y)
            level_losses = [l_star + f * (l0 - l_star) for f in fractions]
            levels = jnp.asarray(level_losses, jnp.float32)
            for k, b in enumerate(order):
                _one_batch_size(k, b, x, y, lrs, keys_of[b], levels, caps, cfg, optimizer, programs[k].result(),
                                per_b, timing, detail, progress, len(order))
                if k + 1 < len(order):
                    caps = [_next_cap(per_b[b][1][j], b, cfg.max_steps, order[k + 1])
                            for j in range(len(fractions))]
        except BaseException:  # an error or Ctrl-C: the compiles not started yet are dropped, not waited for
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    per_b = [per_b[b] for b in bsizes]
    results = []
    for j, (f, loss) in enumerate(zip(fractions, level_losses, strict=True)):
        rows_, s_min, b_crit, b_crit_ci = summarize_level({b: h[j] for b, h, _ in per_b}, lrs, boot_idx)
        b_simple, b_simple_ci = _b_simple_on_path(xj, yj, gd_losses, gd_thetas, loss, min(cfg.bootstrap, 200),
                                                  cfg.seed)
        results.append(LevelResult(f, loss, False, b_crit, b_crit_ci, s_min, b_simple, b_simple_ci, rows_))
    results = _mark_default(results)
    return StudyResult(n, subsampled, cfg.seeds, tuple(float(v) for v in lrs), l0, l_star, tuple(results), timing,
                       time.perf_counter() - t_start, tuple(detail[b] for b in bsizes))


def summarize_level(hits_by_batch: dict, lrs, boot_idx):
    """Rows, ``S_min``, ``B_crit`` and its interval from first-hit steps ``{B: (S, L)}`` at one level.

    ``boot_idx (R, S)``: seed indices of R bootstrap resamples; each replicate picks its best learning rate
    and fits again, so the interval carries the tuning's noise too.
    """
    rows_, reps = [], []
    for b, h in hits_by_batch.items():
        row, rep = _row(b, h, lrs, boot_idx)
        rows_.append(row)
        reps.append(rep)
    bsizes = list(hits_by_batch)
    s_min, b_crit = fit_critical_batch(bsizes, [r.steps if r.steps else np.inf for r in rows_])
    if math.isnan(b_crit):
        return tuple(rows_), None, None, None
    if boot_idx.shape[1] < 2:  # one seed: no interval over seeds
        return tuple(rows_), s_min, b_crit, None
    boot = [fit_critical_batch(bsizes, [rep[i] for rep in reps])[1] for i in range(len(boot_idx))]
    return tuple(rows_), s_min, b_crit, _ci(boot)


def _mark_default(levels: list[LevelResult]) -> list[LevelResult]:
    """The default level: the first (shallowest) that the largest batch size reaching it needs ≥ 10 steps for."""
    chosen = None
    for i, lv in enumerate(levels):
        have = [r for r in lv.rows if r.steps is not None]
        if have and have[-1].steps >= MIN_DEFAULT_STEPS:
            chosen = i
            break
    if chosen is None:  # otherwise the deepest level that any batch size reached
        reached = [i for i, lv in enumerate(levels) if any(r.steps for r in lv.rows)]
        chosen = reached[-1] if reached else len(levels) - 1
    return [lv._replace(default=(i == chosen)) for i, lv in enumerate(levels)]


def _b_simple_on_path(x, y, gd_losses, gd_thetas, level, n_boot, seed):
    """``B_simple = tr Σ/|G|²`` at the first point of the full-batch path at or below ``level``, with a
    bootstrap interval over rows (the path has no seeds: the data are what varies)."""
    hit = np.flatnonzero(gd_losses <= level)
    if len(hit) == 0:
        return None, None
    theta = Params.from_theta(jnp.asarray(gd_thetas[hit[0]]))
    g = np.asarray(noise.per_example_gradients(theta, x, y), np.float64)  # (N, d + 1)
    value = _ratio(g)
    idx = np.random.default_rng([seed, 0x51]).integers(0, len(g), (n_boot, len(g)))
    return value, _ci([_ratio(g[i]) for i in idx])


def _ratio(g):
    mean = g.mean(axis=0)
    g2 = float(mean @ mean)
    return float(((g - mean) ** 2).sum(axis=1).mean() / g2) if g2 > 0 else math.inf
