"""saq: ``Queue.apply`` enqueues a job and waits for it to finish: it reads the job every
``poll_interval`` (0.5 s by default), sleeping one interval after each read, so a call takes
at least one interval. Two rows: the default, and 5 ms polls. The worker takes jobs with
BLMOVE, ``concurrency`` 16 at once.

A saq worker sweeps its queue's active list as it starts and every 60 s: a job it finds
there whose status is not yet "active" (one just moved there by a dequeue) is aborted as
swept, and its ``apply`` raises. The worker here is started, and its first sweep waited for,
before the start line, so that the measurement (under 60 s) meets no sweep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from saq import Queue, Worker

from bench.calls_peers import CALL_TIMEOUT, AsyncCall, CallSystem
from bench.children import Shared, count, stop_on_signal

QUEUE = "bench-calls"
CONCURRENCY = 16
FAST_POLL = 0.005
_counter: Any = None


async def echo(_ctx: Any, *, n: int) -> int:
    count(_counter)
    return n


def run_worker(url: str, shared: Shared) -> None:
    global _counter  # noqa: PLW0603 (the job runs in this process)
    _counter = shared.counter

    async def work() -> None:
        queue = Queue.from_url(url, name=QUEUE)
        await queue.connect()
        worker = Worker(queue, functions=[echo], concurrency=CONCURRENCY)
        loop = asyncio.get_running_loop()
        stop_on_signal(shared, lambda: asyncio.run_coroutine_threadsafe(worker.stop(), loop))
        started = asyncio.create_task(worker.start())
        while not await queue.redis.exists(queue._sweep):  # its sweep lock key
            await asyncio.sleep(0.01)
        shared.ready.release()
        await asyncio.get_running_loop().run_in_executor(None, shared.go.wait)
        try:
            await started
        finally:
            await queue.disconnect()

    asyncio.run(work())


def _caller(poll_interval: float) -> Callable[[str], AbstractAsyncContextManager[AsyncCall]]:
    @asynccontextmanager
    async def caller(url: str) -> AsyncIterator[AsyncCall]:
        queue = Queue.from_url(url, name=QUEUE)
        await queue.connect()

        async def call(n: int) -> int:
            return int(await queue.apply("echo", timeout=CALL_TIMEOUT, poll_interval=poll_interval, n=n))

        try:
            yield call
        finally:
            await queue.disconnect()

    return caller


SYSTEMS = (
    CallSystem(
        name="saq",
        distribution="saq",
        worker=run_worker,
        setup=f"Queue.apply(timeout=), poll_interval 0.5 s (its default); Worker(concurrency={CONCURRENCY})",
        async_caller=_caller(0.5),
    ),
    CallSystem(
        name="saq poll 5 ms",
        distribution="saq",
        worker=run_worker,
        setup=f"Queue.apply(timeout=, poll_interval=0.005); Worker(concurrency={CONCURRENCY})",
        async_caller=_caller(FAST_POLL),
    ),
)
