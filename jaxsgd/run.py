"""The training script's importable code path, shared by ``jaxsgd train`` and ``scripts/train.py``.

>>> report = run_training(TrainConfig(n_rows=2000, epochs=2), log=lambda s: None)
>>> report.epochs, report.n_train, report.n_val, len(report.history.curve) > 2
(2, 1600, 400, True)
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxsgd import checkpoint as ckpt
from jaxsgd import data as data_mod
from jaxsgd import defaults
from jaxsgd.distributed import every_process, is_writer, mean_over_processes, process_count, process_index
from jaxsgd.errors import InputError
from jaxsgd.evaluation import Metrics, metrics, predict_prices, raw_units, shared_transform
from jaxsgd.model import init_params
from jaxsgd.paths import check_output
from jaxsgd.sgd import OPTIMIZERS, evaluate_loss, fit, init_state, make_optimizer, seed_key
from jaxsgd.study import full_batch_reference

__all__ = ["Metrics", "TrainConfig", "TrainReport", "TrainingStopped", "diagnose", "metrics", "predict_prices",
           "run_training"]


class TrainConfig(NamedTuple):
    """Settings of one training run; the defaults (:mod:`jaxsgd.defaults`) are the ``jaxsgd train`` defaults."""

    csv: str | None = None
    features: tuple[str, ...] | None = None
    target: str | None = None
    drop_missing: bool = False
    n_rows: int = defaults.TRAIN_ROWS  # built-in data only
    batch_size: int = defaults.BATCH_SIZE
    lr: float = defaults.LEARNING_RATE
    epochs: int = defaults.EPOCHS
    optimizer: str = "sgd"
    seed: int = 0
    val_fraction: float = defaults.VAL_FRACTION
    save: str | None = None
    resume: str | None = None
    drop_last: bool = True
    shuffle: str = "auto"


class Curves(NamedTuple):
    """Per-epoch losses and the ``(examples seen, loss)`` curve from θ = 0 (see :class:`jaxsgd.sgd.History`)."""

    train_loss: list
    val_loss: list
    curve: list


class TrainReport(NamedTuple):
    """What :func:`run_training` returns; losses are mean ½(y − h)² on the scaled target."""

    params: list  # θ = (b, w1, …, wd) on scaled features
    raw_params: list  # θ on unscaled features, h = σ(b + Σ wⱼ xⱼ)
    price_per_unit: list  # price change per unit of each feature at the average training row
    price_scale: list  # [lo, hi]: price = lo + (hi − lo)·h
    feature_names: list
    train_loss: float
    val_loss: float | None
    train_rmse: float  # price units
    val_rmse: float | None
    train_r2: float
    val_r2: float | None
    epochs: int
    examples_per_second: float | None  # median over the epochs of this call
    history: Curves  # from θ = 0, the epochs of a resumed checkpoint included
    l_star: float | None  # the full-batch optimum on the training rows, when asked for (``reference=True``)
    n_train: int
    n_val: int
    transform: dict
    source: str
    warnings: list
    true_params: list | None  # the built-in data's true θ in scaled units; None for a CSV


class TrainingStopped(InputError):
    """A non-finite loss stopped the run; the last good checkpoint is kept."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def load_data(cfg: TrainConfig, shard: tuple[int, int] | None = None) -> data_mod.Dataset:
    """The built-in data, or ``cfg.features`` and ``cfg.target`` of the file ``cfg.csv`` (``shard=(i, n)``:
    only its ``i``-th of ``n`` parts, see :mod:`jaxsgd.tables`)."""
    if cfg.csv is None:
        if shard is not None:
            raise InputError(lambda n: f"sharded data ({n('shard_data')}) is read from a file: give {n('csv')}")
        if cfg.features or cfg.target:
            raise InputError(lambda n: f"{n('features')} and {n('target')} name columns of a file: give {n('csv')}")
        return data_mod.synthetic_house_prices(cfg.n_rows, seed=cfg.seed)
    if not cfg.features or not cfg.target:
        raise InputError(lambda n: f"{n('csv')} needs {n('features')} and {n('target')}")
    return data_mod.load_csv(cfg.csv, cfg.features, cfg.target, drop_missing=cfg.drop_missing, shard=shard)


SATURATED_Z = 10.0  # |z| beyond this: σ within 5e-5 of 0 or 1, outside every scaled target, σ′ < 5e-5


def diagnose(params, x_scaled, lr: float, name=str) -> list[str]:
    """Warnings on a finished run whose θ diverged or whose neuron saturated (and so stalled).

    Scaled targets lie inside (0, 1) (within [0.045, 0.955] for CSV data), so a fit
    never needs ``|z| > 10``: a θ that puts many rows there came from steps too large,
    and there the gradient vanishes and the loss stops falling. ``name`` spells the
    learning-rate argument (see :mod:`jaxsgd.errors`).
    """
    theta = np.asarray(params.to_theta(), np.float64)
    big = float(np.max(np.abs(theta)))
    z = theta[0] + np.asarray(x_scaled, np.float64) @ theta[1:]
    saturated = float(np.mean(np.abs(z) > SATURATED_Z)) if len(z) else 0.0
    if big < 1e6 and saturated < 0.1:
        return []
    return [f"θ grew to {big:.3g} and σ(z) is saturated (|z| > {SATURATED_Z:g}) on {saturated:.0%} of the "
            f"training rows, so the gradient vanishes and the loss is stuck: the learning rate is probably too "
            f"large; try {name('lr')} {min(lr / 10, TrainConfig().lr):g}"]


def _resume(cfg: TrainConfig, ds, optimizer, log, name):
    """``(state, transform, history)`` from the checkpoint ``cfg.resume``, checked against this run."""
    template = init_state(ds.x.shape[1], key=seed_key(cfg.seed), optimizer=optimizer).opt_state
    state, transform, meta = ckpt.load(cfg.resume, template)
    if meta.get("features") != list(ds.feature_names):
        raise ckpt.CheckpointError(
            f"{cfg.resume}: checkpoint has features {','.join(meta.get('features', []))} but this run has "
            f"{','.join(ds.feature_names)}")
    if meta["target"] != ds.target_name:
        was = meta["target"]
        raise ckpt.CheckpointError(
            lambda n: f"{cfg.resume}: checkpoint was trained on target {was}, not {ds.target_name}: resume "
                      f"with {n('target')} {was} or train afresh without {n('resume')}")
    if meta.get("optimizer") != cfg.optimizer:
        was = meta.get("optimizer")
        raise ckpt.CheckpointError(lambda n: f"{cfg.resume}: checkpoint was trained with {n('optimizer')} "
                                             f"{was}, not {cfg.optimizer}")
    if int(state.epoch) >= cfg.epochs:
        log(f"checkpoint is at epoch {int(state.epoch)} already; {name('epochs')} {cfg.epochs} is the total")
    h = meta.get("history")
    ok = isinstance(h, dict) and all(isinstance(h.get(k), list) for k in Curves._fields)
    return state, transform, Curves(*(list(h[k]) for k in Curves._fields)) if ok else Curves([], [], [])


def _validate(cfg: TrainConfig) -> None:
    if cfg.batch_size <= 0:
        raise InputError(lambda n: f"{n('batch_size')} must be > 0, got {cfg.batch_size}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise InputError(lambda n: f"{n('lr')} must be a finite number > 0, got {cfg.lr}")
    if cfg.epochs <= 0:
        raise InputError(lambda n: f"{n('epochs')} must be > 0, got {cfg.epochs}")
    if cfg.optimizer not in OPTIMIZERS:
        raise InputError(lambda n: f"{n('optimizer')} must be one of {', '.join(OPTIMIZERS)}")
    if cfg.shuffle not in defaults.SHUFFLES:
        raise InputError(lambda n: f"{n('shuffle')} must be one of {', '.join(defaults.SHUFFLES)}")
    if not 0 <= cfg.seed < 2**64:
        raise InputError(lambda n: f"{n('seed')} must be a whole number in [0, 2**64), got {cfg.seed}")


def run_training(cfg: TrainConfig, *, log=_stderr, progress=None, name=str, reference: bool = False,
                 shard_data: bool = False) -> TrainReport:
    """Loads the data, trains (or resumes), saves, and returns a :class:`TrainReport`.

    ``log`` takes notes and warnings; ``progress(epoch, epochs, message)``, if
    given, takes each epoch's line instead of ``log``; ``name`` spells the
    config's fields in warnings (see :mod:`jaxsgd.errors`); ``reference`` also
    computes ``L*`` by full-batch gradient descent (a few seconds on 10⁵ rows).
    Raises ``DataError``/``CheckpointError`` for bad
    input, ``OutputError`` for a ``save`` path that cannot be written or holds a
    file that is not a checkpoint (checked before the data are read), and
    :class:`TrainingStopped` on a non-finite loss; each is an ``InputError``.
    """
    _validate(cfg)
    if cfg.save is not None:
        check_output(cfg.save, argument="save", others={"csv": cfg.csv},
                     replaceable=ckpt.is_checkpoint, what="a jaxsgd checkpoint")
    ds = load_data(cfg, (process_index(), process_count()) if shard_data else None)
    if ds.dropped_lines:
        log(data_mod.dropped_note(ds))
    train_rows, val_rows = data_mod.split(len(ds.y), cfg.val_fraction, seed=cfg.seed)
    if cfg.val_fraction > 0 and len(val_rows) == 0:
        log(f"note: {name('val_fraction')} {cfg.val_fraction:g} of {len(ds.y)} rows rounds to no validation rows")
    if cfg.batch_size > len(train_rows) and not shard_data:  # sharded: fit checks each process's B/P rows
        raise InputError(lambda n: f"{n('batch_size')} {cfg.batch_size} is larger than the {len(train_rows)} "
                                   f"training rows: use at most {len(train_rows)}")
    optimizer = make_optimizer(cfg.optimizer)
    state, transform, prior = None, None, Curves([], [], [])
    if cfg.resume:
        state, transform, prior = _resume(cfg, ds, optimizer, log, name)
    else:
        transform = shared_transform(ds, train_rows) if shard_data else data_mod.fit_transform(ds, train_rows)
    data_mod.check_targets(ds, transform)
    xtr = transform.features(ds.x[train_rows])
    ytr = transform.target(ds.y[train_rows])
    xva = transform.features(ds.x[val_rows])
    yva = transform.target(ds.y[val_rows])
    meta = {"features": list(ds.feature_names), "target": ds.target_name, "optimizer": cfg.optimizer,
            "lr": cfg.lr, "batch_size": cfg.batch_size, "seed": cfg.seed, "source": ds.source}
    kept = Curves([*prior.train_loss], [*prior.val_loss], [*prior.curve])  # what each checkpoint carries
    per_epoch = len(train_rows) if not cfg.drop_last else len(train_rows) - len(train_rows) % cfg.batch_size
    if shard_data:  # batches of B/P rows here, B in all
        per_epoch = len(train_rows) // max(1, cfg.batch_size // process_count()) * cfg.batch_size
    if not kept.curve:
        start = evaluate_loss(init_params(ds.x.shape[1]), jnp.asarray(xtr).T, jnp.asarray(ytr))
        kept.curve.append([0, mean_over_processes(start, len(ytr)) if shard_data else start])
    stopped = []

    def on_epoch(st, loss, val, rate):
        e = int(st.epoch)
        if not (math.isfinite(loss) and (math.isfinite(val) or len(val_rows) == 0)):
            stopped.append(e)
            return False
        shown = f"  val_loss {val:.6g}" if len(val_rows) else ""
        message = f"epoch {e:4d}  loss {loss:.6g}{shown}  {rate:,.0f} examples/s"
        if progress is None:
            log(message)
        else:
            progress(e, cfg.epochs, message)
        kept.train_loss.append(loss)
        kept.val_loss.append(val if len(val_rows) else None)
        kept.curve.append([e * per_epoch, loss])
        if cfg.save and is_writer():
            ckpt.save(cfg.save, st, transform, {**meta, "history": kept._asdict()})

    state, hist = fit(
        xtr, ytr, batch_size=cfg.batch_size, epochs=cfg.epochs, optimizer=optimizer, learning_rate=cfg.lr,
        key=seed_key(cfg.seed), x_val=xva, y_val=yva, drop_last=cfg.drop_last, shuffle=cfg.shuffle,
        state=state, on_epoch=on_epoch, shard_data=shard_data)
    if stopped:
        kept_file = f"; last good checkpoint kept in {cfg.save}" if cfg.save else ""
        raise TrainingStopped(lambda n: f"non-finite loss at epoch {stopped[0]} with {n('lr')} {cfg.lr}: try a "
                                        f"smaller learning rate{kept_file}")
    # the first epoch's points within it (from θ = 0) replace the coarse start kept above
    curve = [*prior.curve, *([list(map(float, c)) for c in hist.curve])] if hist.curve else kept.curve
    history = Curves(kept.train_loss, kept.val_loss, [[int(e), float(v)] for e, v in curve])
    if cfg.save and hist.curve and is_writer():
        ckpt.save(cfg.save, state, transform, {**meta, "history": history._asdict()})
    params = state.params
    warnings = diagnose(params, xtr, cfg.lr, name)
    for w in warnings:
        log(f"warning: {w}")
    pooled = shard_data and process_count() > 1  # every process's rows make the figures
    counts = [len(train_rows), len(val_rows)]  # replicated rows are every process's: counted once
    n_train, n_val = (int(v) for v in (every_process(counts) if pooled else np.asarray([counts])).sum(axis=0))

    def loss_of(xs, ys):
        mine = evaluate_loss(params, jnp.asarray(xs).T, jnp.asarray(ys)) if len(ys) else 0.0
        return mean_over_processes(mine, len(ys)) if pooled else mine

    has_val = n_val > 0
    tr = metrics(params, transform, ds.x[train_rows], ds.y[train_rows], pooled=pooled)
    va = metrics(params, transform, ds.x[val_rows], ds.y[val_rows], pooled=pooled)
    l_star = full_batch_reference(xtr, ytr)[0] if reference and not pooled else None
    return TrainReport(
        params=[float(v) for v in params.to_theta()],
        **raw_units(params, transform, transform.mean[None] if pooled else ds.x[train_rows]),
        feature_names=list(ds.feature_names),
        train_loss=loss_of(xtr, ytr),
        val_loss=loss_of(xva, yva) if has_val else None,
        train_rmse=tr.rmse, val_rmse=va.rmse if has_val else None,
        train_r2=tr.r2, val_r2=va.r2 if has_val else None,
        epochs=int(state.epoch),
        examples_per_second=float(np.median(hist.examples_per_second)) if hist.examples_per_second else None,
        history=history,
        l_star=l_star,
        n_train=n_train, n_val=n_val,
        transform={"mean": transform.mean.tolist(), "std": transform.std.tolist(), "y_lo": transform.y_lo,
                   "y_hi": transform.y_hi},
        source=ds.source,
        warnings=warnings,
        true_params=[float(v) for v in data_mod.true_theta(transform)] if ds.price_cap is not None else None,
    )
