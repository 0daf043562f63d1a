"""`AsyncWorqr` on a real local Redis Cluster: the core operations, events on every shard,
concurrent cross-shard reads, reaping, the asyncio runtime worker, and its listener following
a slot moved live and a primary failed over."""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio.cluster
import redis.cluster

from tests.cluster.conftest import MakeAsyncWorqr, owners, spread_queues
from worqr import AsyncWorqr, Event, Process
from worqr._io.cluster.routing import slot_of
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr.testing import LocalCluster


async def eventually(condition: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` (a function or coroutine function) until true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = condition()
        if isinstance(outcome, Awaitable):
            outcome = await outcome
        if outcome:
            return
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        await asyncio.sleep(0.02)


async def test_async_enqueue_dequeue_finish_stop_and_cancel_on_queues_of_every_shard(
    local_cluster: LocalCluster, make_async_cluster_worqr: MakeAsyncWorqr, worqr_prefix: str
) -> None:
    wq, worker = make_async_cluster_worqr(), make_async_cluster_worqr()
    await worker.start_worker()
    for queue in spread_queues(local_cluster, worqr_prefix):
        await wq.enqueue(queue, ["a", "b", "c", "a"])
        await worker.start_work(queue)
        first = await worker.dequeue(queue)
        assert first is not None and first.task == "a"
        await worker.finish_process(first.id, {"done": True})
        second = await worker.dequeue(queue)
        assert second is not None and second.task == "b"
        await worker.stop_process(second.id)
        assert await wq.get_tasks(queue) == ["b", "c", "a"]
        assert await wq.cancel_tasks(queue, "a") == 1
        assert (await wq.count_queue(queue), await wq.peek_queue(queue)) == (2, "b")


async def test_async_events_of_every_shard_and_concurrent_cross_shard_reads(
    local_cluster: LocalCluster, make_async_cluster_worqr: MakeAsyncWorqr, worqr_prefix: str
) -> None:
    wq, worker = make_async_cluster_worqr(), make_async_cluster_worqr()
    queues = spread_queues(local_cluster, worqr_prefix)
    heard: list[Event] = []
    await asyncio.gather(*(wq.on(queue, heard.append) for queue in queues))
    await worker.start_worker()
    held = []
    for queue in queues:
        await wq.enqueue(queue, "same task")
        await worker.start_work(queue)
        process = await worker.dequeue(queue)
        assert process is not None
        held.append(process.id)
    reads = await asyncio.gather(
        wq.get_queues(), wq.get_workers(), wq.get_matching_processes("same task"), *(wq.count_queue(q) for q in queues)
    )
    assert reads == [sorted(queues), [worker.worker_id], sorted(held), *[0] * len(queues)]
    for process_id in held:
        await worker.finish_process(process_id, "ok")
    await eventually(lambda: sum(e.type == "done" for e in heard) == len(queues))
    assert {(e.queue, e.type) for e in heard} == {(q, kind) for q in queues for kind in ("work", "done")}


async def test_async_a_worker_on_three_shards_is_reaped_by_a_peer(
    local_cluster: LocalCluster, make_async_cluster_worqr: MakeAsyncWorqr, worqr_prefix: str
) -> None:
    wq, doomed, peer = make_async_cluster_worqr(), make_async_cluster_worqr(), make_async_cluster_worqr()
    queues = spread_queues(local_cluster, worqr_prefix)
    await doomed.start_worker()
    for queue in queues:
        await wq.enqueue(queue, ["1", "2", "3"])
        await doomed.start_work(queue)
        assert await doomed.dequeue(queue) is not None
        assert await doomed.dequeue(queue) is not None
    await peer.fail_worker(doomed.worker_id)
    assert [await wq.get_tasks(queue) for queue in queues] == [["1", "2", "3"]] * 3
    assert doomed.worker_id not in await wq.get_workers()


async def test_async_the_runtime_worker_drains_queues_on_all_shards(
    local_cluster: LocalCluster, make_async_cluster_worqr: MakeAsyncWorqr, worqr_prefix: str
) -> None:
    wq, client = make_async_cluster_worqr(), make_async_cluster_worqr()
    queues = spread_queues(local_cluster, worqr_prefix, per_primary=2)
    done: Counter[str] = Counter()

    async def handle(process: Process[str]) -> None:
        done[process.task] += 1

    tasks = {queue: [f"{queue}:{n}" for n in range(40)] for queue in queues}
    worker = client.worker(queues, handle, concurrency=8)
    await worker.start()
    try:
        for queue, batch in tasks.items():
            await wq.enqueue(queue, batch)
        await eventually(lambda: sum(done.values()) == 40 * len(queues), timeout=20)
    finally:
        await worker.stop()
    assert done == Counter(task for batch in tasks.values() for task in batch)


async def test_async_a_cluster_client_is_accepted_and_left_open(local_cluster: LocalCluster, worqr_prefix: str) -> None:
    host, port = local_cluster.startup_nodes[0]
    client = redis.asyncio.cluster.RedisCluster(host=host, port=port)
    try:
        async with AsyncWorqr(redis=client, prefix=worqr_prefix) as wq:
            queues = spread_queues(local_cluster, worqr_prefix)
            for queue in queues:
                await wq.enqueue(queue, "x")
            assert await wq.get_queues() == sorted(queues)
        assert await client.ping()
    finally:
        await client.aclose()


def test_async_the_sync_cluster_client_is_refused(local_cluster: LocalCluster) -> None:
    host, port = local_cluster.startup_nodes[0]
    client = redis.cluster.RedisCluster(host=host, port=port)
    try:
        with pytest.raises(ValueError, match="use Worqr"):
            AsyncWorqr(redis=client)  # type: ignore[arg-type]
    finally:
        client.close()


async def test_async_events_and_calls_follow_a_slot_moved_live_and_a_primary_failed_over(
    make_local_cluster: Callable[..., LocalCluster], worqr_prefix: str
) -> None:
    cluster = make_local_cluster()
    registry_node = owners(cluster)[slot_of(RegistryKeys(worqr_prefix).workers)]
    async with AsyncWorqr(redis=cluster.url, prefix=worqr_prefix) as wq:
        queue = next(
            q for q in spread_queues(cluster, worqr_prefix)
            if owners(cluster)[slot_of(QueueKeys(worqr_prefix, q).pending)] is not registry_node
        )  # fmt: skip
        heard: list[Event] = []
        await wq.on(queue, heard.append)
        slot = slot_of(QueueKeys(worqr_prefix, queue).pending)

        async def published(batch: int) -> bool:
            """Enqueue ``batch`` tasks; True once a published event for such a batch arrives
            (the listener's own check after it subscribes again counts all waiting tasks)."""
            before = len(heard)
            await wq.enqueue(queue, ["t"] * batch)
            await asyncio.sleep(0.1)
            return any(e.type == "work" and e.message == str(batch) for e in heard[before:])

        assert await published(1)
        source = cluster.owner_of(slot)
        await asyncio.to_thread(
            cluster.move_slot, slot, next(n for n in cluster.primaries() if n not in (source, registry_node))
        )
        await eventually(lambda: published(2), timeout=10)
        await asyncio.to_thread(cluster.fail_over, cluster.owner_of(slot))
        await eventually(lambda: published(3), timeout=15)
        assert await wq.count_queue(queue) >= 6


async def test_concurrent_first_calls_of_a_new_client_share_one_cluster_connection(
    make_async_cluster_worqr: MakeAsyncWorqr,
) -> None:
    """Tasks that use a new client at once (a call and its listener, say) all wait on its
    first connection: one cluster client is made, and closed with the client (none leaks)."""
    client = make_async_cluster_worqr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert await asyncio.gather(*(client.count_queue(f"q{i}") for i in range(5))) == [0] * 5
        await client.close()
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
