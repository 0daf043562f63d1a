"""`LocalCluster`: a real local Redis Cluster (3 primaries, 1 replica each) that serves keys on
every primary, fails a primary over to its replica, brings a killed node back, and moves a slot
with its keys. Checked with plain redis-py only."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from worqr.testing import LocalCluster, LocalClusterNode, TopologyError


def key_on(cluster: LocalCluster, primary: LocalClusterNode, prefix: str) -> str:
    """A key (its own hash tag) that ``primary`` serves."""
    for i in itertools.count():
        key = f"{{{prefix}-{i}}}"
        if cluster.primary_for(key) is primary:
            return key
    raise AssertionError("unreachable")


def replica_of(cluster: LocalCluster, primary: LocalClusterNode) -> LocalClusterNode:
    (replica,) = [node for node in cluster.replicas() if node.primary_id == primary.node_id]
    return replica


def write_and_wait(node: LocalClusterNode, items: dict[str, str]) -> int:
    """Write ``items`` on ``node`` and WAIT for one replica on the same connection."""
    with node.client() as client:
        pipe = client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, value)
        pipe.wait(1, 5000)
        return int(pipe.execute()[-1])


def test_url_and_startup_nodes_name_every_primary(local_cluster: LocalCluster) -> None:
    addresses = sorted(node.address for node in local_cluster.primaries())
    assert len(addresses) == 3
    assert sorted(local_cluster.startup_nodes) == addresses
    match = re.fullmatch(r"redis\+cluster://(.+)", local_cluster.url)
    assert match is not None
    assert sorted((host, int(port)) for host, port in (a.split(":") for a in match[1].split(","))) == addresses


def test_the_primaries_share_all_slots(local_cluster: LocalCluster) -> None:
    ranges = sorted(r for node in local_cluster.primaries() for r in local_cluster.slots_of(node))
    covered = [slot for first, last in ranges for slot in range(first, last + 1)]
    assert covered == list(range(16384))
    assert all(local_cluster.slots_of(node) for node in local_cluster.primaries())


def test_cluster_serves_keys_on_every_primary(local_cluster: LocalCluster) -> None:
    primaries = local_cluster.primaries()
    keys = {node.node_id: key_on(local_cluster, node, "serve") for node in primaries}
    with local_cluster.client(decode_responses=True) as client:
        for node_id, key in keys.items():
            client.set(key, node_id)
        assert [client.get(key) for key in keys.values()] == list(keys)
    for node in primaries:  # each value really lives on the primary that serves its slot
        with node.client(decode_responses=True) as direct:
            assert direct.get(keys[node.node_id]) == node.node_id


def test_every_primary_has_a_replica_in_sync(local_cluster: LocalCluster) -> None:
    primaries = local_cluster.primaries()
    replicas = local_cluster.replicas()
    assert len(replicas) == 3
    assert sorted(replica.primary_id or "" for replica in replicas) == sorted(node.node_id for node in primaries)
    for primary in primaries:
        replica = replica_of(local_cluster, primary)
        key = key_on(local_cluster, primary, "sync")
        assert write_and_wait(primary, {key: "copied"}) == 1
        with replica.client(decode_responses=True) as direct:
            assert direct.info("replication")["master_port"] == primary.port
            direct.execute_command("READONLY")
            assert direct.get(key) == "copied"


def test_fail_over_promotes_the_replica_and_keeps_waited_writes(
    make_local_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_local_cluster()
    victim = cluster.primary_for("{failover}")
    replica = replica_of(cluster, victim)
    items = {f"{{failover}}:{i}": f"value-{i}" for i in range(20)}
    assert write_and_wait(victim, items) == 1

    promoted = cluster.fail_over(victim)

    assert promoted is replica
    assert not victim.alive
    assert promoted.role == "primary"
    assert cluster.primary_for("{failover}") is promoted
    with promoted.client(decode_responses=True) as direct:
        assert direct.execute_command("ROLE")[0] == "master"
    with cluster.client(decode_responses=True) as client:
        assert [client.get(key) for key in items] == list(items.values())
        client.set("{failover}:after", "yes")  # writable again
        assert client.get("{failover}:after") == "yes"


def test_restart_brings_a_failed_over_primary_back_as_a_replica(
    make_local_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_local_cluster()
    victim = cluster.primary_for("{restart}")
    promoted = cluster.fail_over(victim)
    with cluster.client(decode_responses=True) as client:
        client.set("{restart}", "written while it was down")

    cluster.restart(victim)

    assert victim.alive
    assert victim.role == "replica"
    assert victim.primary_id == promoted.node_id
    assert cluster.primary_for("{restart}") is promoted
    with victim.client(decode_responses=True) as direct:
        direct.execute_command("READONLY")
        assert direct.get("{restart}") == "written while it was down"


def test_move_slot_moves_the_slot_with_its_keys(make_local_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_local_cluster()
    slot = cluster.slot_of("{moving}")
    source = cluster.owner_of(slot)
    target = next(node for node in cluster.primaries() if node is not source)
    items = {f"{{moving}}:{i}": str(i) for i in range(250)}  # more than one MIGRATE batch
    with cluster.client(decode_responses=True) as client:
        client.mset(items)

    cluster.move_slot(slot, target)

    assert cluster.owner_of(slot) is target
    assert all(slot not in range(first, last + 1) for first, last in cluster.slots_of(source))
    with target.client() as direct:
        assert direct.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == len(items)
    with source.client() as direct:
        assert direct.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
        with pytest.raises(redis.exceptions.MovedError, match=f"^{slot} 127.0.0.1:{target.port}$"):
            direct.get("{moving}:0")
    with cluster.client(decode_responses=True) as client:
        assert client.mget(list(items)) == list(items.values())


def test_bad_arguments_are_refused_before_anything_changes(local_cluster: LocalCluster) -> None:
    with pytest.raises(ValueError, match="primaries must be an int >= 1"):
        LocalCluster(primaries=0)
    with pytest.raises(ValueError, match="node_timeout_ms must be an int"):
        LocalCluster(node_timeout_ms=0)
    primary = local_cluster.primaries()[0]
    replica = local_cluster.replicas()[0]
    before = sorted((node.node_id, node.role) for node in local_cluster.live_nodes())
    with pytest.raises(ValueError, match=r"slot must be an int in 0\.\.16383"):
        local_cluster.move_slot(16384, primary)
    with pytest.raises(ValueError, match="needs a live primary to move to"):
        local_cluster.move_slot(0, replica)
    with pytest.raises(ValueError, match="needs a live primary with a live replica"):
        local_cluster.fail_over(replica)
    with pytest.raises(ValueError, match="is running"):
        local_cluster.restart(primary)
    assert sorted((node.node_id, node.role) for node in local_cluster.live_nodes()) == before
    assert len(local_cluster.live_nodes()) == 6


def test_a_node_that_cannot_start_fails_start_clearly_and_leaves_nothing() -> None:
    cluster = LocalCluster(primaries=1, replicas=0, extra_args=["--no-such-option", "x"])
    with pytest.raises(TopologyError, match=r"a cluster node .* did not start"):
        cluster.start(timeout=10)
    assert cluster.nodes
    assert all(node.server.process is None and not Path(node.server.dir).exists() for node in cluster.nodes)
