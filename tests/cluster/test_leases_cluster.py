"""Leases across the shards of a real local Redis Cluster (three primaries): each lease's
keys share its hash tag, so its scripts run on its own shard; a standby hears a release by
sharded pub/sub on that shard; a reaped worker's leases on every shard are released; the
fence fragment runs on the lease's shard beside a key of the same tag."""

from __future__ import annotations

import asyncio
import queue
import threading

from tests.cluster.conftest import MakeAsyncWorqr, MakeWorqr, owners
from tests.runtime_helpers import FAST, LONG
from worqr import Term
from worqr._io.cluster.routing import slot_of
from worqr._protocol.keys import LeaseKeys, RegistryKeys
from worqr.leases import FENCE_LUA
from worqr.testing import LocalCluster

FOREVER = 600.0


def spread_leases(cluster: LocalCluster, prefix: str) -> list[str]:
    """One lease name per primary."""
    slot_owner = owners(cluster)
    chosen: dict[int, str] = {}
    n = 0
    while len(chosen) < len(cluster.primaries()):
        name = f"lease{n}"
        n += 1
        chosen.setdefault(slot_owner[slot_of(LeaseKeys(prefix, name).holder)].port, name)
    return list(chosen.values())


def test_leases_on_every_shard_hand_over_on_release_and_on_reap(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    names = spread_leases(local_cluster, worqr_prefix)
    victim, peer = make_cluster_worqr(**FAST), make_cluster_worqr(**FAST)
    victim.start_worker()
    peer.start_worker()
    held = {name: victim.lease(name, ttl=FOREVER).acquire() for name in names}
    assert all(term is not None for term in held.values())
    got: queue.Queue[Term | None] = queue.Queue()
    standbys = [peer.lease(name, ttl=FOREVER) for name in names]
    waiting = [threading.Thread(target=lambda s=s: got.put(s.acquire(timeout=LONG))) for s in standbys]
    for thread in waiting:
        thread.start()
    raw = local_cluster.client()
    victim._supervisor.stop()  # type: ignore[union-attr]  # its heartbeat stops, as if frozen
    raw.delete(RegistryKeys(worqr_prefix).heartbeat(victim.worker_id))
    assert peer.cleanup_workers() == [victim.worker_id]
    taken = [got.get(timeout=LONG) for _ in names]
    for thread in waiting:
        thread.join()
    assert all(term is not None and term.holder == peer.worker_id and term.token == 2 for term in taken)
    assert {row.name: row.holder for row in peer.inspect_leases()} == dict.fromkeys(names, peer.worker_id)


def test_the_fence_fragment_runs_on_the_leases_shard(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    client = make_cluster_worqr(**FAST)
    client.start_worker()
    raw = local_cluster.client()
    for name in spread_leases(local_cluster, worqr_prefix):
        lease = client.lease(name, ttl=FOREVER)
        term = lease.acquire()
        assert term is not None
        write = raw.register_script(
            FENCE_LUA + "return fence_current(KEYS[1], ARGV[1]) and redis.call('INCR', KEYS[2]) or 0"
        )
        resource = lease.keys.tag + ":count"
        assert write(keys=[lease.fence_key, resource], args=[term.token]) == 1
        assert write(keys=[lease.fence_key, resource], args=[term.token - 1 or 99]) == 0
        assert client.check_fence(name, term.token)


async def test_async_leases_on_every_shard(
    local_cluster: LocalCluster, make_async_cluster_worqr: MakeAsyncWorqr, worqr_prefix: str
) -> None:
    names = spread_leases(local_cluster, worqr_prefix)
    a, b = make_async_cluster_worqr(**FAST), make_async_cluster_worqr(**FAST)
    await a.start_worker()
    await b.start_worker()
    for name in names:
        holder, standby = a.lease(name, ttl=FOREVER), b.lease(name, ttl=FOREVER)
        first = await holder.acquire()
        assert first is not None
        waiting = asyncio.ensure_future(standby.acquire(timeout=LONG))
        await asyncio.sleep(0)
        await holder.release()
        second = await asyncio.wait_for(waiting, LONG)
        assert second is not None and second.token == first.token + 1
