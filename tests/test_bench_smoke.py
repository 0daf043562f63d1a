"""The benchmark harness cannot rot: ``python -m bench.run --quick`` (tiny counts, worqr and
the raw ceiling, no peers; a few seconds, and the crash-recovery row on a server of its own)
runs on its own fresh server and prints its table with every row filled, and its ratios; ``python -m bench.calls --quick --no-peers`` likewise measures the raw
RPC ceiling and both clients' calls. No figure is checked against a timing: only that each
was measured."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
#: Every row of the table, in order: the start of its label, and whether the raw ceiling
#: has a figure in it.
ROWS = [
    ("Enqueue, one task per call", True),
    ("Enqueue, batches of 100", True),
    ("Enqueue, one list of", True),
    ("Drain 300 queued no-op tasks, 1 worker process, default settings", True),
    ("Drain, 1 worker process, fastest setup tried", True),
    ("Drain, 2 worker processes, default settings", False),
    ("Drain, 2 worker processes, fastest concurrency", False),
    ("Idle wake-up latency p50", True),
    ("Idle wake-up latency p99", True),
    ("Redis commands per task, enqueue one per call", True),
    ("Round trips per task, enqueue one per call", True),
    ("Redis server CPU per task, enqueue one per call", True),
    ("Redis commands per task, drain, 1 process, default", True),
    ("Script calls (EVALSHA) per task, drain", True),
    ("Round trips per task, drain, 1 process, default", True),
    ("Redis server CPU per task, drain, 1 process, default", True),
    ("Round trips per task, drain, 1 process, fastest setup", True),
    ("Redis memory per queued task", True),
    ("Tasks run twice, fault-free drain of 200 tasks", False),
    ("Crash recovery: seconds from SIGKILL until all 5 tasks", False),
    ("Dequeue attempts one new task causes, 3 idle worker processes", False),
    ("Call and wait for its result, round trip p50", True),
    ("Call round trip p99", True),
    ("Calls and results per second, 16 callers", True),
]


def _is_figure(cell: str) -> bool:
    """A measured number, like ``1,234``, ``0.52`` or ``-0.01 (note)``."""
    number = cell.split(" ", 1)[0].replace(",", "").lstrip("-")
    return number.replace(".", "", 1).isdigit()


def test_the_quick_benchmark_prints_every_row_of_its_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    out = done.stdout
    for line in (
        "- Server: ",
        "- CPUs: ",
        "- Python: ",
        "- redis-py: ",
        "- Load average",
        "- Run: `python -m bench.run --quick`",
    ):
        assert line in out, out
    assert "- all peers: not measured in this run" in out, out

    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| "))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[first:]))
    header, body = table[0], table[2:]
    assert header.split(" | ")[1:4] == ["raw, 1 round trip per command", "raw, pipelined \u00d7100", "worqr"], header
    assert len(body) == len(ROWS), out
    for line, (start, has_raw) in zip(body, ROWS, strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[0].startswith(start), line
        assert _is_figure(cells[3]), f"worqr has no figure in: {line}"
        if has_raw:
            assert _is_figure(cells[1]) or _is_figure(cells[2]), f"the raw ceiling has no figure in: {line}"
    ratios = lines[lines.index("### Ratios only") + 2 :]
    assert ratios[0].startswith("| Measurement | ÷ raw 1 RT | ÷ raw pipelined |"), out


def test_the_scaling_benchmark_drains_on_clusters_of_one_and_two_primaries() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.scaling", "--tasks", "300", "--queues", "4", "--primaries", "1,2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| Primaries")]
    assert [row.split("|")[1].strip() for row in rows] == ["1", "2"], done.stdout
    for row in rows:
        assert _is_figure(row.split("|")[3].strip()), row


def test_the_quick_calls_benchmark_measures_the_raw_ceiling_and_both_clients() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.calls", "--quick", "--no-peers", "--seconds", "0.5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    rows = {
        line.split("|")[1].strip(): line.split("|")[2:5] for line in done.stdout.splitlines() if line.startswith("| ")
    }
    for name in ("raw redis-py RPC", "worqr sync", "worqr async"):
        (label,) = [label for label in rows if label.startswith(name)]
        p50, p99, rate = (cell.strip() for cell in rows[label])
        assert _is_figure(p50), (label, p50)
        assert _is_figure(p99), (label, p99)
        assert _is_figure(rate), (label, rate)
    assert "- worqr sync: p50 " in done.stdout
    assert "- peers: not measured in this run (--no-peers)" in done.stdout
