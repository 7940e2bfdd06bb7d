"""The exercise's worked SGD step: a thin wrapper around ``jaxsgd step``."""

import sys

from jaxsgd.cli import main

if __name__ == "__main__":
    sys.exit(main(["step", *sys.argv[1:]]))
