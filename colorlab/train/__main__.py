"""``python -m colorlab.train [colorlab train options]``: what ``torchrun -m colorlab.train`` runs.

The same command as ``colorlab train``, with torch's default thread count (``--threads 0``).
"""

import sys

from colorlab.cli import main

raise SystemExit(main(["train", "--threads", "0", *sys.argv[1:]]))
