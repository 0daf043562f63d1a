"""worqr.operations and the command line on a real local Redis Cluster (three primaries):
the queues of every shard are read (each queue's reads go to its own shard), counters and
pause live on their queue's shard, workers are read from the registry's shard; with a shard
down for good, reads give what the other shards hold and name the node they missed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cluster.conftest import MakeWorqr, spread_queues
from tests.runtime_helpers import FAST, LONG
from worqr import PartialReadError, Worqr
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr.cli import main
from worqr.testing import LocalCluster


def test_queues_on_every_shard_are_inspected_paused_and_shown_by_the_command_line(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    queues = spread_queues(local_cluster, worqr_prefix)
    producer, worker = make_cluster_worqr(**FAST), make_cluster_worqr(**FAST)
    worker.start_worker()
    for n, queue in enumerate(queues, start=1):
        producer.enqueue(queue, [f"{queue}-{i}" for i in range(n)])
        worker.start_work(queue)
    assert worker.dequeue(queues[-1]) is not None
    infos = {info.name: info for info in producer.inspect_queues()}
    assert {q: (infos[q].queued + infos[q].in_flight, infos[q].counters.enqueued) for q in queues} == {
        q: (n, n) for n, q in enumerate(queues, start=1)
    }
    assert infos[queues[-1]].in_flight == 1
    assert producer.pause_queue(queues[0]) is False
    assert worker.dequeue(queues[0]) is None
    assert producer.resume_queue(queues[0]) is True
    assert worker.dequeue(queues[0]) is not None
    (seen,) = producer.inspect_workers()
    assert (seen.id, seen.alive, sorted(seen.queues)) == (worker.worker_id, True, sorted(queues))
    capsys.readouterr()
    assert main(["--redis", local_cluster.url, "--prefix", worqr_prefix, "queues", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(row["name"] for row in rows) == sorted(queues)


@pytest.fixture(scope="module")
def uncovered_cluster() -> Iterator[LocalCluster]:
    """Three primaries without replicas that keep serving their slots when one of them is
    down (``cluster-require-full-coverage no``): a shard down for good. Its own, as the
    test kills a node."""
    with LocalCluster(primaries=3, replicas=0, extra_args=["--cluster-require-full-coverage", "no"]) as cluster:
        yield cluster


def test_with_a_shard_down_reads_give_what_they_could_with_partial_and_the_unreachable_node(
    uncovered_cluster: LocalCluster, worqr_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = uncovered_cluster
    queues = spread_queues(cluster, worqr_prefix)
    registry = cluster.primary_for(RegistryKeys(worqr_prefix).queues)
    doomed_queue = next(q for q in queues if cluster.primary_for(QueueKeys(worqr_prefix, q).pending) != registry)
    doomed = cluster.primary_for(QueueKeys(worqr_prefix, doomed_queue).pending)
    with Worqr(redis=cluster.url, prefix=worqr_prefix, **FAST) as producer:
        for n, queue in enumerate(queues, start=1):
            producer.enqueue(queue, [f"{queue}-{i}" for i in range(n)])
        expected = {q: n for n, q in enumerate(queues, start=1) if q != doomed_queue}
        assert doomed.server.process is not None
        doomed.server.process.kill()
        doomed.server.process.wait(LONG)
        node = f"{doomed.host}:{doomed.port}"
        with pytest.raises(PartialReadError) as caught:
            producer.inspect_queues()
        assert caught.value.unreachable == (node,)
        assert {info.name: info.queued for info in caught.value.value} == expected  # type: ignore[attr-defined]
    capsys.readouterr()
    status = main(["--redis", cluster.url, "--prefix", worqr_prefix, "--json", "queues"])
    out, err = capsys.readouterr()
    assert status == 1
    document = json.loads(out)
    assert (document["partial"], document["unreachable"]) == (True, [node])
    assert {row["name"]: row["queued"] for row in document["queues"]} == expected
    assert err.startswith("worqr: error: could not reach 1 node(s) of the cluster (" + node)
    assert err.count("\n") == 1
    capsys.readouterr()
    assert main(["--redis", cluster.url, "--prefix", worqr_prefix, "queues"]) == 1  # the table, for a person
    table, _ = capsys.readouterr()
    assert all(queue in table for queue in expected) and doomed_queue not in table
