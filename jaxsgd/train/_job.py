"""The train job: a :class:`TrainConfig` in, a :class:`TrainReport` out; ``jaxsgd train`` parses and renders it.

:func:`run_training` loads the data, trains (or resumes a checkpoint), saves and
measures, in the manner of flax's ``train_and_evaluate``; its docstring has the
example.
"""

from __future__ import annotations

import math
import os
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxsgd import checks, defaults
from jaxsgd import data as data_mod
from jaxsgd.distributed import every_process, is_writer, mean_over_processes, process_count, process_index
from jaxsgd.errors import CheckpointError, OutputError, TrainingStopped
from jaxsgd.model import check_model, from_spec, init_params, is_builtin
from jaxsgd.paths import check_output, file_id
from jaxsgd.train._checkpoint import is_checkpoint, load_checkpoint, save_checkpoint
from jaxsgd.train._engine import TrainState
from jaxsgd.train._fit import History, fit
from jaxsgd.train._metrics import Metrics, metrics, raw_unit_warnings, raw_units, shared_transform
from jaxsgd.train._optimizers import make_optimizer
from jaxsgd.train._reference import evaluate_loss, full_batch_reference
from jaxsgd.train._shuffles import seed_key


class TrainConfig(NamedTuple):
    """Settings of one training run; the defaults (:mod:`jaxsgd.defaults`) are the ``jaxsgd train`` defaults.

    ``data``, ``batch_size``, ``lr`` and ``seed`` left at ``None`` take, with ``resume``,
    the checkpoint's values (its data file, features and target, or its built-in rows),
    else the defaults (the built-in data, :data:`jaxsgd.defaults.BATCH_SIZE`,
    :data:`jaxsgd.defaults.LEARNING_RATE`, seed 0). A ``data`` file without features or
    target takes the checkpoint's. Resuming with another batch size or learning rate
    is allowed and said in one line; another seed is refused, as the seed chose the
    checkpoint's validation rows (and its built-in data).

    Attributes:
      data: where the rows come from, a :class:`jaxsgd.data.DataSource`
        (default ``None``: the checkpoint's with ``resume``, else the built-in data).
      batch_size: ``B`` (default ``None``: the checkpoint's, else
        :data:`jaxsgd.defaults.BATCH_SIZE`).
      lr: the learning rate α (default ``None``: the checkpoint's, else
        :data:`jaxsgd.defaults.LEARNING_RATE`).
      epochs: the total epochs, a resumed checkpoint's included (default
        :data:`jaxsgd.defaults.EPOCHS`).
      optimizer: one of :data:`jaxsgd.defaults.OPTIMIZERS` (default ``"sgd"``).
      seed: chooses the validation rows, the shuffles and the built-in data
        (default ``None``: the checkpoint's, else 0).
      val_fraction: the share of rows held out for validation, in ``[0, 1)``
        (default ``None``: the checkpoint's, else :data:`jaxsgd.defaults.VAL_FRACTION`).
      save: a checkpoint path written after every epoch (default ``None``: none).
      resume: a checkpoint path to continue from (default ``None``: train from θ = 0).
      drop_last: drop each epoch's last partial batch (default ``True``).
      shuffle: where permutations are drawn, one of :data:`jaxsgd.defaults.SHUFFLES`
        (default ``"auto"``).
      model: a :func:`jaxsgd.model.from_spec` name (default ``None``: the
        checkpoint's, else ``"sigmoid"``, the neuron).

    Example:
      >>> from jaxsgd.data import DataSource
      >>> cfg = TrainConfig(data=DataSource(n_rows=80), epochs=1, batch_size=8)
      >>> cfg.epochs, cfg.optimizer, cfg.lr is None   # lr: the default (or a resumed checkpoint's)
      (1, 'sgd', True)
    """

    data: data_mod.DataSource | None = None
    batch_size: int | None = None
    lr: float | None = None
    epochs: int = defaults.EPOCHS
    optimizer: str = "sgd"
    seed: int | None = None
    val_fraction: float | None = None  # None: the checkpoint's (with resume), else defaults.VAL_FRACTION
    save: str | None = None
    resume: str | None = None
    drop_last: bool = True
    shuffle: str = "auto"
    model: str | None = None  # a jaxsgd.model.from_spec name; None: the checkpoint's, else "sigmoid"


MODEL_KEY = 0x1417  # folded into the seed's key for a model's init (the study starts its runs alike)


class TrainReport(NamedTuple):
    """What :func:`run_training` returns; losses are mean ½(y − h)² on the scaled target.

    Attributes:
      params: θ = (b, w1, …, wd) on scaled features (any other model: its flat parameter vector).
      raw_params: θ on unscaled features, ``h = σ(b + Σ wⱼ xⱼ)`` (:func:`raw_units`; empty for another model).
      price_per_unit: the price change per unit of each feature at the average
        training row (empty for another model).
      price_scale: ``[lo, hi]``: ``price = lo + (hi − lo)·h``.
      feature_names: the features' names, in ``params`` order.
      train_loss: the final loss on the training rows.
      val_loss: the final loss on the validation rows (``None`` without them).
      train_rmse: RMSE on the training rows, in price units (:func:`metrics`).
      val_rmse: RMSE on the validation rows (``None`` without them).
      train_r2: R² on the training rows.
      val_r2: R² on the validation rows (``None`` without them).
      epochs: the epochs completed, a resumed checkpoint's included.
      examples_per_second: the median speed over this call's epochs (``None`` if it ran none).
      history: the :class:`History` from θ = 0, as JSON has it (``[examples, loss]`` pairs, NaN as ``None``).
      l_star: the full-batch optimum ``L*`` on the training rows, when asked for
        (``reference=True``), else ``None``.
      n_train: the training rows, every process's.
      n_val: the validation rows, every process's.
      transform: the data scaling as a dict: ``mean``, ``std``, ``y_lo``, ``y_hi``.
      source: where the rows came from (a file, or ``synthetic(n=…, seed=…)``).
      warnings: the warnings on the finished run (:func:`diagnose`, values float64 cannot hold).
      true_params: the built-in data's true θ in scaled units; ``None`` for a file.
      save_error: why the last checkpoint could not be written, and what to do
        (default ``None``: it was, or none was asked for).
      model: the model trained (default ``"sigmoid"``, the neuron).

    Example:
      >>> from jaxsgd.data import DataSource
      >>> report = run_training(TrainConfig(data=DataSource(n_rows=80), epochs=1, batch_size=8), log=lambda s: None)
      >>> report.model, report.feature_names, len(report.params), report.price_scale
      ('sigmoid', ['floor_area_m2', 'age_years'], 3, [0.0, 1000000.0])
    """

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
    history: History  # from θ = 0, the epochs of a resumed checkpoint included
    l_star: float | None  # the full-batch optimum on the training rows, when asked for (``reference=True``)
    n_train: int
    n_val: int
    transform: dict
    source: str
    warnings: list
    true_params: list | None  # the built-in data's true θ in scaled units; None for a CSV
    save_error: str | None = None  # the last checkpoint could not be written: why, and what to do
    model: str = "sigmoid"  # the model trained; for any other than the neuron, ``params`` is its flat vector and
    # raw_params, price_per_unit are empty


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


SATURATED_Z = 10.0  # |z| beyond this: σ within 5e-5 of 0 or 1, outside every scaled target, σ′ < 5e-5


def diagnose(params, x_scaled, lr: float, name=str) -> list[str]:
    """Warnings on a finished run whose θ diverged or whose neuron saturated (and so stalled).

    Scaled targets lie inside (0, 1) (within [0.045, 0.955] for CSV data), so a fit
    never needs ``|z| > 10`` (:data:`SATURATED_Z`): a θ that puts many rows there
    came from steps too large, and there the gradient vanishes and the loss stops
    falling. A warning is given when ``max |θ| ≥ 10⁶`` or ``|z| > 10`` on 10 % of
    the rows or more.

    Args:
      params: the neuron's :class:`jaxsgd.model.Params`.
      x_scaled: the scaled training features ``(N, d)``.
      lr: the learning rate the run used; the warning suggests ``min(lr/10, 0.5)``.
      name: spells the learning-rate argument ``lr`` (default ``str``: its
        Python name; see :mod:`jaxsgd.errors`).

    Returns:
      A list of warning lines: empty, or one saying what went wrong and what to try.

    Example:
      >>> from jaxsgd.model import Params
      >>> x = np.array([[1.0], [2.0]])
      >>> diagnose(Params.from_theta([0.0, 1.0]), x, 0.5)
      []
      >>> diagnose(Params.from_theta([0.0, 100.0]), x, 0.5)
      ['θ grew to 100 and σ(z) is saturated (|z| > 10) on 100% of the training rows, ... try lr 0.05']
    """
    theta = np.asarray(params.to_theta(), np.float64)
    big = float(np.max(np.abs(theta)))
    z = theta[0] + np.asarray(x_scaled, np.float64) @ theta[1:]
    saturated = float(np.mean(np.abs(z) > SATURATED_Z)) if len(z) else 0.0
    if big < 1e6 and saturated < 0.1:
        return []
    return [f"θ grew to {big:.3g} and σ(z) is saturated (|z| > {SATURATED_Z:g}) on {saturated:.0%} of the "
            f"training rows, so the gradient vanishes and the loss is stuck: the learning rate is probably too "
            f"large; try {name('lr')} {min(lr / 10, defaults.LEARNING_RATE):g}"]


def _data_of(meta) -> data_mod.DataSource:
    """The data source a checkpoint was trained on (older checkpoints: its file, or the built-in data)."""
    d = meta.get("data")
    if d is None:
        source = meta.get("source", "")
        if source and not source.startswith("synthetic("):
            return data_mod.DataSource(csv=source, features=tuple(meta["features"]), target=meta["target"])
        return data_mod.DataSource(seed=meta.get("seed", 0))
    return data_mod.DataSource(csv=d.get("csv"), features=None if d.get("features") is None else tuple(d["features"]),
                               target=d.get("target"), drop_missing=d.get("drop_missing", False),
                               n_rows=d.get("n_rows", defaults.TRAIN_ROWS), seed=d.get("seed", meta.get("seed", 0)))


def _settle(cfg: TrainConfig, log, name) -> tuple[TrainConfig, dict | None]:
    """``cfg`` with every ``None`` filled in (from the checkpoint ``cfg.resume``, else the defaults), and the
    checkpoint's metadata; a changed batch size or learning rate is said in one line, another seed refused."""
    if not cfg.resume:
        seed = 0 if cfg.seed is None else cfg.seed
        return cfg._replace(data=data_mod.DataSource(seed=seed) if cfg.data is None else cfg.data,
                            batch_size=defaults.BATCH_SIZE if cfg.batch_size is None else cfg.batch_size,
                            lr=defaults.LEARNING_RATE if cfg.lr is None else cfg.lr, seed=seed,
                            model="sigmoid" if cfg.model is None else cfg.model,
                            val_fraction=defaults.VAL_FRACTION if cfg.val_fraction is None else cfg.val_fraction), None
    _, _, meta = load_checkpoint(cfg.resume)
    trained = meta.get("model", "sigmoid")
    if cfg.model is not None and cfg.model != trained:
        raise CheckpointError(lambda n: f"{cfg.resume}: checkpoint holds model {trained}, not {cfg.model}: resume "
                                        f"with {n('model')} {trained} (or without {n('model')}), or train afresh "
                                        f"without {n('resume')}")
    if cfg.model is None and not is_builtin(trained):  # a file must not make us import code on its own say
        raise CheckpointError(lambda n: f"{cfg.resume}: checkpoint holds your model {trained}: give "
                                        f"{n('model')} {trained} to resume it (that imports its code)")
    cfg = cfg._replace(model=trained)
    was = meta.get("seed", 0)
    if cfg.seed is not None and cfg.seed != was:
        raise CheckpointError(lambda n: f"{cfg.resume}: checkpoint was trained with {n('seed')} {was}, which chose "
                                        f"its validation rows and shuffles: resume with {n('seed')} {was} (or "
                                        f"without {n('seed')}), or train afresh without {n('resume')}")
    data = cfg.data
    if data is None:
        data = _data_of(meta)
        if data.csv is not None and not os.path.exists(data.csv):
            raise CheckpointError(lambda n: f"{cfg.resume}: the data file it was trained on, {data.csv} (as the "
                                            f"checkpoint remembers it), is not there: give {n('csv')} PATH where "
                                            "the file is now")
    elif data.csv is not None and (not data.features or not data.target):
        data = data._replace(features=data.features or tuple(meta["features"]), target=data.target or meta["target"])
    was_data = _data_of(meta)
    moved = [(f, getattr(was_data, f), getattr(data, f)) for f in ("csv", "n_rows", "drop_missing")
             if (os.path.abspath(getattr(data, f)) if f == "csv" and getattr(data, f) else getattr(data, f))
             != (os.path.abspath(getattr(was_data, f)) if f == "csv" and getattr(was_data, f) else
                 getattr(was_data, f))]
    split = meta.get("val_fraction", defaults.VAL_FRACTION)
    if cfg.val_fraction is not None and cfg.val_fraction != split:
        moved.append(("val_fraction", split, cfg.val_fraction))
    cfg = cfg._replace(val_fraction=split if cfg.val_fraction is None else cfg.val_fraction)
    if moved:
        said = ", ".join(f"{name(f)} {o} → {v}" for f, o, v in moved)
        log(f"note: resuming {cfg.resume} on other data or another split than it was trained on ({said}, the "
            "checkpoint's → this run's): its scaling is kept, and the validation rows are drawn anew")
    changed = []
    settled = {}
    for field, default in (("batch_size", defaults.BATCH_SIZE), ("lr", defaults.LEARNING_RATE)):
        old, new = meta.get(field, default), getattr(cfg, field)
        settled[field] = old if new is None else new
        if new is not None and new != old:
            changed.append((field, old, new))
    if changed:
        said = ", ".join(f"{name(f)} {o:g} → {v:g}" for f, o, v in changed)
        log(f"note: resuming {cfg.resume} with {said} (the checkpoint's → this run's): the epochs from here "
            "use the new values")
    return cfg._replace(data=data, seed=was, **settled), meta


def _start_params(model, d: int, seed):
    """Where a run of ``model`` starts: the neuron's θ = 0, or the model's ``init``, tried once (a model that
    fails is refused here, before any work)."""
    if model is None:
        return init_params(d)
    return check_model(model, d, key=jax.random.fold_in(seed_key(seed), MODEL_KEY))


def _resume(cfg: TrainConfig, ds, optimizer, log, name, model=None):
    """``(state, transform, history)`` from the checkpoint ``cfg.resume``, checked against this run."""
    start = _start_params(model, ds.x.shape[1], cfg.seed)
    template = TrainState.create(start, optimizer=optimizer, key=seed_key(cfg.seed)).opt_state
    state, transform, meta = load_checkpoint(cfg.resume, template, None if model is None else start)
    if meta.get("features") != list(ds.feature_names):
        raise CheckpointError(
            f"{cfg.resume}: checkpoint has features {','.join(meta.get('features', []))} but this run has "
            f"{','.join(ds.feature_names)}")
    if meta["target"] != ds.target_name:
        was = meta["target"]
        raise CheckpointError(
            lambda n: f"{cfg.resume}: checkpoint was trained on target {was}, not {ds.target_name}: resume "
                      f"with {n('target')} {was} or train afresh without {n('resume')}")
    if meta.get("optimizer") != cfg.optimizer:
        was = meta.get("optimizer")
        raise CheckpointError(lambda n: f"{cfg.resume}: checkpoint was trained with {n('optimizer')} "
                                        f"{was}, not {cfg.optimizer}")
    if int(state.epoch) >= cfg.epochs:
        log(f"checkpoint is at epoch {int(state.epoch)} already; {name('epochs')} {cfg.epochs} is the total")
    h = meta.get("history")  # checked by load_checkpoint: finite numbers, one loss per epoch
    if h is None:
        return state, transform, History.empty()
    val = [math.nan if v is None else v for v in h["val_loss"]]
    return state, transform, History(list(h["train_loss"]), val, list(h.get("examples_per_second", [])),
                                     [tuple(c) for c in h["curve"]])


def _validate(cfg: TrainConfig) -> None:
    if cfg.model is not None:
        from_spec(cfg.model)  # a model that names nothing is refused before the data are read
    if cfg.batch_size is not None:
        checks.count("batch_size", cfg.batch_size)
    if cfg.lr is not None:
        checks.learning_rate(cfg.lr, name="lr")
    checks.count("epochs", cfg.epochs)
    checks.choice("optimizer", cfg.optimizer, defaults.OPTIMIZERS)
    checks.choice("shuffle", cfg.shuffle, defaults.SHUFFLES)
    if cfg.seed is not None:
        checks.seed(cfg.seed)


def run_training(cfg: TrainConfig, *, log=_stderr, progress=None, name=str, reference: bool = False,
                 shard_data: bool = False) -> TrainReport:
    r"""Loads the data, trains (or resumes), saves, and returns a :class:`TrainReport`: the ``jaxsgd train`` job.

    The rows are split into training and validation rows by ``cfg.seed``, scaled
    (:func:`jaxsgd.data.fit_transform`, or a resumed checkpoint's scaling), and
    trained by :func:`fit`: for every batch ``β`` of ``B`` rows,

    .. math::

      θ ← θ − α \frac{1}{B} \sum_{i ∈ β} ∇_θ \tfrac12 (t_i − σ(b + w·x_i))^2

    with ``t`` the scaled target. A checkpoint is written after every epoch
    when ``cfg.save`` is given.

    A checkpoint that cannot be written after an epoch (a full disk, a file put at
    ``save`` by someone else meanwhile, which is never replaced) does not end the
    run: a warning goes to ``log``, the next epoch tries again, and if the last
    epoch's write failed too, the report's ``save_error`` says why and what to do,
    so that the finished run is reported all the same.

    Args:
      cfg: the run's :class:`TrainConfig`.
      log: takes notes and warnings, one line each (default: standard error).
      progress: if given, ``progress(epoch, epochs, message)`` takes each
        epoch's line instead of ``log`` (default ``None``).
      name: spells the config's fields in messages (default ``str``: their
        Python names; the command line gives its flags; see :mod:`jaxsgd.errors`).
      reference: also compute ``L*`` by full-batch gradient descent
        (:func:`full_batch_reference`; a few seconds on 10⁵ rows); default ``False``.
      shard_data: each process reads and trains on its share of the file's rows
        (:mod:`jaxsgd.distributed`); default ``False``.

    Returns:
      A :class:`TrainReport`: θ, losses, RMSE and R² in price units, the
      history from θ = 0 and the warnings.

    Raises:
      DataError: bad data (a file, a column, a value, a split with no training rows).
      CheckpointError: ``resume`` is not a checkpoint or does not fit this run
        (other features, target, optimizer, model or seed).
      OutputError: ``save`` cannot be written or holds a file that is not a
        checkpoint (checked before the data are read).
      TrainingStopped: the loss or θ stopped being finite.
      InputError: a bad setting; every error above is an ``InputError``.

    Example:
      >>> import os, tempfile
      >>> from jaxsgd.data import DataSource
      >>> cfg = TrainConfig(data=DataSource(n_rows=80), epochs=1, batch_size=8)
      >>> report = run_training(cfg, log=lambda s: None)   # log also gets each epoch's line
      >>> report.epochs, report.n_train, report.n_val, len(report.history.train_loss)
      (1, 64, 16, 1)
      >>> round(report.train_loss, 2), report.warnings
      (0.05, [])
      >>> with tempfile.TemporaryDirectory() as tmp:   # save, then resume for one epoch more
      ...     path = os.path.join(tmp, "run.npz")
      ...     first = run_training(cfg._replace(save=path), log=lambda s: None)
      ...     more = run_training(cfg._replace(epochs=2, save=path, resume=path), log=lambda s: None)
      >>> more.epochs, len(more.history.train_loss), more.history.train_loss[0] == first.train_loss
      (2, 2, True)
    """
    _validate(cfg)
    notes: list[str] = []  # said once the data are read and checked: a refusal stays one line
    cfg, _ = _settle(cfg, notes.append, name)
    saved_as = [None]  # the file at cfg.save that this run may replace: the one checked now, then its own
    if cfg.save is not None:
        check_output(cfg.save, argument="save", others={"csv": cfg.data.csv},
                     replaceable=is_checkpoint, what="a jaxsgd checkpoint")
        saved_as[0] = file_id(cfg.save)
    ds = data_mod.load(cfg.data, (process_index(), process_count()) if shard_data else None)
    if ds.dropped_lines:
        log(data_mod.dropped_note(ds))
    train_rows, val_rows = data_mod.split(len(ds.y), cfg.val_fraction, seed=cfg.seed)
    if not shard_data:  # sharded: fit checks each process's B/P rows
        checks.batch_size(cfg.batch_size, len(train_rows))
    if cfg.val_fraction > 0 and len(val_rows) == 0:  # after the refusals above: an error stays one line
        log(f"note: {name('val_fraction')} {cfg.val_fraction:g} of {len(ds.y)} rows rounds to no validation rows")
    optimizer = make_optimizer(cfg.optimizer)
    model = None if cfg.model == "sigmoid" else from_spec(cfg.model)
    state, transform, prior = None, None, History.empty()
    if cfg.resume:
        state, transform, prior = _resume(cfg, ds, optimizer, log, name, model)
    else:
        transform = shared_transform(ds, train_rows) if shard_data else data_mod.fit_transform(ds, train_rows)
    data_mod.check_targets(ds, transform)
    for note in notes:
        log(note)
    xtr = transform.features(ds.x[train_rows])
    ytr = transform.target(ds.y[train_rows])
    xva = transform.features(ds.x[val_rows])
    yva = transform.target(ds.y[val_rows])
    src = cfg.data
    start = None if model is None or state is not None else _start_params(model, xtr.shape[1], cfg.seed)
    meta = {"model": cfg.model, "val_fraction": cfg.val_fraction, "features": list(ds.feature_names),
            "target": ds.target_name,
            "optimizer": cfg.optimizer,
            "lr": cfg.lr, "batch_size": cfg.batch_size, "seed": cfg.seed, "source": ds.source,
            "data": {"csv": None if src.csv is None else os.path.abspath(src.csv),
                     "features": None if src.csv is None else list(ds.feature_names),
                     "target": None if src.csv is None else ds.target_name, "drop_missing": bool(src.drop_missing),
                     "n_rows": int(src.n_rows), "seed": int(src.seed)}}
    stopped, save_failed = [], []

    def save(st, hist):
        try:
            saved_as[0] = save_checkpoint(cfg.save, st, transform, {**meta, "history": _plain(hist)._asdict()},
                                          replaceable=lambda p: file_id(p) == saved_as[0])
            save_failed.clear()
        except OutputError as err:  # a full disk, a file put there meanwhile: the run goes on, and says so once
            said = err.render(name)
            if save_failed != [said]:
                log(f"warning: epoch {int(st.epoch)}: {said} (training goes on; every epoch tries again, and "
                    "says so only if the reason changes)")
            save_failed[:] = [said]

    def on_epoch(st, hist):
        e, loss, val, rate = int(st.epoch), hist.train_loss[-1], hist.val_loss[-1], hist.examples_per_second[-1]
        if not (math.isfinite(loss) and (math.isfinite(val) or len(val_rows) == 0)) \
                or not all(np.all(np.isfinite(np.asarray(a))) for a in jax.tree.leaves(st.params)):
            stopped.append(e)
            return False
        shown = f"  val_loss {val:.6g}" if len(val_rows) else ""
        message = f"epoch {e:4d}  loss {loss:.6g}{shown}  {rate:,.0f} examples/s"
        if progress is None:
            log(message)
        else:
            progress(e, cfg.epochs, message)
        if cfg.save and is_writer():
            save(st, hist)

    state, history = fit(
        xtr, ytr, batch_size=cfg.batch_size, epochs=cfg.epochs, optimizer=optimizer, learning_rate=cfg.lr,
        key=seed_key(cfg.seed), x_val=xva, y_val=yva, drop_last=cfg.drop_last, shuffle=cfg.shuffle,
        state=state, history=prior, on_epoch=on_epoch, shard_data=shard_data,
        loss=None if model is None else model.loss, params=start)
    if stopped:
        kept_file = f"; last good checkpoint kept in {cfg.save}" if cfg.save and not save_failed else ""
        raise TrainingStopped(lambda n: f"non-finite loss at epoch {stopped[0]} with {n('lr')} {cfg.lr}: try a "
                                        f"smaller learning rate{kept_file}")
    speeds = history.examples_per_second[len(prior.examples_per_second):]  # this call's epochs
    params = state.params
    loss_fn = None if model is None else model.loss
    if model is None:
        raw = raw_units(params, transform, transform.mean[None] if shard_data and process_count() > 1
                        else ds.x[train_rows])
        warnings = diagnose(params, xtr, cfg.lr, name) + raw_unit_warnings(raw, ds.feature_names)
    else:  # raw units and saturation are the neuron's notions
        raw = {"raw_params": [], "price_per_unit": [], "price_scale": [transform.y_lo, transform.y_hi]}
        warnings = []
    for w in warnings:
        log(f"warning: {w}")
    pooled = shard_data and process_count() > 1  # every process's rows make the figures
    counts = [len(train_rows), len(val_rows)]  # replicated rows are every process's: counted once
    n_train, n_val = (int(v) for v in (every_process(counts) if pooled else np.asarray([counts])).sum(axis=0))

    def loss_of(xs, ys):
        mine = evaluate_loss(params, jnp.asarray(xs).T, jnp.asarray(ys), loss_fn) if len(ys) else 0.0
        return mean_over_processes(mine, len(ys)) if pooled else mine

    has_val = n_val > 0
    if model is None or model.predict is not None:
        tr = metrics(params, transform, ds.x[train_rows], ds.y[train_rows], pooled=pooled, model=model)
        va = metrics(params, transform, ds.x[val_rows], ds.y[val_rows], pooled=pooled, model=model)
    else:  # a model without predict: no predictions, so no RMSE or R² of them
        tr = va = Metrics(math.nan, math.nan)
    l_star = (full_batch_reference(xtr, ytr, loss=loss_fn, params=None if model is None else
                                   _start_params(model, xtr.shape[1], cfg.seed))[0]
              if reference and not pooled else None)
    flat = params.to_theta() if model is None else ravel_pytree(params)[0]
    return TrainReport(
        params=[float(v) for v in np.asarray(flat)],
        **raw,
        feature_names=list(ds.feature_names),
        train_loss=loss_of(xtr, ytr),
        val_loss=loss_of(xva, yva) if has_val else None,
        train_rmse=tr.rmse, val_rmse=va.rmse if has_val else None,
        train_r2=tr.r2, val_r2=va.r2 if has_val else None,
        epochs=int(state.epoch),
        examples_per_second=float(np.median(speeds)) if speeds else None,
        history=_plain(history),
        l_star=l_star,
        n_train=n_train, n_val=n_val,
        transform={"mean": transform.mean.tolist(), "std": transform.std.tolist(), "y_lo": transform.y_lo,
                   "y_hi": transform.y_hi},
        source=ds.source,
        warnings=warnings,
        true_params=([float(v) for v in data_mod.true_theta(transform)] if ds.price_cap is not None
                     and model is None else None),
        save_error=save_failed[0] if save_failed else None,
        model=cfg.model,
    )


def _plain(h: History) -> History:
    """The history as JSON has it: ``[examples, loss]`` pairs of plain numbers, NaN validation losses as None."""
    return History([float(v) for v in h.train_loss], [None if math.isnan(v) else float(v) for v in h.val_loss],
                   [float(v) for v in h.examples_per_second], [[int(e), float(v)] for e, v in h.curve])
