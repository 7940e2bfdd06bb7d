"""The higher-order derivative checker: a thin wrapper around ``jaxsgd check``."""

import sys

from jaxsgd.cli import main

if __name__ == "__main__":
    sys.exit(main(["check", *sys.argv[1:]]))
