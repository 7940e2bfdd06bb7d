"""The network claims about the batch size, measured for any model on held-out rows.

The usual answer to "how should the batch size be chosen?" is about networks:
large batches converge to sharp minima that generalise worse (Keskar et al.
2017), and the learning rate should grow linearly with the batch size (Goyal et
al. 2017). Each claim is measured here, with intervals over seeds, on the
study's batch sizes at each one's best learning rate:

- **generalisation**: the validation loss (rows held out of training) at equal
  epochs (equal examples, so fewer updates at large B: Hoffer et al. 2017 trace
  the gap to that) and at equal training loss (each run read at the first epoch
  whose training loss is at or below a level every batch size reaches). The
  verdict reads the slope of validation loss against log₂ B, by bootstrap over
  seeds.
- **sharpness**: the largest eigenvalue ``λ_max`` of the training loss's
  Hessian at each run's end, by power iteration on Hessian-vector products;
  the slope of ``log₂ λ_max`` against ``log₂ B``. Sharpness is not invariant
  to reparametrisation (Dinh et al. 2017), so it is a description of these
  runs, not a cause.
- **linear learning-rate scaling**: the slope of log₂ (best learning rate)
  against log₂ B from the study's rows, by bootstrap over the study's seeds,
  and the batch sizes between which the local slope is within [0.5, 1.5].

:func:`network_claims` measures all three.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxsgd import train
from jaxsgd.model import mean_loss_of
from jaxsgd.study._hits import arrival_steps, initial_params

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval
POWER_STEPS = 30  # power iterations for λ_max


class GapRow(NamedTuple):
    """One batch size's runs in :func:`network_claims`: the means over seeds and their 95% intervals.

    The intervals are normal ones, mean ± 1.96 standard errors over seeds (NaN with fewer than two finite
    values).

    Attributes:
      batch_size: the batch size ``B``.
      learning_rate: its best learning rate at the study's default level, which its runs used.
      epochs: the epochs of every run.
      train_loss: the mean training loss after ``epochs`` epochs.
      val_loss: the mean validation loss after ``epochs`` epochs (equal epochs: equal examples at every B).
      val_loss_ci: its 95% interval ``(lo, hi)``.
      val_at_level: the mean validation loss at the first epoch whose training loss is at or below the level
        every batch size reaches (equal training loss); ``None`` if no run got there.
      val_at_level_ci: its 95% interval (``None`` unless two or more runs got there).
      epochs_to_level: the mean epochs to that level over the runs that got there (``None``: none did).
      sharpness: the mean ``λ_max`` of the training loss's Hessian at the runs' ends.
      sharpness_ci: its 95% interval.

    Example:
      >>> row = GapRow(batch_size=8, learning_rate=1.0, epochs=2, train_loss=0.011, val_loss=0.012,
      ...              val_loss_ci=(0.010, 0.014), val_at_level=0.012, val_at_level_ci=None, epochs_to_level=1.5,
      ...              sharpness=0.06, sharpness_ci=(0.05, 0.07))
      >>> row.val_loss > row.train_loss, row.val_at_level_ci is None
      (True, True)
    """

    batch_size: int
    learning_rate: float
    epochs: int
    train_loss: float
    val_loss: float
    val_loss_ci: tuple[float, float]
    val_at_level: float | None
    val_at_level_ci: tuple[float, float] | None
    epochs_to_level: float | None
    sharpness: float
    sharpness_ci: tuple[float, float]


class Verdict(NamedTuple):
    """A slope against ``log₂ B`` with its 95% bootstrap interval, and what it says in one word and a sentence.

    Attributes:
      slope: the least-squares slope of the seed means against ``log₂ B`` (NaN with fewer than two batch
        sizes).
      ci: its 95% percentile interval over seeds resampled within each B (NaNs when not measured).
      word: the verdict read from the interval: for the generalisation claims ``"worse"``, ``"better"`` or
        ``"no gap"``; for sharpness ``"sharper"``, ``"flatter"`` or ``"no trend"``; for learning-rate scaling
        ``"linear"``, ``"sublinear"`` or ``"superlinear"``; ``"not measured"`` for any without an interval.
      text: the verdict in a sentence, with the slope and its interval.

    Example:
      >>> v = Verdict(slope=0.9, ci=(0.7, 1.1), word="linear", text="best learning rate against B: linear")
      >>> v.ci[0] <= 1 <= v.ci[1], v.word
      (True, 'linear')
    """

    slope: float
    ci: tuple[float, float]
    word: str
    text: str


class NetworkClaims(NamedTuple):
    """What :func:`network_claims` measured: a :class:`GapRow` per batch size and a :class:`Verdict` per claim.

    Attributes:
      model: the model's name (``"sigmoid"`` for the neuron).
      rows: one :class:`GapRow` per batch size that reached the study's default level, ascending.
      level: the training loss every batch size reaches (equal training loss): the largest over B of the median
        over seeds of each run's lowest.
      generalisation: validation loss at equal training loss against ``log₂ B``.
      generalisation_epochs: validation loss at equal epochs against ``log₂ B``.
      sharpness: ``log₂ λ_max`` against ``log₂ B``.
      lr_scaling: ``log₂`` (best learning rate) against ``log₂ B``, from the study's rows (linear scaling is a
        slope of 1).
      lr_linear_range: the batch sizes ``(lo, hi)`` between which the local slope stays within [0.5, 1.5]
        (``None``: nowhere).
      notes: remarks on reading the claims for this model (for the neuron: one basin).

    Example:
      >>> gap = Verdict(0.0, (-0.1, 0.1), "no gap", "validation loss at equal training loss: no gap measured")
      >>> lr = Verdict(0.9, (0.7, 1.1), "linear", "best learning rate against B: linear")
      >>> c = NetworkClaims("sigmoid", rows=(), level=0.01, generalisation=gap, generalisation_epochs=gap,
      ...                   sharpness=gap._replace(word="no trend"), lr_scaling=lr, lr_linear_range=(8, 64),
      ...                   notes=())
      >>> c.generalisation.word, c.lr_scaling.word, c.lr_linear_range
      ('no gap', 'linear', (8, 64))
    """

    model: str
    rows: tuple[GapRow, ...]
    level: float
    generalisation: Verdict
    generalisation_epochs: Verdict
    sharpness: Verdict
    lr_scaling: Verdict
    lr_linear_range: tuple[int, int] | None
    notes: tuple[str, ...]


def _interval(values) -> tuple[float, float]:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return (math.nan, math.nan)
    half = Z95 * v.std(ddof=1) / math.sqrt(len(v))
    return (float(v.mean() - half), float(v.mean() + half))


def _slope(logb, values) -> float:
    ok = np.isfinite(values)
    if ok.sum() < 2 or len(np.unique(logb[ok])) < 2:
        return math.nan
    return float(np.polyfit(logb[ok], values[ok], 1)[0])


def _bootstrap_slope(logb, per_seed, rng, resamples=400) -> tuple[float, tuple[float, float]]:
    """Slope of the seed means against log₂ B, and its percentile interval over seeds resampled within each B."""
    per_seed = np.asarray(per_seed, np.float64)  # (batch sizes, seeds)
    point = _slope(logb, np.nanmean(per_seed, axis=1))
    s = per_seed.shape[1]
    reps = []
    for _ in range(resamples):
        idx = rng.integers(0, s, (len(logb), s))
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample whose B has no finite value
            reps.append(_slope(logb, np.nanmean(np.take_along_axis(per_seed, idx, axis=1), axis=1)))
    reps = np.asarray(reps)
    reps = reps[np.isfinite(reps)]
    if len(reps) < 10:
        return point, (math.nan, math.nan)
    return point, (float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5)))


def _word(ci, up: str, down: str, none: str) -> str:
    if not all(math.isfinite(c) for c in ci):
        return "not measured"
    return up if ci[0] > 0 else down if ci[1] < 0 else none


@functools.partial(jax.jit, static_argnames=("loss",))
def _lambda_max(params, xt, y, v0, loss=None):
    """The largest Hessian eigenvalue of the mean training loss, by power iteration on HVPs (flat vectors)."""

    theta, unravel = ravel_pytree(params)
    mean = mean_loss_of(loss)

    def hvp(v):
        return jax.jvp(jax.grad(lambda t: mean(unravel(t), xt, y)), (theta,), (v,))[1]

    def body(v, _):
        w = hvp(v)
        return w / (jnp.linalg.norm(w) + 1e-30), None

    v, _ = jax.lax.scan(body, v0 / jnp.linalg.norm(v0), None, length=POWER_STEPS)
    return jnp.vdot(v, hvp(v))


_losses_of_runs = jax.jit(train.runs_loss, static_argnames="loss")  # compiled once per loss and shape


def network_claims(result, x, y, *, model=None, seeds: int = 8, epochs: int = 10, val_fraction: float = 0.2,
                   seed: int = 0) -> NetworkClaims:
    """The network claims about the batch size, measured: generalisation, sharpness, learning-rate scaling.

    Every batch size of the study's default level runs ``seeds`` runs at its best learning rate for ``epochs``
    epochs on the rows not held out, and each claim is a slope against ``log₂ B`` with a bootstrap interval
    over seeds:

    - **generalisation** (Keskar et al. 2017): the validation loss at equal training loss (each run read at
      the first epoch whose training loss is at or below a level every batch size reaches) and at equal epochs
      (equal examples, so fewer updates at large B: Hoffer et al. 2017 trace the gap to that);
    - **sharpness**: ``log₂ λ_max`` of the training loss's Hessian at each run's end, by 30 power iterations
      on Hessian-vector products. Sharpness is not invariant to reparametrisation (Dinh et al. 2017): it
      describes these runs, it is not a cause;
    - **linear learning-rate scaling** (Goyal et al. 2017): ``log₂`` (best learning rate) against ``log₂ B``
      from the study's rows, by bootstrap over the study's seeds, and where the local slope is within
      [0.5, 1.5].

    Args:
      result: the :class:`~jaxsgd.study.StudyResult` of these rows; its default level's rows give each batch
        size's best learning rate (batch sizes that did not reach it are left out).
      x: the scaled features the study ran on ``(N, d)``; ``val_fraction`` of the rows (at random, by
        ``seed``) are held out for validation.
      y: the scaled targets ``(N,)``.
      model: the :class:`jaxsgd.model.Model`, started as the study starts its runs; default ``None``: the
        neuron from θ = 0.
      seeds: runs per batch size; default 8.
      epochs: epochs of every run (equal epochs: equal examples at every B); default 10.
      val_fraction: the share of rows held out (at least one row); default 0.2.
      seed: the split's and the runs' seed; default 0.

    Returns:
      :class:`NetworkClaims`: a row per batch size and a :class:`Verdict` per claim.

    Example:
      >>> from jaxsgd.study import StudyConfig, run_study
      >>> x = np.random.default_rng(0).normal(size=(600, 2)).astype(np.float32)
      >>> y = (1 / (1 + np.exp(-x[:, 0]))).astype(np.float32) * 0.8 + 0.1
      >>> r = run_study(x, y, StudyConfig(batch_sizes=(8, 64), seeds=4, fractions=(0.1,), bootstrap=50))
      >>> c = network_claims(r, x, y, seeds=4, epochs=2)
      >>> [row.batch_size for row in c.rows], c.generalisation.word in ("worse", "better", "no gap")
      ([8, 64], True)

    References:
      Keskar et al., 2017, "On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima".
      Hoffer, Hubara and Soudry, 2017, "Train longer, generalize better: closing the generalization gap in
      large batch training of neural networks".
      Goyal et al., 2017, "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour".
      Dinh, Pascanu, Bengio and Bengio, 2017, "Sharp Minima Can Generalize For Deep Nets".
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.float32)
    rng = np.random.default_rng([seed, 0x6E7])
    order = rng.permutation(len(y))
    n_val = max(1, round(val_fraction * len(y)))
    val, tr = order[:n_val], order[n_val:]
    xtr, ytr, xva, yva = x[tr], y[tr], x[val], y[val]
    loss = None if model is None else model.loss
    losses_of = functools.partial(_losses_of_runs, loss=loss)
    rows_ = [r for r in result.default.rows if r.steps is not None and r.batch_size <= len(ytr)]
    xt_tr, xt_va = jnp.asarray(xtr).T, jnp.asarray(xva).T
    keys = np.asarray(jax.random.key_data(jax.random.split(train.seed_key(seed), seeds)))
    d = x.shape[1]
    curves = []
    for row in rows_:
        opt = train.make_optimizer("sgd")
        runs = train.TrainState.create_runs(d, keys, [row.best_lr], optimizer=opt,
                                            params=initial_params(model, keys, d))
        data_rows = train.rows_of(jnp.asarray(xtr), jnp.asarray(ytr))
        tl, vl = [], []
        with train.Shuffler(keys, len(ytr)) as shuffler:
            for e in range(epochs):
                runs = train.epoch(runs, shuffler.get(e), data_rows, optimizer=opt, batch_size=int(row.batch_size),
                                   loss=loss)
                tl.append(np.asarray(losses_of(runs.params, xt_tr, jnp.asarray(ytr)), np.float64)[:, 0])
                vl.append(np.asarray(losses_of(runs.params, xt_va, jnp.asarray(yva)), np.float64)[:, 0])
        v0 = jax.random.normal(jax.random.key(seed), ravel_pytree(runs.run(0).params)[0].shape)
        sharp = np.asarray([float(_lambda_max(runs.run(i).params, xt_tr, jnp.asarray(ytr), v0, loss=loss))
                            for i in range(seeds)])
        curves.append((row, np.asarray(tl), np.asarray(vl), sharp))  # (epochs, seeds) each
    # the training loss every batch size reaches: the largest over B of the median over seeds of its best
    reach = [np.median(np.nanmin(np.where(np.isfinite(t), t, np.inf), axis=0)) for _, t, _, _ in curves]
    level = float(max(reach)) if reach else math.nan
    out, at_level, final_val, sharps = [], [], [], []
    for row, t, v, sharp in curves:
        hit = np.where(t <= level, np.arange(len(t))[:, None], len(t))  # (epochs, seeds)
        first = hit.min(axis=0)
        val_at = np.asarray([v[f, s] if f < len(t) else np.nan for s, f in enumerate(first)])
        reached = np.isfinite(val_at)
        out.append(GapRow(
            row.batch_size, float(row.best_lr), epochs, float(np.nanmean(t[-1])), float(np.nanmean(v[-1])),
            _interval(v[-1]), float(np.nanmean(val_at)) if reached.any() else None,
            _interval(val_at) if reached.sum() > 1 else None,
            float(np.mean(first[reached] + 1)) if reached.any() else None,
            float(np.nanmean(sharp)), _interval(sharp)))
        at_level.append(val_at)
        final_val.append(v[-1])
        sharps.append(np.log2(np.where(sharp > 0, sharp, np.nan)))
    logb = np.log2([r.batch_size for r in out]) if out else np.zeros(0)
    brng = np.random.default_rng([seed, 0xB5])
    g_slope, g_ci = _bootstrap_slope(logb, at_level, brng) if out else (math.nan, (math.nan, math.nan))
    e_slope, e_ci = _bootstrap_slope(logb, final_val, brng) if out else (math.nan, (math.nan, math.nan))
    s_slope, s_ci = _bootstrap_slope(logb, sharps, brng) if out else (math.nan, (math.nan, math.nan))
    lr_slope, lr_ci, lr_range = _lr_scaling(result, brng)
    gen = Verdict(g_slope, g_ci, _word(g_ci, "worse", "better", "no gap"),
                  _gap_text("at equal training loss", g_slope, g_ci))
    gen_e = Verdict(e_slope, e_ci, _word(e_ci, "worse", "better", "no gap"),
                    _gap_text(f"after {epochs} epochs (equal examples, fewer updates at larger B)", e_slope, e_ci))
    sharp_word = _word(s_ci, "sharper", "flatter", "no trend")
    sharp_v = Verdict(s_slope, s_ci, sharp_word,
                      f"λ_max of the training loss's Hessian at the end: {sharp_word} at larger B "
                      f"(slope of log₂ λ_max on log₂ B {s_slope:+.3g}, 95% [{s_ci[0]:+.3g}, {s_ci[1]:+.3g}])")
    lr_word = ("not measured" if not math.isfinite(lr_ci[0]) else
               "linear" if lr_ci[0] <= 1 <= lr_ci[1] else "sublinear" if lr_ci[1] < 1 else "superlinear")
    lr_v = Verdict(lr_slope, lr_ci, lr_word,
                   f"best learning rate against B: {lr_word} (slope of log₂ lr on log₂ B {lr_slope:.3g}, 95% "
                   f"[{lr_ci[0]:.3g}, {lr_ci[1]:.3g}]; linear is 1)"
                   + ("" if lr_range is None else f", local slope within [0.5, 1.5] from B = {lr_range[0]} to "
                                                  f"{lr_range[1]}"))
    notes = []
    if model is None:
        notes.append("one sigmoid neuron has a single basin (its loss has one minimum up to the tails), so "
                     "sharp and flat minima cannot differ here: λ_max reads the curvature where each run ended")
    return NetworkClaims("sigmoid" if model is None else model.name, tuple(out), level, gen, gen_e, sharp_v, lr_v,
                         lr_range, tuple(notes))


def _gap_text(when: str, slope: float, ci) -> str:
    word = _word(ci, "worse", "better", "no gap")
    said = {"worse": "larger batches generalise worse", "better": "larger batches generalise better",
            "no gap": "no generalisation gap measured", "not measured": "not measured"}[word]
    return (f"validation loss {when}: {said} (slope on log₂ B {slope:+.3g}, 95% [{ci[0]:+.3g}, {ci[1]:+.3g}])")


def _lr_scaling(result, rng, resamples: int = 400):
    """Slope of log₂ best lr on log₂ B at the default level, bootstrap over the study's seeds, and the range
    of B where consecutive local slopes lie within [0.5, 1.5]."""
    j = next(i for i, lv in enumerate(result.levels) if lv.default)
    runs = [r for r in result.runs if r.ran is None or r.ran[j]]

    def best(a, lrs):
        s = arrival_steps(a)
        return math.log2(float(lrs[int(np.argmin(s))])) if np.isfinite(s).any() else math.nan

    pts = [(math.log2(r.batch_size), best(r.arrivals[j], r.learning_rates)) for r in runs]
    pts = [(b, v) for b, v in pts if math.isfinite(v)]
    if len(pts) < 2:
        return math.nan, (math.nan, math.nan), None
    logb = np.asarray([b for b, _ in pts])
    point = _slope(logb, np.asarray([v for _, v in pts]))
    kept = [r for r in runs if math.isfinite(best(r.arrivals[j], r.learning_rates))]
    s = kept[0].arrivals.shape[1]
    reps = []
    for _ in range(resamples):
        idx = rng.integers(0, s, s)
        reps.append(_slope(logb, np.asarray([best(r.arrivals[j][idx], r.learning_rates) for r in kept])))
    reps = np.asarray(reps)
    reps = reps[np.isfinite(reps)]
    ci = (float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5))) if len(reps) >= 10 else (
        math.nan, math.nan)
    order = np.argsort(logb)
    lb, lv = logb[order], np.asarray([v for _, v in pts])[order]
    local = np.diff(lv) / np.diff(lb)
    good = [i for i, sl in enumerate(local) if 0.5 <= sl <= 1.5]
    span = None
    if good:  # the longest run of consecutive good intervals
        best_run, cur = [good[0]], [good[0]]
        for i in good[1:]:
            cur = [*cur, i] if i == cur[-1] + 1 else [i]
            best_run = cur if len(cur) > len(best_run) else best_run
        span = (round(2 ** float(lb[best_run[0]])), round(2 ** float(lb[best_run[-1] + 1])))
    return point, ci, span
