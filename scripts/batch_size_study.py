"""The batch-size study: a thin wrapper around ``jaxsgd batch-size``."""

import sys

from jaxsgd.cli import main

if __name__ == "__main__":
    sys.exit(main(["batch-size", *sys.argv[1:]]))
