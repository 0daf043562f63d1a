"""An asyncio worker: the loop of worker_loop.py with `AsyncWorqr` and a typed queue.

    python examples/async_worker.py

A producer task (its own client) sends ``TASKS`` typed tasks in a few batches; the worker
stops once it has processed all of them. Uses the server at WORQR_REDIS_URL if set, else
starts a private one for the run.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from worqr import AsyncQueue, AsyncWorqr, Event, JsonCodec
from worqr.testing import server_url

QUEUE = "invoices"
BATCHES = 3
BATCH_SIZE = 10
TASKS = BATCHES * BATCH_SIZE
#: A worker that waits this long without any work gives up (the example must end).
IDLE_LIMIT = 10.0


@dataclass(frozen=True)
class Invoice:
    customer: str
    cents: int


async def produce(url: str, prefix: str) -> None:
    """Send the tasks in batches, with pauses, so the worker runs dry and waits for events."""
    async with AsyncWorqr(redis=url, prefix=prefix) as producer:
        invoices = producer.queue(QUEUE, JsonCodec(Invoice))
        for batch in range(BATCHES):
            await invoices.enqueue_many(Invoice(f"customer-{batch}-{i}", 100 * i + 99) for i in range(BATCH_SIZE))
            await asyncio.sleep(0.2)


async def handle(invoice: Invoice) -> dict[str, int]:
    """The work: here, pretend to charge the customer. The result travels in the ``done`` event."""
    await asyncio.sleep(0.002)
    return {"charged": invoice.cents}


async def work(wq: AsyncWorqr, invoices: AsyncQueue[Invoice], expected: int) -> tuple[int, int]:
    """Process ``expected`` invoices; returns (total cents charged, how many times the worker slept)."""
    wake = asyncio.Event()

    def on_event(event: Event) -> None:  # may also be an async def
        if event.type == "work":
            wake.set()

    await wq.on(QUEUE, on_event)  # on() registers at once; awaiting it waits until the subscription is live
    await wq.start_worker()
    await wq.start_work(QUEUE)
    processed = charged = sleeps = 0
    while processed < expected:
        wake.clear()  # clear before dequeue: an event after an empty dequeue still wakes us
        process = await invoices.dequeue()  # Process[Invoice] | None
        if process is None:
            sleeps += 1
            await asyncio.wait_for(wake.wait(), IDLE_LIMIT)
            continue
        try:
            result = await handle(process.task)
        except BaseException:
            await wq.stop_process(process.id)  # give the task back, to the front of the queue
            raise
        await wq.finish_process(process.id, result)
        processed += 1
        charged += result["charged"]
    return charged, sleeps


async def run(url: str) -> None:
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    async with AsyncWorqr(redis=url, prefix=prefix, worker_timeout=3.0) as wq:
        invoices = wq.queue(QUEUE, JsonCodec(Invoice))
        producer = asyncio.create_task(produce(url, prefix))
        try:
            charged, sleeps = await work(wq, invoices, TASKS)
        finally:
            await producer
        left = await invoices.count()
        await wq.delete_queue(QUEUE)
    print(
        f"async_worker: processed {TASKS} invoices, charged {charged} cents, waited for work {sleeps} times, {left} left"
    )


def main() -> None:
    with server_url() as url:
        asyncio.run(run(url))


if __name__ == "__main__":
    main()
