"""worqr.operations and the command line on a real local Redis Cluster (three primaries):
the queues of every shard are read (each queue's reads go to its own shard), counters and
pause live on their queue's shard, workers are read from the registry's shard."""

from __future__ import annotations

import json

import pytest

from tests.cluster.conftest import MakeWorqr, spread_queues
from tests.runtime_helpers import FAST
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
