"""Periodic schedules with the asyncio client, against a real server: an asyncio runtime
worker fires them (its ticker is the asyncio twin of the threaded one), each due time once;
upsert, read and remove; a schedule of an ``async def`` function's calls. The threaded
client's, and the rest of the rules, are in tests/test_schedules.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis

from tests.runtime_helpers import FAST, LONG
from worqr import AsyncWorqr, Functions, InvalidArgumentError, Process, Schedule
from worqr._protocol.keys import QueueKeys

MakeAsyncWorqr = Callable[..., AsyncWorqr]

functions = Functions()
SEEN: asyncio.Queue[str] | None = None


@functions.function(queue="async-reports")
async def summarize(topic: str) -> str:
    if SEEN is not None:
        SEEN.put_nowait(topic)
    return topic.upper()


async def the_schedule(client: AsyncWorqr, name: str) -> Schedule[str]:
    return next(found for found in await client.get_schedules() if found.name == name)


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``condition`` until it is true; fail the test after `LONG` seconds."""

    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), LONG)


async def test_an_asyncio_worker_fires_each_due_time_once(make_async_worqr: MakeAsyncWorqr, raw: redis.Redis) -> None:
    client = make_async_worqr(**FAST)
    made = await client.schedule("tick", "jobs", "tock", every=0.1)
    assert made.next_due is not None
    ran: asyncio.Queue[str] = asyncio.Queue()

    async def run(process: Process[str]) -> None:
        ran.put_nowait(process.task)

    workers = [make_async_worqr(**FAST).worker("jobs", run) for _ in range(2)]
    for worker in workers:
        await worker.start()
    try:
        assert await asyncio.wait_for(ran.get(), LONG) == "tock"

        async def enough() -> bool:
            return (await the_schedule(client, "tick")).runs >= 8

        await until(enough)
    finally:
        for worker in workers:
            await worker.stop()
    seen = await the_schedule(client, "tick")
    assert seen.last_fired is not None
    span = round((seen.last_fired - made.next_due).total_seconds() * 10)
    assert seen.runs == span + 1 == int(raw.hget(QueueKeys(client.prefix, "jobs").counters, "enqueued") or 0)
    assert await client.remove_schedule("tick")
    assert not await client.remove_schedule("tick")
    assert await client.get_schedules() == []


async def test_an_asyncio_schedule_of_calls(make_async_worqr: MakeAsyncWorqr) -> None:
    global SEEN  # noqa: PLW0603 (the function reports to the running test)
    SEEN = asyncio.Queue()
    client = make_async_worqr(**FAST)
    made = await client.schedule_call("digest", summarize, "news", every=0.1, overlap="skip")
    assert (made.function, made.queue, made.overlap) == (summarize.name, "async-reports", "skip")
    worker = client.serve(functions)
    await worker.start()
    try:
        assert await asyncio.wait_for(SEEN.get(), LONG) == "news"

        async def fired() -> bool:
            return (await the_schedule(client, "digest")).last_call is not None

        await until(fired)
        seen = await the_schedule(client, "digest")
        assert seen.last_call is not None
        assert await client.get_call(seen.last_call).result(timeout=LONG) == "NEWS"
    finally:
        await worker.stop()
        SEEN = None


async def test_asyncio_schedules_refuse_bad_input(make_async_worqr: MakeAsyncWorqr) -> None:
    client = make_async_worqr(**FAST)
    with pytest.raises(InvalidArgumentError, match="got both"):
        await client.schedule("s", "jobs", "t", cron="* * * * *", every=1)
    with pytest.raises(InvalidArgumentError, match="is not a time zone"):
        await client.schedule("s", "jobs", "t", every=1, tz="Nowhere/Land")
    assert await client.get_schedules() == []
