"""Delayed and scheduled tasks: ``enqueue(..., delay=seconds)`` and ``enqueue(..., at=datetime)``.

    python examples/delayed_tasks.py

A delayed task waits, by the server's clock, until it is due; then the next dequeue on its
queue (any worker's) moves it to the back of the queue, in the same atomic step. There is
no scheduler process. An idle runtime worker wakes in time on its own: the ``scheduled``
event and the due time that dequeue reports tell it when. To show that, this worker's
client polls only every 30 s. Uses the server at WORQR_REDIS_URL if set, else starts a
private one.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from worqr import Process, Worqr
from worqr.testing import server_url

QUEUE = "reminders"
DELAY = 0.5
AT = 1.0
#: A due time is kept in milliseconds; allow for that rounding when checking "not early".
ROUNDING = 0.005
#: The example gives up if the tasks take longer than this (it must end).
DEADLINE = 30.0


def main() -> int:
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    ran: dict[str, float] = {}
    all_ran = threading.Event()

    def remind(process: Process[str]) -> None:
        ran[process.task] = time.time()
        if len(ran) == 3:
            all_ran.set()

    with server_url() as url, Worqr(redis=url, prefix=prefix, poll_interval=30.0) as wq:
        worker = wq.worker(QUEUE, remind)
        worker.start()  # idle: nothing is queued yet

        start = time.time()
        due = {"now": start, f"in {DELAY} s": start + DELAY, f"at +{AT} s": start + AT}
        wq.enqueue(QUEUE, f"at +{AT} s", at=datetime.now(timezone.utc) + timedelta(seconds=AT))
        wq.enqueue(QUEUE, f"in {DELAY} s", delay=DELAY)
        wq.enqueue(QUEUE, "now")
        print(f"enqueued 3 tasks; {wq.count_delayed(QUEUE)} of them wait for their due time")

        finished = all_ran.wait(DEADLINE)
        worker.stop()
        wq.delete_queue(QUEUE)

    order = sorted(ran, key=ran.__getitem__)
    for task in order:
        print(f"{task!r} ran {ran[task] - start:.2f} s after the enqueues (due at +{due[task] - start:.1f} s)")
    early = [task for task in order if ran[task] < due[task] - ROUNDING]
    ok = finished and order == ["now", f"in {DELAY} s", f"at +{AT} s"] and not early
    print(
        "delayed_tasks: "
        + (f"ran {', then '.join(map(repr, order))}; none before its due time" if ok else f"FAILED (early: {early})")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
