"""The ``jaxsgd`` command line: argument parsing and printing around the library.

Every subcommand has ``--help``. Bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import sys

import jaxsgd
from jaxsgd.defaults import OPTIMIZERS, SHUFFLES


class UsageError(ValueError):
    """Bad input from the command line: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse takes "-1e38" for an option (its pattern has no exponent); a number it is, and so are
        # "-inf" and "-nan", which the number types then refuse by name
        self._negative_number_matcher = re.compile(r"^-((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$",
                                                   re.IGNORECASE)

    def error(self, message):  # one line, not usage + message
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _path(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; name a file")
    return text


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


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= v < 2**64:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**64 - 1, got {v}")
    return v


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")


# ---------------------------------------------------------------- step
def _add_step(sub):
    p = sub.add_parser("step", help="the exercise's worked SGD step, written out", description=(
        "One SGD step θ¹ = θ⁰ − α∇L on one example, with the formula, the substituted "
        "expression and the numbers. Example: jaxsgd step --theta 4 5 6 --x 1 2 --y 3"))
    p.add_argument("--theta", nargs="+", type=_finite_float, required=True, metavar="T",
                   help="θ⁰ = b w1 ... wd: the starting parameters, one more than the features (required)")
    p.add_argument("--x", nargs="+", type=_finite_float, required=True, metavar="X",
                   help="the example's features x1 ... xd (required)")
    p.add_argument("--y", type=_finite_float, required=True, help="the example's target y (required)")
    p.add_argument("--lr", type=_finite_float, default=None,
                   help="learning rate α > 0 (default: none, α is kept a symbol in θ¹)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                   help="arithmetic precision of the numbers (default float64)")
    p.add_argument("--format", choices=["text", "latex", "json"], default="text",
                   help="text (default), latex, or one JSON object")
    p.set_defaults(run=_run_step)


def _run_step(a) -> int:
    from jaxsgd import exercise_step as ws

    if a.lr is not None and a.lr <= 0:
        raise UsageError(f"jaxsgd step: --lr must be a finite number > 0, got {a.lr:g}")
    try:
        s = ws.worked_step(a.theta, a.x, a.y, a.lr, dtype=a.dtype)
    except ValueError as e:
        msg = str(e).replace('dtype="float64"', "--dtype float64").replace("smaller lr", "smaller --lr")
        raise UsageError(f"jaxsgd step: {msg}") from None
    if a.format == "json":
        _print_json(_jsonable(ws.as_json(s)))
    elif a.format == "latex":
        print(ws.format_latex(s))
    else:
        print(ws.format_text(s))
    return 0


# ---------------------------------------------------------------- train / predict
_PLOT_RULE = ("The extension sets the format (.png, .pdf, .svg, .jpg, ...); an existing file there is replaced "
              "only if it is already an image of that format and not one of the run's inputs. Checked before "
              "the run starts.")


def _columns(text: str) -> tuple[str, ...]:
    cols = tuple(c.strip() for c in text.split(","))
    if not all(cols):
        raise argparse.ArgumentTypeError(f"empty column name in {text!r}; give names separated by commas")
    return cols


def _add_train(sub):
    p = sub.add_parser("train", help="train the neuron by mini-batch SGD (one compiled call per epoch)",
                       description="Mini-batch SGD on the built-in synthetic house prices, or on a CSV file. "
                                   "Progress on stderr, the report (or --json) on stdout.")
    p.add_argument("--csv", type=_path, help="CSV file with a header (default: the built-in synthetic data)")
    p.add_argument("--features", type=_columns, help="feature columns, comma separated (required with --csv)")
    p.add_argument("--target", help="target column (required with --csv)")
    p.add_argument("--drop-missing", action="store_true", help="skip rows with missing values")
    p.add_argument("--rows", type=_positive_int, default=100_000, help="rows of built-in data (default 100000)")
    p.add_argument("--batch-size", type=int, default=32, help="examples per SGD step (default 32)")
    p.add_argument("--lr", type=_finite_float, default=0.5, help="learning rate α (default 0.5)")
    p.add_argument("--epochs", type=int, default=10,
                   help="total epochs, counting those of a --resume checkpoint (default 10)")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd",
                   help="sgd: θ ← θ − α g (default); momentum: 0.9; adam")
    p.add_argument("--seed", type=_seed, default=0, help="random seed, 0 to 2**64 - 1 (default 0)")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="share of the rows held out for validation, in [0, 1) (default 0.2)")
    p.add_argument("--keep-last-batch", action="store_true",
                   help="keep the last partial batch with its own 1/|batch| weight (default: drop it)")
    p.add_argument("--shuffle", choices=list(SHUFFLES), default="auto",
                   help="host: Fisher–Yates on the CPU; device: a sort on the accelerator; auto (default) picks")
    p.add_argument("--save", type=_path, metavar="PATH",
                   help="write a checkpoint after every epoch (atomically); an existing file there is replaced "
                        "only if it is a jaxsgd checkpoint, and never the --csv input (default: no checkpoint)")
    p.add_argument("--resume", type=_path, metavar="PATH",
                   help="continue from a checkpoint up to --epochs (default: start from θ = 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--plot", type=_path, metavar="PATH",
                   help="draw the loss against examples seen to PATH (needs matplotlib; default: no plot). "
                        + _PLOT_RULE)
    p.set_defaults(run=_run_train)


def _run_train(a) -> int:
    import numpy as np

    from jaxsgd import run

    f32 = np.finfo(np.float32)
    if a.lr > 0 and not float(f32.smallest_subnormal) <= a.lr <= float(f32.max):  # ≤ 0 is refused by name in run
        raise UsageError(f"jaxsgd train: --lr must be a number float32 holds (1.4e-45 to 3.4e38), got {a.lr:g}")
    cfg = run.TrainConfig(
        csv=a.csv, features=a.features, target=a.target, drop_missing=a.drop_missing, n_rows=a.rows,
        batch_size=a.batch_size, lr=a.lr, epochs=a.epochs, optimizer=a.optimizer, seed=a.seed,
        val_fraction=a.val_fraction, save=a.save, resume=a.resume, drop_last=not a.keep_last_batch,
        shuffle=a.shuffle)
    if a.plot:
        _check_plot(a, "train", {"the --csv input": a.csv, "the --save checkpoint": a.save,
                                 "the --resume checkpoint": a.resume})
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
    from jaxsgd.paths import OutputError
    from jaxsgd.run import TrainingStopped

    try:
        return fn()
    except (DataError, CheckpointError, OutputError) as e:
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
        return None
    return plt


def _save_figure(fig, plt, path, command):
    from jaxsgd.paths import write_atomically

    fmt = os.path.splitext(path)[1][1:].lower()
    try:
        write_atomically(path, lambda f: fig.savefig(f, format=fmt))
    except (OSError, ValueError) as e:
        raise UsageError(f"jaxsgd {command}: cannot write the plot {path}: {e}") from None
    finally:
        plt.close(fig)


def _check_plot(a, command, others):
    """Before any work: matplotlib is there and ``--plot`` can be written (see ``jaxsgd.paths``)."""
    from jaxsgd.paths import OutputError, check_plot_path

    try:
        check_plot_path(a.plot, others=others)
    except OutputError as e:
        raise UsageError(f"jaxsgd {command}: {e}") from None
    if _pyplot() is None:
        raise UsageError(f"jaxsgd {command}: --plot needs matplotlib: pip install 'jaxsgd[plot]'")


def _plot_losses(report, path):
    plt = _pyplot()
    if plt is None:
        return
    h = report["history"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    n = report["n_train"]
    if h["curve"]:
        seen, loss = zip(*[(max(e, 1), v) for e, v in h["curve"]], strict=True)
        ax.plot(seen, loss, "-o", color="black", mfc="white", ms=4, label="training loss (all training rows)")
    done = report["epochs"] - len(h["val_loss"])
    if h["val_loss"] and report["n_val"]:
        val_seen = [(done + i + 1) * n for i in range(len(h["val_loss"]))]
        ax.plot(val_seen, h["val_loss"], "s--", color="gray", ms=4, label="validation loss, after each epoch")
    ax.set(xscale="log", xlabel="examples seen (the first point, θ = 0, drawn at 1)",
           ylabel="mean ½(y − h)² (target scaled to (0, 1))", title="jaxsgd train: loss against examples seen")
    ax.legend()
    fig.tight_layout()
    _save_figure(fig, plt, path, "train")


def _add_predict(sub):
    p = sub.add_parser("predict", help="price predictions for new rows from a checkpoint",
                       description="Reads the checkpoint's feature columns from the CSV and prints one "
                                   "prediction per row in price units: CSV on stdout with the header "
                                   "line,prediction, where line is the row's line in the input CSV.")
    p.add_argument("--checkpoint", type=_path, required=True,
                   help="a checkpoint written by jaxsgd train --save (required)")
    p.add_argument("--csv", type=_path, required=True,
                   help="CSV with a header holding the checkpoint's feature columns (required)")
    p.add_argument("--drop-missing", action="store_true",
                   help="skip rows with missing values (their count and lines go to stderr)")
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
        return ds, predict_prices(state.params, transform, ds.x)

    ds, preds = _guard(go, "predict")
    if ds.dropped_lines:
        print(f"jaxsgd predict: {data.dropped_note(ds)}", file=sys.stderr)
    print("line,prediction")
    for line, v in zip(ds.lines, preds, strict=True):
        print(f"{line},{v:.2f}")
    return 0


# ---------------------------------------------------------------- derivatives
def _order_type(cap: int, what: str):
    """An argparse type for a derivative order from 0 to ``cap``."""

    def order(text: str) -> int:
        digits = text.strip().removeprefix("+").removeprefix("-").lstrip("0")
        if digits.isdecimal() and len(digits) > len(str(cap)):  # before int(): 5,000 digits would not convert
            raise argparse.ArgumentTypeError(f"the order must be between 0 and {cap} for {what}, got "
                                             f"{text.strip()[:12]}… ({len(digits)} digits)")
        try:
            k = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"the order must be a whole number, got {text[:40]!r}") from None
        if not 0 <= k <= cap:
            raise argparse.ArgumentTypeError(f"the order must be between 0 and {cap} for {what}, got {k}")
        return k

    return order


def _add_derivative(sub):
    from jaxsgd.polynomials import MAX_ORDER

    p = sub.add_parser("derivative", help="σ⁽ᵏ⁾ as an exact polynomial in σ",
                       description="The k-th derivative of σ as an exact integer polynomial in σ, its factored "
                                   "form through σ′ = σ(1 − σ), and through tanh⁽ᵏ⁾ as a polynomial in tanh. "
                                   "Every σ line, and the line 'as input', can be given to check-derivative.")
    p.add_argument("order", type=_order_type(MAX_ORDER, "derivative"), metavar="K",
                   help=f"the order k, 0 to {MAX_ORDER}")
    p.add_argument("--format", choices=["text", "latex", "json"], default="text",
                   help="text (default), latex, or one JSON object")
    p.set_defaults(run=_run_derivative)


def _run_derivative(a) -> int:
    from jaxsgd import polynomials as P

    k = a.order
    coeffs = P.sigmoid_polynomial(k)
    tanh = P.tanh_polynomial(k)
    obj = {"order": k, "coefficients": list(coeffs), "text": P.text(coeffs), "factored": P.factored(k),
           "latex": P.latex(coeffs), "tanh_coefficients": list(tanh), "tanh_text": P.text(tanh, "T"),
           "tanh_form": P.tanh_form(k)}
    if a.format == "json":
        _print_json(obj)
    elif a.format == "latex":
        print(rf"\sigma^{{({k})}}(x) = {obj['latex']}")
    else:
        sk = P.superscript(k)
        pad = " " * (len(sk) + 3)
        print(f"σ⁽{sk}⁾ = {obj['text']}")
        print(f"{pad}= {obj['factored']}")
        if k >= 1:
            print(f"{pad}= 2⁻{P.superscript(k + 1)}·tanh⁽{sk}⁾(x/2),  where tanh⁽{sk}⁾(u) = {obj['tanh_text']} "
                  f"with T = tanh(u), here u = x/2")
            print(f"as input: {obj['tanh_form']}")
    return 0


def _add_check_derivative(sub):
    from jaxsgd.answer import MAX_CHECK_ORDER

    p = sub.add_parser("check-derivative", help="check a formula for σ⁽ᵏ⁾ (in σ, x, e, exp or tanh)",
                       description="Checks a person's answer, e.g. jaxsgd check-derivative --order 2 "
                                   "\"σ(1−σ)(1−2σ)\". Answers in σ alone are compared exactly; answers with x, "
                                   "e, exp or tanh in interval arithmetic at 13 points from x = −39.7 to 40.3, to "
                                   "30 digits. Prints CORRECT (exit 0) or INCORRECT with the right polynomial and "
                                   "the point that decided (exit 1); an answer that cannot be read or evaluated "
                                   "is one line on stderr (exit 2). --order 0 checks identities for σ itself, "
                                   "e.g. \"(1 + tanh(x/2))/2\".")
    p.add_argument("--order", type=_order_type(MAX_CHECK_ORDER, "check-derivative"), required=True,
                   help=f"the order k of σ⁽ᵏ⁾, 0 to {MAX_CHECK_ORDER} (required; 0 checks identities for σ itself)")
    p.add_argument("expression", metavar="EXPR",
                   help="the answer, e.g. \"σ(1−σ)\", \"σ(x)σ(−x)\", \"e^-x/(1+e^-x)^2\"; it may start with '-'")
    p.add_argument("--hide-answer", action="store_true",
                   help="for graded work: say CORRECT or INCORRECT and where, without the right polynomial or its "
                        "value (default: show them)")
    p.set_defaults(run=_run_check_derivative)


def _run_check_derivative(a) -> int:
    from jaxsgd.answer import check
    from jaxsgd.expression import ExpressionError

    try:
        result = check(a.order, a.expression)
    except ExpressionError as e:
        raise UsageError(f"jaxsgd check-derivative: {e}") from None
    print(result.message(hide_answer=a.hide_answer))
    return 0 if result.correct else 1


def _expression_argv(argv: list[str]) -> list[str]:
    """``check-derivative``'s answer may start with a minus sign: keep argparse from reading it as an option.

    A leading space makes argparse take it as the positional; the parser skips spaces.
    """
    if not argv or argv[0] != "check-derivative" or "--" in argv:
        return argv
    out, takes_value = [argv[0]], False
    for arg in argv[1:]:
        option = _check_option(arg)
        if not takes_value and arg.startswith("-") and option is None:
            arg = " " + arg
        takes_value = option == "--order" and "=" not in arg
        out.append(arg)
    return out


def _check_option(arg: str) -> str | None:
    """The ``check-derivative`` option that ``arg`` names, abbreviations included as argparse takes them."""
    name = arg.split("=", 1)[0]
    if name == "-h":
        return "--help"
    if len(name) > 2 and name.startswith("--"):
        return next((full for full in ("--order", "--help", "--hide-answer") if full.startswith(name)), None)
    return None


def _add_check(sub):
    p = sub.add_parser("check", help="every derivative method against a high-precision reference",
                       description="Max relative error and time per method, dtype and order, on [−40, 40] "
                                   "with the tails. Exit 0 only if every figure is within its tolerance.")
    p.add_argument("--max-order", type=_order_type(100, "check"), default=12,
                   help="check orders 1 to K (default 12; at most 100, the highest order any method is held to)")
    p.add_argument("--methods", default=None, help="comma-separated subset of the methods (default: all of them)")
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


def _float_list(text: str, what: str = "learning rates") -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        raise argparse.ArgumentTypeError(f"{what} must be finite and > 0, got {text!r}")
    return vals


def _add_batch_size(sub):
    from jaxsgd import defaults as D

    p = sub.add_parser("batch-size", help="which batch size? steps and examples to several loss levels, measured",
                       description="For B = 1, 2, 4, … every (seed × learning rate) run trains on the same data; "
                                   "the full-data loss after every step gives the exact first step at each level "
                                   "L* + f·(L0 − L*). Fits S = S_min(1 + B_crit/B) per level with bootstrap "
                                   "intervals over seeds, compares B_crit with the noise scale B_simple, and "
                                   "recommends a batch size and learning rate, each checked by a short run.")
    p.add_argument("--csv", type=_path, help="CSV file with a header (default: the built-in synthetic data)")
    p.add_argument("--features", type=_columns, help="feature columns, comma separated (required with --csv)")
    p.add_argument("--target", help="target column (required with --csv)")
    p.add_argument("--drop-missing", action="store_true", help="skip rows with missing values")
    p.add_argument("--rows", type=_positive_int, default=20_000, help="rows of built-in data (default 20000)")
    p.add_argument("--max-rows", type=_positive_int, default=D.STUDY_MAX_ROWS,
                   help="rows studied; a larger table is subsampled, and the output says so (default 100000)")
    p.add_argument("--batch-sizes", type=_int_list, help="comma separated (default 1,2,4,… up to 4096)")
    p.add_argument("--lrs", type=_float_list, help="learning-rate grid, comma separated (default 0.25,0.5,…,64)")
    p.add_argument("--levels", type=_fraction_list, default=D.STUDY_FRACTIONS,
                   help="loss levels as fractions f of the gap L0 − L*, comma separated (default 0.1,0.01,0.001,"
                        "0.0001)")
    p.add_argument("--seeds", type=_positive_int, default=D.STUDY_SEEDS,
                   help="runs per learning rate, each with its own shuffles (default 8)")
    p.add_argument("--max-steps", type=_positive_int, default=D.STUDY_MAX_STEPS,
                   help="most steps any run takes (default 20000)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed, 0 to 2**64 - 1 (default 0)")
    p.add_argument("--budget-epochs", type=_int_between(1, 100), default=3,
                   help="epochs of the check runs behind the recommendation, 1 to 100 (default 3)")
    p.add_argument("--claims", action="store_true",
                   help="also test the mini-batch gradient for bias and its variance against tr(Σ)/B")
    p.add_argument("--plot", type=_path, metavar="PATH",
                   help="draw S(B), E(B) and B_crit against B_simple to PATH (needs matplotlib; default: no "
                        "plot). " + _PLOT_RULE)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(run=_run_batch_size)


def _int_between(lo: int, hi: int):
    """An argparse type for a whole number from ``lo`` to ``hi``."""

    def whole(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {v}")
        return v

    return whole


def _fraction_list(text: str) -> tuple[float, ...]:
    vals = _float_list(text, "levels")
    if not all(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"levels are fractions between 0 and 1, got {text!r}")
    return tuple(sorted(set(vals), reverse=True))


def _progress(quiet):
    import time

    start = time.perf_counter()

    def show(done, total, message):
        if quiet:
            return
        elapsed = time.perf_counter() - start
        eta = elapsed / done * (total - done)
        print(f"[{done}/{total}] {message}  ({elapsed:.1f} s, about {eta:.0f} s left)", file=sys.stderr, flush=True)

    return show


def _run_batch_size(a) -> int:
    from jaxsgd import advice, data, study
    from jaxsgd.run import TrainConfig, load_data

    def go():
        ds = load_data(TrainConfig(csv=a.csv, features=a.features, target=a.target, drop_missing=a.drop_missing,
                                   n_rows=a.rows, seed=a.seed))
        tr = data.fit_transform(ds)
        cfg = study.StudyConfig(batch_sizes=a.batch_sizes, seeds=a.seeds, fractions=a.levels, max_rows=a.max_rows,
                                max_steps=a.max_steps, seed=a.seed, **({"learning_rates": a.lrs} if a.lrs else {}))
        x, y = tr.features(ds.x), tr.target(ds.y)
        try:
            warm = functools.partial(_warm_advice, lrs=cfg.learning_rates, seed=a.seed)
            result = study.run_study(x, y, cfg, progress=_progress(a.quiet or a.json), also_compile=warm)
        except study.StudyError as e:
            flag = {"batch_sizes": "--batch-sizes", "fractions": "--levels", "seeds": "--seeds",
                    "max_steps": "--max-steps", "max_rows": "--max-rows", "learning_rates": "--lrs"}.get(
                e.argument, e.argument)
            raise data.DataError(f"{flag}: {e.problem}") from None
        studied_x, studied_y, _ = study.subsample(x, y, cfg)  # the check runs train on the rows studied
        rec = advice.advise(result, studied_x, studied_y, budget_epochs=a.budget_epochs, seed=a.seed)
        claims = None
        if a.claims:
            from jaxsgd import claims as cl

            claims = cl.with_timings(cl.run_claims(x, y, seed=a.seed))
        return result, rec, claims

    if a.plot:
        _check_plot(a, "batch-size", {"the --csv input": a.csv})
    result, rec, claims = _guard(go, "batch-size")
    if a.plot:
        _plot_study(result, a.plot)
    if a.json:
        _print_json(_jsonable(_study_json(result, rec, claims)))
        return 0
    print(_study_text(result, rec, claims))
    return 0


def _warm_advice(n, d, batch_sizes, *, lrs, seed):
    from jaxsgd import advice

    advice.warm_up(n, d, lrs, batch_sizes, seed=seed)


def _fmt_ci(ci, fmt="{:.3g}"):
    return "—" if ci is None else "[" + "–".join(fmt.format(v) for v in ci) + "]"


def _study_text(r, rec, claims) -> str:
    from jaxsgd.study import MIN_DEFAULT_STEPS

    sub = f" (a random {r.n_rows} of {r.subsampled_from} rows)" if r.subsampled_from else ""
    lines = [f"{r.n_rows} rows{sub}, {r.seeds} seeds × {len(r.learning_rates)} learning rates; levels "
             f"L* + f·(L0 − L*) with L0 = {r.l0:.6g}, L* = {r.l_star:.6g}; {r.wall_seconds:.1f} s",
             f"{'level f':>9} {'loss':>10} {'B_crit':>8} {'95% over seeds':>17} {'B_simple':>9} "
             f"{'95% over rows':>17} {'B_crit/B_simple':>15}"]
    for lv in r.levels:
        ratio = f"{lv.b_crit / lv.b_simple:.2g}" if lv.b_crit and lv.b_simple else "—"
        crit = "—" if lv.b_crit is None else f"{lv.b_crit:.3g}"
        simple = "—" if lv.b_simple is None else f"{lv.b_simple:.3g}"
        lines.append(f"{lv.fraction:>9g} {lv.loss:>10.6g} {crit:>8} {_fmt_ci(lv.b_crit_ci):>17} {simple:>9} "
                     f"{_fmt_ci(lv.b_simple_ci):>17} {ratio:>15}" + ("   ← default" if lv.default else ""))
    lv = r.default
    biggest = [row for row in lv.rows if row.steps is not None]
    why = (f"the first level the largest batch size needs ≥ {MIN_DEFAULT_STEPS} steps for" if biggest and
           biggest[-1].steps >= MIN_DEFAULT_STEPS else
           f"the deepest level reached; no level made the largest batch size take {MIN_DEFAULT_STEPS} steps"
           if biggest else "the deepest level; no batch size reached any level")
    lines += ["", f"At the default level f = {lv.fraction:g} ({why}):",
              f"{'B':>6} {'best lr':>8} {'steps S':>8} {'95%':>15} {'examples E':>11} {'95%':>19}"]
    for row in lv.rows:
        if row.steps is None:
            lines.append(f"{row.batch_size:>6} {'—':>8} {'not reached':>8}")
            continue
        lines.append(f"{row.batch_size:>6} {row.best_lr:>8g} {row.steps:>8g} {_fmt_ci(row.steps_ci, '{:g}'):>15} "
                     f"{row.examples:>11g} {_fmt_ci(row.examples_ci, '{:g}'):>19}")
    lines += ["", "Recommendation (best learning rate: the grid value whose median steps over seeds to the level "
                  "is smallest at that B)"]
    for c in rec.choices:
        lines.append(f"  {c.goal + ':':<28} B = {c.batch_size}, lr = {c.learning_rate:g}   ({c.note}); loss after "
                     f"{rec.budget_epochs} epochs {c.check_loss:.6g} vs {rec.default_loss:.6g} with the defaults "
                     f"B = 32, lr = 0.5")
    lines.append(f"  {rec.certainty}")
    if claims is not None:
        from jaxsgd import claims as cl

        lines += ["", cl.format_claims(claims)]
    return "\n".join(lines)


def _study_json(r, rec, claims) -> dict:
    return {
        "n_rows": r.n_rows, "subsampled_from": r.subsampled_from, "seeds": r.seeds,
        "learning_rates": list(r.learning_rates), "l0": r.l0, "l_star": r.l_star,
        "targets": [{"fraction": lv.fraction, "loss": lv.loss, "default": lv.default, "b_crit": lv.b_crit,
                     "b_crit_ci": lv.b_crit_ci, "s_min": lv.s_min, "b_simple": lv.b_simple,
                     "b_simple_ci": lv.b_simple_ci,
                     "rows": [row._asdict() for row in lv.rows]} for lv in r.levels],
        "recommendation": {"choices": [c._asdict() for c in rec.choices], "default_settings_loss": rec.default_loss,
                           "budget_epochs": rec.budget_epochs, "certainty": rec.certainty},
        "seconds_per_step": {str(k): v for k, v in r.seconds_per_step.items()},
        **({"claims": {"rows": [r._asdict() for r in claims.rows], "draws": claims.draws, "theta": claims.theta,
                       "timing": list(claims.timing)}} if claims is not None else {}),
        "wall_seconds": r.wall_seconds,
    }


def _plot_study(r, path):
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    markers = "osD^v<>"
    for k, lv in enumerate(r.levels):
        rows = [row for row in lv.rows if row.steps is not None]
        if not rows:
            continue
        bs = [row.batch_size for row in rows]
        label = f"f = {lv.fraction:g}" + (" (default)" if lv.default else "")
        for a_, key in ((ax[0], "steps"), (ax[1], "examples")):
            vals = [getattr(row, key) for row in rows]
            cis = [getattr(row, key + "_ci") for row in rows]
            err = [[v - c[0] for v, c in zip(vals, cis, strict=True)],
                   [(c[1] - v) if math.isfinite(c[1]) else 0 for v, c in zip(vals, cis, strict=True)]]
            a_.errorbar(bs, vals, yerr=err, fmt=markers[k % len(markers)], color="black", mfc="white",
                        capsize=2, label=label)
        if lv.b_crit is not None:
            grid = [2 ** (i / 4) for i in range(0, 4 * max(1, int(math.log2(max(bs)))) + 1)]
            ax[0].plot(grid, [lv.s_min * (1 + lv.b_crit / b) for b in grid], "-", color="gray", lw=0.8)
            ax[1].plot(grid, [lv.s_min * (b + lv.b_crit) for b in grid], "-", color="gray", lw=0.8)
            if lv.default:
                for a_ in ax[:2]:
                    a_.axvline(lv.b_crit, ls="--", color="black", lw=0.8, label=f"B_crit ≈ {lv.b_crit:.3g}")
                    if lv.b_simple:
                        a_.axvline(lv.b_simple, ls=":", color="black", lw=0.8, label=f"B_simple ≈ {lv.b_simple:.3g}")
    for a_, ylabel in ((ax[0], "steps to the level, S(B)"), (ax[1], "examples to the level, E(B) = B·S(B)")):
        a_.set(xscale="log", yscale="log", xlabel="batch size B (examples per step)", ylabel=ylabel)
        if a_.get_legend_handles_labels()[0]:  # nothing reached: no legend (and no matplotlib warning)
            a_.legend(fontsize=7)
    have = [lv for lv in r.levels if lv.b_crit is not None and lv.b_simple is not None]
    if have:
        ax[2].errorbar([lv.b_simple for lv in have], [lv.b_crit for lv in have],
                       yerr=[[lv.b_crit - lv.b_crit_ci[0] if lv.b_crit_ci else 0 for lv in have],
                             [lv.b_crit_ci[1] - lv.b_crit if lv.b_crit_ci else 0 for lv in have]],
                       fmt="o", color="black", mfc="white", capsize=2)
        for lv in have:
            ax[2].annotate(f"f = {lv.fraction:g}", (lv.b_simple, lv.b_crit), fontsize=7)
        lim = [min(lv.b_crit for lv in have) / 2, max(lv.b_simple for lv in have) * 2]
        ax[2].plot(lim, lim, "--", color="gray", lw=0.8, label="B_crit = B_simple")
        ax[2].set(xscale="log", yscale="log", xlabel="B_simple = tr Σ / |G|² (examples)",
                  ylabel="B_crit from the fit (examples)", title="deeper levels: both grow")
        ax[2].legend(fontsize=7)
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
    argv = _expression_argv(list(sys.argv[1:] if argv is None else argv))
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help and --version, printed on stdout
            return e.code if isinstance(e.code, int) else 0
        if getattr(args, "run", None) is None:
            commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
            raise UsageError(f"jaxsgd: missing COMMAND, one of {', '.join(commands)}; "
                             f"{parser.format_usage().strip()} (see jaxsgd --help)")
        return args.run(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
