"""Streams with the asyncio client, against a real server: the same guarantees as
tests/test_streams.py (replay, fan-out, a subscriber woken by a publish, redelivery after the
death of a consumer with its late ack refused, close), with ``async for`` and
``async with``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis

from tests.async_runtime_helpers import declare_dead
from tests.helpers import without_reap_hint
from tests.runtime_helpers import FAST, LONG
from worqr import AsyncMessage, AsyncWorqr, JsonCodec, WorkerLostError

MakeAsyncWorqr = Callable[..., AsyncWorqr]


async def started(make_async_worqr: MakeAsyncWorqr, **options: object) -> AsyncWorqr:
    client = make_async_worqr(**{**FAST, **options})
    await client.start_worker()
    return client


async def test_publish_read_and_fan_out_to_every_group(make_async_worqr: MakeAsyncWorqr) -> None:
    client = await started(make_async_worqr)
    stream = client.stream("orders", JsonCodec(dict[str, int]))
    audit = await stream.subscribe("audit", start="first")
    ids = await stream.publish_many([{"n": i} for i in range(5)])
    assert [m.id for m in await stream.read()] == ids
    billing = await stream.subscribe("billing", start="first")
    for sub in (audit, billing):
        got: list[AsyncMessage[dict[str, int]]] = []
        async for message in sub:
            got.append(message)
            assert await message.ack() is True
            if len(got) == 5:
                break
        assert [m.data["n"] for m in got] == list(range(5))
    assert [(g.name, g.pending) for g in await stream.groups()] == [("audit", 0), ("billing", 0)]


async def test_a_waiting_subscriber_is_woken_by_a_publish(make_async_worqr: MakeAsyncWorqr) -> None:
    consumer = await started(make_async_worqr, poll_interval=60.0)
    sub = await consumer.stream("events").subscribe("g")
    waiting = asyncio.ensure_future(sub.next(timeout=LONG))
    await asyncio.sleep(0)  # let it start waiting (either order is correct)
    await make_async_worqr().stream("events").publish("hello")
    message = await asyncio.wait_for(waiting, LONG)  # well before the 60 s poll
    assert message is not None and message.data == "hello"


async def test_a_dead_consumers_message_goes_to_a_live_one_and_its_late_ack_is_refused(
    make_async_worqr: MakeAsyncWorqr, raw: redis.Redis
) -> None:
    victim, peer = await started(make_async_worqr), await started(make_async_worqr)
    without_reap_hint(raw, victim.prefix)
    held = await victim.stream("events").subscribe("g", start="first")
    await victim.stream("events").publish("x")
    message = await held.next(timeout=LONG)
    assert message is not None
    async with await peer.stream("events").subscribe("g") as rescuer:
        assert await rescuer.next(timeout=0) is None
        await declare_dead(victim, peer, raw)
        again = await rescuer.next(timeout=LONG)
        assert again is not None and (again.id, again.deliveries) == (message.id, 2)
        assert await message.ack() is False
        with pytest.raises(WorkerLostError):
            await held.next(timeout=0)
        assert await again.ack() is True
