"""`python -m batchedit`: the same entry point as the console script."""

from __future__ import annotations

import sys

from batchedit.cli import main

if __name__ == "__main__":
    sys.exit(main())
