"""Property 2 across OS processes: two worker processes drain 5,000 tasks, each finished once."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from worqr import Worqr

CHILD = str(Path(__file__).with_name("child_worker.py"))
TASKS = 5000


def test_two_os_processes_finish_each_task_exactly_once(
    make_worqr: Callable[..., Worqr], redis_url: str, worqr_prefix: str
) -> None:
    producer = make_worqr()
    producer.enqueue("jobs", [f"t{i}" for i in range(TASKS)])
    children = [
        subprocess.Popen(
            [sys.executable, CHILD, "drain", redis_url, worqr_prefix, "jobs", f"child-{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for child in children:  # both are subscribed and started before either takes a task
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0]
    done = [line.split(" ", 1)[1] for out in outputs for line in out.splitlines() if line.startswith("done ")]
    counts = Counter(done)
    assert len(counts) == TASKS and set(counts.values()) == {1}
    assert all("done " in out for out in outputs), "both processes finished tasks"
    assert producer.count_queue("jobs") == 0
