"""Queues, processes and unique tasks through the sync client, against a real server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from worqr import (
    DuplicateTaskError,
    InvalidNameError,
    InvalidProcessIdError,
    InvalidTaskTypeError,
    NotWorkingError,
    PayloadTooLargeError,
    ProcessLostError,
    RedisCommandError,
    WorkerLostError,
    WorkerNotStartedError,
    Worqr,
)
from worqr._protocol.keys import QueueKeys

MakeWorqr = Callable[..., Worqr]


@pytest.fixture
def wq(make_worqr: MakeWorqr) -> Worqr:
    return make_worqr()


@pytest.fixture
def worker(make_worqr: MakeWorqr) -> Worqr:
    client = make_worqr()
    client.start_worker()
    client.start_work("jobs")
    return client


def test_enqueue_keeps_fifo_order_and_counts(wq: Worqr) -> None:
    assert wq.enqueue("jobs", "a") == 1
    assert wq.enqueue("jobs", ["b", "c"]) == 2
    assert wq.count_queue("jobs") == 3
    assert wq.peek_queue("jobs") == "a"
    assert wq.get_tasks("jobs") == ["a", "b", "c"]


def test_empty_batch_enqueues_nothing_and_creates_no_queue(wq: Worqr) -> None:
    assert wq.enqueue("jobs", []) == 0
    assert wq.get_queues() == []


def test_payload_is_stored_as_is_without_envelope(wq: Worqr, raw: redis.Redis) -> None:
    wq.enqueue("jobs", "héllo {json}")
    assert raw.lrange(QueueKeys(wq.prefix, "jobs").pending, 0, -1) == ["héllo {json}".encode()]


def test_queue_exists_from_enqueue_or_start_work_until_deleted(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("emails", "x")
    assert wq.get_queues() == ["emails", "jobs"]
    assert wq.delete_queue("emails") == 1
    assert wq.get_queues() == ["jobs"]
    assert wq.count_queue("emails") == 0


def test_dequeue_requires_start_work(wq: Worqr) -> None:
    wq.start_worker()
    with pytest.raises(NotWorkingError, match="start_work"):
        wq.dequeue("jobs")


def test_start_work_requires_start_worker(wq: Worqr) -> None:
    with pytest.raises(WorkerNotStartedError):
        wq.start_work("jobs")


def test_dequeue_returns_none_on_empty_queue(worker: Worqr) -> None:
    assert worker.dequeue("jobs") is None


def test_process_ids_are_unique_when_payloads_repeat(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", ["same", "same"])
    first, second = worker.dequeue("jobs"), worker.dequeue("jobs")
    assert first is not None and second is not None
    assert first.task == second.task == "same"
    assert first.id != second.id
    assert (first.queue, first.worker_id) == ("jobs", worker.worker_id)


def test_finish_removes_task_for_good(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", "a")
    process = worker.dequeue("jobs")
    assert process is not None
    worker.finish_process(process.id, {"ok": True})
    assert wq.count_queue("jobs") == 0
    assert wq.get_matching_processes("a") == []


def test_finish_twice_raises_process_lost(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", "a")
    process = worker.dequeue("jobs")
    assert process is not None
    worker.finish_process(process.id)
    with pytest.raises(ProcessLostError) as caught:
        worker.finish_process(process.id)
    assert caught.value.process_id == process.id
    with pytest.raises(ProcessLostError):
        worker.stop_process(process.id)


def test_stop_puts_task_back_at_the_front(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", ["a", "b"])
    process = worker.dequeue("jobs")
    assert process is not None
    worker.stop_process(process.id)
    assert wq.get_tasks("jobs") == ["a", "b"]


def test_another_worker_cannot_finish_my_process(wq: Worqr, worker: Worqr, make_worqr: MakeWorqr) -> None:
    wq.enqueue("jobs", "a")
    process = worker.dequeue("jobs")
    assert process is not None
    other = make_worqr()
    other.start_worker()
    with pytest.raises(ProcessLostError):
        other.finish_process(process.id)
    worker.finish_process(process.id)


def test_stop_work_requeues_only_my_processes_in_order(wq: Worqr, worker: Worqr, make_worqr: MakeWorqr) -> None:
    other = make_worqr()
    other.start_worker()
    other.start_work("jobs")
    wq.enqueue("jobs", ["a", "b", "c", "d", "e"])
    mine = [worker.dequeue("jobs"), worker.dequeue("jobs")]
    theirs = other.dequeue("jobs")
    assert theirs is not None and theirs.task == "c"
    worker.stop_work("jobs")
    assert wq.get_tasks("jobs") == ["a", "b", "d", "e"]
    assert worker.get_working_queues() == []
    other.finish_process(theirs.id)
    for process in mine:
        assert process is not None
        with pytest.raises(ProcessLostError):
            worker.finish_process(process.id)
    with pytest.raises(NotWorkingError):
        worker.dequeue("jobs")


def test_fail_worker_requeues_all_processes_in_order(wq: Worqr, make_worqr: MakeWorqr) -> None:
    victim = make_worqr()
    victim.start_worker()
    victim.start_work("jobs")
    victim.start_work("other")
    wq.enqueue("jobs", ["a", "b", "c"])
    wq.enqueue("other", ["x"])
    taken = [victim.dequeue("jobs"), victim.dequeue("jobs"), victim.dequeue("other")]
    assert all(taken)
    wq.fail_worker(victim.worker_id)
    assert wq.get_tasks("jobs") == ["a", "b", "c"]
    assert wq.get_tasks("other") == ["x"]
    assert victim.worker_id not in wq.get_workers()
    assert wq.get_working_queues(victim.worker_id) == []


def test_get_matching_processes_finds_processes_on_any_queue(wq: Worqr, worker: Worqr) -> None:
    worker.start_work("other")
    wq.enqueue("jobs", ["t", "u"])
    wq.enqueue("other", "t")
    one, _, two = worker.dequeue("jobs"), worker.dequeue("jobs"), worker.dequeue("other")
    assert one is not None and two is not None
    assert wq.get_matching_processes("t") == sorted([one.id, two.id])


def test_cancel_removes_every_queued_copy(wq: Worqr) -> None:
    wq.enqueue("jobs", ["a", "b", "a", "c", "a"])
    assert wq.cancel_tasks("jobs", "a") == 3
    assert wq.get_tasks("jobs") == ["b", "c"]
    assert wq.cancel_tasks("jobs", "zzz") == 0


def test_get_workers_and_working_queues(wq: Worqr, worker: Worqr) -> None:
    assert worker.worker_id in wq.get_workers()
    assert wq.get_working_queues(worker.worker_id) == ["jobs"]


def test_close_fails_the_worker_cleanly(wq: Worqr, make_worqr: MakeWorqr) -> None:
    with make_worqr() as leaving:
        leaving.start_worker()
        leaving.start_work("jobs")
        wq.enqueue("jobs", ["a", "b"])
        assert leaving.dequeue("jobs") is not None
        leaving_id = leaving.worker_id
    assert wq.get_tasks("jobs") == ["a", "b"]
    assert leaving_id not in wq.get_workers()


# Unique tasks ------------------------------------------------------------------------------


def test_unique_refuses_a_queued_duplicate(wq: Worqr) -> None:
    wq.enqueue("jobs", "a", unique=True)
    with pytest.raises(DuplicateTaskError) as caught:
        wq.enqueue("jobs", "a", unique=True)
    assert caught.value.queue == "jobs"
    assert wq.get_tasks("jobs") == ["a"]


def test_unique_batch_with_a_duplicate_writes_nothing(wq: Worqr) -> None:
    wq.enqueue("jobs", "b", unique=True)
    with pytest.raises(DuplicateTaskError):
        wq.enqueue("jobs", ["a", "b", "c"], unique=True)
    with pytest.raises(DuplicateTaskError):
        wq.enqueue("jobs", ["x", "x"], unique=True)
    assert wq.get_tasks("jobs") == ["b"]


def test_unique_and_plain_task_with_same_payload_coexist(wq: Worqr) -> None:
    wq.enqueue("jobs", "a", unique=True)
    wq.enqueue("jobs", "a")
    assert wq.get_tasks("jobs") == ["a", "a"]


def test_unique_marker_holds_while_in_process_and_clears_on_finish(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", "a", unique=True)
    process = worker.dequeue("jobs")
    assert process is not None
    with pytest.raises(DuplicateTaskError):
        wq.enqueue("jobs", "a", unique=True)
    worker.stop_process(process.id)  # back in the queue: still unique
    with pytest.raises(DuplicateTaskError):
        wq.enqueue("jobs", "a", unique=True)
    process = worker.dequeue("jobs")
    assert process is not None
    worker.finish_process(process.id)
    assert wq.enqueue("jobs", "a", unique=True) == 1


def test_unique_marker_clears_on_cancel_and_delete(wq: Worqr) -> None:
    wq.enqueue("jobs", "a", unique=True)
    wq.cancel_tasks("jobs", "a")
    assert wq.enqueue("jobs", "a", unique=True) == 1
    wq.delete_queue("jobs")
    assert wq.enqueue("jobs", "a", unique=True) == 1


def test_delete_queue_keeps_the_markers_of_tasks_in_process(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", ["held", "queued"], unique=True)
    assert worker.dequeue("jobs") is not None
    wq.delete_queue("jobs")
    assert wq.enqueue("jobs", "queued", unique=True) == 1
    with pytest.raises(DuplicateTaskError):
        wq.enqueue("jobs", "held", unique=True)


def test_unique_is_per_queue(wq: Worqr) -> None:
    wq.enqueue("jobs", "a", unique=True)
    assert wq.enqueue("other", "a", unique=True) == 1


def test_deleted_queue_keeps_processes_and_stop_recreates_it(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", ["a", "b"])
    process = worker.dequeue("jobs")
    assert process is not None
    wq.delete_queue("jobs")
    assert "jobs" not in wq.get_queues()
    worker.stop_process(process.id)
    assert wq.get_tasks("jobs") == ["a"]
    assert "jobs" in wq.get_queues()


# Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "bad\nname", "tab\there", "x" * 1025, "\ud800"])
def test_bad_queue_names_are_refused_before_any_write(wq: Worqr, raw: redis.Redis, name: str) -> None:
    with pytest.raises(InvalidNameError):
        wq.enqueue(name, "a")
    assert raw.keys(f"*{wq.prefix}*") == []


@pytest.mark.parametrize("task", [b"bytes", 42, None, ""])
def test_bad_tasks_are_refused_before_any_write(wq: Worqr, task: object) -> None:
    with pytest.raises(InvalidTaskTypeError):
        wq.enqueue("jobs", ["fine", task])  # type: ignore[list-item]
    assert wq.count_queue("jobs") == 0
    assert wq.get_queues() == []


def test_payload_over_the_limit_is_refused(make_worqr: MakeWorqr) -> None:
    small = make_worqr(max_payload_size=10)
    with pytest.raises(PayloadTooLargeError, match="over the limit of 10 bytes"):
        small.enqueue("jobs", ["ok", "x" * 11])
    assert small.count_queue("jobs") == 0


@pytest.mark.parametrize("process_id", ["", "jobs", "x:jobs", "1", "-1:jobs", 7])
def test_malformed_process_ids_are_refused(worker: Worqr, process_id: object) -> None:
    with pytest.raises(InvalidProcessIdError):
        worker.finish_process(process_id)  # type: ignore[arg-type]


def test_result_that_is_not_json_is_refused_and_process_kept(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", "a")
    process = worker.dequeue("jobs")
    assert process is not None
    with pytest.raises(InvalidTaskTypeError, match="JSON"):
        worker.finish_process(process.id, object())
    worker.finish_process(process.id, "fine")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"heartbeat_interval": -1}, "heartbeat_interval"),
        ({"worker_timeout": 0}, "worker_timeout"),
        ({"heartbeat_interval": 5, "worker_timeout": 3}, "shorter than worker_timeout"),
        ({"cleanup_interval": float("nan")}, "cleanup_interval"),
        ({"prefix": "a{b}"}, "braces"),
        ({"worker_id": ""}, "worker_id"),
        ({"redis": "http://localhost"}, "URL"),
        ({"max_payload_size": 0}, "max_payload_size"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Worqr(**kwargs)  # type: ignore[arg-type]


def test_large_batches_fit_in_one_script(wq: Worqr, worker: Worqr) -> None:
    tasks = [f"t{i}" for i in range(20_000)]
    assert wq.enqueue("jobs", tasks, unique=True) == len(tasks)
    for _ in range(2_500):
        worker.dequeue("jobs")
    worker.stop_work("jobs")  # requeues 2,500 processes in one script
    assert wq.get_tasks("jobs") == tasks


def test_fail_worker_on_itself_stops_it_until_restarted(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", ["a", "b"])
    assert worker.dequeue("jobs") is not None
    worker.fail_worker()
    assert wq.get_tasks("jobs") == ["a", "b"]
    with pytest.raises(WorkerLostError):
        worker.dequeue("jobs")
    worker.start_worker()
    worker.start_work("jobs")
    process = worker.dequeue("jobs")
    assert process is not None and process.task == "a"


def test_a_key_of_the_wrong_type_gives_a_clear_error_and_writes_nothing(wq: Worqr, raw: redis.Redis) -> None:
    raw.set(QueueKeys(wq.prefix, "jobs").pending, "not a list")
    with pytest.raises(RedisCommandError, match="WRONGTYPE"):
        wq.enqueue("jobs", "a", unique=True)
    assert not raw.exists(QueueKeys(wq.prefix, "jobs").unique)
    assert wq.count_queue("other") == 0


def test_dequeue_into_a_wrongly_typed_process_key_loses_nothing(wq: Worqr, worker: Worqr, raw: redis.Redis) -> None:
    wq.enqueue("jobs", ["a", "b"])
    raw.set(QueueKeys(wq.prefix, "jobs").processes(worker.worker_id), "clobbered")
    with pytest.raises(RedisCommandError, match="nothing was changed"):
        worker.dequeue("jobs")
    assert wq.get_tasks("jobs") == ["a", "b"]  # Redis would not have rolled back a popped task


def test_dequeue_with_a_clobbered_counter_loses_nothing(wq: Worqr, worker: Worqr, raw: redis.Redis) -> None:
    wq.enqueue("jobs", "a")
    raw.set(QueueKeys(wq.prefix, "jobs").seq, "not a number")
    with pytest.raises(RedisCommandError, match="nothing was changed"):
        worker.dequeue("jobs")
    assert wq.get_tasks("jobs") == ["a"]


def test_one_enqueue_is_one_script_call_once_the_queue_is_listed(wq: Worqr, raw: redis.Redis) -> None:
    wq.enqueue("jobs", "a")  # the first one lists the queue: two calls
    before = raw.info("commandstats")
    wq.enqueue("jobs", "b")
    after = raw.info("commandstats")
    assert after["cmdstat_evalsha"]["calls"] - before["cmdstat_evalsha"]["calls"] == 1
    assert after.get("cmdstat_sadd", {}).get("calls", 0) == before.get("cmdstat_sadd", {}).get("calls", 0)
    assert wq.get_queues() == ["jobs"]


def test_a_queue_unlisted_behind_worqrs_back_is_listed_again_once_its_marker_expires(
    wq: Worqr, raw: redis.Redis
) -> None:
    """The enqueue's registry marker expires (LISTED_TTL), so the registry heals from a crash
    between an enqueue and its listing, or from any other loss of the entry."""
    keys = QueueKeys(wq.prefix, "jobs")
    wq.enqueue("jobs", "a")
    assert 0 < int(raw.ttl(keys.listed)) <= 60  # LISTED_TTL in lua/enqueue.lua
    raw.srem(f"{{{wq.prefix}}}:queues", "jobs")
    wq.enqueue("jobs", "b")
    assert wq.get_queues() == []  # the marker still says listed
    raw.delete(keys.listed)  # as when it expires
    wq.enqueue("jobs", "c")
    assert wq.get_queues() == ["jobs"]


def test_an_enqueue_after_delete_queue_lists_the_queue_again(wq: Worqr) -> None:
    wq.enqueue("jobs", "a")
    wq.delete_queue("jobs")
    assert wq.get_queues() == []
    wq.enqueue("jobs", "b")
    assert wq.get_queues() == ["jobs"]
    assert wq.get_tasks("jobs") == ["b"]
