"""Channels with the asyncio client, against a real server: the guarantees of
tests/test_channels.py (messages in order both ways, notices, the death of an end's worker,
``end``), with ``async for`` and ``async with``; and an end waiting on nothing is woken by a
message (no poll)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis

from tests.async_runtime_helpers import declare_dead
from tests.runtime_helpers import FAST, QUIET
from worqr import AsyncChannel, AsyncWorqr, ChannelEvent, ChannelMessage, ChannelNotice

MakeAsyncWorqr = Callable[..., AsyncWorqr]
WAIT = 10.0


async def started(make_async_worqr: MakeAsyncWorqr, **options: object) -> AsyncWorqr:
    client = make_async_worqr(**{**FAST, **options})
    await client.start_worker()
    return client


async def expect(channel: AsyncChannel[str]) -> ChannelEvent[str]:
    event = await channel.next(timeout=WAIT)
    assert event is not None, f"no event on {channel!r} within {WAIT} s"
    return event


async def test_both_ends_exchange_messages_in_order(make_async_worqr: MakeAsyncWorqr) -> None:
    a, b = await started(make_async_worqr), await started(make_async_worqr)
    server = await a.channel("chat").listen()
    async with await b.channel("chat").connect() as client:
        for i in range(20):
            await client.send(f"up-{i}")
            await server.send(f"down-{i}")
        got: dict[str, list[str]] = {"server": [], "client": []}
        for end in (server, client):
            while len(got[end.side or ""]) < 20:
                event = await expect(end)
                if isinstance(event, ChannelMessage):
                    got[end.side or ""].append(event.data)
                else:
                    assert event.type == "remote:connect"
        assert got == {"server": [f"up-{i}" for i in range(20)], "client": [f"down-{i}" for i in range(20)]}
    assert client.side is None  # the block disconnected it
    event = await expect(server)
    assert isinstance(event, ChannelNotice)
    assert (event.type, event.remote) == ("remote:disconnect", b.worker_id)


async def test_a_waiting_end_is_woken_by_a_message(make_async_worqr: MakeAsyncWorqr) -> None:
    a, b = await started(make_async_worqr, **QUIET), await started(make_async_worqr, **QUIET)
    server = await a.channel("wake").listen()
    client = await b.channel("wake").connect()
    assert isinstance(await expect(server), ChannelNotice)  # the client's connect
    waiting = asyncio.ensure_future(server.next(timeout=WAIT))
    await asyncio.sleep(0)  # let it start waiting (either order is correct)
    await client.send("ping")
    event = await asyncio.wait_for(waiting, WAIT / 2)  # far sooner than the 60 s poll
    assert isinstance(event, ChannelMessage)
    assert event.data == "ping"


async def test_the_death_of_an_ends_worker_gives_remote_disconnect(
    make_async_worqr: MakeAsyncWorqr, raw: redis.Redis
) -> None:
    doomed, survivor, reaper = [await started(make_async_worqr) for _ in range(3)]
    client = await survivor.channel("link").connect()
    await doomed.channel("link").listen()
    event = await expect(client)
    assert isinstance(event, ChannelNotice)
    assert (event.type, event.remote) == ("remote:connect", doomed.worker_id)
    await declare_dead(doomed, reaper, raw)
    event = await expect(client)
    assert isinstance(event, ChannelNotice)
    assert (event.type, event.remote) == ("remote:disconnect", doomed.worker_id)


async def test_end_stops_the_other_ends_iteration(make_async_worqr: MakeAsyncWorqr) -> None:
    a, b = await started(make_async_worqr), await started(make_async_worqr)
    server = await a.channel("session").listen()
    client = await b.channel("session").connect()
    await client.send("bye")
    await client.end()
    assert [e.type async for e in server] == ["remote:connect", "message", "end"]
    assert server.side is None
