"""The ``jaxsgd`` command line: argument parsing and printing around the library.

Every subcommand has ``--help``. Bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import jaxsgd


class UsageError(ValueError):
    """Bad input from the command line: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _finite_float(text: str) -> float:
    try:
        v = float(text.replace("−", "-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")


# ---------------------------------------------------------------- step
def _add_step(sub):
    p = sub.add_parser("step", help="the exercise's worked SGD step, written out", description=(
        "One SGD step θ¹ = θ⁰ − α∇L on one example, with the formula, the substituted "
        "expression and the numbers. Example: jaxsgd step --theta 4 5 6 --x 1 2 --y 3"))
    p.add_argument("--theta", nargs="+", type=_finite_float, required=True, metavar="T",
                   help="θ⁰ = b w1 ... wd")
    p.add_argument("--x", nargs="+", type=_finite_float, required=True, metavar="X", help="features x1 ... xd")
    p.add_argument("--y", type=_finite_float, required=True, help="target y")
    p.add_argument("--lr", type=_finite_float, default=None, help="learning rate α (kept a symbol if omitted)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    p.add_argument("--format", choices=["text", "latex", "json"], default="text")
    p.set_defaults(run=_run_step)


def _run_step(a) -> int:
    from jaxsgd import exercise_step as ws

    try:
        s = ws.worked_step(a.theta, a.x, a.y, a.lr, dtype=a.dtype)
    except ValueError as e:
        raise UsageError(f"jaxsgd step: {e}") from None
    if a.format == "json":
        _print_json(ws.as_json(s))
    elif a.format == "latex":
        print(ws.format_latex(s))
    else:
        print(ws.format_text(s))
    return 0


# ---------------------------------------------------------------- train / predict
def _columns(text: str) -> tuple[str, ...]:
    cols = tuple(c.strip() for c in text.split(","))
    if not all(cols):
        raise argparse.ArgumentTypeError(f"empty column name in {text!r}; give names separated by commas")
    return cols


def _add_train(sub):
    p = sub.add_parser("train", help="train the neuron by mini-batch SGD (one compiled call per epoch)",
                       description="Mini-batch SGD on the built-in synthetic house prices, or on a CSV file. "
                                   "Progress on stderr, the report (or --json) on stdout.")
    p.add_argument("--csv", help="CSV file with a header (default: the built-in synthetic data)")
    p.add_argument("--features", type=_columns, help="feature columns, comma separated")
    p.add_argument("--target", help="target column")
    p.add_argument("--drop-missing", action="store_true", help="skip rows with missing values")
    p.add_argument("--rows", type=_positive_int, default=100_000, help="rows of built-in data (default 100000)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=_finite_float, default=0.5, help="learning rate α (default 0.5)")
    p.add_argument("--epochs", type=int, default=10, help="total epochs (also with --resume)")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default="sgd")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--keep-last-batch", action="store_true",
                   help="keep the last partial batch with its own 1/|batch| weight (default: drop it)")
    p.add_argument("--shuffle", choices=["auto", "host", "sort"], default="auto")
    p.add_argument("--save", metavar="PATH", help="write a checkpoint after every epoch (atomically)")
    p.add_argument("--resume", metavar="PATH", help="continue from a checkpoint up to --epochs")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--plot", metavar="PATH", help="draw the loss curves to PATH (needs matplotlib)")
    p.set_defaults(run=_run_train)


def _run_train(a) -> int:
    from jaxsgd import run

    cfg = run.TrainConfig(
        csv=a.csv, features=a.features, target=a.target, drop_missing=a.drop_missing, n_rows=a.rows,
        batch_size=a.batch_size, lr=a.lr, epochs=a.epochs, optimizer=a.optimizer, seed=a.seed,
        val_fraction=a.val_fraction, save=a.save, resume=a.resume, drop_last=not a.keep_last_batch,
        shuffle=a.shuffle)
    report = _guard(lambda: run.run_training(cfg), "train")
    if a.plot:
        _plot_losses(report, a.plot)
    if a.json:
        _print_json(_jsonable(report))
    else:
        print(run.format_report(report))
    return 0


def _jsonable(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def _guard(fn, name):
    """Runs ``fn``, turning bad-input errors into one-line usage errors."""
    from jaxsgd.checkpoint import CheckpointError
    from jaxsgd.data import DataError
    from jaxsgd.run import TrainingStopped

    try:
        return fn()
    except (DataError, CheckpointError) as e:
        raise UsageError(f"jaxsgd {name}: {e}") from None
    except TrainingStopped as e:
        raise UsageError(f"jaxsgd {name}: {e}") from None
    except OSError as e:
        raise UsageError(f"jaxsgd {name}: {e.filename or ''}: {e.strerror}") from None


def _pyplot():
    """matplotlib.pyplot with a file backend, or None with a one-line message when it is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install 'jaxsgd[plot]'", file=sys.stderr)
        return None
    return plt


def _save_figure(fig, plt, path, command):
    try:
        fig.savefig(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"jaxsgd {command}: cannot write the plot {path}: {e}") from None
    finally:
        plt.close(fig)


def _plot_losses(report, path):
    plt = _pyplot()
    if plt is None:
        return
    h = report["history"]
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = range(report["epochs"] - len(h["train_loss"]) + 1, report["epochs"] + 1)
    ax.plot(epochs, h["train_loss"], marker="o", label="train (full-data loss after the epoch)")
    ax.plot(epochs, h["val_loss"], marker="s", label="validation")
    ax.set(xlabel="epoch", ylabel="½(y − h)², scaled units", yscale="log", title="jaxsgd train")
    ax.legend()
    fig.tight_layout()
    _save_figure(fig, plt, path, "train")


def _add_predict(sub):
    p = sub.add_parser("predict", help="price predictions for new rows from a checkpoint",
                       description="Reads the checkpoint's feature columns from the CSV and prints one "
                                   "prediction per row in price units (CSV on stdout).")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--drop-missing", action="store_true")
    p.set_defaults(run=_run_predict)


def _run_predict(a) -> int:
    from jaxsgd import checkpoint, data
    from jaxsgd.run import predict_prices

    def go():
        state, transform, meta = checkpoint.load(a.checkpoint)
        try:
            ds = data.load_csv(a.csv, meta["features"], None, drop_missing=a.drop_missing)
        except data.DataError as e:  # name what the checkpoint needs
            raise data.DataError(str(e).replace("unknown column", "missing feature column", 1)
                                 .replace("; available", " that the checkpoint needs; available", 1)) from None
        return predict_prices(state.params, transform, ds.x)

    preds = _guard(go, "predict")
    print("prediction")
    for v in preds:
        print(f"{v:.2f}")
    return 0


# ---------------------------------------------------------------- derivatives
def _order(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the order must be a whole number, got {text!r}") from None
    if not 0 <= k <= 2000:
        raise argparse.ArgumentTypeError(f"the order must be between 0 and 2000, got {k}")
    return k


def _add_derivative(sub):
    p = sub.add_parser("derivative", help="σ⁽ᵏ⁾ as an exact polynomial in σ",
                       description="The k-th derivative of σ as an exact integer polynomial in σ, its factored "
                                   "form through σ′ = σ(1 − σ), and tanh⁽ᵏ⁾ as a polynomial in tanh.")
    p.add_argument("order", type=_order, metavar="K")
    p.add_argument("--format", choices=["text", "latex", "json"], default="text")
    p.set_defaults(run=_run_derivative)


def _run_derivative(a) -> int:
    from jaxsgd import polynomials as P

    k = a.order
    coeffs = P.sigmoid_polynomial(k)
    tanh = P.tanh_polynomial(k)
    obj = {"order": k, "coefficients": list(coeffs), "text": P.text(coeffs), "factored": P.factored(k),
           "latex": P.latex(coeffs), "tanh_coefficients": list(tanh), "tanh_text": P.text(tanh, "T")}
    if a.format == "json":
        _print_json(obj)
    elif a.format == "latex":
        print(rf"\sigma^{{({k})}}(x) = {obj['latex']}")
    else:
        sk = P.superscript(k)
        print(f"σ⁽{sk}⁾ = {obj['text']}")
        print(f"{'':{len(sk) + 3}}= {obj['factored']}")
        if k >= 1:
            print(f"{'':{len(sk) + 3}}= 2⁻{P.superscript(k + 1)}·tanh⁽{sk}⁾(x/2),  "
                  f"tanh⁽{sk}⁾ = {obj['tanh_text']}  (T = tanh)")
    return 0


def _add_check_derivative(sub):
    p = sub.add_parser("check-derivative", help="check a formula for σ⁽ᵏ⁾ written in σ",
                       description="Checks a person's answer, e.g. jaxsgd check-derivative --order 2 "
                                   "\"σ(1−σ)(1−2σ)\". Prints CORRECT (exit 0) or INCORRECT with the right "
                                   "polynomial and a point where they differ (exit 1).")
    p.add_argument("--order", type=_order, required=True)
    p.add_argument("expression", metavar="EXPR")
    p.set_defaults(run=_run_check_derivative)


def _run_check_derivative(a) -> int:
    from jaxsgd.expression import ExpressionError, check

    try:
        result = check(a.order, a.expression)
    except ExpressionError as e:
        raise UsageError(f"jaxsgd check-derivative: cannot read the expression: {e}") from None
    print(result.message())
    return 0 if result.correct else 1


def _add_check(sub):
    p = sub.add_parser("check", help="every derivative method against a high-precision reference",
                       description="Max relative error and time per method, dtype and order, on [−40, 40] "
                                   "with the tails. Exit 0 only if every figure is within its tolerance.")
    p.add_argument("--max-order", type=_order, default=12)
    p.add_argument("--methods", default=None, help="comma-separated subset of the methods")
    p.set_defaults(run=_run_check)


def _run_check(a) -> int:
    from jaxsgd import checker

    methods = None
    if a.methods:
        methods = [m.strip() for m in a.methods.split(",")]
        bad = [m for m in methods if m not in checker.DOMAINS]
        if bad:
            raise UsageError(f"jaxsgd check: unknown method {', '.join(bad)}; choose from "
                             f"{', '.join(checker.DOMAINS)}")
    if a.max_order < 1:
        raise UsageError("jaxsgd check: --max-order must be at least 1")
    rows = []
    print(checker.format_table([]))
    for row in checker.run_checks(a.max_order, methods):
        rows.append(row)
        print(checker.format_table([row]).splitlines()[1], flush=True)
    bad = [r for r in rows if not r.ok]
    print(f"{len(rows) - len(bad)} of {len(rows)} within tolerance")
    return 0 if not bad else 1


# ---------------------------------------------------------------- batch size
def _int_list(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None
    if not vals or min(vals) <= 0:
        raise argparse.ArgumentTypeError(f"batch sizes must be > 0, got {text!r}")
    return tuple(sorted(set(vals)))


def _float_list(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        raise argparse.ArgumentTypeError(f"learning rates must be finite and > 0, got {text!r}")
    return vals


def _add_batch_size(sub):
    p = sub.add_parser("batch-size", help="which batch size? steps and examples to a target, measured",
                       description="For B on a geometric grid, tunes the learning rate (all learning rates × "
                                   "seeds as one compiled program per B), records steps and examples to a "
                                   "target loss, fits S = S_min(1 + B_crit/B) and measures the noise scale.")
    p.add_argument("--csv")
    p.add_argument("--features", type=_columns)
    p.add_argument("--target")
    p.add_argument("--drop-missing", action="store_true")
    p.add_argument("--rows", type=_positive_int, default=20_000, help="rows of built-in data (default 20000)")
    p.add_argument("--max-rows", type=_positive_int, default=4096, help="rows studied (random subset)")
    p.add_argument("--batch-sizes", type=_int_list, help="comma separated (default 1,2,4,… up to 4096)")
    p.add_argument("--lrs", type=_float_list, help="learning-rate grid, comma separated (default 2^-2 … 2^6)")
    p.add_argument("--target-fraction", type=_finite_float, default=0.01,
                   help="target loss L* + f·(L0 − L*) (default 0.01)")
    p.add_argument("--seeds", type=_positive_int, default=2)
    p.add_argument("--max-steps", type=_positive_int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--claims", action="store_true",
                   help="also measure gradient bias/variance against B and step time around powers of two")
    p.add_argument("--plot", metavar="PATH")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_run_batch_size)


def _run_batch_size(a) -> int:
    from jaxsgd import batch_size as bs
    from jaxsgd import data
    from jaxsgd.run import TrainConfig, load_data

    def go():
        ds = load_data(TrainConfig(csv=a.csv, features=a.features, target=a.target, drop_missing=a.drop_missing,
                                   n_rows=a.rows, seed=a.seed))
        tr = data.fit_transform(ds)
        cfg = bs.StudyConfig(batch_sizes=a.batch_sizes, seeds=a.seeds, target_fraction=a.target_fraction,
                             max_rows=a.max_rows, max_steps=a.max_steps, seed=a.seed,
                             **({"learning_rates": a.lrs} if a.lrs else {}))
        try:
            return bs.run_study(tr.features(ds.x), tr.target(ds.y), cfg, claims=a.claims,
                                log=lambda m: print(m, file=sys.stderr, flush=True))
        except ValueError as e:
            raise data.DataError(str(e)) from None

    r = _guard(go, "batch-size")
    if a.plot:
        _plot_study(r, a.plot)
    if a.json:
        _print_json(_jsonable(r))
        return 0
    print(f"{'B':>6} {'best lr':>8} {'steps S':>9} {'examples E':>11} {'wall s':>8}")
    for row in r["table"]:
        s = "—" if row["steps"] is None else f"{row['steps']:g}"
        e = "—" if row["examples"] is None else f"{row['examples']:g}"
        lr = "—" if row["best_lr"] is None else f"{row['best_lr']:g}"
        print(f"{row['batch_size']:>6} {lr:>8} {s:>9} {e:>11} {row['wall_seconds']:>8.2f}")
    crit = (f"B_crit = {r['b_crit']:.3g} (S_min = {r['s_min']:.3g})" if math.isfinite(r["b_crit"])
            else "B_crit: not fitted (S does not fall with B)")
    simple = "n/a" if r["b_simple"] is None else f"{r['b_simple']:.3g}"
    print(f"{crit},  B_simple = {simple} near the target;  {r['compiled_programs']} compiled programs, "
          f"{r['total_seconds']:.1f} s")
    print("B_simple along the full-batch run: " + ", ".join(
        f"{p['b_simple']:.3g} at loss {p['loss']:.4g}" for p in r["b_simple_along_run"]))
    print(r["recommendation"])
    return 0


def _plot_study(r, path):
    plt = _pyplot()
    if plt is None:
        return
    rows = [row for row in r["table"] if row["steps"]]
    bs = [row["batch_size"] for row in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].loglog(bs, [row["steps"] for row in rows], "o", label="S(B), tuned lr")
    ax[1].loglog(bs, [row["examples"] for row in rows], "o", label="E(B) = B·S(B)")
    if math.isfinite(r["b_crit"]):
        grid = [2 ** (i / 4) for i in range(0, 4 * max(1, int(math.log2(max(bs)))) + 1)]
        ax[0].loglog(grid, [r["s_min"] * (1 + r["b_crit"] / b) for b in grid], "-", label="S_min(1 + B_crit/B)")
        ax[1].loglog(grid, [r["s_min"] * (b + r["b_crit"]) for b in grid], "-", label="fit")
    for a_ in ax:
        if r["b_simple"]:
            a_.axvline(r["b_simple"], ls="--", color="gray", label=f"B_simple ≈ {r['b_simple']:.3g}")
        a_.set_xlabel("batch size B")
        a_.legend()
    ax[0].set_ylabel("steps to target")
    ax[1].set_ylabel("examples to target")
    fig.tight_layout()
    _save_figure(fig, plt, path, "batch-size")


_COMMANDS = [_add_step, _add_train, _add_predict, _add_derivative, _add_check_derivative, _add_check,
             _add_batch_size]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxsgd", description="SGD on a sigmoid neuron, exact and compiled with JAX.")
    parser.add_argument("--version", action="version", version=f"jaxsgd {jaxsgd.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "run", None) is None:
            parser.print_help()
            return 2
        return args.run(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
