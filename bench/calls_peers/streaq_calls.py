"""streaq: ``task = await fn.enqueue(n)`` and ``await task.result(timeout=)``: the caller
waits on the task's result channel (pub/sub) and reads the stored result. The worker runs
its defaults (concurrency 16) over a Redis stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from streaq import Worker

from bench.calls_peers import CALL_TIMEOUT, AsyncCall, CallSystem
from bench.children import Shared, async_at_start_line, count, run_until_stop

QUEUE = "bench-calls"
_counter: Any = None


def make(url: str) -> tuple[Worker[Any], Any]:
    """The worker object and its task, declared the same way in every process."""
    worker: Worker[Any] = Worker(redis_url=url, queue_name=QUEUE, handle_signals=False)

    async def echo(n: int) -> int:
        count(_counter)
        return n

    return worker, worker.task(name="echo")(echo)


def run_worker(url: str, shared: Shared) -> None:
    global _counter  # noqa: PLW0603 (the task runs in this process)
    _counter = shared.counter

    async def work() -> None:
        worker, _task = make(url)
        if not await async_at_start_line(shared):
            return
        await run_until_stop(worker.run_async(), shared)

    asyncio.run(work())


@asynccontextmanager
async def caller(url: str) -> AsyncIterator[AsyncCall]:
    worker, task = make(url)
    async with worker:

        async def call(n: int) -> int:
            enqueued = await task.enqueue(n)
            return int((await enqueued.result(timeout=int(CALL_TIMEOUT))).result)

        yield call


SYSTEMS = (
    CallSystem(
        name="streaq",
        distribution="streaq",
        worker=run_worker,
        setup="task.enqueue(n) + Task.result(timeout=); Worker defaults (concurrency 16)",
        async_caller=caller,
    ),
)
