import sys

from jaxsgd.cli import main

sys.exit(main())
