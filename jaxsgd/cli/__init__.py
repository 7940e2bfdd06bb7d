"""The ``jaxsgd`` command line: one module per subcommand, parsing and printing around the library.

Every subcommand has ``--help``. Bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys

import jaxsgd
from jaxsgd.cli import batch_size, derivative, launch, step, train
from jaxsgd.cli.common import Parser, UsageError

__all__ = ["build_parser", "main"]

_COMMANDS = [step.add, train.add, train.add_predict, derivative.add, derivative.add_check_derivative,
             derivative.add_check, batch_size.add, launch.add]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="jaxsgd", description="SGD on a sigmoid neuron, exact and compiled with JAX.")
    parser.add_argument("--version", action="version", version=f"jaxsgd {jaxsgd.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    argv = derivative.expression_argv(list(sys.argv[1:] if argv is None else argv))
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
        joined = sys.modules.get("jaxsgd.distributed")
        if joined is not None and joined.active():  # end now: the others see a lost peer, not a hang
            joined.fail(str(e), 2)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other command-line tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
