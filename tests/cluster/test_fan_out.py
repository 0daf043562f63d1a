"""A batch whose calls may all run twice (reads, a reap's leave_queue on each queue) goes to
every node whatever the others do, in both clients: one node that refuses (here: it refuses
the credentials) holds back only its own calls, and its error is raised once every other
node has been heard. (The two runners once differed: the threaded one stopped at the first
node that failed with anything but an outage.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from tests.cluster.conftest import queues_per_primary
from worqr import AsyncWorqr, RedisPermissionError, Worqr
from worqr._protocol import call, ops
from worqr._protocol.keys import QueueKeys
from worqr.testing import LocalCluster, LocalClusterNode

MakeCluster = Callable[..., LocalCluster]
USER, PASSWORD = "app", "s3cret"


def _llen_calls(node: LocalClusterNode) -> int:
    with node.client() as admin:
        stats = admin.info("commandstats")
    return int(stats.get("cmdstat_llen", {}).get("calls", 0))


def _cluster_with_user(make_local_cluster: MakeCluster) -> tuple[LocalCluster, str]:
    cluster = make_local_cluster(primaries=3, replicas=0)
    for node in cluster.live_nodes():
        with node.client() as admin:
            admin.execute_command("ACL", "SETUSER", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all")
    host, port = cluster.startup_nodes[0]
    return cluster, f"redis+cluster://{USER}:{PASSWORD}@{host}:{port}"


def _refuse_on(node: LocalClusterNode) -> None:
    """The node refuses the client's credentials from now on (its connections are dropped)."""
    with node.client() as admin:
        admin.execute_command("ACL", "SETUSER", USER, "resetpass", ">another")
        admin.execute_command("CLIENT", "KILL", "USER", USER)


def _batch(
    cluster: LocalCluster, prefix: str, refusing: LocalClusterNode
) -> tuple[list[call.Call[int]], list[LocalClusterNode]]:
    """One LLEN per primary, the refusing node's first (so that a runner that stops at the
    first failure sends nothing else), and the other primaries."""
    by_port = queues_per_primary(cluster, prefix)
    others = [node for node in cluster.primaries() if node.port != refusing.port]
    order = [refusing, *others]
    return [ops.count(QueueKeys(prefix, by_port[node.port][0])) for node in order], others


def test_a_node_that_refuses_holds_back_only_its_own_reads(make_local_cluster: MakeCluster, worqr_prefix: str) -> None:
    cluster, url = _cluster_with_user(make_local_cluster)
    with Worqr(redis=url, prefix=worqr_prefix) as wq:
        assert wq.count_queue("warm-up") == 0  # the slot map is loaded and the pools exist
        refusing = cluster.primaries()[0]
        calls, others = _batch(cluster, worqr_prefix, refusing)
        wq._runner.run(calls)  # every node has a pooled connection now
        before = {node.port: _llen_calls(node) for node in others}
        _refuse_on(refusing)
        with pytest.raises(RedisPermissionError, match="refused the credentials"):
            wq._runner.run(calls)
        assert {node.port: _llen_calls(node) for node in others} == {p: n + 1 for p, n in before.items()}


async def test_async_a_node_that_refuses_holds_back_only_its_own_reads(
    make_local_cluster: MakeCluster, worqr_prefix: str
) -> None:
    cluster, url = _cluster_with_user(make_local_cluster)
    async with AsyncWorqr(redis=url, prefix=worqr_prefix) as wq:
        assert await wq.count_queue("warm-up") == 0
        refusing = cluster.primaries()[0]
        calls, others = _batch(cluster, worqr_prefix, refusing)
        await wq._runner.run(calls)
        before = {node.port: _llen_calls(node) for node in others}
        _refuse_on(refusing)
        with pytest.raises(RedisPermissionError, match="refused the credentials"):
            await wq._runner.run(calls)
        assert {node.port: _llen_calls(node) for node in others} == {p: n + 1 for p, n in before.items()}


def test_the_refusal_is_real_a_plain_client_is_refused_too(make_local_cluster: MakeCluster) -> None:
    cluster, _ = _cluster_with_user(make_local_cluster)
    node = cluster.primaries()[0]
    _refuse_on(node)
    with pytest.raises(redis.AuthenticationError), node.client(username=USER, password=PASSWORD) as client:
        client.ping()
