"""The example scripts and ``python -m worqr demo`` run as users run them: each as its own OS
process, self-contained (its own private server unless WORQR_REDIS_URL is set)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return result


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("producer.py", "resizes: 3 queued, next Resize(image='cat.png', width=640)"),
        ("worker_loop.py", "worker_loop: processed 30 of 30 tasks"),
        ("async_worker.py", "async_worker: processed 30 invoices, charged 16470 cents"),
        (
            "runtime_worker.py",
            "runtime_worker: processed 20 of 20 resizes with concurrency 4, 0 left; all results in done events",
        ),
        (
            "async_runtime_worker.py",
            "async_runtime_worker: processed 30 of 30 invoices, charged 46470 cents, 0 left; all results in done events",
        ),
        (
            "retries_and_dead_letters.py",
            "retries_and_dead_letters: flaky-2 succeeded on attempt 3; poison-3 dead-lettered after 3 attempts, "
            "requeued, then finished; poison-4 purged",
        ),
        ("delayed_tasks.py", "delayed_tasks: ran 'now', then 'in 0.5 s', then 'at +1.0 s'; none before its due time"),
        (
            "calls.py",
            "calls: quote(cake, 3) = 960 cents (succeeded, attempt 1); coffee failed: LookupError after 2 attempts; "
            "the queued call was cancelled; found by id: 960 cents",
        ),
        ("operations.py", "operations: requeued 1; metrics say 1 queued, 1 requeued in all"),
        (
            "leader_election.py",
            "leader_election: leader one (token 1) wrote 1; stepped down; two elected (token 2); "
            "stale write refused: True; ledger ['event 1', 'event 2']",
        ),
        (
            "periodic_schedules.py",
            "periodic_schedules: ran ['send report', 'send report', 'send report']; at least 3 runs: True; "
            "next backup kept: True",
        ),
        (
            "streams.py",
            "streams: audit saw [1, 2, 3]; billing got [(1, 2), (2, 2), (3, 2)] after its first consumer left; "
            "late ack accepted: False; replay from the first id: [1, 2, 3]",
        ),
        (
            "ordered_streams.py",
            "ordered_streams: while the first owner held [1, 2], the standby got None; after it left, "
            "the standby billed [(1, 2), (2, 2), (3, 1)] (order, deliveries)",
        ),
        (
            "channels.py",
            "channels: first desk got ['<remote:connect>', \"'hello?'\"]; customer got ['<remote:connect>', "
            "\"'hi, how can I help?'\"], then <remote:disconnect>; second desk got ['<remote:connect>', "
            "\"'hello?' (delivery 2)\", \"'are you there?'\"], then <end>",
        ),
    ],
    ids=[
        "producer",
        "worker_loop",
        "async_worker",
        "runtime_worker",
        "async_runtime_worker",
        "retries",
        "delayed_tasks",
        "calls",
        "operations",
        "leader_election",
        "periodic_schedules",
        "streams",
        "ordered_streams",
        "channels",
    ],
)
def test_example(script: str, expected: str) -> None:
    out = run([str(EXAMPLES / script)], timeout=60).stdout
    assert expected in out, out


@pytest.mark.slow
def test_singleton_connection_owner_is_taken_over_by_a_peer() -> None:
    out = run([str(EXAMPLES / "singleton_connection_owner.py")], timeout=60).stdout
    assert "before: owner-1 owns 'primary-db-connection'" in out, out
    assert "after: owner-1 was killed (SIGKILL); owner-2 reaped it and owns 'primary-db-connection'" in out, out
    assert "the task is queued again for the next owner: ['primary-db-connection']" in out, out
    assert "singleton_connection_owner: one owner at a time, taken over after a crash" in out, out


@pytest.mark.slow
def test_graceful_shutdown_finishes_or_gives_back_the_task_in_flight() -> None:
    out = run([str(EXAMPLES / "graceful_shutdown.py")], timeout=60).stdout
    lines = [line.strip() for line in out.splitlines()]
    assert "child exited with 0; finished: {'job-1': {'file': 'job-1.csv'}}; queued: ['job-2', 'job-3']" in lines, out
    released = re.compile(r"\| log process \d+:exports released to the front of exports")
    assert any(released.fullmatch(line) for line in lines), out
    assert lines[-1] == (
        "graceful_shutdown: job-1 finished within the grace period, job-2 went back to the front; nothing lost"
    ), out


@pytest.mark.slow
def test_demo() -> None:
    out = run(["-m", "worqr", "demo", "--tasks", "200"], timeout=60).stdout
    lines = [line.strip() for line in out.splitlines()]
    assert "enqueued 200, finished 200, lost 0" in lines, out
    assert "reaped workers: ['worker-A']" in lines, out
    held = next(line for line in lines if line.startswith("killed worker's task:"))
    assert held.split(", finished by ")[1].startswith("worker-B"), out
    assert lines[-1] == "OK", out


def test_demo_refuses_too_few_tasks() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worqr", "demo", "--tasks", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--tasks: must be at least 10" in result.stderr
