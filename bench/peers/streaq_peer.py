"""streaq: asyncio (anyio) over Redis streams and coredis; a task is a stream entry read by
a consumer group, ``concurrency`` (16) at once. A worker renews the idle time of the
entries it holds; an entry idle for ``idle_timeout`` (60 s) is claimed by another worker,
so a dead worker's tasks run again after that. Tasks are pickled by default. Burst mode:
the worker stops when the stream is empty."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from typing import Any

from streaq import Worker

from bench.children import Shared, async_at_start_line, async_tally, run_until_stop
from bench.faults import Recovery
from bench.peers import Peer, Producer, Setup
from bench.peers.async_producer import AsyncProducer, opened
from bench.timing import Rate, async_timed_loop

QUEUE = "bench"
_shared: Shared | None = None


def make(url: str, **options: Any) -> tuple[Worker[Any], Any]:
    """The worker object and its no-op task, declared the same way in every process."""
    worker: Worker[Any] = Worker(redis_url=url, queue_name=QUEUE, handle_signals=False, **options)

    async def noop(index: int = -1) -> None:
        await async_tally(_shared, index)

    return worker, worker.task(name="noop")(noop)


class StreaqProducer(AsyncProducer):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.worker, self.task = make(url)
        # The worker's connection pool runs a task group that must be left by the task
        # that entered it: one task holds it open while the producer runs.
        self.opened, self.done = asyncio.Event(), asyncio.Event()
        self.holder = self.loop.create_task(self._hold())
        self.loop.run_until_complete(self.opened.wait())

    async def _hold(self) -> None:
        async with self.worker:
            self.opened.set()
            await self.done.wait()

    async def enqueue_one(self, index: int = -1) -> None:
        await (self.task.enqueue() if index < 0 else self.task.enqueue(index))

    def enqueue_batches(self, total: int, size: int, seconds: float) -> Rate | None:
        async def batch(i: int) -> int:
            n = min(size, total - i)
            await self.worker.enqueue_many([self.task.enqueue() for _ in range(n)])
            return n

        return self.loop.run_until_complete(async_timed_loop(total, seconds, batch))

    async def disconnect(self) -> None:
        self.done.set()
        await self.holder


def producer(url: str) -> AbstractContextManager[Producer]:
    return opened(StreaqProducer(url))


def _work(url: str, shared: Shared, **options: Any) -> None:
    global _shared  # noqa: PLW0603 (the task runs in this process)
    _shared = shared

    async def work() -> None:
        worker, _task = make(url, **options)
        if not await async_at_start_line(shared):
            return
        await run_until_stop(worker.run_async(), shared)

    asyncio.run(work())


def run_default(url: str, shared: Shared) -> None:
    _work(url, shared)


def run_victim(url: str, shared: Shared) -> None:
    _work(url, shared, concurrency=50)


PEER = Peer(
    name="streaq",
    distribution="streaq",
    producer=producer,
    setups=(Setup("Worker defaults (concurrency 16)", run_default),),
    notes="batches: Worker.enqueue_many (one pipeline); the drain's queue is filled with 100 concurrent enqueue calls at a time",
    recovery=Recovery(run_victim, run_default, note="victim concurrency 50"),
)
