"""Calls with the asyncio client (`AsyncWorqr.call`, `AsyncWorqr.serve`), against a real
server: results, typed values, progress, cancel of a queued and of a running call (its task
is cancelled), waiting across a new client and a killed pub/sub connection, gather and
as_completed, and what serve refuses. The threaded client's are in tests/test_calls.py."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from tests.runtime_helpers import FAST, LONG, QUICK, QUIET
from worqr import (
    AsyncCall,
    AsyncWorker,
    AsyncWorqr,
    CallCancelledError,
    CallFailedError,
    CallTimeoutError,
    Functions,
    InvalidArgumentError,
    current_call,
)
from worqr.calls.serving import Invocation

MakeAsyncWorqr = Callable[..., AsyncWorqr]
functions = Functions()
#: Set by a test to let its held calls return.
RELEASE: dict[str, asyncio.Event] = {}
CANCELLED: list[str] = []


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@functions.function(queue="amath", max_attempts=2)
async def scale(p: Point, by: int = 2) -> Point:
    return Point(p.x * by, p.y * by)


@functions.function(queue="amath", max_attempts=1)
async def refuse(reason: str) -> None:
    raise PermissionError(reason)


@functions.function(queue="aheld")
async def wait_for_release(name: str) -> str:
    call = current_call()
    call.report_progress(50)
    try:
        await asyncio.wait_for(RELEASE.setdefault(name, asyncio.Event()).wait(), LONG)
    except asyncio.CancelledError:
        CANCELLED.append(name)
        raise
    return f"{name} done on attempt {call.attempt}"


async def wait_for(condition: Callable[[], Any], timeout: float = LONG) -> None:
    """Await until ``await condition()`` is true; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def serving(make_async_worqr: MakeAsyncWorqr) -> AsyncIterator[Callable[..., AsyncWorker[Invocation]]]:
    made: list[AsyncWorker[Invocation]] = []

    def serve(**options: Any) -> AsyncWorker[Invocation]:
        worker = make_async_worqr(**FAST).serve(functions, **{"backoff": QUICK, "concurrency": 8, **options})
        made.append(worker)
        return worker

    yield serve
    for worker in made:
        await worker.stop()


async def test_an_async_call_returns_its_typed_result(
    make_async_worqr: MakeAsyncWorqr, serving: Callable[..., AsyncWorker[Invocation]]
) -> None:
    producer = make_async_worqr(**FAST)
    await serving().start()
    call = await producer.call(scale, Point(1, 2), by=3)
    assert isinstance(call, AsyncCall)
    assert await call.result(timeout=LONG) == Point(3, 6)
    status = await call.status()
    assert (status.state, status.attempts) == ("succeeded", 1)
    failing = await producer.call(refuse, "no entry")
    with pytest.raises(CallFailedError) as caught:
        await failing.result(timeout=LONG)
    assert (caught.value.error_type, caught.value.message, caught.value.attempts) == ("PermissionError", "no entry", 1)


async def test_cancel_of_a_queued_and_of_a_running_async_call(
    make_async_worqr: MakeAsyncWorqr, serving: Callable[..., AsyncWorker[Invocation]]
) -> None:
    producer = make_async_worqr(**FAST)
    queued = await producer.call(wait_for_release, "queued")
    assert await queued.cancel() is True
    assert (await queued.status()).state == "cancelled"
    await serving().start()
    running = await producer.call(wait_for_release, "running")

    async def is_running() -> bool:
        status = await running.status()
        return status.state == "running" and status.progress == 50

    await wait_for(is_running)
    assert await running.cancel() is True
    with pytest.raises(CallCancelledError):
        await running.result(timeout=LONG)
    assert CANCELLED == ["running"]  # its task was cancelled; the queued one never ran
    assert await running.cancel() is False
    with pytest.raises(CallCancelledError):
        await queued.result(timeout=LONG)


async def test_a_new_client_and_a_killed_pubsub_connection_still_get_the_result(
    make_async_worqr: MakeAsyncWorqr, serving: Callable[..., AsyncWorker[Invocation]], raw: redis.Redis
) -> None:
    first = make_async_worqr(**QUIET)
    call = await first.call(wait_for_release, "restart")
    await first.close()
    await serving().start()
    second = make_async_worqr(**QUIET)  # no poll in the test: notices and resyncs end the waits
    found = second.get_call(call.id)

    async def is_running() -> bool:
        return (await found.status()).state == "running"

    await wait_for(is_running)
    waiting = asyncio.ensure_future(found.result(timeout=LONG))
    channel = f"{{{second.prefix}:aheld}}:calls:{first.worker_id}".encode()

    async def subscribed() -> bool:
        return dict(raw.pubsub_numsub(channel)).get(channel, 0) >= 1

    await wait_for(subscribed)
    assert raw.client_kill_filter(_type="pubsub") >= 1
    RELEASE["restart"].set()
    assert await waiting == "restart done on attempt 1"


async def test_async_gather_and_as_completed(
    make_async_worqr: MakeAsyncWorqr, serving: Callable[..., AsyncWorker[Invocation]]
) -> None:
    producer = make_async_worqr(**FAST)
    await serving().start()
    calls = [await producer.call(scale, Point(i, i)) for i in range(10)]
    assert await producer.gather(calls, timeout=LONG) == [Point(2 * i, 2 * i) for i in range(10)]
    slow = await producer.call(wait_for_release, "slow")
    quick = await producer.call(scale, Point(1, 1))
    seen = []
    asyncio.get_running_loop().call_later(0.3, lambda: RELEASE.setdefault("slow", asyncio.Event()).set())
    async for done in producer.as_completed([slow, quick], timeout=LONG):
        seen.append(done)
    assert seen == [quick, slow]
    hanging = await producer.call(wait_for_release, "hangs")
    with pytest.raises(CallTimeoutError):
        await producer.gather([hanging], timeout=0.2)
    RELEASE.setdefault("hangs", asyncio.Event()).set()
    assert await hanging.result(timeout=LONG) == "hangs done on attempt 1"


async def test_async_serve_refuses_plain_functions(make_async_worqr: MakeAsyncWorqr) -> None:
    plain = Functions()

    @plain.function(queue="q")
    def blocking() -> None: ...

    with pytest.raises(InvalidArgumentError, match="plain functions"):
        make_async_worqr().serve(plain)
