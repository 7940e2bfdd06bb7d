"""``jaxsgd train`` and ``jaxsgd predict``: a training run with its report and plot, and predictions from
a checkpoint."""

from __future__ import annotations

import math
import sys

from jaxsgd import defaults as D
from jaxsgd.cli import common as C
from jaxsgd.cli.cluster import add_cluster_options, join, lost_peers
from jaxsgd.cli.plots import PLOT_RULE, check_plot, pyplot, save_figure


def add_data_options(p, rows: int):
    """The options that choose the data: ``--data``/``--csv``, columns, missing values, built-in rows."""
    p.add_argument("--data", "--csv", dest="csv", type=C.path, metavar="PATH",
                   help="a .csv file with a header, or a .parquet file (default: the built-in synthetic data)")
    p.add_argument("--features", type=C.columns, help="feature columns, comma separated (required with --data)")
    p.add_argument("--target", help="target column (required with --data)")
    p.add_argument("--drop-missing", action="store_true",
                   help="skip rows with missing values (default: refuse them, naming the first lines)")
    p.add_argument("--rows", type=C.positive_int, default=None,
                   help=f"rows of built-in data; not with --data (default {rows})")
    p.set_defaults(default_rows=rows)


def data_source(a, command: str):
    """The :class:`jaxsgd.data.DataSource` the data options name; ``--rows`` only with the built-in data."""
    from jaxsgd.data import DataSource

    if a.rows is not None and a.csv is not None:
        raise C.UsageError(f"jaxsgd {command}: --rows sets the size of the built-in data; with --data every row "
                           "of the file is read: leave out one of them")
    return DataSource(csv=a.csv, features=a.features, target=a.target, drop_missing=a.drop_missing,
                      n_rows=a.default_rows if a.rows is None else a.rows, seed=0 if a.seed is None else a.seed)


def add(sub):
    p = sub.add_parser("train", help="train the neuron by mini-batch SGD (one compiled call per epoch)",
                       description="Mini-batch SGD on the built-in synthetic house prices, or on a CSV file. "
                                   "Progress on stderr, the report (or --json) on stdout.")
    add_data_options(p, D.TRAIN_ROWS)
    p.add_argument("--batch-size", type=C.positive_int, default=None,
                   help=f"examples per SGD step (default {D.BATCH_SIZE}; with --resume, the checkpoint's)")
    p.add_argument("--lr", type=C.positive_float, default=None,
                   help=f"learning rate α > 0 (default {D.LEARNING_RATE:g}; with --resume, the checkpoint's)")
    p.add_argument("--epochs", type=C.positive_int, default=D.EPOCHS,
                   help=f"total epochs, counting those of a --resume checkpoint (default {D.EPOCHS})")
    p.add_argument("--optimizer", choices=list(D.OPTIMIZERS), default="sgd",
                   help="sgd: θ ← θ − α g (default); momentum: 0.9; adam")
    p.add_argument("--seed", type=C.seed, default=None,
                   help="random seed, 0 to 2**64 - 1: shuffles, validation rows, built-in data (default 0; with "
                        "--resume, the checkpoint's, and no other)")
    p.add_argument("--val-fraction", type=C.fraction, default=None,
                   help=f"share of the rows held out for validation, in [0, 1) (default {D.VAL_FRACTION:g}, or the "
                        "--resume checkpoint's)")
    p.add_argument("--keep-last-batch", action="store_true",
                   help="keep the last partial batch with its own 1/|batch| weight (default: drop it)")
    p.add_argument("--shuffle", choices=list(D.SHUFFLES), default="auto",
                   help="host: Fisher–Yates on the CPU; device: a sort on the accelerator; auto (default) picks")
    p.add_argument("--save", type=C.path, metavar="PATH",
                   help="write a checkpoint after every epoch (atomically); an existing file there is replaced "
                        "only if it is a jaxsgd checkpoint, and never the --data input (default: no checkpoint)")
    p.add_argument("--resume", type=C.path, metavar="PATH",
                   help="continue from a checkpoint up to --epochs, on its data, features and target unless "
                        "given (default: start from θ = 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--plot", type=C.path, metavar="PATH",
                   help="draw the loss against examples seen to PATH (needs matplotlib; default: no plot). "
                        + PLOT_RULE)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr (warnings still show)")
    C.add_model_option(p, resumable=True)
    p.add_argument("--shard-data", action="store_true",
                   help="with several processes: each reads only its share of the --data rows (Parquet row "
                        "groups or CSV byte ranges) and shuffles within it (default: every process reads all rows)")
    add_cluster_options(p)
    p.set_defaults(run=run)


def run(a) -> int:
    import numpy as np

    from jaxsgd import train
    from jaxsgd.paths import file_id

    f32 = np.finfo(np.float32)
    if a.lr is not None and not float(f32.smallest_subnormal) <= a.lr <= float(f32.max):
        raise C.UsageError(f"jaxsgd train: --lr must be a number float32 holds (1.4e-45 to 3.4e38), got {a.lr:g}")
    # with --resume and no data options, the checkpoint's data (its file and columns, or its built-in rows)
    given = a.csv is not None or a.rows is not None or a.features or a.target
    cfg = train.TrainConfig(
        data=data_source(a, "train") if given or not a.resume else None, batch_size=a.batch_size, lr=a.lr,
        epochs=a.epochs, optimizer=a.optimizer, seed=a.seed,
        val_fraction=a.val_fraction, save=a.save, resume=a.resume, drop_last=not a.keep_last_batch,
        shuffle=a.shuffle, model=a.model)
    plot_id = None
    if a.plot:
        check_plot(a.plot, "train", {"csv": a.csv, "save": a.save, "resume": a.resume})
        plot_id = file_id(a.plot)  # the file a redraw may replace: the one checked now, or none
    join(a, "train")
    from jaxsgd import distributed

    writer = distributed.is_writer()
    progress = C.Progress(quiet=a.quiet or not writer)
    with lost_peers("train", a.save):
        report = C.guard(lambda: train.run_training(cfg, log=progress.note, progress=progress, name=C.flag,
                                                  reference=bool(a.plot), shard_data=a.shard_data), "train")
    if not writer:
        return 0
    if a.json:  # the report first: a plot or checkpoint that cannot be written does not lose it
        C.print_json(report)
    else:
        print(format_report(report))
    sys.stdout.flush()
    if a.plot:
        plot_losses(report, a.plot, replaceable=lambda p: file_id(p) == plot_id)
    if report.save_error:
        raise C.UsageError(f"jaxsgd train: {report.save_error} (the report above is the finished run's)")
    return 0


def _amount(v: float) -> str:
    """Price units with thousands separators, or in exponent form when that would run to many digits."""
    return f"{v:,.2f}" if abs(v) < 1e15 else f"{v:.6g}"


def _r2(v: float) -> str:
    return f"{v:.4f}" if math.isfinite(v) else "undefined (the targets there do not vary)"


def format_report(r) -> str:
    """The text report of a :class:`jaxsgd.train.TrainReport`."""
    head = f"trained {r.epochs} epochs on {r.source} ({r.n_train} train / {r.n_val} validation rows)"
    if r.model != "sigmoid":
        return "\n".join(_model_report(r, head))
    names = ["b"] + [f"w[{n}]" for n in r.feature_names]
    lines = [head, "θ (scaled units):"]
    true = r.true_params
    for i, (n, v) in enumerate(zip(names, r.params, strict=True)):
        lines.append(f"  {n:<24} {v: .6f}" + (f"   true {true[i]: .6f}" if true else ""))
    lo, hi = r.price_scale
    lines.append(f"θ (raw units: h = σ(b + Σ wⱼ·xⱼ) on unscaled features, price = {lo:,.6g} + {hi - lo:,.6g}·h):")
    for n, v in zip(names, r.raw_params, strict=True):
        lines.append(f"  {n:<24} {v: .6g}")
    lines.append("price change per unit of a feature, at the average training row:")
    for n, v in zip(r.feature_names, r.price_per_unit, strict=True):
        lines.append(f"  {n:<24} {v:+,.6g}")
    lines.append(f"train: RMSE {_amount(r.train_rmse)}  R² {_r2(r.train_r2)}  loss {r.train_loss:.6g}")
    if r.val_rmse is not None:
        lines.append(f"valid: RMSE {_amount(r.val_rmse)}  R² {_r2(r.val_r2)}  loss {r.val_loss:.6g}")
    if r.examples_per_second:
        lines.append(f"speed: {r.examples_per_second:,.0f} examples/s (median epoch)")
    return "\n".join(lines)


def _model_report(r, head) -> list[str]:
    lo, hi = r.price_scale
    lines = [f"{head}, model {r.model}",
             f"parameters: {len(r.params)} numbers (largest in size {max(abs(v) for v in r.params):.4g}); "
             f"price = {lo:,.6g} + {hi - lo:,.6g}·h"]
    for part, rmse, r2, loss in (("train", r.train_rmse, r.train_r2, r.train_loss),
                                 ("valid", r.val_rmse, r.val_r2, r.val_loss)):
        if loss is None:
            continue
        shown = ("(the model has no predict: no RMSE or R²)" if rmse != rmse else
                 f"RMSE {_amount(rmse)}  R² {_r2(r2)}")
        lines.append(f"{part}: {shown}  loss {loss:.6g}")
    if r.examples_per_second:
        lines.append(f"speed: {r.examples_per_second:,.0f} examples/s (median epoch)")
    return lines


def plot_losses(report, path, replaceable=None):
    """Training loss against examples seen from θ = 0 (the history a checkpoint carries included), the
    validation loss after each epoch, and L*, the best loss full-batch gradient descent reaches."""
    from jaxsgd.cli.plots import layout

    plt = pyplot()
    h = report.history
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    if h.curve:
        seen, loss = zip(*[(max(e, 1), v) for e, v in h.curve], strict=True)
        ax.plot(seen, loss, "-o", color="black", mfc="white", ms=4, zorder=3,
                label="training loss (all training rows)")
    if h.val_loss and report.n_val:  # after each epoch: the curve's last points are the epochs' ends
        val_seen = [e for e, _ in h.curve][-len(h.val_loss):]
        # larger open squares beneath: where the two losses agree, both stay visible
        ax.plot(val_seen, h.val_loss, "s--", color="0.45", mfc="none", ms=8, zorder=2,
                label="validation loss, after each epoch")
    if report.l_star is not None:
        ax.axhline(report.l_star, ls=":", color="black", lw=1,
                   label=f"L* = {report.l_star:.4g}, full-batch optimum on the training rows")
    ax.set(xscale="log", xlabel="examples seen (the first point, θ = 0, drawn at 1)",
           ylabel="mean ½(y − h)² (target scaled to (0, 1))", title="jaxsgd train: loss against examples seen")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    layout(fig)
    save_figure(fig, path, "train", replaceable)


def add_predict(sub):
    p = sub.add_parser("predict", help="price predictions for new rows from a checkpoint",
                       description="Reads the checkpoint's feature columns from the file and prints one "
                                   "prediction per row in price units: CSV on stdout with the header "
                                   "line,prediction, where line is the row's line in the input CSV (row,prediction "
                                   "and its row number for a Parquet file).")
    p.add_argument("--checkpoint", type=C.path, required=True,
                   help="a checkpoint written by jaxsgd train --save (required)")
    p.add_argument("--data", "--csv", dest="csv", type=C.path, required=True, metavar="PATH",
                   help="a .csv (with a header) or .parquet file holding the checkpoint's feature columns (required)")
    p.add_argument("--drop-missing", action="store_true",
                   help="skip rows with missing values (their count and lines go to stderr)")
    p.add_argument("--model", metavar="MODEL",
                   help="the checkpoint's model, needed when it is your own (package.module[:name]): loading it "
                        "imports that code, which a file alone never makes jaxsgd do (default: a built-in model, "
                        "as the checkpoint says)")
    p.set_defaults(run=run_predict)


def run_predict(a) -> int:
    import jax

    from jaxsgd import data, train

    def go():
        state, transform, meta = train.load_checkpoint(a.checkpoint)
        spec = meta.get("model", "sigmoid")
        model = None
        from jaxsgd import model as model_mod

        if a.model is not None and a.model != spec:
            raise model_mod.ModelError(f"{a.checkpoint} holds model {spec}, not {a.model}: leave out --model")
        if not model_mod.is_builtin(spec) and a.model != spec:  # a file must not make us import code on its say
            raise model_mod.ModelError(f"{a.checkpoint} holds your model {spec}: give --model {spec} to predict "
                                       "with it (that imports its code)")
        if spec != "sigmoid":
            model = model_mod.from_spec(spec)
            if model.predict is None:
                raise model_mod.ModelError(f"model {spec} has no predict(params, x): add one to predict with it")
            template = model.init(jax.random.key(0), len(meta["features"]))
            state, transform, meta = train.load_checkpoint(a.checkpoint, params_template=template)
        ds = data.load_table(a.csv, meta["features"], None, drop_missing=a.drop_missing,
                           needed_by="the checkpoint")
        return ds, train.predict_prices(state.params, transform, ds.x, feature_names=ds.feature_names,
                                        lines=ds.lines, unit=ds.unit, model=model)

    ds, preds = C.guard(go, "predict")
    if ds.dropped_lines:
        print(f"jaxsgd predict: {data.dropped_note(ds)}", file=sys.stderr)
    print(f"{ds.unit},prediction")
    for line, v in zip(ds.lines, preds, strict=True):
        print(f"{line},{v:.2f}")
    return 0
