"""Streams across the shards of a real local Redis Cluster (three primaries): each stream's
keys share its hash tag, so its scripts run on its own shard; a waiting subscriber is woken
by sharded pub/sub on that shard; a reaped worker's messages on every shard go to the
live consumer of their group; a channel's ends on different shards."""

from __future__ import annotations

import threading

from tests.cluster.conftest import MakeAsyncWorqr, MakeWorqr, owners
from tests.runtime_helpers import FAST, LONG
from worqr import ChannelMessage, ChannelNotice, Message
from worqr._io.cluster.routing import slot_of
from worqr._protocol.keys import RegistryKeys, StreamKeys
from worqr.channels.frames import end_name
from worqr.testing import LocalCluster


def spread_streams(cluster: LocalCluster, prefix: str) -> list[str]:
    """One stream name per primary."""
    slot_owner = owners(cluster)
    chosen: dict[int, str] = {}
    n = 0
    while len(chosen) < len(cluster.primaries()):
        name = f"stream{n}"
        n += 1
        chosen.setdefault(slot_owner[slot_of(StreamKeys(prefix, name).messages)].port, name)
    return list(chosen.values())


def test_streams_on_every_shard_fan_out_wake_and_hand_over_on_reap(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    names = spread_streams(local_cluster, worqr_prefix)
    victim, peer = make_cluster_worqr(**FAST), make_cluster_worqr(**{**FAST, "poll_interval": 60.0})
    victim.start_worker()
    peer.start_worker()
    held = {name: victim.stream(name).subscribe("g", start="first") for name in names}
    audits = {name: peer.stream(name).subscribe("audit") for name in names}
    rescuers = {name: peer.stream(name).subscribe("g") for name in names}
    got: dict[str, Message[str] | None] = {}
    waiting = [
        threading.Thread(target=lambda n=name: got.__setitem__(n, audits[n].next(timeout=LONG))) for name in names
    ]
    for thread in waiting:
        thread.start()
    ids = {name: peer.stream(name).publish(f"on {name}") for name in names}
    for thread in waiting:
        thread.join()
    # Woken on each shard by the published notice (the 60 s poll never came).
    assert {name: m.data for name, m in got.items() if m} == {name: f"on {name}" for name in names}
    assert all(held[name].next(timeout=LONG) is not None for name in names)
    raw = local_cluster.client()
    victim._supervisor.stop()  # type: ignore[union-attr]  # its heartbeat stops, as if frozen
    raw.delete(RegistryKeys(worqr_prefix).heartbeat(victim.worker_id))
    assert peer.cleanup_workers() == [victim.worker_id]
    for name in names:
        message = rescuers[name].next(timeout=LONG)
        assert message is not None and (message.id, message.deliveries) == (ids[name], 2)
        assert message.ack() is True
    assert sorted(peer.get_streams()) == sorted(names)


async def test_the_asyncio_client_publishes_and_consumes_on_every_shard(
    local_cluster: LocalCluster, make_async_cluster_worqr: MakeAsyncWorqr, worqr_prefix: str
) -> None:
    names = spread_streams(local_cluster, worqr_prefix)
    client = make_async_cluster_worqr(**FAST)
    await client.start_worker()
    for name in names:
        stream = client.stream(name)
        sub = await stream.subscribe("g", start="first")
        await stream.publish_many(["a", "b"])
        first, second = await sub.next(timeout=LONG), await sub.next(timeout=LONG)
        assert first is not None and second is not None and (first.data, second.data) == ("a", "b")
        assert await sub.ack_through(second.id) == 2
        assert [(g.name, g.pending, g.lag) for g in await stream.groups()] == [("g", 0, 0)]


def test_an_ordered_stream_on_a_cluster_keeps_each_keys_order(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    client = make_cluster_worqr(**FAST)
    client.start_worker()
    stream = client.stream("orders", ordered=True, partitions=4, key=lambda m: m.partition(":")[0])
    sub = stream.subscribe("g", start="first", prefetch=100)
    stream.publish_many([f"k{n % 3}:{n}" for n in range(30)])
    got = [sub.next(timeout=LONG) for _ in range(30)]
    assert all(m is not None for m in got)
    for key in ("k0", "k1", "k2"):
        numbers = [int(m.data.partition(":")[2]) for m in got if m and m.data.startswith(key + ":")]
        assert numbers == sorted(numbers) and len(numbers) == 10
    assert sub.ack_many([m.id for m in got if m]) == [True] * 30
    assert stream.length() == 30 and [g.pending for g in stream.groups()] == [0]


def test_a_channel_whose_streams_and_leases_sit_on_different_shards(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    """A channel's two streams and two leases have four hash tags: each end's scripts run
    on the shard of its own keys; messages go both ways in order, and a reaped end's
    release (sharded pub/sub on its lease's shard) gives the other ``remote:disconnect``."""
    slot_owner = owners(local_cluster)
    name = next(
        f"line{n}"
        for n in range(1000)
        if len(
            {
                slot_owner[slot_of(StreamKeys(worqr_prefix, end_name(f"line{n}", side)).messages)].port
                for side in ("client", "server")
            }
        )
        == 2
    )
    doomed, survivor = make_cluster_worqr(**FAST), make_cluster_worqr(**{**FAST, "poll_interval": 60.0})
    doomed.start_worker()
    survivor.start_worker()
    server = survivor.channel(name).listen()
    client = doomed.channel(name).connect()
    for i in range(5):
        client.send(f"up-{i}")
        server.send(f"down-{i}")
    ups = [server.next(timeout=LONG) for _ in range(6)]
    downs = [client.next(timeout=LONG) for _ in range(6)]
    assert [e.data for e in ups if isinstance(e, ChannelMessage)] == [f"up-{i}" for i in range(5)]
    assert [e.data for e in downs if isinstance(e, ChannelMessage)] == [f"down-{i}" for i in range(5)]
    raw = local_cluster.client()
    doomed._supervisor.stop()  # type: ignore[union-attr]  # its heartbeat stops, as if frozen
    raw.delete(RegistryKeys(worqr_prefix).heartbeat(doomed.worker_id))
    assert survivor.cleanup_workers() == [doomed.worker_id]
    notice = server.next(timeout=LONG)
    assert isinstance(notice, ChannelNotice)
    assert (notice.type, notice.remote) == ("remote:disconnect", doomed.worker_id)
