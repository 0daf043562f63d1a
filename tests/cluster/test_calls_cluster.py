"""Calls across the shards of a real local Redis Cluster (three primaries): each call's task,
record and notices share its queue's hash tag, so one script places or ends a call on the
shard of its queue; a producer waits for calls on every shard at once, threaded and asyncio."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.cluster.conftest import MakeAsyncWorqr, MakeWorqr, owners, spread_queues
from tests.runtime_helpers import FAST, LONG, QUICK
from worqr import CallCancelledError, Function, Functions, current_call
from worqr._io.cluster.routing import slot_of
from worqr._protocol.keys import QueueKeys
from worqr.testing import LocalCluster


def where(n: int) -> str:
    return f"{current_call().id.split(':', 1)[1]}:{n}"


async def where_async(n: int) -> str:
    return where(n)


def registry(queues: list[str], *, asyncio: bool) -> tuple[Functions, list[Function[[int], str]]]:
    """One function per queue, each returning where it ran."""
    functions = Functions()
    made: list[Function[[int], str]] = []
    for queue in queues:
        name = f"where-{queue}"
        made.append(
            functions.function(where_async, queue=queue, name=name)
            if asyncio
            else functions.function(where, queue=queue, name=name)
        )
    return functions, made


def test_calls_on_every_shard_resolve_and_their_records_live_on_their_queues_shard(
    local_cluster: LocalCluster, make_cluster_worqr: MakeWorqr, worqr_prefix: str
) -> None:
    queues = spread_queues(local_cluster, worqr_prefix, per_primary=2)
    functions, fns = registry(queues, asyncio=False)
    producer = make_cluster_worqr(**FAST)
    with make_cluster_worqr(**FAST).serve(functions, backoff=QUICK, concurrency=8):
        calls = [producer.call(fn, i) for i in range(5) for fn in fns]
        assert producer.gather(calls, timeout=LONG) == [f"{q}:{i}" for i in range(5) for q in queues]
        keyed = producer.call(fns[0].with_options(key="k", delay=3600), 1)
        assert producer.call(fns[0].with_options(key="k"), 2).id == keyed.id
        assert keyed.cancel() is True
        with pytest.raises(CallCancelledError):
            keyed.result(timeout=LONG)
    slot_owner = owners(local_cluster)
    shards = Counter(slot_owner[slot_of(QueueKeys(worqr_prefix, c.id.split(":", 1)[1]).call(c.id))].port for c in calls)
    assert len(shards) == len(local_cluster.primaries())  # the records are spread like their queues


async def test_async_calls_on_every_shard(
    local_cluster: LocalCluster, make_async_cluster_worqr: MakeAsyncWorqr, worqr_prefix: str
) -> None:
    queues = spread_queues(local_cluster, worqr_prefix)
    functions, fns = registry(queues, asyncio=True)
    producer = make_async_cluster_worqr(**FAST)
    worker = make_async_cluster_worqr(**FAST).serve(functions, backoff=QUICK, concurrency=8)
    async with worker:
        calls = [await producer.call(fn, 7) for fn in fns]
        seen = [await c.result(timeout=LONG) async for c in producer.as_completed(calls, timeout=LONG)]
        assert sorted(seen) == sorted(f"{q}:7" for q in queues)
        found = producer.get_call(calls[-1].id)
        assert (await found.status()).state == "succeeded"
