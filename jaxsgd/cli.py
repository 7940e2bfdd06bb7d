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


_COMMANDS = [_add_step]


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
