"""The jitted training script: a thin wrapper around ``jaxsgd train``."""

import sys

from jaxsgd.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
