"""A synchronous worker loop: dequeue, work, finish; sleep until a ``work`` event when idle.

    python examples/worker_loop.py

A producer thread (its own client) sends ``TASKS`` tasks in a few batches; the worker stops
once it has processed all of them. Uses the server at WORQR_REDIS_URL if set, else starts a
private one for the run.
"""

from __future__ import annotations

import threading
import time
import uuid

from worqr import Event, Worqr
from worqr.testing import server_url

QUEUE = "thumbnails"
BATCHES = 3
BATCH_SIZE = 10
TASKS = BATCHES * BATCH_SIZE
#: A worker that waits this long without any work gives up (the example must end).
IDLE_LIMIT = 10.0


def produce(url: str, prefix: str) -> None:
    """Send the tasks in batches, with pauses, so the worker runs dry and waits for events."""
    with Worqr(redis=url, prefix=prefix) as producer:
        for batch in range(BATCHES):
            producer.enqueue(QUEUE, [f"photo-{batch}-{i}.jpg" for i in range(BATCH_SIZE)])
            time.sleep(0.2)


def handle(task: str) -> dict[str, str]:
    """The work: here, pretend to make a thumbnail. The result travels in the ``done`` event."""
    time.sleep(0.002)
    return {"thumbnail": task.replace(".jpg", ".thumb.jpg")}


def work(wq: Worqr, expected: int) -> tuple[int, int]:
    """Process ``expected`` tasks; returns (processed, how many times the worker slept)."""
    wake = threading.Event()

    def on_event(event: Event) -> None:
        if event.type == "work":  # tasks arrived (or came back from a dead peer)
            wake.set()

    wq.on(QUEUE, on_event)  # subscribed before start_work, so its immediate work event reaches us
    wq.start_worker()  # heartbeat, and reaping of dead peers, in the background
    wq.start_work(QUEUE)
    processed = sleeps = 0
    while processed < expected:
        wake.clear()  # clear before dequeue: an event after an empty dequeue still wakes us
        process = wq.dequeue(QUEUE)
        if process is None:
            sleeps += 1
            if not wake.wait(IDLE_LIMIT):
                raise TimeoutError(f"no work for {IDLE_LIMIT} s after {processed} of {expected} tasks")
            continue
        try:
            result = handle(process.task)
        except BaseException:
            wq.stop_process(process.id)  # give the task back, to the front of the queue
            raise
        wq.finish_process(process.id, result)
        processed += 1
    return processed, sleeps


def main() -> None:
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    with server_url() as url, Worqr(redis=url, prefix=prefix, worker_timeout=3.0) as wq:
        producer = threading.Thread(target=produce, args=(url, prefix), name="producer")
        producer.start()
        try:
            processed, sleeps = work(wq, TASKS)
        finally:
            producer.join()
        left = wq.count_queue(QUEUE)
        wq.delete_queue(QUEUE)
    # Leaving the block failed the worker cleanly: it left the registry, holding nothing.
    print(f"worker_loop: processed {processed} of {TASKS} tasks, waited for work {sleeps} times, {left} left")


if __name__ == "__main__":
    main()
