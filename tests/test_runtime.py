"""The synchronous worker runtime (`Worqr.worker` / `persistent_worker` -> `Worker`), in
process, against a real server: handlers, concurrency, priority, wake-ups, failures and
retries, timeouts, cancellation, delays, shutdown, persistent tasks, loss, and bad options.
Real OS processes (SIGKILL, SIGSTOP, SIGTERM) are in tests/scenarios."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

import pytest
import redis

from tests.helpers import pause_heartbeat, wait_until
from tests.runtime_helpers import (
    FAST,
    LONG,
    QUICK,
    DoneEvents,
    PaymentDeclinedError,
    declare_dead,
    handler,
    held_until_told,
    keys_of,
    server_seconds,
    settled,
    started,
)
from worqr import (
    Backoff,
    InvalidArgumentError,
    JsonCodec,
    Process,
    Worker,
    WorkerLostError,
    Worqr,
    WorqrError,
    cancel_token,
)
from worqr._protocol.keys import QueueKeys

MakeWorqr = Callable[..., Worqr]


@dataclass(frozen=True)
class Order:
    id: int
    item: str


class Running:
    """Counts handlers running at once, and the most seen."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self.now -= 1


@pytest.fixture
def wq(make_worqr: MakeWorqr) -> Worqr:
    """A producer (and observer) client."""
    return make_worqr(**FAST)


@pytest.fixture
def client(make_worqr: MakeWorqr) -> Worqr:
    """The client the runtime worker runs on."""
    return make_worqr(**FAST)


@pytest.fixture
def stopping() -> Iterator[list[Worker[Any]]]:
    """Workers to stop at once after the test, so a failing test never waits for a grace."""
    workers: list[Worker[Any]] = []
    yield workers
    for worker in workers:
        worker.stop(grace=0)


def pending_key(client: Worqr, queue: str) -> str:
    return QueueKeys(client.prefix, queue).pending


def stored_attempts(raw: redis.Redis, client: Worqr, task: str, queue: str = "jobs") -> bytes | None:
    return cast("bytes | None", raw.hget(QueueKeys(client.prefix, queue).attempts, task))


# Handlers ----------------------------------------------------------------------------------


def test_handlers_run_and_their_results_reach_done_events(
    wq: Worqr, client: Worqr, stopping: list[Worker[Any]]
) -> None:
    done = DoneEvents(wq)
    worker = started(client.worker("jobs", lambda p: {"upper": p.task.upper(), "attempt": p.attempt}), stopping)
    wq.enqueue("jobs", ["a", "b", "c"])
    wait_until(lambda: len(done.messages) == 3)
    assert done.results() == {t: {"upper": t.upper(), "attempt": 1} for t in "abc"}
    assert {m["worker_id"] for m in done.messages} == {client.worker_id}
    settled(worker, processed=3)
    assert wq.count_queue("jobs") == 0


def test_a_typed_queue_gives_the_handler_typed_tasks_and_their_attempt(
    wq: Worqr, client: Worqr, stopping: list[Worker[Any]]
) -> None:
    seen: list[tuple[object, int]] = []

    def handle(process: Process[Order]) -> str:
        seen.append((process.task, process.attempt))
        return process.task.item

    done = DoneEvents(wq, "orders")
    started(client.worker(client.queue("orders", JsonCodec(Order)), handle), stopping)
    wq.queue("orders", JsonCodec(Order)).enqueue_many([Order(1, "tea"), Order(2, "jam")])
    wait_until(lambda: len(done.messages) == 2)
    assert seen == [(Order(1, "tea"), 1), (Order(2, "jam"), 1)]
    assert sorted(m["result"] for m in done.messages) == ["jam", "tea"]


# Concurrency and priority ------------------------------------------------------------------


def test_concurrency_caps_the_handlers_running_at_once(wq: Worqr, client: Worqr, stopping: list[Worker[Any]]) -> None:
    running, gate = Running(), threading.Event()

    def handle(process: Process[str]) -> None:
        with running:
            assert gate.wait(LONG)

    worker = started(client.worker("jobs", handle, concurrency=3), stopping)
    wq.enqueue("jobs", [str(i) for i in range(7)])
    wait_until(lambda: running.now == 3)
    assert wq.count_queue("jobs") == 4
    assert worker.stats.in_flight == 3
    gate.set()
    wait_until(lambda: worker.stats.processed == 7)
    assert running.most == 3


def test_concurrency_is_reached_when_as_many_tasks_wait(wq: Worqr, client: Worqr, stopping: list[Worker[Any]]) -> None:
    together = threading.Barrier(4)

    def handle(process: Process[str]) -> None:
        together.wait(LONG)  # breaks (and fails the task) unless 4 handlers run at once

    worker = started(client.worker("jobs", handle, concurrency=4, backoff=QUICK), stopping)
    wq.enqueue("jobs", ["a", "b", "c", "d"])
    wait_until(lambda: worker.stats.processed == 4)
    assert worker.stats.failed == 0


def test_an_earlier_queue_drains_before_a_later_one(wq: Worqr, client: Worqr, stopping: list[Worker[Any]]) -> None:
    order: list[tuple[str, str]] = []
    wq.enqueue("low", [f"low-{i}" for i in range(5)])
    wq.enqueue("high", [f"high-{i}" for i in range(5)])
    worker = started(client.worker(["high", "low"], lambda p: order.append((p.queue, p.task))), stopping)
    wait_until(lambda: worker.stats.processed == 10)
    assert order == [("high", f"high-{i}") for i in range(5)] + [("low", f"low-{i}") for i in range(5)]
    assert worker.queues == ["high", "low"]


# Waking up ---------------------------------------------------------------------------------


def test_a_task_that_arrived_without_a_work_event_is_picked_up_by_polling(
    client: Worqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    seen: list[str] = []
    worker = started(client.worker("jobs", lambda p: seen.append(p.task)), stopping)
    raw.rpush(pending_key(client, "jobs"), "sneaked in")  # no work event announces it
    wait_until(lambda: seen == ["sneaked in"], timeout=3.0)  # poll_interval is 0.2 s
    settled(worker, processed=1)


def test_an_idle_worker_does_not_busy_loop(
    make_worqr: MakeWorqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    poll, beat = 0.2, 0.5
    client = make_worqr(heartbeat_interval=beat, worker_timeout=2.0, cleanup_interval=60.0, poll_interval=poll)
    started(client.worker(["jobs", "other"], lambda _p: None), stopping)

    def script_calls() -> int:
        stats = cast("dict[str, dict[str, int]]", raw.info("commandstats"))
        return stats.get("cmdstat_evalsha", {}).get("calls", 0)

    before = script_calls()
    time.sleep(1.0)  # the window measured, not a synchronization
    calls = script_calls() - before
    # One dequeue per queue per poll, plus heartbeats; a busy loop would make thousands.
    bound = 2 * (1.0 / poll + 2) + (1.0 / beat + 2)
    assert calls <= bound, f"{calls} script calls in an idle second (bound {bound})"


# Failures and retries ----------------------------------------------------------------------


def test_a_failing_task_is_retried_with_backoff_then_dead_lettered_with_its_error(
    wq: Worqr, client: Worqr, stopping: list[Worker[Any]]
) -> None:
    attempts: list[int] = []

    def handle(process: Process[str]) -> None:
        attempts.append(process.attempt)
        raise PaymentDeclinedError(f"card declined on attempt {process.attempt}")

    worker = started(client.worker("jobs", handle, max_attempts=3, backoff=QUICK), stopping)
    wq.enqueue("jobs", "charge")
    wait_until(lambda: wq.count_dead_letters("jobs") == 1)
    assert attempts == [1, 2, 3]
    (letter,) = wq.get_dead_letters("jobs")
    assert (letter.task, letter.error_type, letter.error, letter.attempts) == (
        "charge", "PaymentDeclinedError", "card declined on attempt 3", 3,
    )  # fmt: skip
    assert letter.worker_id == client.worker_id
    settled(worker, processed=0, failed=3, retried=2, dead_lettered=1)
    assert wq.count_queue("jobs") == wq.count_delayed("jobs") == 0


def test_a_retry_waits_for_its_backoff_delay_by_the_server_clock(
    make_worqr: MakeWorqr, wq: Worqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    client = make_worqr(**{**FAST, "poll_interval": 60.0})  # woken by the retry's due time, not a poll
    failed_at: list[float] = []
    retried_at: list[float] = []

    def handle(process: Process[str]) -> None:
        if process.attempt == 1:
            failed_at.append(server_seconds(raw))
            raise PaymentDeclinedError("try again later")
        retried_at.append(server_seconds(raw))

    worker = started(client.worker("jobs", handle, backoff=Backoff(base=0.3, jitter=0)), stopping)
    wq.enqueue("jobs", "charge")
    settled(worker, processed=1, failed=1, retried=1)
    assert retried_at[0] - failed_at[0] >= 0.3 - 0.01  # not before the backoff, by the server's clock


def test_max_attempts_none_retries_forever(wq: Worqr, client: Worqr, stopping: list[Worker[Any]]) -> None:
    attempts: list[int] = []

    def handle(process: Process[str]) -> str:
        attempts.append(process.attempt)
        if process.attempt < 6:  # twice the default limit
            raise PaymentDeclinedError("not yet")
        return "paid"

    worker = started(client.worker("jobs", handle, max_attempts=None, backoff=QUICK), stopping)
    wq.enqueue("jobs", "charge")
    settled(worker, processed=1, failed=5, retried=5, dead_lettered=0)
    assert attempts == [1, 2, 3, 4, 5, 6]
    assert wq.count_dead_letters("jobs") == 0


def test_a_task_that_succeeds_on_its_second_attempt_is_finished_and_its_attempts_cleared(
    wq: Worqr, client: Worqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    attempts: list[int] = []

    def handle(process: Process[str]) -> int:
        attempts.append(process.attempt)
        if process.attempt == 1:
            raise PaymentDeclinedError("flaky")
        return process.attempt

    done = DoneEvents(wq)
    worker = started(client.worker("jobs", handle, backoff=QUICK), stopping)
    wq.enqueue("jobs", "charge")
    wait_until(lambda: len(done.messages) == 1)
    assert done.results() == {"charge": 2}
    settled(worker, processed=1, failed=1, retried=1, dead_lettered=0)
    assert stored_attempts(raw, wq, "charge") is None
    wq.enqueue("jobs", "charge")  # the same payload starts afresh
    wait_until(lambda: len(done.messages) == 2)
    assert attempts == [1, 2, 1, 2]


# Timeouts ----------------------------------------------------------------------------------


def test_a_handler_past_its_timeout_fails_the_attempt_and_its_late_result_is_rejected(
    wq: Worqr, client: Worqr, caplog: pytest.LogCaptureFixture, stopping: list[Worker[Any]]
) -> None:
    caplog.set_level(logging.DEBUG, logger="worqr")
    reasons: list[str | None] = []

    def handle(process: Process[str]) -> str:
        if process.attempt == 1:
            reasons.append(held_until_told(process))
            return "late"
        return "on time"

    done = DoneEvents(wq)
    worker = started(client.worker("jobs", handle, timeout=0.2, backoff=QUICK), stopping)
    wq.enqueue("jobs", "slow")
    wait_until(lambda: any("late result" in r.getMessage() for r in caplog.records))
    wait_until(lambda: len(done.messages) == 1)
    assert reasons == ["timeout"]
    assert done.results() == {"slow": "on time"}
    messages = [r.getMessage() for r in caplog.records]
    assert any("late result after the timeout was rejected" in m for m in messages)
    assert not any("late result was accepted" in m for m in messages)
    settled(worker, processed=1, failed=1, retried=1)


def test_late_results_of_handlers_that_timed_out_together_are_all_rejected(
    wq: Worqr, client: Worqr, caplog: pytest.LogCaptureFixture, stopping: list[Worker[Any]]
) -> None:
    """Each handler, told of its timeout, returns at once: its late result must meet a
    process already failed, however many time out in the same round."""
    caplog.set_level(logging.WARNING, logger="worqr")
    tasks = [f"t{i}" for i in range(8)]

    def handle(process: Process[str]) -> str:
        if process.attempt == 1:
            held_until_told(process)
            return "late"
        return "on time"

    done = DoneEvents(wq)
    worker = started(client.worker("jobs", handle, concurrency=8, timeout=0.2, backoff=QUICK), stopping)
    wq.enqueue("jobs", tasks)
    wait_until(lambda: sum("late result" in r.getMessage() for r in caplog.records) == 8)
    wait_until(lambda: len(done.messages) == 8)
    assert done.results() == dict.fromkeys(tasks, "on time")
    assert sum("late result after the timeout was rejected" in r.getMessage() for r in caplog.records) == 8
    settled(worker, processed=8, failed=8, retried=8)


def test_a_timed_out_task_at_its_last_attempt_is_dead_lettered_as_a_timeout(
    wq: Worqr, client: Worqr, stopping: list[Worker[Any]]
) -> None:
    worker = started(client.worker("jobs", held_until_told, timeout=0.1, max_attempts=1), stopping)
    wq.enqueue("jobs", "slow")
    wait_until(lambda: wq.count_dead_letters("jobs") == 1)
    (letter,) = wq.get_dead_letters("jobs")
    assert letter.error_type == "TimeoutError"
    assert "timeout of 0.1 s" in letter.error
    wait_until(lambda: worker.stats.in_flight == 0)
    assert worker.stats.processed == 0


# Cancellation ------------------------------------------------------------------------------


def test_cancel_tells_a_running_handler_and_finishes_its_process_as_cancelled(
    wq: Worqr, client: Worqr, stopping: list[Worker[Any]]
) -> None:
    reasons: list[str | None] = []
    worker = started(client.worker("jobs", lambda p: reasons.append(held_until_told(p))), stopping)
    wq.enqueue("jobs", "long job")
    wait_until(lambda: worker.stats.in_flight == 1)
    wq.cancel_tasks("jobs", "long job")
    wait_until(lambda: worker.stats.cancelled == 1)
    assert reasons == ["cancelled"]
    stats = worker.stats
    assert (stats.processed, stats.failed, stats.retried, stats.released, stats.in_flight) == (0, 0, 0, 0, 0)
    assert wq.count_queue("jobs") == wq.count_delayed("jobs") == wq.count_dead_letters("jobs") == 0
    assert wq.get_matching_processes("long job") == []


def test_a_handler_can_raise_when_told_and_is_still_finished_as_cancelled(
    wq: Worqr, client: Worqr, stopping: list[Worker[Any]]
) -> None:
    def handle(process: Process[str]) -> None:
        token = cancel_token()
        token.wait(LONG)
        token.raise_if_cancelled()

    worker = started(client.worker("jobs", handle), stopping)
    wq.enqueue("jobs", "long job")
    wait_until(lambda: worker.stats.in_flight == 1)
    wq.cancel_tasks("jobs", "long job")
    wait_until(lambda: worker.stats.cancelled == 1)
    assert (worker.stats.failed, wq.count_delayed("jobs"), wq.count_queue("jobs")) == (0, 0, 0)


def test_cancel_token_outside_a_handler_raises() -> None:
    with pytest.raises(RuntimeError, match="only available inside a handler"):
        cancel_token()


# Delays ------------------------------------------------------------------------------------


def test_a_delayed_task_is_run_when_due_by_an_idle_worker_without_polling(
    make_worqr: MakeWorqr, wq: Worqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    client = make_worqr(**{**FAST, "poll_interval": 60.0})  # polling would come far too late
    ran_at: list[float] = []
    started(client.worker("jobs", lambda _p: ran_at.append(server_seconds(raw))), stopping)
    due = server_seconds(raw) + 0.3
    wq.enqueue("jobs", "later", delay=0.3)
    wait_until(lambda: len(ran_at) == 1, timeout=5.0)
    assert ran_at[0] >= due - 0.01  # not before it was due, by the server's clock


def test_a_task_scheduled_at_a_datetime_is_run_when_due(
    make_worqr: MakeWorqr, wq: Worqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    client = make_worqr(**{**FAST, "poll_interval": 60.0})
    ran_at: list[float] = []
    started(client.worker("jobs", lambda _p: ran_at.append(server_seconds(raw))), stopping)
    due = server_seconds(raw) + 0.3
    wq.enqueue("jobs", "at noon", at=datetime.fromtimestamp(due, tz=timezone.utc))
    wait_until(lambda: len(ran_at) == 1, timeout=5.0)
    assert ran_at[0] >= due - 0.01


# Shutdown ----------------------------------------------------------------------------------


def test_stop_lets_running_handlers_finish_within_grace(wq: Worqr, client: Worqr, stopping: list[Worker[Any]]) -> None:
    started_work, told = threading.Event(), []

    def handle(process: Process[str]) -> str:
        started_work.set()
        told.append(cancel_token().wait(0.5))  # half a second of work, unless told to stop
        return "finished"

    done = DoneEvents(wq)
    worker = started(client.worker("jobs", handle), stopping)
    wq.enqueue("jobs", "a")
    assert started_work.wait(LONG)
    worker.request_stop(grace=LONG)
    wq.enqueue("jobs", ["b", "c"])  # arrives after the stop: not taken
    worker.stop()  # waits, and keeps the grace the request gave
    assert not worker.running
    assert told == [False]
    wait_until(lambda: len(done.messages) == 1)
    assert done.results() == {"a": "finished"}
    assert wq.get_tasks("jobs") == ["b", "c"]
    assert client.get_working_queues() == []


def test_a_second_stop_with_zero_grace_hurries_shutdown(wq: Worqr, client: Worqr) -> None:
    reasons: list[str | None] = []
    worker = client.worker("jobs", lambda p: reasons.append(held_until_told(p)), grace=LONG)
    worker.start()
    wq.enqueue("jobs", "a")
    wait_until(lambda: worker.stats.in_flight == 1)
    patient = threading.Thread(target=worker.stop)
    patient.start()
    worker.stop(grace=0)
    patient.join(LONG)
    assert not worker.running
    wait_until(lambda: len(reasons) == 1)  # the handler answers in its own thread
    assert reasons == ["shutdown"]
    assert wq.get_tasks("jobs") == ["a"]


def test_a_handler_running_past_grace_is_told_and_its_tasks_go_back_to_the_front_in_order(
    wq: Worqr, client: Worqr, stopping: list[Worker[Any]]
) -> None:
    reasons: list[str | None] = []
    worker = started(client.worker("jobs", lambda p: reasons.append(held_until_told(p)), concurrency=2), stopping)
    wq.enqueue("jobs", ["a", "b", "c", "d"])
    wait_until(lambda: worker.stats.in_flight == 2)
    worker.stop(grace=0.1)
    wait_until(lambda: len(reasons) == 2)  # told before stop() returns; they answer in their own threads
    assert reasons == ["shutdown", "shutdown"]
    assert wq.get_tasks("jobs") == ["a", "b", "c", "d"]
    assert (worker.stats.released, worker.stats.processed, worker.stats.failed) == (2, 0, 0)


def test_stop_with_zero_grace_tells_handlers_at_once(wq: Worqr, client: Worqr, stopping: list[Worker[Any]]) -> None:
    reasons: list[str | None] = []
    worker = started(client.worker("jobs", lambda p: reasons.append(held_until_told(p)), grace=LONG), stopping)
    wq.enqueue("jobs", "a")
    wait_until(lambda: worker.stats.in_flight == 1)
    worker.stop(grace=0)
    wait_until(lambda: len(reasons) == 1)
    assert reasons == ["shutdown"]
    assert wq.get_tasks("jobs") == ["a"]
    assert worker.stats.released == 1


def test_request_stop_from_inside_a_handler_stops_the_worker(wq: Worqr, client: Worqr) -> None:
    def handle(process: Process[str]) -> str:
        worker.request_stop()
        return "last"

    done = DoneEvents(wq)
    worker = client.worker("jobs", handle)
    wq.enqueue("jobs", ["a", "b", "c"])
    worker.start()
    wait_until(lambda: not worker.running)
    assert done.results() == {"a": "last"}
    assert wq.get_tasks("jobs") == ["b", "c"]
    assert worker.stats.processed == 1


def test_the_context_manager_starts_and_stops_the_worker_and_frees_the_client(wq: Worqr, client: Worqr) -> None:
    with client.worker("jobs", lambda p: p.task) as worker:
        wq.enqueue("jobs", "a")
        wait_until(lambda: worker.stats.processed == 1)
    assert not worker.running
    assert client.get_working_queues() == []
    with client.worker("jobs", lambda p: p.task) as again:  # the client can run another one
        wq.enqueue("jobs", "b")
        wait_until(lambda: again.stats.processed == 1)


def test_closing_the_client_stops_its_running_worker(wq: Worqr, client: Worqr) -> None:
    reasons: list[str | None] = []
    worker = client.worker("jobs", lambda p: reasons.append(held_until_told(p)), grace=0.1)
    worker.start()
    wq.enqueue("jobs", "a")
    wait_until(lambda: worker.stats.in_flight == 1)
    client.close()
    assert not worker.running
    wait_until(lambda: len(reasons) == 1)  # the handler answers in its own thread
    assert reasons == ["shutdown"]
    assert wq.get_tasks("jobs") == ["a"]
    assert client.worker_id not in wq.get_workers()


def test_nothing_is_lost_when_a_busy_worker_stops(wq: Worqr, client: Worqr) -> None:
    done = DoneEvents(wq)
    tasks = [f"t{i}" for i in range(60)]

    def handle(process: Process[str]) -> str:
        cancel_token().wait(0.02)  # a little work, cut short by shutdown
        return process.task

    worker = client.worker("jobs", handle, concurrency=4)
    worker.start()
    wq.enqueue("jobs", tasks)
    wait_until(lambda: worker.stats.processed >= 10)
    worker.stop(grace=0)
    wait_until(lambda: len(done.messages) == worker.stats.processed)
    finished = [m["task"] for m in done.messages]
    queued = wq.get_tasks("jobs")
    assert sorted(finished + queued) == sorted(tasks)
    assert len(finished) == worker.stats.processed
    assert wq.get_matching_processes("t0") == []


# Persistent tasks --------------------------------------------------------------------------


def test_a_persistent_worker_holds_its_task_until_stop_then_gives_it_back_at_once(
    wq: Worqr, client: Worqr, stopping: list[Worker[Any]]
) -> None:
    reasons: list[str | None] = []
    worker = started(client.persistent_worker("conns", lambda p: reasons.append(held_until_told(p))), stopping)
    wq.enqueue("conns", ["conn-1", "conn-2"])
    wait_until(lambda: worker.stats.in_flight == 1)
    assert wq.get_tasks("conns") == ["conn-2"]
    worker.stop()  # the default grace is 30 s: a persistent handler is told at once
    assert reasons == ["shutdown"]
    assert wq.get_tasks("conns") == ["conn-1", "conn-2"]
    assert (worker.stats.released, worker.stats.processed) == (1, 0)


def test_a_peer_persistent_worker_takes_over_a_released_task(
    wq: Worqr, client: Worqr, make_worqr: MakeWorqr, stopping: list[Worker[Any]]
) -> None:
    holders: list[tuple[str, str]] = []

    def owner(name: str) -> Callable[[Process[str]], None]:
        def handle(process: Process[str]) -> None:
            holders.append((name, process.task))
            held_until_told(process)

        return handle

    first = started(client.persistent_worker("conns", owner("first")), stopping)
    wq.enqueue("conns", "conn-1")
    wait_until(lambda: holders == [("first", "conn-1")])
    started(make_worqr(**FAST).persistent_worker("conns", owner("second")), stopping)
    first.stop()
    wait_until(lambda: holders == [("first", "conn-1"), ("second", "conn-1")])
    assert wq.count_queue("conns") == 0


# Loss --------------------------------------------------------------------------------------


def test_a_worker_declared_dead_stops_its_handlers_and_run_raises_worker_lost(
    wq: Worqr, client: Worqr, raw: redis.Redis
) -> None:
    reasons: list[str | None] = []
    # Two slots: the free one keeps taking work, which is how the worker learns of its death
    # while its heartbeat is frozen.
    worker = client.worker("jobs", lambda p: reasons.append(held_until_told(p)), concurrency=2, restart_on_loss=False)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:  # the test inspects it
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_until(lambda: worker.running)
    wq.enqueue("jobs", "a")
    wait_until(lambda: worker.stats.in_flight == 1)
    declare_dead(client, wq, raw)
    thread.join(LONG)
    assert len(outcome) == 1
    assert isinstance(outcome[0], WorkerLostError)
    assert not worker.running
    assert reasons == ["worker lost"]
    assert wq.get_tasks("jobs") == ["a"]  # the peer requeued it, with the attempt counted
    assert stored_attempts(raw, wq, "a") == b"1"


def test_a_worker_declared_dead_goes_on_under_the_same_id_as_a_new_incarnation(
    wq: Worqr, client: Worqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    reasons: list[str | None] = []

    def handle(process: Process[str]) -> int:
        if process.task == "a" and process.attempt == 1:
            reasons.append(held_until_told(process))
        return process.attempt

    done = DoneEvents(wq)
    worker = started(client.worker("jobs", handle, concurrency=2), stopping)  # restart_on_loss: the default
    worker_id, first = client.worker_id, client._session.state.incarnation
    wq.enqueue("jobs", "a")
    wait_until(lambda: worker.stats.in_flight == 1)
    declare_dead(client, wq, raw)
    wait_until(lambda: client._session.state.incarnation not in ("", first) and not client._session.state.lost)
    wq.enqueue("jobs", "b")
    wait_until(lambda: len(done.messages) == 2)
    assert worker.running
    assert reasons == ["worker lost"]
    assert done.results() == {"a": 2, "b": 1}
    assert client.worker_id == worker_id
    assert {m["worker_id"] for m in done.messages} == {worker_id}
    assert wq.get_workers().count(worker_id) == 1


def test_a_task_whose_attempts_were_used_by_dying_workers_is_dead_lettered_unrun(
    wq: Worqr, client: Worqr, make_worqr: MakeWorqr, stopping: list[Worker[Any]]
) -> None:
    wq.enqueue("jobs", "poison")
    for _ in range(3):
        doomed = make_worqr(**FAST)
        doomed.start_worker()
        doomed.start_work("jobs")
        pause_heartbeat(doomed)
        assert doomed.dequeue("jobs") is not None
        wq.fail_worker(doomed.worker_id)  # it died holding the task: an attempt is used
    ran: list[str] = []
    worker = started(client.worker("jobs", lambda p: ran.append(p.task), max_attempts=3), stopping)
    wait_until(lambda: wq.count_dead_letters("jobs") == 1)
    (letter,) = wq.get_dead_letters("jobs")
    assert (letter.task, letter.error_type, letter.attempts) == ("poison", "WorqrError", 3)
    assert "3 attempt(s)" in letter.error and "died" in letter.error
    assert ran == []
    wait_until(lambda: worker.stats.dead_lettered == 1)
    assert (worker.stats.failed, worker.stats.processed) == (0, 0)


# Redis refusing a key ----------------------------------------------------------------------


def test_a_clobbered_queue_key_does_not_stop_the_worker_serving_its_other_queue(
    wq: Worqr, client: Worqr, raw: redis.Redis, caplog: pytest.LogCaptureFixture, stopping: list[Worker[Any]]
) -> None:
    caplog.set_level(logging.WARNING, logger="worqr")
    seen: list[str] = []
    worker = started(client.worker(["broken", "fine"], lambda p: seen.append(p.task)), stopping)
    raw.set(pending_key(client, "broken"), "not a list")  # WRONGTYPE for every list command
    wq.enqueue("fine", "x")
    wait_until(lambda: seen == ["x"], timeout=5.0)
    assert worker.running
    assert any("WRONGTYPE" in r.getMessage() or "wrong" in r.getMessage().lower() for r in caplog.records)
    raw.delete(pending_key(client, "broken"))
    wq.enqueue("broken", "y")
    wait_until(lambda: seen == ["x", "y"], timeout=5.0)


# Logging -----------------------------------------------------------------------------------


def test_log_records_about_a_process_carry_its_ids_and_never_a_large_payload(
    wq: Worqr, client: Worqr, raw: redis.Redis, caplog: pytest.LogCaptureFixture, stopping: list[Worker[Any]]
) -> None:
    caplog.set_level(logging.DEBUG, logger="worqr")
    big = "x" * 5000

    def handle(process: Process[Any]) -> None:
        if process.task["n"] < 2:
            raise PaymentDeclinedError("declined")

    json_view = client.queue("jobs", JsonCodec())
    worker = started(client.worker(json_view, handle, max_attempts=2, backoff=QUICK), stopping)
    wq.queue("jobs", JsonCodec()).enqueue_many([{"n": 1, "blob": big}, {"n": 2, "blob": big}])
    raw.rpush(pending_key(client, "jobs"), "not json " + big)  # undecodable: dead-lettered unrun

    def about_processes() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("process ")]

    wait_until(lambda: len(about_processes()) == 4)  # retried, dead-lettered, finished, undecodable
    assert (worker.stats.processed, worker.stats.dead_lettered) == (1, 2)
    for record in about_processes():
        fields = {k: getattr(record, k, None) for k in ("worqr_worker", "worqr_queue", "worqr_process", "worqr_task")}
        assert fields["worqr_worker"] == client.worker_id, record.getMessage()
        assert fields["worqr_queue"] == "jobs", record.getMessage()
        assert record.getMessage().startswith(f"process {fields['worqr_process']}"), record.getMessage()
        assert isinstance(fields["worqr_task"], str) and 0 < len(fields["worqr_task"]) < 100
    for record in caplog.records:
        assert big not in record.getMessage()
        assert not any(isinstance(v, str) and big in v for v in vars(record).values())


# Bad options -------------------------------------------------------------------------------


BAD_OPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"concurrency": 0}, "concurrency must be an int from 1 to"),
    ({"concurrency": -1}, "concurrency must be an int from 1 to"),
    ({"concurrency": True}, "concurrency must be an int from 1 to"),
    ({"concurrency": 10**6}, "concurrency must be an int from 1 to"),
    ({"concurrency": 2.0}, "concurrency must be an int from 1 to"),
    ({"timeout": 0}, "timeout must be positive"),
    ({"timeout": -1}, "timeout"),
    ({"grace": -1}, "grace"),
    ({"max_attempts": 0}, "max_attempts must be a positive int or None"),
    ({"restart_on_loss": "yes"}, "restart_on_loss"),
    ({"retries": 3}, "unknown option"),
    ({"backoff": 2.0}, "backoff must be a worqr.Backoff"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_bad_worker_options_are_refused_before_anything_is_written(
    client: Worqr, raw: redis.Redis, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        client.worker("jobs", handler, **options)
    assert keys_of(raw, client) == []


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        ([], "queues is empty"),
        (["a", "a"], "listed twice"),
        (42, "queues must be a queue name"),
        ([42], "queues must hold queue names"),
        ("", "must not be empty"),
    ],
)
def test_bad_queues_are_refused_before_anything_is_written(
    client: Worqr, raw: redis.Redis, queues: Any, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        client.worker(queues, handler)
    assert keys_of(raw, client) == []


def test_other_bad_arguments_are_refused_before_anything_is_written(client: Worqr, raw: redis.Redis) -> None:
    with pytest.raises(InvalidArgumentError, match="handler must be callable"):
        client.worker("jobs", cast("Any", "not a function"))
    with pytest.raises(InvalidArgumentError, match=r"unknown option.*timeout"):
        client.persistent_worker("jobs", handler, **cast("Any", {"timeout": 1.0}))
    with pytest.raises(InvalidArgumentError, match="jitter must be a number from 0 to 1"):
        Backoff(jitter=2)
    with pytest.raises(InvalidArgumentError, match="factor"):
        Backoff(factor=0.5)
    worker = client.worker("jobs", handler)
    with pytest.raises(InvalidArgumentError, match="grace"):
        worker.stop(grace=-1)
    assert not worker.running
    assert keys_of(raw, client) == []


def test_a_second_worker_on_the_same_client_is_refused(wq: Worqr, client: Worqr, stopping: list[Worker[Any]]) -> None:
    first = started(client.worker("jobs", handler), stopping)
    second = client.worker("other", handler)
    with pytest.raises(WorqrError, match="already runs a Worker"):
        second.start()
    assert not second.running
    assert client.get_working_queues() == ["jobs"]
    first.stop()
    with second:  # once the first stopped, the client may run another
        assert client.get_working_queues() == ["other"]
    with pytest.raises(WorqrError, match="already started"):
        first.start()
