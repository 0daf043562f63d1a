"""BullMQ's Python port (`bullmq`): a job is a hash, the queue lists and sorted sets moved by
Lua scripts (the same scripts as the Node library); a worker takes ``concurrency`` (1) jobs
at once and keeps a lock on each, renewed every ``lockDuration / 2`` (15 s). A job whose
lock expired is moved back to the queue by any worker's stalled-jobs check, every
``stalledInterval`` (30 s). Completed jobs are kept (the default ``removeOnComplete``)."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from typing import Any

from bullmq import Queue, Worker

from bench.children import Shared, async_at_start_line, async_tally, cancel_and_wait
from bench.faults import Recovery
from bench.peers import Peer, Producer, Setup
from bench.peers.async_producer import AsyncProducer, opened
from bench.timing import Rate, async_timed_loop

QUEUE = "bench"
_shared: Shared | None = None


async def noop(job: Any, _token: str) -> None:
    await async_tally(_shared, int(job.data.get("index", -1)))


class BullmqProducer(AsyncProducer):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.queue = Queue(QUEUE, {"connection": url})

    async def enqueue_one(self, index: int = -1) -> None:
        await self.queue.add("noop", {} if index < 0 else {"index": index})

    def enqueue_batches(self, total: int, size: int, seconds: float) -> Rate | None:
        async def batch(i: int) -> int:
            n = min(size, total - i)
            await self.queue.addBulk([{"name": "noop", "data": {}} for _ in range(n)])
            return n

        return self.loop.run_until_complete(async_timed_loop(total, seconds, batch))

    async def disconnect(self) -> None:
        await self.queue.close()


def producer(url: str) -> AbstractContextManager[Producer]:
    return opened(BullmqProducer(url))


def _work(url: str, shared: Shared, **options: Any) -> None:
    global _shared  # noqa: PLW0603 (the job runs in this process)
    _shared = shared

    async def work() -> None:
        worker = Worker(QUEUE, noop, {"connection": url, "autorun": False, **options})
        if not await async_at_start_line(shared):
            await worker.close()
            return
        running = asyncio.ensure_future(worker.run())
        await asyncio.get_running_loop().run_in_executor(None, shared.stop.wait)
        await worker.close()
        await cancel_and_wait(running)

    asyncio.run(work())


def run_default(url: str, shared: Shared) -> None:
    _work(url, shared)


def run_concurrent(url: str, shared: Shared) -> None:
    _work(url, shared, concurrency=100)


def run_victim(url: str, shared: Shared) -> None:
    _work(url, shared, concurrency=50)


PEER = Peer(
    name="bullmq",
    distribution="bullmq",
    producer=producer,
    setups=(
        Setup("Worker defaults (concurrency 1)", run_default),
        Setup("Worker, concurrency 100", run_concurrent, "concurrency 100"),
    ),
    notes="batches: Queue.addBulk (one script call per batch); the drain's queue is filled with 100 concurrent add calls at a time",
    recovery=Recovery(run_victim, run_default, note="victim concurrency 50"),
)
