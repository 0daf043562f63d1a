"""Graceful shutdown: SIGTERM while a task is in flight loses nothing.

    python examples/graceful_shutdown.py

``Worker.run()`` blocks and, from the main thread, handles SIGINT and SIGTERM: the first
signal stops taking work and gives running handlers ``grace`` seconds to finish; a second
one stops at once. Whatever has not finished then is given back to the front of its queue.

The script plays two parts. Without arguments it is the parent: it starts a server (unless
WORQR_REDIS_URL is set), enqueues three jobs, and runs a worker child process twice:

1. SIGTERM while the child runs ``job-1``: the handler finishes within the grace period
   (its result arrives in a ``done`` event) and the child exits without taking more work.
2. SIGTERM, then a second SIGTERM, while the child runs ``job-2``: the handler is told to
   stop (its cancellation token), and ``job-2`` goes back to the front of the queue.

``child URL PREFIX NAME`` is the worker: it prints ``took TASK`` when a handler starts, and
its "worqr" log lines (prefixed ``log``) show the shutdown.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import subprocess
import sys
import threading
import uuid
from contextlib import ExitStack
from typing import IO

from worqr import Event, Process, Worqr, cancel_token
from worqr.testing import server_url

QUEUE = "exports"
JOBS = ["job-1", "job-2", "job-3"]
#: How long a job's work takes (job-2's outlasts the parent's two signals on a loaded
#: machine too, yet ends within the grace period if the second one never comes), and how
#: long a stopping worker waits for it.
WORK_SECONDS = {"job-2": 8.0}
DEFAULT_WORK_SECONDS = 1.0
GRACE = 10.0
#: The parent gives up if the child does not print what it expects within this.
DEADLINE = 20.0


# The worker (a child process) ------------------------------------------------------------------


def export(process: Process[str]) -> dict[str, str]:
    print("took", process.task, flush=True)
    token = cancel_token()
    if token.wait(
        WORK_SECONDS.get(process.task, DEFAULT_WORK_SECONDS)
    ):  # the work; a long job checks its token now and then
        print("told to stop:", token.reason, flush=True)
        token.raise_if_cancelled()  # raise or return: either way the worker gives the task back
    return {"file": f"{process.task}.csv"}


def child(url: str, prefix: str, name: str) -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="log %(message)s")
    with Worqr(redis=url, prefix=prefix, worker_id=name) as wq:
        wq.worker(QUEUE, export, grace=GRACE).run()  # returns after SIGTERM/SIGINT and shutdown


# The parent ----------------------------------------------------------------------------------


class Child:
    """A worker child process and the lines it prints (echoed, indented)."""

    def __init__(self, url: str, prefix: str, name: str) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(  # noqa: S603 (this very script, with our own arguments)
            [sys.executable, __file__, "child", url, prefix, name], stdout=subprocess.PIPE, text=True
        )
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str] | None) -> None:
        for line in stream or ():
            print("    |", line.rstrip(), flush=True)
            self.lines.put(line.strip())

    def expect(self, text: str) -> None:
        """Wait until the child prints a line that contains ``text``."""
        while text not in self.lines.get(timeout=DEADLINE):
            pass

    def signal(self, signum: signal.Signals) -> None:
        print(f"  parent: {signum.name} -> child", flush=True)
        self.process.send_signal(signum)

    def wait(self) -> int:
        return self.process.wait(timeout=DEADLINE)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def main() -> int:
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        url = stack.enter_context(server_url())
        admin = stack.enter_context(Worqr(redis=url, prefix=prefix))  # not a worker: it only looks
        finished: dict[str, object] = {}
        job1_done = threading.Event()

        def on_event(event: Event) -> None:
            if event.type == "done":  # {"worker_id", "process_id", "task", "result", "outcome"}
                done = json.loads(event.message)
                finished[done["task"]] = done["result"]
                job1_done.set()

        admin.on(QUEUE, on_event)
        admin.enqueue(QUEUE, JOBS)

        print("1. one SIGTERM while job-1 runs: it finishes within the grace period")
        first = Child(url, prefix, "worker-1")
        stack.callback(first.kill)
        first.expect("took job-1")
        first.signal(signal.SIGTERM)
        code1 = first.wait()
        job1_done.wait(DEADLINE)  # the done event was published before the child exited; it may still be on its way
        after1 = admin.get_tasks(QUEUE)
        print(f"  child exited with {code1}; finished: {finished}; queued: {after1}")

        print("2. two SIGTERMs while job-2 runs: it goes back to the front of the queue")
        second = Child(url, prefix, "worker-2")
        stack.callback(second.kill)
        second.expect("took job-2")
        second.signal(signal.SIGTERM)
        second.expect("SIGTERM received")  # one signal at a time: a pending signal is not counted twice
        second.signal(signal.SIGTERM)
        code2 = second.wait()
        after2 = admin.get_tasks(QUEUE)
        print(f"  child exited with {code2}; finished: {finished}; queued: {after2}")
        admin.delete_queue(QUEUE)

    lost = set(JOBS) - set(finished) - set(after2)
    ok = (code1, code2) == (0, 0) and after1 == ["job-2", "job-3"] and after2 == ["job-2", "job-3"]
    ok = ok and list(finished) == ["job-1"] and not lost
    print(
        "graceful_shutdown: "
        + (
            "job-1 finished within the grace period, job-2 went back to the front; nothing lost"
            if ok
            else f"FAILED (lost: {sorted(lost)})"
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(*sys.argv[2:5])
    else:
        sys.exit(main())
