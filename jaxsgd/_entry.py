"""The ``jaxsgd`` command's entry point: Ctrl-C and SIGTERM are taken before anything else is imported.

Python's own SIGINT handler raises ``KeyboardInterrupt`` wherever the signal lands; during the first imports
that is a traceback. Until :func:`jaxsgd.cli.main` installs its handlers (:mod:`jaxsgd.cli.interrupts`), an
interrupt here ends the process at once with one line, ``interrupted``, and 130 (SIGINT) or 143 (SIGTERM).
"""

import os
import signal
import sys


def _early(signum, frame):
    os.write(2, b"interrupted\n")
    os._exit(130 if signum == signal.SIGINT else 143)


def main() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _early)
    from jaxsgd.cli import main as cli_main

    sys.exit(cli_main())
