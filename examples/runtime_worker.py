"""The worker runtime: `Worqr.worker` runs a handler on a typed queue, several tasks at a time.

    python examples/runtime_worker.py

worker_loop.py writes the dequeue / finish loop by hand; here the runtime does it. The
handler takes a ``Process[Resize]`` and returns a JSON result, which travels in the queue's
``done`` event. A producer (its own client, in this script) enqueues the tasks and collects
the results from the ``done`` events; once all of them are in, the script stops the worker
with ``stop()``. Uses the server at WORQR_REDIS_URL if set, else starts a private one.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass

from worqr import Event, JsonCodec, Process, Worqr
from worqr.testing import server_url

QUEUE = "resizes"
TASKS = 20
CONCURRENCY = 4
#: The example gives up if the results take longer than this (it must end).
DEADLINE = 30.0


@dataclass(frozen=True)
class Resize:
    image: str
    width: int


class Running:
    """How many handlers run at once, and the most that ever did."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.now -= 1


running = Running()


def resize(process: Process[Resize]) -> dict[str, str]:
    """The handler: runs on one of the worker's ``CONCURRENCY`` threads. Its return value is
    the result in the ``done`` event; an exception would fail the attempt (and retry it)."""
    with running:
        time.sleep(0.05)  # the work: pretend to resize the image
    task = process.task
    return {"thumbnail": f"{task.image.removesuffix('.png')}-{task.width}.png"}


def main() -> None:
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    with server_url() as url, Worqr(redis=url, prefix=prefix) as producer, Worqr(redis=url, prefix=prefix) as wq:
        results: dict[str, str] = {}
        all_done = threading.Event()

        def on_event(event: Event) -> None:
            if event.type == "done":  # {"worker_id", "process_id", "task", "result", "outcome"}
                done = json.loads(event.message)
                results[json.loads(done["task"])["image"]] = done["result"]["thumbnail"]
                if len(results) == TASKS:
                    all_done.set()

        producer.on(QUEUE, on_event)  # returns once subscribed: no done event is missed

        worker = wq.worker(wq.queue(QUEUE, JsonCodec(Resize)), resize, concurrency=CONCURRENCY)
        worker.start()  # registers the worker, joins the queue, and runs handlers in background threads
        producer.queue(QUEUE, JsonCodec(Resize)).enqueue_many(Resize(f"photo-{i}.png", 640) for i in range(TASKS))

        finished = all_done.wait(DEADLINE)
        worker.stop()  # nothing is running now; a running handler would get `grace` seconds to finish
        stats = worker.stats
        left = producer.count_queue(QUEUE)
        producer.delete_queue(QUEUE)

    print(f"photo-7.png -> {results.get('photo-7.png')}")
    print(f"stats: {stats}; at most {running.peak} handlers ran at once")
    ok = finished and stats.processed == TASKS and running.peak <= CONCURRENCY
    outcome = "all results in done events" if ok else "FAILED"
    print(
        f"runtime_worker: processed {stats.processed} of {TASKS} resizes with concurrency {CONCURRENCY}, {left} left; {outcome}"
    )


if __name__ == "__main__":
    main()
