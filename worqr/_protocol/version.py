"""worqr's version, in one place: the package's ``__version__`` and the version each worker
writes in its record (so that operators see which workers run which release)."""

VERSION = "0.1.0"
