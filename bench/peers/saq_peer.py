"""saq: asyncio; a job is a key, the queue a list of job ids taken with BLMOVE,
``concurrency`` (10) jobs at once. Burst mode: the worker stops when the queue stays empty
for ``dequeue_timeout`` (burst mode needs one; 1 s here, not counted: timing ends when the
last task was handled)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from saq import Queue, Worker

from bench.children import Shared, count, signal_on_stop
from bench.peers import Peer, Producer, Setup
from bench.timing import Rate, async_timed_loop

QUEUE = "bench"
_counter: Any = None


async def noop(_ctx: Any) -> None:
    count(_counter)


class SaqProducer:
    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.queue = Queue.from_url(url, name=QUEUE)
        self.loop.run_until_complete(self.queue.connect())

    def enqueue(self, total: int, seconds: float) -> Rate:
        async def one(_i: int) -> int:
            await self.queue.enqueue("noop")
            return 1

        return self.loop.run_until_complete(async_timed_loop(total, seconds, one))

    def enqueue_batches(self, _total: int, _size: int, _seconds: float) -> Rate | None:
        return None  # no batch call

    def fill(self, total: int) -> None:
        async def fill() -> None:
            for start in range(0, total, 100):
                await asyncio.gather(*(self.queue.enqueue("noop") for _ in range(min(100, total - start))))

        self.loop.run_until_complete(fill())

    def close(self) -> None:
        self.loop.run_until_complete(self.queue.disconnect())
        self.loop.close()


@contextmanager
def producer(url: str) -> Iterator[Producer]:
    made = SaqProducer(url)
    try:
        yield made
    finally:
        made.close()


def run_default(url: str, shared: Shared) -> None:
    global _counter  # noqa: PLW0603 (the job runs in this process)
    _counter = shared.counter

    async def work() -> None:
        queue = Queue.from_url(url, name=QUEUE)
        await queue.connect()
        worker = Worker(queue, functions=[noop], burst=True, dequeue_timeout=1.0)
        shared.ready.release()
        await asyncio.get_running_loop().run_in_executor(None, shared.go.wait)
        if shared.stop.is_set():
            return
        signal_on_stop(shared, signal.SIGTERM)
        try:
            await worker.start()
        finally:
            await queue.disconnect()

    asyncio.run(work())


PEER = Peer(
    name="saq",
    distribution="saq",
    producer=producer,
    setups=(Setup("defaults (concurrency 10), burst", run_default),),
    notes="no batch enqueue call; the drain's queue is filled with 100 concurrent enqueue calls at a time",
)
