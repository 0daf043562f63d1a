"""Where the figures were measured: the machine, Python, redis-py, and its load."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import redis
import redis.utils


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def describe() -> list[tuple[str, str]]:
    parser = "hiredis" if redis.utils.HIREDIS_AVAILABLE else "pure-Python parser (no hiredis)"
    return [
        ("CPUs", f"{os.cpu_count()} \u00d7 {cpu_model()}"),
        (
            "Python",
            f"{platform.python_implementation()} {platform.python_version()} on {platform.system()} {platform.release()}",
        ),
        ("redis-py", f"{redis.__version__}, {parser}"),
    ]
