"""Schedules across the shards of a real local Redis Cluster (three primaries): a schedule's
keys share its queue's hash tag, so its scripts run on that queue's shard, while the index of
names lives on the registry's; workers of queues on every shard fire their schedules, each
due time once, and ``get_schedules`` and ``remove_schedule`` reach every shard."""

from __future__ import annotations

import queue
from typing import Any

from tests.cluster.conftest import MakeAsyncWorqr, MakeWorqr, spread_queues
from tests.helpers import wait_until
from tests.runtime_helpers import FAST, LONG
from worqr import Process, Worker
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr.testing import LocalCluster


def test_schedules_of_queues_on_every_shard_fire_once_per_due_time(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    names = spread_queues(local_cluster, worqr_prefix)
    client = make_cluster_worqr(**FAST)
    for name in names:
        client.schedule(f"on-{name}", name, f"task-{name}", every=0.1)
    ran: queue.Queue[str] = queue.Queue()
    workers: list[Worker[Any]] = []

    def run(process: Process[str]) -> None:
        ran.put(process.task)

    try:
        for _ in range(2):  # two workers look at each due time of each queue
            worker = make_cluster_worqr(**FAST).worker(names, run)
            worker.start()
            workers.append(worker)
        wait_until(lambda: all(s.runs >= 5 for s in client.get_schedules()), timeout=LONG)
        for name in names:
            client.schedule(f"on-{name}", name, f"task-{name}", every=3600)  # stop the ticks, keep the counts
        raw = local_cluster.client()
        for found in client.get_schedules():
            enqueued = int(raw.hget(QueueKeys(worqr_prefix, found.queue).counters, "enqueued") or 0)
            assert found.last_fired is not None
            assert enqueued == found.runs
        assert sorted(s.queue for s in client.get_schedules()) == sorted(names)
        for name in names:
            assert client.remove_schedule(f"on-{name}")
        assert client.get_schedules() == []
        assert raw.hlen(RegistryKeys(worqr_prefix).schedules) == 0
        assert not ran.empty()
    finally:
        for worker in workers:
            worker.stop(grace=0)


async def test_the_asyncio_client_schedules_on_a_cluster(
    local_cluster: LocalCluster, make_async_cluster_worqr: MakeAsyncWorqr, worqr_prefix: str
) -> None:
    names = spread_queues(local_cluster, worqr_prefix)
    client = make_async_cluster_worqr(**FAST)
    for name in names:
        await client.schedule(f"s-{name}", name, "x", cron="*/5 * * * *", tz="Europe/Berlin")
    found = await client.get_schedules()
    assert {s.queue for s in found} == set(names)
    assert all(s.next_due is not None and s.next_due.timestamp() % 300 == 0 for s in found)
    for name in names:
        assert await client.remove_schedule(f"s-{name}")
