"""saq: asyncio; a job is a key, the queue a list of job ids taken with BLMOVE,
``concurrency`` (10) jobs at once. Burst mode: the worker stops when the queue stays empty
for ``dequeue_timeout`` (burst mode needs one; 1 s here, not counted: timing ends when the
last task was handled)."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AbstractContextManager
from typing import Any

from saq import Queue, Worker

from bench.children import Shared, async_at_start_line, async_tally, signal_on_stop
from bench.faults import Recovery
from bench.peers import Peer, Producer, Setup
from bench.peers.async_producer import AsyncProducer, opened

QUEUE = "bench"
_shared: Shared | None = None


async def noop(_ctx: Any, *, index: int = -1) -> None:
    await async_tally(_shared, index)


class SaqProducer(AsyncProducer):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.queue = Queue.from_url(url, name=QUEUE)
        self.loop.run_until_complete(self.queue.connect())

    async def enqueue_one(self, index: int = -1) -> None:
        await (self.queue.enqueue("noop") if index < 0 else self.queue.enqueue("noop", index=index))

    async def disconnect(self) -> None:
        await self.queue.disconnect()


def producer(url: str) -> AbstractContextManager[Producer]:
    return opened(SaqProducer(url))


def _work(url: str, shared: Shared, **options: Any) -> None:
    global _shared  # noqa: PLW0603 (the job runs in this process)
    _shared = shared

    async def work() -> None:
        queue = Queue.from_url(url, name=QUEUE)
        await queue.connect()
        worker = Worker(queue, functions=[noop], **options)
        if not await async_at_start_line(shared):
            return
        signal_on_stop(shared, signal.SIGTERM)
        try:
            await worker.start()
        finally:
            await queue.disconnect()

    asyncio.run(work())


def run_default(url: str, shared: Shared) -> None:
    _work(url, shared, burst=True, dequeue_timeout=1.0)


def run_victim(url: str, shared: Shared) -> None:
    _work(url, shared, concurrency=50)


def run_rescuer(url: str, shared: Shared) -> None:
    _work(url, shared)


PEER = Peer(
    name="saq",
    distribution="saq",
    producer=producer,
    setups=(Setup("defaults (concurrency 10), burst", run_default),),
    notes="no batch enqueue call; the drain's queue is filled with 100 concurrent enqueue calls at a time",
    recovery=Recovery(run_victim, run_rescuer, note="victim concurrency 50"),
)
