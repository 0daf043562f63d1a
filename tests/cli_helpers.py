"""Running ``python -m worqr`` as a real process, for the commands that run until stopped
(``watch``, ``worker``, ``metrics``): `spawn_worqr` starts one into the list of the
``worqr_processes`` fixture (tests/conftest.py), which kills what is left at the end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def spawn_worqr(processes: list[subprocess.Popen[str]], *args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    """``python -m worqr ARGS...`` with its stdout and stderr piped (text)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "worqr", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    processes.append(process)
    return process
