"""Ordered streams (``ordered=True``) with the threaded client, against a real server: each
key's messages go to one partition; each partition is consumed in a group by one live
consumer at a time, which shares the partitions fairly with the others; a dead consumer's
partitions pass on with its messages first, so each key's messages are handled in order
across failover; bad input. Real processes under SIGKILL and SIGSTOP: in
tests/scenarios/test_stream_processes.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
import redis

from tests.helpers import pause_heartbeat, without_reap_hint
from tests.runtime_helpers import FAST, declare_dead, keys_of
from worqr import InvalidArgumentError, JsonCodec, Message, Subscription, WorkerLostError, Worqr
from worqr._protocol.keys import RegistryKeys
from worqr.streams.partitions import partition_of

MakeWorqr = Callable[..., Worqr]
Order = dict[str, int | str]
ORDERS = JsonCodec(dict[str, int | str])


def started(make_worqr: MakeWorqr) -> Worqr:
    client = make_worqr(**FAST)
    client.start_worker()
    return client


def by_customer(order: Order) -> str:
    return str(order["customer"])


def drain(sub: Subscription[Order], limit: int = 1000) -> list[Message[Order]]:
    """Every message ``sub`` gets now (none waited for), acknowledged in turn."""
    got: list[Message[Order]] = []
    for _ in range(limit):
        message = sub.next(timeout=0)
        if message is None:
            return got
        assert message.ack() is True
        got.append(message)
    return got


def test_each_key_goes_to_one_partition_and_a_read_merges_the_partitions_by_time(make_worqr: MakeWorqr) -> None:
    stream = make_worqr().stream("orders", ORDERS, ordered=True, partitions=4, key=by_customer)
    orders: list[Order] = [{"customer": f"c{i % 5}", "n": i} for i in range(20)]
    ids = stream.publish_many(orders)
    for order, message_id in zip(orders, ids, strict=True):
        assert message_id.split("/")[0] == str(partition_of(by_customer(order), 4))
    extra = stream.publish({"customer": "x", "n": 99}, key="c1")
    assert extra.split("/")[0] == ids[1].split("/")[0]
    read = stream.read(count=100)
    assert sorted(m.id for m in read) == sorted([*ids, extra])
    # Across partitions a read goes by the server's clock (ms); each key's messages in order.
    assert [m.published_at for m in read] == sorted(m.published_at for m in read)
    for customer in ("c0", "c1", "c2", "c3", "c4"):
        numbers = [m.data["n"] for m in read if m.data["customer"] == customer]
        assert numbers == sorted(numbers)
    assert stream.length() == 21


def test_partitions_are_shared_fairly_and_each_key_has_one_consumer_at_a_time(make_worqr: MakeWorqr) -> None:
    a, b = started(make_worqr), started(make_worqr)
    stream = a.stream("orders", ORDERS, ordered=True, partitions=4, key=by_customer)
    first = stream.subscribe("billing", start="first", prefetch=100)
    stream.publish_many([{"customer": f"c{i}", "n": i} for i in range(40)])
    assert len(drain(first)) == 40  # alone, it owns every partition
    second = b.stream("orders", ORDERS, ordered=True, partitions=4).subscribe("billing", prefetch=100)
    assert drain(second) == []  # nothing new yet; the first still owns all four
    assert drain(first) == []  # its take gives up the two it holds nothing of (over its share)
    stream.publish_many([{"customer": f"c{i}", "n": 100 + i} for i in range(40)])
    mine, theirs = drain(first), drain(second)
    assert len(mine) + len(theirs) == 40
    assert {m.id.split("/")[0] for m in mine}.isdisjoint({m.id.split("/")[0] for m in theirs})
    assert len({m.id.split("/")[0] for m in mine}) == 2 and len({m.id.split("/")[0] for m in theirs}) == 2


def test_a_key_waits_while_its_partition_is_held_and_follows_its_order_across_failover(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    victim, peer = started(make_worqr), started(make_worqr)
    without_reap_hint(raw, victim.prefix)
    stream = peer.stream("orders", ORDERS, ordered=True, partitions=1, key=by_customer)
    held = victim.stream("orders", ORDERS, ordered=True, partitions=1).subscribe("g", start="first", prefetch=2)
    stream.publish_many([{"customer": "k", "n": n} for n in (1, 2, 3)])
    one, two = held.next(timeout=5), held.next(timeout=5)
    assert one is not None and two is not None and (one.data["n"], two.data["n"]) == (1, 2)
    waiting = stream.subscribe("g")
    assert waiting.next(timeout=0) is None  # "3" is free, but its partition is the victim's
    declare_dead(victim, peer, raw)
    again = [waiting.next(timeout=5) for _ in range(3)]
    assert [(m.data["n"], m.deliveries) for m in again if m] == [(1, 2), (2, 2), (3, 1)]
    assert one.ack() is False  # the zombie's ack
    assert all(m is not None and m.ack() for m in again)


def test_a_consumer_that_closes_hands_its_partitions_on_with_their_messages(make_worqr: MakeWorqr) -> None:
    a, b = started(make_worqr), started(make_worqr)
    stream = a.stream("orders", ORDERS, ordered=True, partitions=2, key=by_customer)
    leaving = stream.subscribe("g", start="first", prefetch=10)
    stream.publish_many([{"customer": "k", "n": n} for n in range(3)])
    assert leaving.next(timeout=5) is not None
    assert leaving.close() == 3
    staying = b.stream("orders", ORDERS, ordered=True, partitions=2).subscribe("g")
    assert [m.data["n"] for m in drain(staying)] == [0, 1, 2]
    assert stream.counters()["redelivered"] == 3


def test_bad_input_for_ordered_streams_is_refused_before_anything_is_written(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    client = make_worqr()
    with pytest.raises(InvalidArgumentError, match="ordered=True"):
        client.stream("orders", partitions=4)
    with pytest.raises(InvalidArgumentError, match="partitions"):
        client.stream("orders", ordered=True, partitions=0)
    with pytest.raises(InvalidArgumentError, match="key must be a function"):
        client.stream("orders", ordered=True, key="customer")  # type: ignore[call-overload]
    keyless = client.stream("orders", ordered=True)
    with pytest.raises(InvalidArgumentError, match="ordering key"):
        keyless.publish("x")
    with pytest.raises(InvalidArgumentError, match="ordering key must be a str"):
        client.stream("orders", ORDERS, ordered=True, key=lambda o: o["n"]).publish({"n": 1})  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidArgumentError, match="open it with ordered=True"):
        client.stream("plain").publish("x", key="k")
    assert keys_of(raw, client) == []
    client.stream("orders", ordered=True, partitions=4).publish("x", key="k")
    with pytest.raises(InvalidArgumentError, match="is ordered with 4 partitions"):
        client.stream("orders", ordered=True, partitions=8).publish("y", key="k")
    with pytest.raises(InvalidArgumentError, match="is ordered with 4 partitions"):
        client.stream("orders").publish("y")
    assert client.stream("orders", ordered=True, partitions=4).length() == 1
    client.start_worker()
    sub = client.stream("orders", ordered=True, partitions=4).subscribe("g", start="first")
    message = sub.next(timeout=5)
    assert message is not None
    with pytest.raises(InvalidArgumentError, match="'<partition>/<id>'"):
        sub.ack(message.id.split("/")[1])
    with pytest.raises(InvalidArgumentError, match="below 4"):
        sub.ack("7/" + message.id.split("/")[1])
    assert sub.ack(message.id) is True


def test_a_consumer_over_its_share_drains_the_partitions_it_gives_up(make_worqr: MakeWorqr) -> None:
    a, b = started(make_worqr), started(make_worqr)
    stream = a.stream("orders", ORDERS, ordered=True, partitions=2, key=by_customer)
    customers = ["c0", "c1", "c2", "c3", "c4", "c5"]
    parts = {c: partition_of(c, 2) for c in customers}
    assert set(parts.values()) == {0, 1}
    busy = stream.subscribe("g", start="first", prefetch=2)
    stream.publish_many([{"customer": c, "n": 0} for c in customers])
    held = [busy.next(timeout=5), busy.next(timeout=5)]  # one from each partition: both are its
    assert all(m is not None for m in held) and {m.id.split("/")[0] for m in held if m} == {"0", "1"}
    joining = b.stream("orders", ORDERS, ordered=True, partitions=2).subscribe("g", prefetch=100)
    assert drain(joining) == []  # the busy one holds messages of both partitions
    rest = drain(busy)  # now over its share (1 of 2): nothing new from the one it gives up
    kept = {m.id.split("/")[0] for m in rest}
    assert len(kept) <= 1
    assert all(m is not None and m.ack() for m in held)
    assert drain(busy) == []  # its next take gives the drained partition up
    got = drain(joining)
    assert got and {m.id.split("/")[0] for m in got}.isdisjoint(kept)
    assert len(rest) + len(got) == len(customers) - 2


def test_while_its_heartbeat_is_in_doubt_a_consumer_confirms_its_buffer_by_a_take(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    victim, peer = started(make_worqr), started(make_worqr)
    without_reap_hint(raw, victim.prefix)
    stream = peer.stream("orders", ORDERS, ordered=True, partitions=1, key=by_customer)
    sub = victim.stream("orders", ORDERS, ordered=True, partitions=1).subscribe("g", start="first", prefetch=10)
    stream.publish_many([{"customer": "k", "n": n} for n in range(4)])
    first = sub.next(timeout=5)  # the take buffered the other three
    assert first is not None and first.ack()
    pause_heartbeat(victim)  # no heartbeat confirms the worker from now on
    state = victim._session.state
    with state.lock:
        state.confirmed_at = -1e9  # as if its last heartbeat were long ago: the worker is in doubt
    second = sub.next(timeout=5)  # not reaped: the take confirms it, the buffer is still its own
    assert second is not None and (second.data["n"], second.deliveries) == (1, 1)
    assert second.ack() is True
    raw.delete(RegistryKeys(victim.prefix).heartbeat(victim.worker_id))
    assert peer.cleanup_workers() == [victim.worker_id]
    with pytest.raises(WorkerLostError):
        sub.next(timeout=0)  # reaped: the take says so, and the buffered two are not handed out
    rescuer = stream.subscribe("g")
    assert [(m.data["n"], m.deliveries) for m in drain(rescuer)] == [(2, 2), (3, 2)]


def test_a_member_that_never_takes_does_not_keep_a_partition_unconsumed(
    make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    client = started(make_worqr)
    stream = client.stream("orders", ORDERS, ordered=True, partitions=2, key=by_customer)
    sub = stream.subscribe("g", start="first", prefetch=100)
    # A member no reap will remove: what a worker paused past its timeout and killed inside
    # subscribe leaves behind (its consumer entry, written by hand as the join script does).
    raw.hset(stream.keys.consumers, "g\nghost", "some-incarnation")
    customers = ["c0", "c1", "c2", "c3", "c4", "c5"]
    stream.publish_many([{"customer": c, "n": 0} for c in customers])
    # Two members but one that took: the live one owns both partitions, nothing waits.
    assert sorted(m.data["customer"] for m in drain(sub)) == customers


def test_the_marks_of_members_that_left_go_at_a_new_members_first_take(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    """Each member's last take is marked in the owners hash (the fair share counts it); the
    marks of members that left are dropped, so they do not pile up with every worker that
    ever consumed."""
    clients = [started(make_worqr) for _ in range(3)]
    streams = [client.stream("orders", ORDERS, ordered=True, partitions=2, key=by_customer) for client in clients]
    ids = [client.worker_id for client in clients]

    def marks() -> set[str]:
        fields = cast("list[bytes]", raw.hkeys(streams[0].keys.owners))
        return {f.decode().rpartition("\n")[2] for f in fields if f.startswith(b"\nseen\ng\n")}

    first, second = (stream.subscribe("g", start="first") for stream in streams[:2])
    assert first.next(timeout=0) is None and second.next(timeout=0) is None  # each took once
    assert marks() == set(ids[:2])
    first.close()
    assert marks() == set(ids[:2])  # a leave keeps it: the next member's first take drops it
    third = streams[2].subscribe("g", start="first")
    assert third.next(timeout=0) is None
    assert marks() == set(ids[1:])
