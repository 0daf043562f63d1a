"""``python -m worqr``: the ``worqr`` command (`worqr.cli`)."""

from __future__ import annotations

import sys

from worqr.cli import main

if __name__ == "__main__":
    sys.exit(main())
