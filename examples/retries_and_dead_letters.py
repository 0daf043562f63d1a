"""Failures, retries with backoff, and dead letters.

    python examples/retries_and_dead_letters.py

A handler that raises fails the attempt: the task comes back after a backoff delay, up to
``max_attempts`` attempts (counted in Redis), and then moves to the queue's dead letters
with the error's type and message. Here:

- ``flaky-2`` fails twice (a gateway timeout) and succeeds on its third attempt;
- ``poison-3`` always fails: after 3 attempts it is a dead letter. Once the bug is "fixed",
  ``requeue_dead_letters`` sends it back, and it succeeds (its attempts start afresh);
- ``poison-4`` also ends in the dead letters, and ``purge_dead_letters`` drops it for good.

The worker's warnings and errors (logger ``"worqr"``) are printed as they happen. Uses the
server at WORQR_REDIS_URL if set, else starts a private one.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

from worqr import Backoff, Process, Worqr
from worqr.testing import server_url

QUEUE = "payments"
MAX_ATTEMPTS = 3
#: Short delays for the example: 0.1 s after the first failure, 0.2 s after the second (each
#: shortened by up to half, at random). The default is Backoff(base=1, factor=2, max=300, jitter=0.5).
BACKOFF = Backoff(base=0.1, factor=2.0, max=1.0, jitter=0.5)
#: The example gives up if a step takes longer than this (it must end).
DEADLINE = 30.0

attempts: defaultdict[str, list[int]] = defaultdict(list)
fixed: set[str] = set()
lock = threading.Lock()


def charge(process: Process[str]) -> str:
    """The handler. ``process.attempt`` is 1 on a task's first run, 2 on its first retry, ..."""
    task = process.task
    with lock:
        attempts[task].append(process.attempt)
    if task.startswith("flaky") and process.attempt < 3:
        raise ConnectionError("the payment gateway timed out")
    if task.startswith("poison") and task not in fixed:
        raise ValueError("the card number is malformed")
    return f"charged {task}"


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.02)


def main() -> int:
    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="  log %(levelname)s: %(message)s")
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    with server_url() as url, Worqr(redis=url, prefix=prefix) as wq:
        worker = wq.worker(QUEUE, charge, max_attempts=MAX_ATTEMPTS, backoff=BACKOFF, concurrency=2)
        worker.start()

        wq.enqueue(QUEUE, ["ok-1", "flaky-2", "poison-3"])
        wait_until(lambda: worker.stats.processed == 2 and worker.stats.dead_lettered == 1, "the first three tasks")
        print(f"flaky-2 ran on attempts {attempts['flaky-2']}; poison-3 on attempts {attempts['poison-3']}")

        (letter,) = wq.get_dead_letters(QUEUE)
        print(
            f"dead letter {letter.id}: {letter.task!r} failed {letter.attempts} times, "
            f"last with {letter.error_type}: {letter.error} (at {letter.failed_at:%H:%M:%S} UTC)"
        )

        with lock:
            fixed.add("poison-3")  # the bug is fixed: send the dead letter back for another try
        requeued = wq.requeue_dead_letters(QUEUE, letter.id)
        wait_until(lambda: worker.stats.processed == 3, "the requeued task")
        print(f"requeued {requeued}; poison-3 then ran on attempt {attempts['poison-3'][-1]} and succeeded")

        wq.enqueue(QUEUE, "poison-4")
        wait_until(lambda: worker.stats.dead_lettered == 2, "poison-4 to become a dead letter")
        purged = wq.purge_dead_letters(QUEUE)  # all of them; or pass ids
        left = wq.count_dead_letters(QUEUE)
        print(f"poison-4 became a dead letter too; purged {purged}, {left} dead letters left")

        worker.stop()
        stats = worker.stats
        print(f"stats: {stats}")
        wq.delete_queue(QUEUE)

    ok = (
        attempts["flaky-2"] == [1, 2, 3]
        and attempts["poison-3"] == [1, 2, 3, 1]
        and letter.attempts == MAX_ATTEMPTS
        and letter.error_type == "ValueError"
        and (requeued, purged, left) == (1, 1, 0)
        and (stats.processed, stats.failed, stats.retried, stats.dead_lettered) == (3, 8, 6, 2)
    )
    print(
        "retries_and_dead_letters: "
        + (
            "flaky-2 succeeded on attempt 3; poison-3 dead-lettered after 3 attempts, requeued, then finished; "
            "poison-4 purged"
            if ok
            else "FAILED"
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
