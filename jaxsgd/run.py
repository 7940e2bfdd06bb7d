"""The training script's importable code path, shared by ``jaxsgd train`` and ``scripts/train.py``.

>>> report = run_training(TrainConfig(n_rows=2000, epochs=2), log=lambda s: None)
>>> sorted(k for k in report if k.startswith("val_"))
['val_loss', 'val_r2', 'val_rmse']
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsgd import checkpoint as ckpt
from jaxsgd import data as data_mod
from jaxsgd.model import predict_batch
from jaxsgd.sgd import OPTIMIZERS, evaluate_loss, fit, init_state, make_optimizer

__all__ = ["TrainConfig", "TrainingStopped", "metrics", "predict_prices", "run_training"]


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
    """RMSE and R² in price units of the model's predictions on raw rows."""
    if len(y_raw) == 0:
        return {"rmse": math.nan, "r2": math.nan}
    pred = predict_prices(params, transform, x_raw)
    resid = y_raw - pred
    ss_tot = float(np.sum((y_raw - y_raw.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(resid**2))),
        "r2": (1.0 - float(np.sum(resid**2)) / ss_tot) if ss_tot > 0 else math.nan,
    }


def predict_prices(params, transform, x_raw) -> np.ndarray:
    """Predictions in price units for raw feature rows ``x_raw`` (N, d)."""
    h = predict_batch(params, jnp.asarray(transform.features(x_raw), params.w.dtype))
    return transform.price(np.asarray(h, np.float64))


def _validate(cfg: TrainConfig) -> None:
    if cfg.batch_size <= 0:
        raise data_mod.DataError(f"--batch-size must be > 0, got {cfg.batch_size}")
    if not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise data_mod.DataError(f"--lr must be a finite number > 0, got {cfg.lr}")
    if cfg.epochs <= 0:
        raise data_mod.DataError(f"--epochs must be > 0, got {cfg.epochs}")
    if cfg.optimizer not in OPTIMIZERS:
        raise data_mod.DataError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")


def run_training(cfg: TrainConfig, *, log=_stderr) -> dict:
    """Loads the data, trains (or resumes), saves, and returns the report as a dict.

    Raises ``DataError``/``CheckpointError`` for bad input and
    :class:`TrainingStopped` on a non-finite loss.
    """
    _validate(cfg)
    ds = load_data(cfg)
    if ds.dropped_lines:
        log(f"dropped {len(ds.dropped_lines)} row(s) with missing values (first at line "
            f"{', '.join(map(str, ds.dropped_lines[:5]))})")
    train_rows, val_rows = data_mod.split(len(ds.y), cfg.val_fraction, seed=cfg.seed)
    if cfg.batch_size > len(train_rows):
        raise data_mod.DataError(
            f"--batch-size {cfg.batch_size} is larger than the {len(train_rows)} training rows: use at most "
            f"{len(train_rows)}")
    optimizer = make_optimizer(cfg.optimizer)
    d = ds.x.shape[1]
    state = None
    if cfg.resume:
        template = init_state(d, key=jax.random.key(cfg.seed), optimizer=optimizer).opt_state
        state, transform, meta = ckpt.load(cfg.resume, template)
        if meta.get("features") != list(ds.feature_names):
            raise ckpt.CheckpointError(
                f"{cfg.resume}: checkpoint has features {','.join(meta.get('features', []))} but this run has "
                f"{','.join(ds.feature_names)}")
        if meta.get("optimizer") != cfg.optimizer:
            raise ckpt.CheckpointError(f"{cfg.resume}: checkpoint was trained with --optimizer "
                                       f"{meta.get('optimizer')}, not {cfg.optimizer}")
        if int(state.epoch) >= cfg.epochs:
            log(f"checkpoint is at epoch {int(state.epoch)} already; --epochs {cfg.epochs} is the total")
    else:
        transform = data_mod.fit_transform(ds, train_rows)
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
        log(f"epoch {e:4d}  loss {loss:.6g}  val_loss {val:.6g}  {rate:,.0f} examples/s")
        if cfg.save:
            ckpt.save(cfg.save, st, transform, meta)

    try:
        _, hist, state = fit(
            xtr, ytr, batch_size=cfg.batch_size, epochs=cfg.epochs, optimizer=optimizer, learning_rate=cfg.lr,
            key=jax.random.key(cfg.seed), x_val=xva, y_val=yva, drop_last=cfg.drop_last, shuffle=cfg.shuffle,
            state=state, on_epoch=on_epoch)
    except ValueError as e:  # e.g. a batch size the device count does not divide
        raise data_mod.DataError(str(e)) from None
    params = state.params
    tr = metrics(params, transform, ds.x[train_rows], ds.y[train_rows])
    va = metrics(params, transform, ds.x[val_rows], ds.y[val_rows])

    report = {
        "params": [float(v) for v in params.to_theta()],
        "feature_names": list(ds.feature_names),
        "train_loss": evaluate_loss(params, jnp.asarray(xtr).T, jnp.asarray(ytr)),
        "val_loss": evaluate_loss(params, jnp.asarray(xva).T, jnp.asarray(yva)) if len(val_rows) else None,
        "train_rmse": tr["rmse"], "val_rmse": va["rmse"] if len(val_rows) else None,
        "train_r2": tr["r2"], "val_r2": va["r2"] if len(val_rows) else None,
        "epochs": int(state.epoch),
        "examples_per_second": float(np.median(hist.examples_per_second)) if hist.examples_per_second else None,
        "history": {"train_loss": hist.train_loss, "val_loss": hist.val_loss},
        "n_train": len(train_rows), "n_val": len(val_rows),
        "transform": {"mean": transform.mean.tolist(), "std": transform.std.tolist(),
                      "y_lo": transform.y_lo, "y_hi": transform.y_hi},
        "source": ds.source,
    }
    if ds.price_cap is not None:
        report["true_params"] = [float(v) for v in data_mod.true_theta(transform)]
    return report


def format_report(r: dict) -> str:
    names = ["b"] + [f"w[{n}]" for n in r["feature_names"]]
    lines = [f"trained {r['epochs']} epochs on {r['source']} ({r['n_train']} train / {r['n_val']} validation rows)",
             "θ (scaled units):"]
    true = r.get("true_params")
    for i, (n, v) in enumerate(zip(names, r["params"], strict=True)):
        lines.append(f"  {n:<24} {v: .6f}" + (f"   true {true[i]: .6f}" if true else ""))
    lines.append(f"train: RMSE {r['train_rmse']:,.2f}  R² {r['train_r2']:.4f}  loss {r['train_loss']:.6g}")
    if r["val_rmse"] is not None:
        lines.append(f"valid: RMSE {r['val_rmse']:,.2f}  R² {r['val_r2']:.4f}  loss {r['val_loss']:.6g}")
    if r["examples_per_second"]:
        lines.append(f"speed: {r['examples_per_second']:,.0f} examples/s (median epoch)")
    return "\n".join(lines)
