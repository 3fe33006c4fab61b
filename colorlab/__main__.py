"""``python -m colorlab``: the same command line as the ``colorlab`` entry point."""

from __future__ import annotations

import sys

from colorlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
