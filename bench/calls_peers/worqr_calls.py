"""worqr's calls: `Worqr.call` + `Call.result` against `Worqr.serve` (threads), and
`AsyncWorqr.call` + `AsyncCall.result` against `AsyncWorqr.serve` (asyncio tasks), each
worker with concurrency `CONCURRENCY` and the other options at their defaults (adaptive
prefetch, poll_interval 5 s: a waiter is woken by its notice, not by polling)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from bench.calls_peers import CALL_TIMEOUT, AsyncCall, CallSystem, SyncCall
from bench.children import Shared, async_at_start_line, at_start_line, count, stop_on_signal
from worqr import AsyncWorqr, Functions, Worqr

PREFIX = "bench-calls"
CONCURRENCY = 16
_counter: Any = None

functions = Functions()
async_functions = Functions()


@functions.function(queue="bench-calls", max_attempts=1)
def echo(n: int) -> int:
    count(_counter)
    return n


@async_functions.function(queue="bench-calls-async", max_attempts=1)
async def async_echo(n: int) -> int:
    count(_counter)
    return n


def run_worker(url: str, shared: Shared) -> None:
    global _counter  # noqa: PLW0603 (the function runs in this process)
    _counter = shared.counter
    with Worqr(redis=url, prefix=PREFIX) as wq:
        wq.count_queue(echo.queue)  # connect before the start line
        worker = wq.serve(functions, concurrency=CONCURRENCY)
        if not at_start_line(shared):
            return
        stop_on_signal(shared, worker.request_stop)
        worker.run()


def run_async_worker(url: str, shared: Shared) -> None:
    global _counter  # noqa: PLW0603 (the function runs in this process)
    _counter = shared.counter

    async def work() -> None:
        async with AsyncWorqr(redis=url, prefix=PREFIX) as wq:
            await wq.count_queue(async_echo.queue)
            worker = wq.serve(async_functions, concurrency=CONCURRENCY)
            if not await async_at_start_line(shared):
                return
            stop_on_signal(shared, worker.request_stop)
            await worker.run()

    asyncio.run(work())


@contextmanager
def caller(url: str) -> Iterator[SyncCall]:
    with Worqr(redis=url, prefix=PREFIX) as wq:

        def call(n: int) -> int:
            return wq.call(echo, n).result(timeout=CALL_TIMEOUT)

        yield call


@asynccontextmanager
async def async_caller(url: str) -> AsyncIterator[AsyncCall]:
    async with AsyncWorqr(redis=url, prefix=PREFIX) as wq:

        async def call(n: int) -> int:
            return await (await wq.call(async_echo, n)).result(timeout=CALL_TIMEOUT)

        yield call


SYSTEMS = (
    CallSystem(
        name="worqr sync",
        distribution="worqr",
        worker=run_worker,
        setup=f"Worqr.call + Call.result; Worqr.serve(concurrency={CONCURRENCY}), other options default",
        sync_caller=caller,
    ),
    CallSystem(
        name="worqr async",
        distribution="worqr",
        worker=run_async_worker,
        setup=f"AsyncWorqr.call + AsyncCall.result; AsyncWorqr.serve(concurrency={CONCURRENCY}), other options default",
        async_caller=async_caller,
    ),
)
