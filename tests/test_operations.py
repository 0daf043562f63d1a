"""worqr.operations against a real server: each counter changes in the script that makes the
change it counts (and only then: a refused duplicate, a refused zombie finish), worker
records, pause and resume, and the asyncio client's twins of the inspect methods. The
command line over them is tested in tests/test_cli.py, Redis Cluster in
tests/cluster/test_operations_cluster.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
import redis

from tests.runtime_helpers import FAST, LONG, declare_dead, handler
from worqr import AsyncWorqr, DuplicateTaskError, Functions, InvalidNameError, ProcessLostError, Worqr
from worqr.operations.views import QueueCounters

MakeWorqr = Callable[..., Worqr]
functions = Functions()


@functions.function(queue="calls", max_attempts=1)
def double(n: int) -> int:
    return 2 * n


def counters(client: Worqr, queue: str) -> QueueCounters:
    (info,) = client.inspect_queues([queue])
    return info.counters


@pytest.fixture
def producer(make_worqr: MakeWorqr) -> Worqr:
    return make_worqr(**FAST)


@pytest.fixture
def worker(make_worqr: MakeWorqr) -> Worqr:
    client = make_worqr(**FAST)
    client.start_worker()
    return client


def test_enqueue_and_schedule_count_what_they_add_and_not_refused_duplicates(producer: Worqr) -> None:
    producer.enqueue("q", ["a", "b", "c"])
    producer.enqueue("q", ["u"], unique=True)
    with pytest.raises(DuplicateTaskError):
        producer.enqueue("q", ["u", "v"], unique=True)
    producer.enqueue("q", ["later", "later2"], delay=60)
    assert counters(producer, "q") == QueueCounters(enqueued=6)


def test_finish_fail_and_requeue_are_counted_by_outcome(producer: Worqr, worker: Worqr) -> None:
    producer.enqueue("q", ["a", "b", "c", "d"])
    worker.start_work("q")
    taken = [worker.dequeue("q") for _ in range(4)]
    assert all(taken)
    worker.finish_process(taken[0].id, None)  # type: ignore[union-attr]
    worker.fail_process(taken[1].id, ValueError("again"), max_attempts=3)  # type: ignore[union-attr]
    worker.fail_process(taken[2].id, ValueError("dead"), max_attempts=1)  # type: ignore[union-attr]
    worker.stop_process(taken[3].id)  # type: ignore[union-attr]
    assert counters(producer, "q") == QueueCounters(enqueued=4, finished=1, failed=2, dead_lettered=1)
    assert producer.requeue_dead_letters("q") == 1
    assert counters(producer, "q").requeued == 1


def test_a_zombies_refused_finish_is_counted_as_fenced(
    producer: Worqr, worker: Worqr, make_worqr: MakeWorqr, raw: redis.Redis
) -> None:
    peer = make_worqr(**FAST)
    peer.start_worker()
    producer.enqueue("q", ["a"])
    worker.start_work("q")
    held = worker.dequeue("q")
    assert held is not None
    declare_dead(worker, peer, raw)
    with pytest.raises(ProcessLostError):
        worker.finish_process(held.id, None)
    assert counters(producer, "q") == QueueCounters(enqueued=1, fenced=1)


def test_cancel_counts_the_removed_copies(producer: Worqr) -> None:
    producer.enqueue("q", ["a", "b", "a"])
    producer.enqueue("q", ["a"], delay=60)
    assert producer.cancel_tasks("q", "a") == 3
    assert producer.cancel_tasks("q", "zzz") == 0
    assert counters(producer, "q") == QueueCounters(enqueued=4, cancelled=3)


def test_calls_are_counted_like_tasks(producer: Worqr, make_worqr: MakeWorqr) -> None:
    later = producer.call(double.with_options(delay=3600), 1)
    assert later.cancel() is True
    with make_worqr(**FAST).serve(functions):
        assert producer.call(double, 21).result(timeout=LONG) == 42
    assert counters(producer, "calls") == QueueCounters(enqueued=2, finished=1, cancelled=1)


def test_deleting_a_queue_resets_its_counters(producer: Worqr) -> None:
    producer.enqueue("q", ["a"])
    producer.delete_queue("q")
    producer.enqueue("q", ["b"])
    assert counters(producer, "q") == QueueCounters(enqueued=1)


def test_a_worker_record_says_where_it_runs_and_its_runtime_concurrency(producer: Worqr, make_worqr: MakeWorqr) -> None:
    client = make_worqr(**FAST)
    with client.worker("q", handler, concurrency=3):
        (info,) = producer.inspect_workers()
    assert (info.id, info.alive, info.state, info.concurrency, info.version) == (
        client.worker_id, True, "alive", 3, "0.1.0",
    )  # fmt: skip
    assert info.queues == ("q",)
    assert info.started_at is not None


def test_pause_keeps_taking_tasks_and_hands_none_out_until_resume(producer: Worqr, worker: Worqr) -> None:
    producer.enqueue("q", ["a"])
    worker.start_work("q")
    assert producer.pause_queue("q") is False
    assert producer.pause_queue("q") is True  # idempotent: it was paused already
    producer.enqueue("q", ["b"])
    assert worker.dequeue("q") is None
    (info,) = producer.inspect_queues(["q"])
    assert (info.paused, info.queued) == (True, 2)
    assert producer.resume_queue("q") is True
    assert producer.resume_queue("q") is False
    first = worker.dequeue("q")
    assert first is not None
    assert first.task == "a"


def test_inspect_processes_gives_each_tasks_attempt(producer: Worqr, worker: Worqr) -> None:
    producer.enqueue("q", ["a"])
    worker.start_work("q")
    first = worker.dequeue("q")
    assert first is not None
    worker.fail_process(first.id, ValueError("once"), max_attempts=3)
    again = None
    while again is None:  # the retry is due at once (retry_delay 0)
        again = worker.dequeue("q")
    (process,) = producer.inspect_processes("q")
    assert (process.id, process.task, process.attempt, process.worker_id) == (again.id, b"a", 2, worker.worker_id)
    assert producer.inspect_processes("q", "someone-else") == []


async def test_the_async_client_inspects_and_pauses_alike(
    redis_url: str, worqr_prefix: str, producer: Worqr, worker: Worqr
) -> None:
    producer.enqueue("q", ["a", "b"])
    worker.start_work("q")
    assert worker.dequeue("q") is not None
    async with AsyncWorqr(redis=redis_url, prefix=worqr_prefix) as client:
        assert await client.inspect_queues() == producer.inspect_queues()
        ages_apart = [replace(info, heartbeat_age=0.0) for info in await client.inspect_workers()]
        assert ages_apart == [replace(info, heartbeat_age=0.0) for info in producer.inspect_workers()]
        assert await client.inspect_processes() == producer.inspect_processes()
        assert await client.pause_queue("q") is False
        assert producer.inspect_queues()[0].paused is True
        assert await client.resume_queue("q") is True


def test_a_bad_queue_name_is_refused_and_an_unlisted_one_reads_as_empty(producer: Worqr) -> None:
    with pytest.raises(InvalidNameError):
        producer.inspect_queues([""])
    with pytest.raises(InvalidNameError):
        producer.pause_queue("")
    (info,) = producer.inspect_queues(["never-used"])  # the command line checks the registry first
    assert (info.queued, info.workers, info.paused, info.counters) == (0, 0, False, QueueCounters())
