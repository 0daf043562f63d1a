"""The ``worqr`` command line for people on call (docs/operations.md): a thin layer over
the clients' methods (``inspect_queues``, ``inspect_workers``, ``get_dead_letters``...).

`parser` builds the arguments, `render` turns answers into JSON or aligned tables,
`commands` runs each command, and `main` ties them together: exit 0 on success, 1 on an
error (one line on stderr, no traceback, no password), 2 on a usage error, 3 when
``check`` finds a problem.
"""

from worqr.cli.main import main

__all__ = ["main"]
