"""The training script's importable code path, shared by ``jaxsgd train`` and ``scripts/train.py``.

>>> report = run_training(TrainConfig(n_rows=2000, epochs=2), log=lambda s: None)
>>> sorted(k for k in report if k.startswith("val_"))
['val_loss', 'val_r2', 'val_rmse']
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxsgd import checkpoint as ckpt
from jaxsgd import data as data_mod
from jaxsgd.model import predict_batch
from jaxsgd.paths import check_output
from jaxsgd.sgd import OPTIMIZERS, evaluate_loss, fit, init_state, make_optimizer, seed_key

__all__ = ["TrainConfig", "TrainingStopped", "diagnose", "metrics", "predict_prices", "run_training"]


class TrainConfig(NamedTuple):
    """Settings of one training run; the defaults are the ``jaxsgd train`` defaults."""

    csv: str | None = None
    features: tuple[str, ...] | None = None
    target: str | None = None
    drop_missing: bool = False
    n_rows: int = 100_000  # built-in data only
    batch_size: int = 32
    lr: float = 0.5
    epochs: int = 10
    optimizer: str = "sgd"
    seed: int = 0
    val_fraction: float = 0.2
    save: str | None = None
    resume: str | None = None
    drop_last: bool = True
    shuffle: str = "auto"


class TrainingStopped(RuntimeError):
    """A non-finite loss stopped the run; the last good checkpoint is kept."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def load_data(cfg: TrainConfig) -> data_mod.Dataset:
    if cfg.csv is None:
        return data_mod.synthetic_house_prices(cfg.n_rows, seed=cfg.seed)
    if not cfg.features or not cfg.target:
        raise data_mod.DataError("--csv needs --features a,b,... and --target c")
    return data_mod.load_csv(cfg.csv, cfg.features, cfg.target, drop_missing=cfg.drop_missing)


def metrics(params, transform, x_raw, y_raw) -> dict:
    """RMSE and R² in price units of the model's predictions on raw rows.

    Computed in the model's units ``t = (y − lo)/(hi − lo)``, where squares cannot
    overflow whatever the price scale, and brought back by ``hi − lo``.
    """
    if len(y_raw) == 0:
        return {"rmse": math.nan, "r2": math.nan}
    scale = transform.y_hi - transform.y_lo
    t = (np.asarray(y_raw, np.float64) - transform.y_lo) / scale
    resid = t - _predict(params, transform, x_raw)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(resid**2))) * scale,
        "r2": (1.0 - float(np.sum(resid**2)) / ss_tot) if ss_tot > 0 else math.nan,
    }


def _predict(params, transform, x_raw) -> np.ndarray:
    """The model's outputs ``h = σ(z) ∈ (0, 1)`` for raw feature rows, as float64."""
    return np.asarray(predict_batch(params, jnp.asarray(transform.features(x_raw), params.w.dtype)), np.float64)


def predict_prices(params, transform, x_raw) -> np.ndarray:
    """Predictions in price units for raw feature rows ``x_raw`` (N, d)."""
    return transform.price(_predict(params, transform, x_raw))


SATURATED_Z = 10.0  # |z| beyond this: σ within 5e-5 of 0 or 1, outside every scaled target, σ′ < 5e-5


def diagnose(params, x_scaled, lr: float) -> list[str]:
    """Warnings on a finished run whose θ diverged or whose neuron saturated (and so stalled).

    Scaled targets lie inside (0, 1) (within [0.045, 0.955] for CSV data), so a fit
    never needs ``|z| > 10``: a θ that puts many rows there came from steps too large,
    and there the gradient vanishes and the loss stops falling.
    """
    theta = np.asarray(params.to_theta(), np.float64)
    big = float(np.max(np.abs(theta)))
    z = theta[0] + np.asarray(x_scaled, np.float64) @ theta[1:]
    saturated = float(np.mean(np.abs(z) > SATURATED_Z)) if len(z) else 0.0
    if big < 1e6 and saturated < 0.1:
        return []
    return [f"θ grew to {big:.3g} and σ(z) is saturated (|z| > {SATURATED_Z:g}) on {saturated:.0%} of the "
            f"training rows, so the gradient vanishes and the loss is stuck: the learning rate is probably too "
            f"large; try --lr {min(lr / 10, TrainConfig().lr):g}"]


def _validate(cfg: TrainConfig) -> None:
    if cfg.batch_size <= 0:
        raise data_mod.DataError(f"--batch-size must be > 0, got {cfg.batch_size}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise data_mod.DataError(f"--lr must be a finite number > 0, got {cfg.lr}")
    if cfg.epochs <= 0:
        raise data_mod.DataError(f"--epochs must be > 0, got {cfg.epochs}")
    if cfg.optimizer not in OPTIMIZERS:
        raise data_mod.DataError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
    if not 0 <= cfg.seed < 2**64:
        raise data_mod.DataError(f"--seed must be a whole number in [0, 2**64), got {cfg.seed}")


def run_training(cfg: TrainConfig, *, log=_stderr) -> dict:
    """Loads the data, trains (or resumes), saves, and returns the report as a dict.

    Raises ``DataError``/``CheckpointError`` for bad input, ``OutputError`` for a
    ``save`` path that cannot be written or holds a file that is not a checkpoint
    (checked before the data are read), and :class:`TrainingStopped` on a non-finite loss.
    """
    _validate(cfg)
    if cfg.save is not None:
        check_output(cfg.save, option="--save", others={"the --csv input": cfg.csv},
                     replaceable=ckpt.is_checkpoint, what="a jaxsgd checkpoint")
    ds = load_data(cfg)
    if ds.dropped_lines:
        log(data_mod.dropped_note(ds))
    train_rows, val_rows = data_mod.split(len(ds.y), cfg.val_fraction, seed=cfg.seed)
    if cfg.batch_size > len(train_rows):
        raise data_mod.DataError(
            f"--batch-size {cfg.batch_size} is larger than the {len(train_rows)} training rows: use at most "
            f"{len(train_rows)}")
    optimizer = make_optimizer(cfg.optimizer)
    d = ds.x.shape[1]
    state = None
    if cfg.resume:
        template = init_state(d, key=seed_key(cfg.seed), optimizer=optimizer).opt_state
        state, transform, meta = ckpt.load(cfg.resume, template)
        if meta.get("features") != list(ds.feature_names):
            raise ckpt.CheckpointError(
                f"{cfg.resume}: checkpoint has features {','.join(meta.get('features', []))} but this run has "
                f"{','.join(ds.feature_names)}")
        if meta["target"] != ds.target_name:
            raise ckpt.CheckpointError(
                f"{cfg.resume}: checkpoint was trained on target {meta['target']}, not {ds.target_name}: resume "
                f"with --target {meta['target']} or train afresh without --resume")
        if meta.get("optimizer") != cfg.optimizer:
            raise ckpt.CheckpointError(f"{cfg.resume}: checkpoint was trained with --optimizer "
                                       f"{meta.get('optimizer')}, not {cfg.optimizer}")
        if int(state.epoch) >= cfg.epochs:
            log(f"checkpoint is at epoch {int(state.epoch)} already; --epochs {cfg.epochs} is the total")
    else:
        transform = data_mod.fit_transform(ds, train_rows)
    data_mod.check_targets(ds, transform)
    xtr = transform.features(ds.x[train_rows])
    ytr = transform.target(ds.y[train_rows])
    xva = transform.features(ds.x[val_rows])
    yva = transform.target(ds.y[val_rows])
    meta = {"features": list(ds.feature_names), "target": ds.target_name, "optimizer": cfg.optimizer,
            "lr": cfg.lr, "batch_size": cfg.batch_size, "seed": cfg.seed, "source": ds.source}

    def on_epoch(st, loss, val, rate):
        e = int(st.epoch)
        if not (math.isfinite(loss) and (math.isfinite(val) or len(val_rows) == 0)):
            kept = f"; last good checkpoint kept in {cfg.save}" if cfg.save else ""
            raise TrainingStopped(
                f"non-finite loss at epoch {e} with --lr {cfg.lr}: try a smaller learning rate{kept}")
        shown = f"  val_loss {val:.6g}" if len(val_rows) else ""
        log(f"epoch {e:4d}  loss {loss:.6g}{shown}  {rate:,.0f} examples/s")
        if cfg.save:
            ckpt.save(cfg.save, st, transform, meta)

    try:
        _, hist, state = fit(
            xtr, ytr, batch_size=cfg.batch_size, epochs=cfg.epochs, optimizer=optimizer, learning_rate=cfg.lr,
            key=seed_key(cfg.seed), x_val=xva, y_val=yva, drop_last=cfg.drop_last, shuffle=cfg.shuffle,
            state=state, on_epoch=on_epoch)
    except ValueError as e:  # e.g. a batch size the device count does not divide
        raise data_mod.DataError(str(e)) from None
    params = state.params
    warnings = diagnose(params, xtr, cfg.lr)
    for w in warnings:
        log(f"warning: {w}")
    tr = metrics(params, transform, ds.x[train_rows], ds.y[train_rows])
    va = metrics(params, transform, ds.x[val_rows], ds.y[val_rows])

    report = {
        "params": [float(v) for v in params.to_theta()],
        **raw_units(params, transform, ds.x[train_rows]),
        "feature_names": list(ds.feature_names),
        "train_loss": evaluate_loss(params, jnp.asarray(xtr).T, jnp.asarray(ytr)),
        "val_loss": evaluate_loss(params, jnp.asarray(xva).T, jnp.asarray(yva)) if len(val_rows) else None,
        "train_rmse": tr["rmse"], "val_rmse": va["rmse"] if len(val_rows) else None,
        "train_r2": tr["r2"], "val_r2": va["r2"] if len(val_rows) else None,
        "epochs": int(state.epoch),
        "examples_per_second": float(np.median(hist.examples_per_second)) if hist.examples_per_second else None,
        "history": {"train_loss": hist.train_loss, "val_loss": hist.val_loss,
                    "curve": [[int(e), float(v)] for e, v in hist.curve]},
        "n_train": len(train_rows), "n_val": len(val_rows),
        "transform": {"mean": transform.mean.tolist(), "std": transform.std.tolist(),
                      "y_lo": transform.y_lo, "y_hi": transform.y_hi},
        "source": ds.source,
        "warnings": warnings,
    }
    if ds.price_cap is not None:
        report["true_params"] = [float(v) for v in data_mod.true_theta(transform)]
    return report


def _amount(v: float) -> str:
    """Price units with thousands separators, or in exponent form when that would run to many digits."""
    return f"{v:,.2f}" if abs(v) < 1e15 else f"{v:.6g}"


def raw_units(params, transform, x_raw) -> dict:
    """θ for unscaled features, ``h = σ(b + Σ wⱼ xⱼ)`` with ``price = lo + (hi − lo)·h``, and the price change
    per unit of each feature at the average training row: ``(hi − lo)·σ′(z̄)·wⱼ``."""
    theta = np.asarray(params.to_theta(), np.float64)
    w_raw = theta[1:] / transform.std
    b_raw = theta[0] - float(np.sum(theta[1:] * transform.mean / transform.std))
    z = b_raw + float(np.asarray(x_raw, np.float64).mean(axis=0) @ w_raw)
    e = math.exp(-abs(z))
    per_unit = (transform.y_hi - transform.y_lo) * e / (1 + e) ** 2 * w_raw
    return {"raw_params": [b_raw, *map(float, w_raw)], "price_per_unit": [float(v) for v in per_unit],
            "price_scale": [float(transform.y_lo), float(transform.y_hi)]}


def format_report(r: dict) -> str:
    names = ["b"] + [f"w[{n}]" for n in r["feature_names"]]
    lines = [f"trained {r['epochs']} epochs on {r['source']} ({r['n_train']} train / {r['n_val']} validation rows)",
             "θ (scaled units):"]
    true = r.get("true_params")
    for i, (n, v) in enumerate(zip(names, r["params"], strict=True)):
        lines.append(f"  {n:<24} {v: .6f}" + (f"   true {true[i]: .6f}" if true else ""))
    lo, hi = r["price_scale"]
    lines.append(f"θ (raw units: h = σ(b + Σ wⱼ·xⱼ) on unscaled features, price = {lo:,.6g} + {hi - lo:,.6g}·h):")
    for n, v in zip(names, r["raw_params"], strict=True):
        lines.append(f"  {n:<24} {v: .6g}")
    lines.append("price change per unit of a feature, at the average training row:")
    for n, v in zip(r["feature_names"], r["price_per_unit"], strict=True):
        lines.append(f"  {n:<24} {v:+,.6g}")
    lines.append(f"train: RMSE {_amount(r['train_rmse'])}  R² {r['train_r2']:.4f}  loss {r['train_loss']:.6g}")
    if r["val_rmse"] is not None:
        lines.append(f"valid: RMSE {_amount(r['val_rmse'])}  R² {r['val_r2']:.4f}  loss {r['val_loss']:.6g}")
    if r["examples_per_second"]:
        lines.append(f"speed: {r['examples_per_second']:,.0f} examples/s (median epoch)")
    return "\n".join(lines)
