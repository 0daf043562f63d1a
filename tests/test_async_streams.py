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


async def test_an_ordered_stream_keeps_each_keys_order_for_the_asyncio_client(
    make_async_worqr: MakeAsyncWorqr, raw: redis.Redis
) -> None:
    victim, peer = await started(make_async_worqr), await started(make_async_worqr)
    without_reap_hint(raw, victim.prefix)
    stream = peer.stream("orders", ordered=True, partitions=2, key=lambda m: m.partition(":")[0])
    held = await victim.stream("orders", ordered=True, partitions=2).subscribe("g", start="first", prefetch=10)
    ids = await stream.publish_many([f"k:{n}" for n in range(4)])
    assert len({i.split("/")[0] for i in ids}) == 1  # one key, one partition
    assert (m := await held.next(timeout=LONG)) is not None and m.data == "k:0"
    rescuer = await stream.subscribe("g")
    await declare_dead(victim, peer, raw)
    got = [await rescuer.next(timeout=LONG) for _ in range(4)]
    assert [(m.data, m.deliveries) for m in got if m] == [("k:0", 2), ("k:1", 2), ("k:2", 2), ("k:3", 2)]
    assert await rescuer.ack_many([m.id for m in got if m]) == [True] * 4
    assert [(g.name, g.pending, g.lag) for g in await stream.groups()] == [("g", 0, 0)]
