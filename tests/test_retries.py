"""Failed attempts: fail_process retries a task or dead-letters it, attempts are counted in
Redis (so they survive the worker, and a worker reaped mid-task uses one up), and the dead
letters can be read, requeued and purged. Against a real server, sync and async."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import pytest
import redis

from tests.dequeue_helpers import delayed_entries, dequeue_once_due, keys_of, server_ms, snapshot, take, working
from tests.heartbeat_helpers import FAST, expire
from tests.helpers import pause_heartbeat, wait_until
from worqr import (
    AsyncWorqr,
    BytesCodec,
    DeadLetter,
    DuplicateTaskError,
    Event,
    Failure,
    InvalidArgumentError,
    ProcessLostError,
    Worqr,
)
from worqr._protocol import flows

MakeWorqr = Callable[..., Worqr]
MakeAsyncWorqr = Callable[..., AsyncWorqr]


class PaymentDeclinedError(Exception):
    """A handler's error whose type name ends up in the dead letter."""


@pytest.fixture
def wq(make_worqr: MakeWorqr) -> Worqr:
    return make_worqr()


@pytest.fixture
def worker(make_worqr: MakeWorqr) -> Worqr:
    return working(make_worqr())


def stored_attempts(raw: redis.Redis, client: Worqr | AsyncWorqr, task: bytes, queue: str = "jobs") -> int | None:
    value = raw.hget(keys_of(client, queue).attempts, task)
    return None if value is None else int(value)


def dead_letter(wq: Worqr, worker: Worqr, task: str, error: BaseException | str = "boom") -> str:
    """Enqueue ``task``, take it and fail it for good; returns its dead letter id."""
    wq.enqueue("jobs", task)
    failure = worker.fail_process(take(worker).id, error, max_attempts=1)
    assert failure.dead_letter_id is not None
    return failure.dead_letter_id


# Retries -----------------------------------------------------------------------------------


def test_fail_counts_the_attempt_and_schedules_a_retry(wq: Worqr, worker: Worqr, raw: redis.Redis) -> None:
    wq.enqueue("jobs", "a")
    first = take(worker)
    assert first.attempt == 1
    assert worker.fail_process(first.id, ValueError("boom")) == Failure(attempts=1, dead_letter_id=None)
    assert (wq.count_delayed("jobs"), wq.count_queue("jobs"), wq.count_dead_letters("jobs")) == (1, 0, 0)
    assert stored_attempts(raw, wq, b"a") == 1
    second = take(worker)  # retry_delay 0: due at once, promoted by this dequeue
    assert (second.task, second.attempt) == ("a", 2)
    assert second.id != first.id
    with pytest.raises(ProcessLostError):
        worker.finish_process(first.id)
    worker.finish_process(second.id)
    assert stored_attempts(raw, wq, b"a") is None  # finish clears the count


def test_a_retried_task_goes_to_the_back_of_the_queue(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", ["a", "b"])
    worker.fail_process(take(worker).id, "boom")
    assert [take(worker).task, take(worker).task] == ["b", "a"]


def test_attempts_survive_the_worker(wq: Worqr, make_worqr: MakeWorqr) -> None:
    wq.enqueue("jobs", "a")
    for attempt in (1, 2):
        with working(make_worqr()) as mortal:
            process = take(mortal)
            assert process.attempt == attempt  # read from Redis by a client that never saw the task
            assert mortal.fail_process(process.id, "boom", max_attempts=3).dead_letter_id is None
    last = working(make_worqr())
    process = take(last)
    assert process.attempt == 3
    failure = last.fail_process(process.id, "boom", max_attempts=3)
    assert failure.attempts == 3 and failure.dead_letter_id is not None
    assert [d.attempts for d in wq.get_dead_letters("jobs")] == [3]


def test_retry_delay_is_honoured_by_server_time(wq: Worqr, worker: Worqr, raw: redis.Redis) -> None:
    wq.enqueue("jobs", "a")
    worker.fail_process(take(worker).id, "boom", retry_delay=0.4)
    ((_, due),) = delayed_entries(raw, wq)
    assert (wq.count_delayed("jobs"), wq.count_queue("jobs")) == (1, 0)
    retried = dequeue_once_due(worker, raw, due)
    assert (retried.task, retried.attempt) == ("a", 2)
    assert wq.count_delayed("jobs") == 0


def test_max_attempts_none_retries_forever(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", "a")
    for attempt in range(1, 6):
        process = take(worker)
        assert process.attempt == attempt
        assert worker.fail_process(process.id, "boom", max_attempts=None) == Failure(attempt, None)
    assert wq.count_dead_letters("jobs") == 0


def test_cancel_removes_a_retried_task_and_clears_its_attempts(wq: Worqr, worker: Worqr, raw: redis.Redis) -> None:
    wq.enqueue("jobs", "a", unique=True)
    worker.fail_process(take(worker).id, "boom", retry_delay=60)
    assert wq.cancel_tasks("jobs", "a") == 1
    assert (wq.count_delayed("jobs"), stored_attempts(raw, wq, b"a")) == (0, None)
    assert wq.enqueue("jobs", "a", unique=True) == 1  # marker cleared too
    assert take(worker).attempt == 1


def test_delete_queue_drops_retried_tasks_and_attempts_but_keeps_dead_letters(
    wq: Worqr, worker: Worqr, raw: redis.Redis
) -> None:
    dead_id = dead_letter(wq, worker, "dead")
    wq.enqueue("jobs", ["retried", "waiting"])
    worker.fail_process(take(worker).id, "boom", retry_delay=60)
    assert wq.delete_queue("jobs") == 2
    assert (wq.count_delayed("jobs"), wq.count_queue("jobs")) == (0, 0)
    assert not raw.exists(keys_of(wq).attempts)
    assert [d.id for d in wq.get_dead_letters("jobs")] == [dead_id]


def test_retry_publishes_a_scheduled_event_with_the_delay(wq: Worqr, worker: Worqr) -> None:
    events: list[Event] = []
    wq.on("jobs", events.append)
    wq.enqueue("jobs", "a")
    worker.fail_process(take(worker).id, "boom", retry_delay=1.5)
    wait_until(lambda: any(e.type == "scheduled" for e in events))
    assert [e for e in events if e.type == "scheduled"] == [Event("scheduled", "jobs", "1500")]


# Unique markers ----------------------------------------------------------------------------


def test_a_retried_unique_task_stays_marked_and_a_dead_lettered_one_is_unmarked(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", "u", unique=True)
    worker.fail_process(take(worker).id, "boom", max_attempts=2, retry_delay=60)
    with pytest.raises(DuplicateTaskError):
        wq.enqueue("jobs", "u", unique=True)
    assert (wq.count_queue("jobs"), wq.count_delayed("jobs")) == (0, 1)
    wq.cancel_tasks("jobs", "u")
    wq.enqueue("jobs", "u", unique=True)
    worker.fail_process(take(worker).id, "boom", max_attempts=1)
    assert wq.enqueue("jobs", "u", unique=True) == 1


# Dead letters ------------------------------------------------------------------------------


def test_dead_letter_keeps_error_type_message_attempts_time_and_worker(
    wq: Worqr, worker: Worqr, raw: redis.Redis
) -> None:
    message = "card declined\ncode: 51\n\n  été\n"
    wq.enqueue("jobs", "pay 12")
    worker.fail_process(take(worker).id, "first try", max_attempts=2)
    before = server_ms(raw)
    failure = worker.fail_process(take(worker).id, PaymentDeclinedError(message), max_attempts=2)
    after = server_ms(raw)
    assert failure.attempts == 2 and failure.dead_letter_id is not None
    (letter,) = wq.get_dead_letters("jobs")
    assert letter == DeadLetter(
        id=failure.dead_letter_id,
        queue="jobs",
        task="pay 12",
        error_type="PaymentDeclinedError",
        error=message,
        attempts=2,
        failed_at=letter.failed_at,
        worker_id=worker.worker_id,
    )
    assert letter.failed_at.tzinfo is not None
    assert before <= round(letter.failed_at.timestamp() * 1000) <= after
    assert wq.count_dead_letters("jobs") == 1
    assert (wq.count_queue("jobs"), wq.count_delayed("jobs")) == (0, 0)
    assert stored_attempts(raw, wq, b"pay 12") is None


def test_a_str_error_is_kept_as_type_error(wq: Worqr, worker: Worqr) -> None:
    dead_letter(wq, worker, "a", "it broke")
    dead_letter(wq, worker, "b", "")
    assert [(d.error_type, d.error) for d in wq.get_dead_letters("jobs")] == [("Error", "it broke"), ("Error", "")]


def test_an_error_message_with_lone_surrogates_is_stored_escaped(wq: Worqr, worker: Worqr) -> None:
    dead_letter(wq, worker, "a", RuntimeError("cannot open /tmp/\udcff"))  # a surrogateescape'd file name
    (letter,) = wq.get_dead_letters("jobs")
    assert (letter.error_type, letter.error) == ("RuntimeError", "cannot open /tmp/\\udcff")


def test_requeue_one_several_or_all_to_the_back_with_fresh_attempts(wq: Worqr, worker: Worqr) -> None:
    ids = {task: dead_letter(wq, worker, task) for task in ["a", "b", "c", "d"]}
    wq.enqueue("jobs", "waiting")
    assert wq.requeue_dead_letters("jobs", ids["b"]) == 1
    assert wq.get_tasks("jobs") == ["waiting", "b"]
    assert wq.requeue_dead_letters("jobs", [ids["d"], "999999", ids["d"]]) == 1  # unknown skipped, repeats once
    assert wq.requeue_dead_letters("jobs", [ids["b"]]) == 0  # already requeued
    assert [d.task for d in wq.get_dead_letters("jobs")] == ["a", "c"]
    assert wq.requeue_dead_letters("jobs") == 2  # all, oldest first
    assert wq.get_tasks("jobs") == ["waiting", "b", "d", "a", "c"]
    assert wq.count_dead_letters("jobs") == 0
    take(worker)
    assert [take(worker).attempt for _ in range(4)] == [1, 1, 1, 1]


def test_requeue_all_keeps_the_order_they_failed_in(wq: Worqr, worker: Worqr) -> None:
    tasks = [f"t{i}" for i in range(200)]  # over 128 fields: the hash is no longer kept in insertion order
    wq.enqueue("jobs", tasks)
    for process in [take(worker) for _ in tasks]:
        worker.fail_process(process.id, "boom", max_attempts=1)
    assert [d.task for d in wq.get_dead_letters("jobs")] == tasks
    assert wq.requeue_dead_letters("jobs") == len(tasks)
    assert wq.get_tasks("jobs") == tasks


def test_requeue_publishes_work_and_lists_the_queue(wq: Worqr, worker: Worqr) -> None:
    dead_id = dead_letter(wq, worker, "a")
    wq.delete_queue("jobs")
    assert "jobs" not in wq.get_queues()
    events: list[Event] = []
    wq.on("jobs", events.append)
    wq.requeue_dead_letters("jobs", dead_id)
    wait_until(lambda: Event("work", "jobs", "1") in events)
    assert "jobs" in wq.get_queues()


def test_purge_one_or_all(wq: Worqr, worker: Worqr) -> None:
    ids = [dead_letter(wq, worker, task) for task in ["a", "b", "c"]]
    assert wq.purge_dead_letters("jobs", ids[1]) == 1
    assert wq.purge_dead_letters("jobs", ["999999", ids[1]]) == 0
    assert [d.task for d in wq.get_dead_letters("jobs")] == ["a", "c"]
    assert wq.purge_dead_letters("jobs") == 2
    assert wq.count_dead_letters("jobs") == 0
    assert wq.purge_dead_letters("jobs") == 0
    assert (wq.count_queue("jobs"), wq.count_delayed("jobs")) == (0, 0)


def test_binary_payloads_survive_the_dead_letter_envelope(wq: Worqr, worker: Worqr) -> None:
    blobs = worker.queue("bin", BytesCodec())
    worker.start_work("bin")
    payloads = [b"12\n34\n", b"\x00\xff\n5\n\n", b"7", b"3\n3\n3\n3\n3\nabc", b"\n"]
    message = "line 1\n2\n\n3 é\n"
    for payload in payloads:
        blobs.enqueue(payload)
        process = blobs.dequeue()
        assert process is not None
        worker.fail_process(process.id, RuntimeError(message), max_attempts=1)
    letters = blobs.dead_letters()
    assert [d.task for d in letters] == payloads
    assert {(d.error_type, d.error, d.attempts) for d in letters} == {("RuntimeError", message, 1)}
    assert blobs.count_dead_letters() == len(payloads)
    assert blobs.requeue_dead_letters([letters[0].id, letters[1].id]) == 2
    assert blobs.purge_dead_letters(letters[2].id) == 1
    assert blobs.requeue_dead_letters() == 2
    assert blobs.tasks() == [payloads[0], payloads[1], payloads[3], payloads[4]]


# Reaping -----------------------------------------------------------------------------------


def test_a_peer_reaping_a_dead_worker_counts_an_attempt(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    victim, peer = working(make_worqr(**FAST)), working(make_worqr(**FAST))
    peer.enqueue("jobs", ["a", "b", "c"])
    for _ in range(2):
        take(victim)
    expire(victim, raw)
    assert peer.cleanup_workers() == [victim.worker_id]
    assert [stored_attempts(raw, peer, t) for t in (b"a", b"b", b"c")] == [1, 1, None]
    assert [(p.task, p.attempt) for p in (take(peer), take(peer), take(peer))] == [("a", 2), ("b", 2), ("c", 1)]


def test_racing_reapers_count_each_interrupted_task_once(make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    victim = working(make_worqr(**FAST))
    reapers = [make_worqr(**FAST) for _ in range(4)]
    tasks = [f"t{i}" for i in range(30)]
    victim.enqueue("jobs", tasks)
    for _ in tasks:
        take(victim)
    expire(victim, raw)
    barrier = threading.Barrier(len(reapers))

    def run(client: Worqr) -> None:
        barrier.wait()
        client.cleanup_workers()

    threads = [threading.Thread(target=run, args=(c,)) for c in reapers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert raw.hgetall(keys_of(victim).attempts) == {t.encode(): b"1" for t in tasks}


def test_clean_leaves_count_no_attempt(wq: Worqr, make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    wq.enqueue("jobs", "a")
    worker = working(make_worqr())
    worker.stop_process(take(worker).id)
    take(worker)
    worker.stop_work("jobs")  # requeues what it holds
    worker.start_work("jobs")
    take(worker)
    worker.fail_worker()  # its own: a clean leave
    working(worker)
    take(worker)
    worker.close()
    assert stored_attempts(raw, wq, b"a") is None
    assert take(working(make_worqr())).attempt == 1


def test_a_task_that_used_its_attempts_in_dead_workers_reports_it(wq: Worqr, make_worqr: MakeWorqr) -> None:
    wq.enqueue("jobs", "poison")
    for attempt in (1, 2, 3):
        doomed = working(make_worqr())
        pause_heartbeat(doomed)  # it hangs: only a peer can take the task back
        assert take(doomed).attempt == attempt
        wq.fail_worker(doomed.worker_id)
    survivor = working(make_worqr())
    process = take(survivor)
    assert process.attempt == 4  # more than max_attempts=3: the runtime dead-letters it unrun
    failure = survivor.fail_process(process.id, "killed every worker", max_attempts=3, retry_delay=60)
    assert failure.dead_letter_id is not None
    assert wq.count_delayed("jobs") == 0


def test_an_uncounted_failure_only_checks_the_limit(wq: Worqr, worker: Worqr, make_worqr: MakeWorqr) -> None:
    """The runtime fails a task that used its attempts in dead workers without running it:
    that failure must not count another attempt."""
    wq.enqueue("jobs", "a")
    doomed = working(make_worqr())
    take(doomed)
    wq.fail_worker(doomed.worker_id)
    once = take(worker)
    assert once.attempt == 2
    uncounted = flows.fail_process(worker._session, once.id, "skipped", max_attempts=3, retry_delay=0, counted=False)
    assert worker._drive(uncounted) == Failure(1, None)
    twice = take(worker)
    assert twice.attempt == 2
    uncounted = flows.fail_process(worker._session, twice.id, "skipped", max_attempts=1, retry_delay=0, counted=False)
    failure = worker._drive(uncounted)
    assert failure.attempts == 1 and failure.dead_letter_id is not None


# Ownership ---------------------------------------------------------------------------------


def test_a_zombie_cannot_fail_a_requeued_process(wq: Worqr, make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    zombie = working(make_worqr())
    wq.enqueue("jobs", "a")
    held = take(zombie)
    pause_heartbeat(zombie)
    wq.fail_worker(zombie.worker_id)
    before = snapshot(raw, wq.prefix)
    with pytest.raises(ProcessLostError) as caught:
        zombie.fail_process(held.id, "late", max_attempts=1)
    assert caught.value.process_id == held.id
    assert snapshot(raw, wq.prefix) == before
    assert wq.inspect_queues(["jobs"])[0].counters.fenced == 1
    assert stored_attempts(raw, wq, b"a") == 1  # the reap's, not the zombie's
    assert (wq.get_tasks("jobs"), wq.count_dead_letters("jobs")) == (["a"], 0)


def test_fail_refuses_a_finished_failed_or_foreign_process(wq: Worqr, worker: Worqr, make_worqr: MakeWorqr) -> None:
    other = working(make_worqr())
    wq.enqueue("jobs", ["a", "b"])
    finished, failed = take(worker), take(worker)
    worker.finish_process(finished.id)
    worker.fail_process(failed.id, "boom", retry_delay=60)
    for process_id in (finished.id, failed.id):
        with pytest.raises(ProcessLostError):
            worker.fail_process(process_id, "again")
    wq.enqueue("jobs", "c")
    mine = take(worker)
    with pytest.raises(ProcessLostError):
        other.fail_process(mine.id, "not yours")
    assert wq.count_delayed("jobs") == 1
    worker.finish_process(mine.id)


# Bad input ---------------------------------------------------------------------------------


BAD_FAIL_ARGUMENTS: list[tuple[dict[str, object], str]] = [
    ({"max_attempts": 0}, "max_attempts"),
    ({"max_attempts": -1}, "max_attempts"),
    ({"max_attempts": True}, "max_attempts"),
    ({"max_attempts": 2.0}, "max_attempts"),
    ({"max_attempts": "3"}, "max_attempts"),
    ({"retry_delay": -0.5}, "retry_delay"),
    ({"retry_delay": float("nan")}, "retry_delay"),
    ({"retry_delay": float("inf")}, "retry_delay"),
    ({"retry_delay": True}, "retry_delay"),
    ({"retry_delay": "1"}, "retry_delay"),
    ({"retry_delay": None}, "retry_delay"),
    ({"error": 42}, "error must be an exception or a str"),
    ({"error": None}, "error must be an exception or a str"),
    ({"error": b"boom"}, "error must be an exception or a str"),
]


def test_bad_fail_arguments_are_refused_before_any_write(wq: Worqr, worker: Worqr, raw: redis.Redis) -> None:
    wq.enqueue("jobs", "a")
    process = take(worker)
    before = snapshot(raw, wq.prefix)
    for kwargs, match in BAD_FAIL_ARGUMENTS:
        arguments: dict[str, object] = {"error": "boom", **kwargs}
        with pytest.raises(InvalidArgumentError, match=match):
            worker.fail_process(process.id, **arguments)  # type: ignore[arg-type]
        assert snapshot(raw, wq.prefix) == before, kwargs
    worker.finish_process(process.id)  # still held


BAD_DEAD_LETTER_IDS: list[object] = [[], "", "x", "-1", "1.5", " 1", "\u0661", 5, [5], ["1", None], b"1"]


@pytest.mark.parametrize("operation", ["requeue_dead_letters", "purge_dead_letters"])
def test_bad_dead_letter_ids_are_refused_before_any_write(
    wq: Worqr, worker: Worqr, raw: redis.Redis, operation: str
) -> None:
    dead_letter(wq, worker, "a")
    before = snapshot(raw, wq.prefix)
    for ids in [*BAD_DEAD_LETTER_IDS, iter([])]:
        with pytest.raises(InvalidArgumentError, match=r"ids|dead letter id"):
            getattr(wq, operation)("jobs", ids)
        assert snapshot(raw, wq.prefix) == before, ids  # an empty list does not mean "all"
    assert wq.count_dead_letters("jobs") == 1


# asyncio -----------------------------------------------------------------------------------


async def test_async_fail_retries_then_dead_letters(make_async_worqr: MakeAsyncWorqr, raw: redis.Redis) -> None:
    worker = make_async_worqr()
    await worker.start_worker()
    await worker.start_work("jobs")
    await worker.enqueue("jobs", "a")
    first = await worker.dequeue("jobs")
    assert first is not None and first.attempt == 1
    assert await worker.fail_process(first.id, ValueError("boom"), max_attempts=2) == Failure(1, None)
    assert await worker.count_delayed("jobs") == 1
    assert stored_attempts(raw, worker, b"a") == 1
    second = await worker.dequeue("jobs")
    assert second is not None and second.attempt == 2
    failure = await worker.fail_process(second.id, ValueError("boom\nagain"), max_attempts=2)
    assert failure.attempts == 2 and failure.dead_letter_id is not None
    (letter,) = await worker.get_dead_letters("jobs")
    assert (letter.task, letter.error_type, letter.error, letter.worker_id) == (
        "a",
        "ValueError",
        "boom\nagain",
        worker.worker_id,
    )
    assert isinstance(letter.failed_at, datetime)
    assert await worker.count_dead_letters("jobs") == 1
    assert await worker.requeue_dead_letters("jobs", letter.id) == 1
    retried = await worker.dequeue("jobs")
    assert retried is not None and retried.attempt == 1
    with pytest.raises(ProcessLostError):
        await worker.fail_process(first.id, "zombie")
    with pytest.raises(InvalidArgumentError):
        await worker.fail_process(retried.id, "boom", max_attempts=0)
    with pytest.raises(InvalidArgumentError):
        await worker.requeue_dead_letters("jobs", [])


async def test_async_queue_view_dead_letter_operations(make_async_worqr: MakeAsyncWorqr) -> None:
    worker = make_async_worqr()
    await worker.start_worker()
    await worker.start_work("bin")
    blobs = worker.queue("bin", BytesCodec())
    payloads = [b"1\n2\n", b"\xff:\x00", b"3"]
    for payload in payloads:
        await blobs.enqueue(payload)
        process = await blobs.dequeue()
        assert process is not None
        await worker.fail_process(process.id, "boom", max_attempts=1)
    letters = await blobs.dead_letters()
    assert [d.task for d in letters] == payloads
    assert await blobs.count_dead_letters() == 3
    assert await blobs.purge_dead_letters(letters[0].id) == 1
    assert await blobs.requeue_dead_letters([letters[2].id]) == 1
    assert await blobs.tasks() == [b"3"]
    assert await blobs.purge_dead_letters() == 1
    assert await blobs.count_dead_letters() == 0
    assert await blobs.count_delayed() == 0
