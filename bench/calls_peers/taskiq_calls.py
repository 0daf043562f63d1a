"""taskiq with taskiq-redis: ``task = await fn.kiq(n)`` and ``await task.wait_result(timeout=)``
over `RedisAsyncResultBackend`, which polls the result key every ``check_interval``
(0.2 s by default). Two rows: the default, and 5 ms polls. The worker is
`taskiq.api.run_receiver_task` over `RedisStreamBroker`, with its defaults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from taskiq.api import run_receiver_task
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from bench.calls_peers import CALL_TIMEOUT, AsyncCall, CallSystem
from bench.children import Shared, count, run_until_stop

QUEUE = "bench-calls"
FAST_POLL = 0.005
_counter: Any = None


def make(url: str) -> tuple[RedisStreamBroker, Any]:
    """The broker with its result backend and the task, declared the same way in every process."""
    broker = RedisStreamBroker(url=url, queue_name=QUEUE).with_result_backend(
        RedisAsyncResultBackend(redis_url=url, result_ex_time=600)
    )

    async def echo(n: int) -> int:
        count(_counter)
        return n

    return broker, broker.task(task_name="echo")(echo)


def run_worker(url: str, shared: Shared) -> None:
    global _counter  # noqa: PLW0603 (the task runs in this process)
    _counter = shared.counter

    async def work() -> None:
        broker, _task = make(url)
        await broker.startup()
        shared.ready.release()
        await run_until_stop(run_receiver_task(broker), shared)
        await broker.shutdown()

    asyncio.run(work())


def _caller(check_interval: float) -> Callable[[str], AbstractAsyncContextManager[AsyncCall]]:
    @asynccontextmanager
    async def caller(url: str) -> AsyncIterator[AsyncCall]:
        broker, task = make(url)
        await broker.startup()

        async def call(n: int) -> int:
            sent = await task.kiq(n)
            result = await sent.wait_result(check_interval=check_interval, timeout=CALL_TIMEOUT)
            return int(result.return_value)

        try:
            yield call
        finally:
            await broker.shutdown()

    return caller


SYSTEMS = (
    CallSystem(
        name="taskiq",
        distribution="taskiq",
        worker=run_worker,
        setup="kiq(n) + wait_result(timeout=), check_interval 0.2 s (its default); RedisStreamBroker, run_receiver_task defaults",
        async_caller=_caller(0.2),
    ),
    CallSystem(
        name="taskiq poll 5 ms",
        distribution="taskiq",
        worker=run_worker,
        setup="kiq(n) + wait_result(timeout=, check_interval=0.005); RedisStreamBroker, run_receiver_task defaults",
        async_caller=_caller(FAST_POLL),
    ),
)
