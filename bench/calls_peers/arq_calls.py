"""arq: ``ArqRedis.enqueue_job`` returns a `Job`; ``Job.result(timeout, poll_delay=)`` polls
the job's result key (every 0.5 s by default). The worker polls its queue, a sorted set,
every ``poll_delay`` (0.5 s by default). Two rows: the defaults, and both polls at 5 ms with
``max_jobs`` 16 (the fastest arq gets, at the price of a Redis command per poll).

``Job.result`` reads the result, then whether the job is still queued, in two commands (its
``pipeline`` block sends them on the pool, not in a transaction): a job that finishes between
the two raises ``ResultNotFound`` although its result is there. The caller asks again then
(`RACE_RETRIES` times at most); with 5 ms polls it happens within the first few calls."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import ResultNotFound
from arq.worker import Worker, func

from bench.calls_peers import CALL_TIMEOUT, AsyncCall, CallSystem
from bench.children import Shared, at_start_line, count, signal_on_stop

QUEUE = "bench-calls:arq"
FAST_POLL = 0.005
RACE_RETRIES = 3
_counter: Any = None


async def echo(_ctx: dict[str, Any], n: int) -> int:
    count(_counter)
    return n


def _work(url: str, shared: Shared, **options: Any) -> None:
    global _counter  # noqa: PLW0603 (the job runs in this process)
    _counter = shared.counter
    asyncio.set_event_loop(asyncio.new_event_loop())
    worker = Worker(
        functions=[func(echo, name="echo")],
        queue_name=QUEUE,
        redis_settings=RedisSettings.from_dsn(url),
        log_results=False,
        **options,
    )
    if not at_start_line(shared):
        return
    signal_on_stop(shared, signal.SIGTERM)
    worker.run()


def run_default(url: str, shared: Shared) -> None:
    _work(url, shared)


def run_fast_poll(url: str, shared: Shared) -> None:
    _work(url, shared, poll_delay=FAST_POLL, max_jobs=16)


def _caller(poll_delay: float) -> Callable[[str], AbstractAsyncContextManager[AsyncCall]]:
    @asynccontextmanager
    async def caller(url: str) -> AsyncIterator[AsyncCall]:
        pool: ArqRedis = await create_pool(RedisSettings.from_dsn(url), default_queue_name=QUEUE)

        async def call(n: int) -> int:
            job = await pool.enqueue_job("echo", n)
            if job is None:
                msg = f"arq refused the job echo({n})"
                raise RuntimeError(msg)
            for _ in range(RACE_RETRIES):
                try:
                    return int(await job.result(timeout=CALL_TIMEOUT, poll_delay=poll_delay))
                except ResultNotFound:
                    continue  # the race described above: the result is there now
            return int(await job.result(timeout=CALL_TIMEOUT, poll_delay=poll_delay))

        try:
            yield call
        finally:
            await pool.aclose()

    return caller


SYSTEMS = (
    CallSystem(
        name="arq",
        distribution="arq",
        worker=run_default,
        setup="enqueue_job + Job.result(timeout); defaults (max_jobs 10, both polls 0.5 s)",
        async_caller=_caller(0.5),
    ),
    CallSystem(
        name="arq poll 5 ms",
        distribution="arq",
        worker=run_fast_poll,
        setup="enqueue_job + Job.result(timeout, poll_delay=0.005); max_jobs 16, poll_delay 5 ms",
        async_caller=_caller(FAST_POLL),
    ),
)
