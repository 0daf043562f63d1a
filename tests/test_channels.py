"""Channels (worqr.channels) with the threaded client, against a real server: both ends
exchange messages in order with connect and disconnect notices between them; messages sent
while an end is away reach it when it is back, in order; a message handed out to an end
that then dies comes again (at least once); the death of an end's worker gives the other
``remote:disconnect``; ``end``; one holder per end; and bad input. The asyncio client's are
in tests/test_async_channels.py; a SIGKILLed end process in
tests/scenarios/test_channel_processes.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import redis

from tests.runtime_helpers import FAST, declare_dead, keys_of
from worqr import (
    Channel,
    ChannelBusyError,
    ChannelEvent,
    ChannelMessage,
    ChannelNotConnectedError,
    ChannelNotice,
    InvalidArgumentError,
    InvalidNameError,
    InvalidTaskTypeError,
    JsonCodec,
    WorkerLostError,
    WorkerNotStartedError,
    Worqr,
)
from worqr._protocol.keys import StreamKeys
from worqr.channels.frames import end_name

MakeWorqr = Callable[..., Worqr]
#: Long enough for any event that is due to arrive on a loaded machine (a test that fails
#: ends; it never hangs).
WAIT = 10.0


def started(make_worqr: MakeWorqr, **options: object) -> Worqr:
    client = make_worqr(**{**FAST, **options})
    client.start_worker()
    return client


def expect(channel: Channel[str]) -> ChannelEvent[str]:
    event = channel.next(timeout=WAIT)
    assert event is not None, f"no event on {channel!r} within {WAIT} s"
    return event


def expect_notice(channel: Channel[str], kind: str, remote: str) -> None:
    event = expect(channel)
    assert isinstance(event, ChannelNotice), event
    assert (event.type, event.remote) == (kind, remote)


def expect_messages(channel: Channel[str], count: int) -> list[str]:
    got = []
    for _ in range(count):
        event = expect(channel)
        assert isinstance(event, ChannelMessage), event
        got.append(event.data)
    return got


def test_both_ends_exchange_messages_in_order_with_connect_notices(make_worqr: MakeWorqr) -> None:
    server_client, client_client = started(make_worqr), started(make_worqr)
    server = server_client.channel("chat").listen()
    client = client_client.channel("chat").connect()
    assert (server.side, client.side) == ("server", "client")
    expect_notice(client, "remote:connect", server_client.worker_id)
    expect_notice(server, "remote:connect", client_client.worker_id)
    assert (client.remote, server.remote) == (server_client.worker_id, client_client.worker_id)

    for i in range(30):
        client.send(f"up-{i}")
        server.send(f"down-{i}")
    assert expect_messages(server, 30) == [f"up-{i}" for i in range(30)]
    assert expect_messages(client, 30) == [f"down-{i}" for i in range(30)]
    assert server.next(timeout=0) is None
    assert client.next(timeout=0) is None


def test_a_message_carries_its_id_and_time_and_typed_data(make_worqr: MakeWorqr) -> None:
    @dataclass(frozen=True)
    class Point:
        x: int
        y: int

    a, b = started(make_worqr), started(make_worqr)
    server = a.channel("points", JsonCodec(Point)).listen()
    client = b.channel("points", JsonCodec(Point)).connect()
    first = client.send(Point(1, 2))
    second = client.send(Point(3, 4))
    events = [server.next(timeout=WAIT) for _ in range(3)]
    messages = [e for e in events if isinstance(e, ChannelMessage)]
    assert [(m.data, m.id) for m in messages] == [(Point(1, 2), first), (Point(3, 4), second)]
    assert all(m.sent_at.tzinfo is not None for m in messages)


def test_messages_sent_while_the_other_end_is_away_arrive_when_it_is_back_in_order(make_worqr: MakeWorqr) -> None:
    first_server, client_side, second_server = started(make_worqr), started(make_worqr), started(make_worqr)
    client = client_side.channel("jobs").connect()
    client.send("before any server")  # no server end ever listened: kept for it
    server = first_server.channel("jobs").listen()
    expect_notice(server, "remote:connect", client_side.worker_id)
    assert expect_messages(server, 1) == ["before any server"]
    expect_notice(client, "remote:connect", first_server.worker_id)

    server.disconnect()
    assert server.side is None
    expect_notice(client, "remote:disconnect", first_server.worker_id)
    for i in range(5):
        client.send(f"away-{i}")

    again = second_server.channel("jobs").listen()  # another process takes over the end
    expect_notice(again, "remote:connect", client_side.worker_id)
    assert expect_messages(again, 5) == [f"away-{i}" for i in range(5)]
    expect_notice(client, "remote:connect", second_server.worker_id)


def test_a_message_handed_out_to_an_end_that_dies_comes_again_then_the_rest(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    doomed, sender, rescuer, reaper = (started(make_worqr) for _ in range(4))
    client = sender.channel("orders").connect()
    server = doomed.channel("orders").listen()
    for i in range(3):
        client.send(f"order-{i}")
    expect_notice(server, "remote:connect", sender.worker_id)
    assert expect_messages(server, 1) == ["order-0"]  # handed out, not acknowledged yet
    declare_dead(doomed, reaper, raw)

    with pytest.raises(WorkerLostError):  # the dead end finds out at its next read
        server.next(timeout=WAIT)
    assert server.side is None

    again = rescuer.channel("orders").listen()
    expect_notice(again, "remote:connect", sender.worker_id)
    events = [expect(again) for _ in range(3)]
    assert [(e.data, e.deliveries) for e in events if isinstance(e, ChannelMessage)] == [
        ("order-0", 2),  # the dead end had it: a second delivery, first
        ("order-1", 1),
        ("order-2", 1),
    ]


def test_the_death_of_an_ends_worker_gives_the_other_remote_disconnect(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    doomed, survivor, reaper = started(make_worqr), started(make_worqr), started(make_worqr)
    server = survivor.channel("link").listen()
    client = doomed.channel("link").connect()
    expect_notice(server, "remote:connect", doomed.worker_id)
    client.send("last words")
    declare_dead(doomed, reaper, raw)  # releases its end at once

    assert expect_messages(server, 1) == ["last words"]  # what it sent comes before its disconnect
    expect_notice(server, "remote:disconnect", doomed.worker_id)
    assert server.remote is None
    assert server.next(timeout=0) is None  # once


def test_end_gives_the_other_end_an_end_notice_and_disconnects_it(make_worqr: MakeWorqr) -> None:
    a, b = started(make_worqr), started(make_worqr)
    server = a.channel("session").listen()
    client = b.channel("session").connect()
    client.send("bye")
    client.end()
    assert client.side is None

    seen = list(server)  # iteration stops after the end notice
    assert [e.type for e in seen] == ["remote:connect", "message", "end"]
    assert server.side is None
    with pytest.raises(ChannelNotConnectedError, match="not connected"):
        server.next(timeout=0)
    with pytest.raises(ChannelNotConnectedError, match="not connected"):
        server.send("anyone?")


def test_one_worker_holds_an_end_at_a_time(make_worqr: MakeWorqr) -> None:
    first, second = started(make_worqr), started(make_worqr)
    held = first.channel("solo").listen()
    with pytest.raises(ChannelBusyError) as caught:
        second.channel("solo").listen(timeout=0.2)
    assert (caught.value.channel, caught.value.side, caught.value.holder) == ("solo", "server", first.worker_id)
    assert "held by worker" in str(caught.value)
    held.disconnect()
    assert second.channel("solo").listen(timeout=WAIT).side == "server"


def test_one_channel_object_is_one_end(make_worqr: MakeWorqr) -> None:
    client = started(make_worqr)
    channel = client.channel("mine").connect()
    assert channel.connect() is channel  # already the client end: nothing changes
    with pytest.raises(InvalidArgumentError, match="already this client's client end"):
        channel.listen()
    with channel:
        assert channel.side == "client"
    assert channel.side is None  # the block disconnected it


def test_bad_input_is_refused_before_anything_is_written(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    idle = make_worqr(**FAST)
    with pytest.raises(InvalidNameError, match="channel name"):
        idle.channel("")
    with pytest.raises(InvalidNameError, match="channel name"):
        idle.channel("x" * 1020)
    with pytest.raises(WorkerNotStartedError):
        idle.channel("early").connect()
    with pytest.raises(ChannelNotConnectedError, match=r"call connect\(\) or listen\(\) first"):
        idle.channel("early").send("hello")
    assert keys_of(raw, idle) == []

    client = started(make_worqr)
    typed = client.channel("typed", JsonCodec()).connect()
    before = client.stream("channel:typed:server").length()
    with pytest.raises(InvalidTaskTypeError):
        typed.send(object())
    assert client.stream("channel:typed:server").length() == before
    with pytest.raises(InvalidArgumentError, match="timeout"):
        typed.next(timeout=-1)
    with pytest.raises(InvalidArgumentError, match="timeout"):
        client.channel("other").listen(timeout=-1)


def test_an_end_whose_group_is_gone_says_so_and_can_listen_again(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    """The group of an end's stream deleted under it (by hand, or a server that lost its
    data): the end says what happened and what to do, and listening again works."""
    a, b = started(make_worqr), started(make_worqr)
    server = a.channel("fragile").listen()
    client = b.channel("fragile").connect()
    expect_notice(server, "remote:connect", b.worker_id)
    raw.xgroup_destroy(StreamKeys(a.prefix, end_name("fragile", "server")).messages, "server")
    with pytest.raises(ChannelNotConnectedError, match=r"lost its server end's stream group.*listen\(\) again"):
        server.next(timeout=WAIT)
    assert server.side is None
    client.send("again")
    server.listen()
    expect_notice(server, "remote:connect", b.worker_id)  # the client is there, read from its lease
    assert expect_messages(server, 1) == ["again"]
