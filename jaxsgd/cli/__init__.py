"""The ``jaxsgd`` command line: one module per subcommand, parsing and printing around the library.

Every subcommand has ``--help``. Bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

import jaxsgd
from jaxsgd.cli.common import Parser, UsageError

__all__ = ["build_parser", "main"]

# subcommand -> (its module in jaxsgd.cli, the function that adds its parser), in the order --help lists them
_COMMANDS = {
    "step": ("step", "add"),
    "train": ("train", "add"),
    "predict": ("train", "add_predict"),
    "derivative": ("derivative", "add"),
    "check-derivative": ("derivative", "add_check_derivative"),
    "check": ("derivative", "add_check"),
    "batch-size": ("batch_size", "add"),
    "launch": ("launch", "add"),
}
_JAX_COMMANDS = ("step", "train", "predict", "check", "batch-size")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` alone (only its module is imported), or of every subcommand."""
    parser = Parser(prog="jaxsgd", description="SGD on a sigmoid neuron, exact and compiled with JAX.")
    parser.add_argument("--version", action="version", version=f"jaxsgd {jaxsgd.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (module, add) in _COMMANDS.items():
        if command in (None, name):
            getattr(importlib.import_module(f"jaxsgd.cli.{module}"), add)(sub)
    return parser


def _command(argv) -> str | None:
    """The subcommand ``argv`` names, if it names a known one."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in _COMMANDS else None


def main(argv=None) -> int:
    """Runs ``jaxsgd ARGV...``; returns the exit code (0 done, 1 an INCORRECT answer, 2 bad input or a
    failed write, 130/143 interrupted, 141 the reader went away)."""
    from jaxsgd.cli import interrupts, terminal

    command_line = argv is None  # the command itself, not a call from Python: the interrupt handlers are ours
    try:
        if command_line:
            interrupts.install()
        terminal.setup()
        return _main(argv, interrupts)
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            print("interrupted", file=sys.stderr)
        if command_line:  # end here: an interpreter shutdown while JAX compiles on its threads can crash
            joined = sys.modules.get("jaxsgd.distributed")
            if joined is not None and joined.active():  # process 0 hosts the coordinator: it leaves last
                joined.leave()
            interrupts.exit_now()
        return interrupts.exit_code()


def _main(argv, interrupts) -> int:
    if sys.stdout is None:
        print("error: jaxsgd: standard output is closed: redirect it to a file, or to /dev/null to discard the "
              "output", file=sys.stderr)
        return 2
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    if command in _JAX_COMMANDS and "jax" not in sys.modules:
        with interrupts.deferred():  # an interrupt inside JAX's native start-up would abort the process
            import jax  # noqa: F401
    parser = build_parser(command)
    if command == "check-derivative":
        from jaxsgd.cli.derivative import expression_argv

        argv = expression_argv(argv)
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help and --version, printed on stdout
            sys.stdout.flush()  # a full disk shows here
            return e.code if isinstance(e.code, int) else 0
        if getattr(args, "run", None) is None:
            commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
            raise UsageError(f"jaxsgd: missing COMMAND, one of {', '.join(commands)}; "
                             f"{parser.format_usage().strip()} (see jaxsgd --help)")
        code = args.run(args)
        if sys.stdout is not None:
            sys.stdout.flush()  # a full disk or a closed reader shows here, not at exit
        return code
    except UsageError as e:
        joined = sys.modules.get("jaxsgd.distributed")
        if joined is not None and joined.active():  # end now: the others see a lost peer, not a hang
            joined.fail(str(e), 2)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other command-line tools do
        _drop_stdout()
        return 141
    except OSError as e:  # standard output failed (a full disk, a device error): one line, never exit 1
        _drop_stdout()
        where = "standard output" if e.filename is None else e.filename
        print(f"error: jaxsgd{' ' + command if command else ''}: cannot write to {where}: "
              f"{e.strerror or e} (write the output somewhere with space, e.g. > another/file)", file=sys.stderr)
        return 2


def _drop_stdout() -> None:
    """Points standard output at /dev/null, so that the interpreter's last flush at exit cannot fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
