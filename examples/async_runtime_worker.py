"""The asyncio worker runtime: `AsyncWorqr.worker` awaits an ``async def`` handler on a typed
queue, several tasks at a time (one asyncio task each).

    python examples/async_runtime_worker.py

The twin of runtime_worker.py. The handler takes a ``Process[Invoice]`` and returns a JSON
result, which travels in the queue's ``done`` event. A producer (its own client, in this
script) enqueues the invoices and collects the results; once all of them are in, the script
stops the worker with ``await worker.stop()``. Uses the server at WORQR_REDIS_URL if set,
else starts a private one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass

from worqr import AsyncWorqr, Event, JsonCodec, Process
from worqr.testing import server_url

QUEUE = "invoices"
TASKS = 30
CONCURRENCY = 5
#: The example gives up if the results take longer than this (it must end).
DEADLINE = 30.0


@dataclass(frozen=True)
class Invoice:
    customer: str
    cents: int


@dataclass
class Running:
    """How many handlers run at once, and the most that ever did."""

    now: int = 0
    peak: int = 0


running = Running()


async def charge(process: Process[Invoice]) -> dict[str, int]:
    """The handler: one asyncio task per process, at most ``CONCURRENCY`` at once. Its return
    value is the result in the ``done`` event; an exception would fail the attempt."""
    running.now += 1
    running.peak = max(running.peak, running.now)
    try:
        await asyncio.sleep(0.05)  # the work: pretend to call the payment provider
    finally:
        running.now -= 1
    return {"charged": process.task.cents}


async def main() -> None:
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    with server_url() as url:
        async with AsyncWorqr(redis=url, prefix=prefix) as producer, AsyncWorqr(redis=url, prefix=prefix) as wq:
            charged: dict[str, int] = {}
            all_done = asyncio.Event()

            def on_event(event: Event) -> None:  # may also be an async def
                if event.type == "done":  # {"worker_id", "process_id", "task", "result", "outcome"}
                    done = json.loads(event.message)
                    charged[json.loads(done["task"])["customer"]] = done["result"]["charged"]
                    if len(charged) == TASKS:
                        all_done.set()

            await producer.on(QUEUE, on_event)  # awaiting on() waits until the subscription is live

            worker = wq.worker(wq.queue(QUEUE, JsonCodec(Invoice)), charge, concurrency=CONCURRENCY)
            await worker.start()  # registers, joins the queue, and takes work in a background task
            invoices = producer.queue(QUEUE, JsonCodec(Invoice))
            await invoices.enqueue_many(Invoice(f"customer-{i}", 100 * i + 99) for i in range(TASKS))

            with contextlib.suppress(asyncio.TimeoutError):  # a timeout is reported below
                await asyncio.wait_for(all_done.wait(), DEADLINE)
            await worker.stop()
            stats = worker.stats
            left = await producer.count_queue(QUEUE)
            await producer.delete_queue(QUEUE)

    total = sum(charged.values())
    print(f"stats: {stats}; at most {running.peak} handlers ran at once")
    ok = all_done.is_set() and stats.processed == TASKS and running.peak <= CONCURRENCY
    outcome = "all results in done events" if ok else "FAILED"
    print(
        f"async_runtime_worker: processed {stats.processed} of {TASKS} invoices, charged {total} cents, {left} left; {outcome}"
    )


if __name__ == "__main__":
    asyncio.run(main())
