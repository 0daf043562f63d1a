"""The asyncio worker runtime (`AsyncWorqr.worker` / `persistent_worker` -> `AsyncWorker`),
in process, against a real server: the behaviours of tests/test_runtime.py, with handlers
that are coroutines, told to stop by `asyncio.CancelledError`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

import pytest
import redis

from tests.async_runtime_helpers import DoneEvents, declare_dead, eventually, held_until_cancelled, settled, started
from tests.runtime_helpers import FAST, LONG, QUICK, PaymentDeclinedError, keys_of, server_seconds
from worqr import (
    AsyncWorker,
    AsyncWorqr,
    Backoff,
    InvalidArgumentError,
    JsonCodec,
    Process,
    WorkerLostError,
    WorqrError,
    cancel_token,
)
from worqr._protocol.keys import QueueKeys

MakeAsyncWorqr = Callable[..., AsyncWorqr]
Handler = Callable[[Process[Any]], Awaitable[object]]


@dataclass(frozen=True)
class Order:
    id: int
    item: str


def recording(reasons: list[str | None]) -> Handler:
    async def handle(process: Process[Any]) -> None:
        reasons.append(await held_until_cancelled(process))

    return handle


@pytest.fixture
async def wq(make_async_worqr: MakeAsyncWorqr) -> AsyncWorqr:
    return make_async_worqr(**FAST)


@pytest.fixture
async def client(make_async_worqr: MakeAsyncWorqr) -> AsyncWorqr:
    return make_async_worqr(**FAST)


@pytest.fixture
async def stopping() -> AsyncIterator[list[AsyncWorker[Any]]]:
    """Workers to stop at once after the test, so a failing test never waits for a grace."""
    workers: list[AsyncWorker[Any]] = []
    yield workers
    for worker in workers:
        await worker.stop(grace=0)


# Handlers ----------------------------------------------------------------------------------


async def test_async_handlers_run_and_their_results_reach_done_events(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    async def handle(process: Process[str]) -> dict[str, object]:
        await asyncio.sleep(0)
        return {"upper": process.task.upper(), "attempt": process.attempt}

    done = await DoneEvents.of(wq)
    worker = await started(client.worker("jobs", handle), stopping)
    await wq.enqueue("jobs", ["a", "b", "c"])
    await eventually(lambda: len(done.messages) == 3)
    assert done.results() == {t: {"upper": t.upper(), "attempt": 1} for t in "abc"}
    assert {m["worker_id"] for m in done.messages} == {client.worker_id}
    await settled(worker, processed=3)


async def test_async_typed_queue_gives_the_handler_typed_tasks_and_their_attempt(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    seen: list[tuple[object, int]] = []

    async def handle(process: Process[Order]) -> str:
        seen.append((process.task, process.attempt))
        return process.task.item

    done = await DoneEvents.of(wq, "orders")
    await started(client.worker(client.queue("orders", JsonCodec(Order)), handle), stopping)
    await wq.queue("orders", JsonCodec(Order)).enqueue_many([Order(1, "tea"), Order(2, "jam")])
    await eventually(lambda: len(done.messages) == 2)
    assert seen == [(Order(1, "tea"), 1), (Order(2, "jam"), 1)]


# Concurrency and priority ------------------------------------------------------------------


async def test_async_concurrency_caps_the_handlers_running_at_once(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    gate = asyncio.Event()
    running = most = 0

    async def handle(process: Process[str]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.wait_for(gate.wait(), LONG)
        finally:
            running -= 1

    worker = await started(client.worker("jobs", handle, concurrency=3), stopping)
    await wq.enqueue("jobs", [str(i) for i in range(7)])
    await eventually(lambda: running == 3)
    assert await wq.count_queue("jobs") == 4
    assert worker.stats.in_flight == 3
    gate.set()
    await eventually(lambda: worker.stats.processed == 7)
    assert most == 3


async def test_async_concurrency_is_reached_when_as_many_tasks_wait(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    arrived, everyone = 0, asyncio.Event()

    async def handle(process: Process[str]) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == 4:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), LONG)  # times out (fails) unless 4 run at once

    worker = await started(client.worker("jobs", handle, concurrency=4, backoff=QUICK), stopping)
    await wq.enqueue("jobs", ["a", "b", "c", "d"])
    await eventually(lambda: worker.stats.processed == 4)
    assert worker.stats.failed == 0


async def test_async_an_earlier_queue_drains_before_a_later_one(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    order: list[tuple[str, str]] = []

    async def handle(process: Process[str]) -> None:
        order.append((process.queue, process.task))

    await wq.enqueue("low", [f"low-{i}" for i in range(5)])
    await wq.enqueue("high", [f"high-{i}" for i in range(5)])
    worker = await started(client.worker(["high", "low"], handle), stopping)
    await eventually(lambda: worker.stats.processed == 10)
    assert order == [("high", f"high-{i}") for i in range(5)] + [("low", f"low-{i}") for i in range(5)]


# Waking up ---------------------------------------------------------------------------------


async def test_async_a_task_that_arrived_without_a_work_event_is_picked_up_by_polling(
    client: AsyncWorqr, raw: redis.Redis, stopping: list[AsyncWorker[Any]]
) -> None:
    seen: list[str] = []

    async def handle(process: Process[str]) -> None:
        seen.append(process.task)

    await started(client.worker("jobs", handle), stopping)
    raw.rpush(QueueKeys(client.prefix, "jobs").pending, "sneaked in")  # no work event announces it
    await eventually(lambda: seen == ["sneaked in"], timeout=3.0)  # poll_interval is 0.2 s


async def test_async_an_idle_worker_does_not_busy_loop(
    make_async_worqr: MakeAsyncWorqr, raw: redis.Redis, stopping: list[AsyncWorker[Any]]
) -> None:
    poll, beat = 0.2, 0.5
    client = make_async_worqr(heartbeat_interval=beat, worker_timeout=2.0, cleanup_interval=60.0, poll_interval=poll)

    async def handle(process: Process[str]) -> None:
        pass

    await started(client.worker(["jobs", "other"], handle), stopping)

    def script_calls() -> int:
        stats = cast("dict[str, dict[str, int]]", raw.info("commandstats"))
        return stats.get("cmdstat_evalsha", {}).get("calls", 0)

    before = script_calls()
    await asyncio.sleep(1.0)  # the window measured, not a synchronization
    calls = script_calls() - before
    bound = 2 * (1.0 / poll + 2) + (1.0 / beat + 2)
    assert calls <= bound, f"{calls} script calls in an idle second (bound {bound})"


# Failures and retries ----------------------------------------------------------------------


async def test_async_a_failing_task_is_retried_with_backoff_then_dead_lettered_with_its_error(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    attempts: list[int] = []

    async def handle(process: Process[str]) -> None:
        attempts.append(process.attempt)
        raise PaymentDeclinedError(f"card declined on attempt {process.attempt}")

    worker = await started(client.worker("jobs", handle, max_attempts=3, backoff=QUICK), stopping)
    await wq.enqueue("jobs", "charge")
    await settled(worker, processed=0, failed=3, retried=2, dead_lettered=1)
    assert attempts == [1, 2, 3]
    (letter,) = await wq.get_dead_letters("jobs")
    assert (letter.task, letter.error_type, letter.error, letter.attempts) == (
        "charge", "PaymentDeclinedError", "card declined on attempt 3", 3,
    )  # fmt: skip


async def test_async_a_retry_waits_for_its_backoff_delay_by_the_server_clock(
    make_async_worqr: MakeAsyncWorqr, wq: AsyncWorqr, raw: redis.Redis, stopping: list[AsyncWorker[Any]]
) -> None:
    client = make_async_worqr(**{**FAST, "poll_interval": 60.0})
    failed_at: list[float] = []
    retried_at: list[float] = []

    async def handle(process: Process[str]) -> None:
        if process.attempt == 1:
            failed_at.append(server_seconds(raw))
            raise PaymentDeclinedError("try again later")
        retried_at.append(server_seconds(raw))

    worker = await started(client.worker("jobs", handle, backoff=Backoff(base=0.3, jitter=0)), stopping)
    await wq.enqueue("jobs", "charge")
    await settled(worker, processed=1, failed=1, retried=1)
    assert retried_at[0] - failed_at[0] >= 0.3 - 0.01  # not before the backoff, by the server's clock


async def test_async_max_attempts_none_retries_forever(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    attempts: list[int] = []

    async def handle(process: Process[str]) -> str:
        attempts.append(process.attempt)
        if process.attempt < 6:
            raise PaymentDeclinedError("not yet")
        return "paid"

    worker = await started(client.worker("jobs", handle, max_attempts=None, backoff=QUICK), stopping)
    await wq.enqueue("jobs", "charge")
    await settled(worker, processed=1, failed=5, retried=5, dead_lettered=0)
    assert attempts == [1, 2, 3, 4, 5, 6]


async def test_async_a_task_that_succeeds_on_its_second_attempt_is_finished_and_its_attempts_cleared(
    wq: AsyncWorqr, client: AsyncWorqr, raw: redis.Redis, stopping: list[AsyncWorker[Any]]
) -> None:
    async def handle(process: Process[str]) -> int:
        if process.attempt == 1:
            raise PaymentDeclinedError("flaky")
        return process.attempt

    done = await DoneEvents.of(wq)
    worker = await started(client.worker("jobs", handle, backoff=QUICK), stopping)
    await wq.enqueue("jobs", "charge")
    await eventually(lambda: len(done.messages) == 1)
    assert done.results() == {"charge": 2}
    await settled(worker, processed=1, failed=1, retried=1)
    assert raw.hget(QueueKeys(client.prefix, "jobs").attempts, "charge") is None


# Timeouts ----------------------------------------------------------------------------------


async def test_async_a_handler_past_its_timeout_is_cancelled_and_its_task_retried(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    reasons: list[str | None] = []

    async def handle(process: Process[str]) -> str:
        if process.attempt == 1:
            reasons.append(await held_until_cancelled(process))
            raise asyncio.CancelledError  # as a handler that does not catch it would
        return "on time"

    done = await DoneEvents.of(wq)
    worker = await started(client.worker("jobs", handle, timeout=0.2, backoff=QUICK), stopping)
    await wq.enqueue("jobs", "slow")
    await eventually(lambda: len(done.messages) == 1)
    assert reasons == ["timeout"]
    assert done.results() == {"slow": "on time"}
    await settled(worker, processed=1, failed=1, retried=1, cancelled=0)


async def test_async_a_handler_that_swallows_its_timeout_has_its_late_result_rejected(
    wq: AsyncWorqr, client: AsyncWorqr, caplog: pytest.LogCaptureFixture, stopping: list[AsyncWorker[Any]]
) -> None:
    caplog.set_level(logging.WARNING, logger="worqr")
    tasks = [f"t{i}" for i in range(8)]

    async def handle(process: Process[str]) -> str:
        if process.attempt == 1:
            await held_until_cancelled(process)  # catches the CancelledError and returns
            return "late"
        return "on time"

    done = await DoneEvents.of(wq)
    worker = await started(client.worker("jobs", handle, concurrency=8, timeout=0.2, backoff=QUICK), stopping)
    await wq.enqueue("jobs", tasks)
    await eventually(lambda: sum("late result" in r.getMessage() for r in caplog.records) == 8)
    await eventually(lambda: len(done.messages) == 8)
    assert done.results() == dict.fromkeys(tasks, "on time")
    assert sum("late result after the timeout was rejected" in r.getMessage() for r in caplog.records) == 8
    await settled(worker, processed=8, failed=8, retried=8)


async def test_async_a_handler_cancelled_while_it_awaits_redis_leaves_the_client_in_step(
    redis_url: str, worqr_prefix: str, wq: AsyncWorqr, raw: redis.Redis
) -> None:
    """A handler that uses the client is cancelled (here by its timeout) while its command's
    reply is still on the way: that connection must not go back to the pool with the reply
    unread, or each later call on it would read the reply of the call before."""
    client = AsyncWorqr(redis=redis_url, prefix=worqr_prefix, **FAST)  # closed below, come what may
    await wq.enqueue("other", ["x", "y", "z"])

    async def handle(process: Process[str]) -> object:
        if process.attempt == 1:
            raw.client_pause(400, all=True)  # holds the reply back past the timeout
            return await client.count_queue("other")
        return "second attempt"

    worker = client.worker("jobs", handle, timeout=0.1, backoff=QUICK)
    try:
        await worker.start()
        await wq.enqueue("jobs", "a")
        await eventually(lambda: worker.stats.processed == 1 or not worker.running)
        assert worker.running
        await settled(worker, processed=1, failed=1, retried=1)
        for _ in range(3):  # at once, so that every pooled connection serves one: each gets its own reply
            counts = await asyncio.gather(*(client.count_queue("other") for _ in range(8)))
            queues = await asyncio.gather(*(client.get_working_queues() for _ in range(8)))
            assert (counts, queues) == ([3] * 8, [["jobs"]] * 8)
    finally:
        await force_close(worker, client)


async def force_close(worker: AsyncWorker[Any], client: AsyncWorqr) -> None:
    """Close ``client`` even if a broken connection makes `close` fail half-way, so that no
    socket is left for the garbage collector to report during a later test."""
    with contextlib.suppress(Exception):
        await worker.stop(grace=0)
    with contextlib.suppress(Exception):
        await client.close()
    with contextlib.suppress(Exception):
        await client._listener.close()
    with contextlib.suppress(Exception):
        await client._backend.close()


# Cancellation ------------------------------------------------------------------------------


async def test_async_cancel_cancels_a_running_handler_and_finishes_its_process_as_cancelled(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    reasons: list[str | None] = []

    async def handle(process: Process[str]) -> None:
        reasons.append(await held_until_cancelled(process))
        raise asyncio.CancelledError

    worker = await started(client.worker("jobs", handle), stopping)
    await wq.enqueue("jobs", "long job")
    await eventually(lambda: worker.stats.in_flight == 1)
    await wq.cancel_tasks("jobs", "long job")
    await eventually(lambda: worker.stats.cancelled == 1)
    assert reasons == ["cancelled"]
    stats = worker.stats
    assert (stats.processed, stats.failed, stats.retried, stats.released) == (0, 0, 0, 0)
    assert await wq.count_queue("jobs") == await wq.count_delayed("jobs") == 0
    assert await wq.get_matching_processes("long job") == []
    assert worker.running


async def test_async_cancel_token_outside_a_handler_raises() -> None:
    with pytest.raises(RuntimeError, match="only available inside a handler"):
        cancel_token()


# Delays ------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["delay", "at"])
async def test_async_a_delayed_task_is_run_when_due_by_an_idle_worker_without_polling(
    make_async_worqr: MakeAsyncWorqr, wq: AsyncWorqr, raw: redis.Redis, stopping: list[AsyncWorker[Any]], how: str
) -> None:
    client = make_async_worqr(**{**FAST, "poll_interval": 60.0})  # polling would come far too late
    ran_at: list[float] = []

    async def handle(process: Process[str]) -> None:
        ran_at.append(server_seconds(raw))

    await started(client.worker("jobs", handle), stopping)
    due = server_seconds(raw) + 0.3
    if how == "delay":
        await wq.enqueue("jobs", "later", delay=0.3)
    else:
        await wq.enqueue("jobs", "later", at=datetime.fromtimestamp(due, tz=timezone.utc))
    await eventually(lambda: len(ran_at) == 1, timeout=5.0)
    assert ran_at[0] >= due - 0.01


# Shutdown ----------------------------------------------------------------------------------


async def test_async_stop_lets_running_handlers_finish_within_grace(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    started_work, told = asyncio.Event(), []

    async def handle(process: Process[str]) -> str:
        started_work.set()
        try:
            await asyncio.sleep(0.5)  # half a second of work
        except asyncio.CancelledError:
            told.append(True)
            raise
        told.append(False)
        return "finished"

    done = await DoneEvents.of(wq)
    worker = await started(client.worker("jobs", handle), stopping)
    await wq.enqueue("jobs", "a")
    await asyncio.wait_for(started_work.wait(), LONG)
    worker.request_stop(grace=LONG)
    await wq.enqueue("jobs", ["b", "c"])
    await worker.stop()  # waits, and keeps the grace the request gave
    assert not worker.running
    assert told == [False]
    await eventually(lambda: len(done.messages) == 1)
    assert done.results() == {"a": "finished"}
    assert await wq.get_tasks("jobs") == ["b", "c"]
    assert await client.get_working_queues() == []


async def test_async_a_handler_running_past_grace_is_cancelled_and_its_tasks_go_back_to_the_front_in_order(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    reasons: list[str | None] = []
    worker = await started(client.worker("jobs", recording(reasons), concurrency=2), stopping)
    await wq.enqueue("jobs", ["a", "b", "c", "d"])
    await eventually(lambda: worker.stats.in_flight == 2)
    await worker.stop(grace=0.1)
    await eventually(lambda: len(reasons) == 2)  # the handler task answers on its own turn
    assert reasons == ["shutdown", "shutdown"]
    assert await wq.get_tasks("jobs") == ["a", "b", "c", "d"]
    assert (worker.stats.released, worker.stats.processed, worker.stats.failed) == (2, 0, 0)


async def test_async_stop_with_zero_grace_cancels_handlers_at_once(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    reasons: list[str | None] = []
    worker = await started(client.worker("jobs", recording(reasons), grace=LONG), stopping)
    await wq.enqueue("jobs", "a")
    await eventually(lambda: worker.stats.in_flight == 1)
    await worker.stop(grace=0)
    await eventually(lambda: len(reasons) == 1)  # the handler task answers on its own turn
    assert reasons == ["shutdown"]
    assert await wq.get_tasks("jobs") == ["a"]


async def test_async_request_stop_from_inside_a_handler_stops_the_worker(wq: AsyncWorqr, client: AsyncWorqr) -> None:
    async def handle(process: Process[str]) -> str:
        worker.request_stop()
        return "last"

    done = await DoneEvents.of(wq)
    worker = client.worker("jobs", handle)
    await wq.enqueue("jobs", ["a", "b", "c"])
    await worker.start()
    await eventually(lambda: not worker.running)
    await eventually(lambda: len(done.messages) == 1)
    assert done.results() == {"a": "last"}
    assert await wq.get_tasks("jobs") == ["b", "c"]


async def test_async_the_context_manager_starts_and_stops_the_worker_and_frees_the_client(
    wq: AsyncWorqr, client: AsyncWorqr
) -> None:
    async def handle(process: Process[str]) -> str:
        return process.task

    async with client.worker("jobs", handle) as worker:
        await wq.enqueue("jobs", "a")
        await eventually(lambda: worker.stats.processed == 1)
    assert not worker.running
    assert await client.get_working_queues() == []
    async with client.worker("jobs", handle) as again:
        await wq.enqueue("jobs", "b")
        await eventually(lambda: again.stats.processed == 1)


async def test_async_closing_the_client_stops_its_running_worker(wq: AsyncWorqr, client: AsyncWorqr) -> None:
    reasons: list[str | None] = []
    worker = client.worker("jobs", recording(reasons), grace=0.1)
    await worker.start()
    await wq.enqueue("jobs", "a")
    await eventually(lambda: worker.stats.in_flight == 1)
    await client.close()
    assert not worker.running
    await eventually(lambda: len(reasons) == 1)  # the handler task answers on its own turn
    assert reasons == ["shutdown"]
    assert await wq.get_tasks("jobs") == ["a"]
    assert client.worker_id not in await wq.get_workers()


async def test_async_nothing_is_lost_when_a_busy_worker_stops(wq: AsyncWorqr, client: AsyncWorqr) -> None:
    done = await DoneEvents.of(wq)
    tasks = [f"t{i}" for i in range(60)]

    async def handle(process: Process[str]) -> str:
        await asyncio.sleep(0.02)  # a little work, cut short by shutdown
        return process.task

    worker = client.worker("jobs", handle, concurrency=4)
    await worker.start()
    await wq.enqueue("jobs", tasks)
    await eventually(lambda: worker.stats.processed >= 10)
    await worker.stop(grace=0)
    await eventually(lambda: len(done.messages) == worker.stats.processed)
    finished = [m["task"] for m in done.messages]
    queued = await wq.get_tasks("jobs")
    assert sorted(finished + queued) == sorted(tasks)


# Persistent tasks --------------------------------------------------------------------------


async def test_async_a_persistent_worker_holds_its_task_until_stop_then_gives_it_back_at_once(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    reasons: list[str | None] = []
    worker = await started(client.persistent_worker("conns", recording(reasons)), stopping)
    await wq.enqueue("conns", ["conn-1", "conn-2"])
    await eventually(lambda: worker.stats.in_flight == 1)
    assert await wq.get_tasks("conns") == ["conn-2"]
    await worker.stop()  # the default grace is 30 s: a persistent handler is told at once
    assert reasons == ["shutdown"]
    assert await wq.get_tasks("conns") == ["conn-1", "conn-2"]
    assert (worker.stats.released, worker.stats.processed) == (1, 0)


async def test_async_a_peer_persistent_worker_takes_over_a_released_task(
    wq: AsyncWorqr, client: AsyncWorqr, make_async_worqr: MakeAsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    holders: list[tuple[str, str]] = []

    def owner(name: str) -> Handler:
        async def handle(process: Process[str]) -> None:
            holders.append((name, process.task))
            await held_until_cancelled(process)

        return handle

    first = await started(client.persistent_worker("conns", owner("first")), stopping)
    await wq.enqueue("conns", "conn-1")
    await eventually(lambda: holders == [("first", "conn-1")])
    await started(make_async_worqr(**FAST).persistent_worker("conns", owner("second")), stopping)
    await first.stop()
    await eventually(lambda: holders == [("first", "conn-1"), ("second", "conn-1")])
    assert await wq.count_queue("conns") == 0


# Loss --------------------------------------------------------------------------------------


async def test_async_a_worker_declared_dead_cancels_its_handlers_and_run_raises_worker_lost(
    wq: AsyncWorqr, client: AsyncWorqr, raw: redis.Redis
) -> None:
    reasons: list[str | None] = []
    worker = client.worker(
        "jobs", recording(reasons), concurrency=2, restart_on_loss=False
    )  # the free slot keeps taking
    running = asyncio.ensure_future(worker.run())
    await eventually(lambda: worker.running)
    await wq.enqueue("jobs", "a")
    await eventually(lambda: worker.stats.in_flight == 1)
    await declare_dead(client, wq, raw)
    with pytest.raises(WorkerLostError, match="declared dead"):
        await asyncio.wait_for(running, LONG)
    assert not worker.running
    assert reasons == ["worker lost"]
    assert await wq.get_tasks("jobs") == ["a"]


async def test_async_a_worker_declared_dead_goes_on_under_the_same_id_as_a_new_incarnation(
    wq: AsyncWorqr, client: AsyncWorqr, raw: redis.Redis, stopping: list[AsyncWorker[Any]]
) -> None:
    reasons: list[str | None] = []

    async def handle(process: Process[str]) -> int:
        if process.task == "a" and process.attempt == 1:
            reasons.append(await held_until_cancelled(process))
        return process.attempt

    done = await DoneEvents.of(wq)
    worker = await started(client.worker("jobs", handle, concurrency=2), stopping)  # restart_on_loss: the default
    worker_id, first = client.worker_id, client._session.state.incarnation
    await wq.enqueue("jobs", "a")
    await eventually(lambda: worker.stats.in_flight == 1)
    await declare_dead(client, wq, raw)
    state = client._session.state
    await eventually(lambda: state.incarnation not in ("", first) and not state.lost)
    await wq.enqueue("jobs", "b")
    await eventually(lambda: len(done.messages) == 2)
    assert worker.running
    assert reasons == ["worker lost"]
    assert done.results() == {"a": 2, "b": 1}
    assert client.worker_id == worker_id
    assert {m["worker_id"] for m in done.messages} == {worker_id}
    assert (await wq.get_workers()).count(worker_id) == 1


async def test_async_a_task_whose_attempts_were_used_by_dying_workers_is_dead_lettered_unrun(
    wq: AsyncWorqr, client: AsyncWorqr, make_async_worqr: MakeAsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    await wq.enqueue("jobs", "poison")
    for _ in range(3):
        doomed = make_async_worqr(**FAST)
        await doomed.start_worker()
        await doomed.start_work("jobs")
        assert doomed._supervisor is not None
        await doomed._supervisor.stop()
        assert await doomed.dequeue("jobs") is not None
        await wq.fail_worker(doomed.worker_id)
    ran: list[str] = []

    async def handle(process: Process[str]) -> None:
        ran.append(process.task)

    worker = await started(client.worker("jobs", handle, max_attempts=3), stopping)
    await eventually(lambda: worker.stats.dead_lettered == 1)
    (letter,) = await wq.get_dead_letters("jobs")
    assert (letter.task, letter.error_type, letter.attempts) == ("poison", "WorqrError", 3)
    assert "3 attempt(s)" in letter.error and "died" in letter.error
    assert ran == []


# Redis refusing a key ----------------------------------------------------------------------


async def test_async_a_clobbered_queue_key_does_not_stop_the_worker_serving_its_other_queue(
    wq: AsyncWorqr,
    client: AsyncWorqr,
    raw: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    stopping: list[AsyncWorker[Any]],
) -> None:
    caplog.set_level(logging.WARNING, logger="worqr")
    seen: list[str] = []

    async def handle(process: Process[str]) -> None:
        seen.append(process.task)

    worker = await started(client.worker(["broken", "fine"], handle), stopping)
    broken = QueueKeys(client.prefix, "broken").pending
    raw.set(broken, "not a list")
    await wq.enqueue("fine", "x")
    await eventually(lambda: seen == ["x"], timeout=5.0)
    assert worker.running
    assert any("WRONGTYPE" in r.getMessage() for r in caplog.records)
    raw.delete(broken)
    await wq.enqueue("broken", "y")
    await eventually(lambda: seen == ["x", "y"], timeout=5.0)


# Logging -----------------------------------------------------------------------------------


async def test_async_log_records_about_a_process_carry_its_ids_and_never_a_large_payload(
    wq: AsyncWorqr,
    client: AsyncWorqr,
    raw: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    stopping: list[AsyncWorker[Any]],
) -> None:
    caplog.set_level(logging.DEBUG, logger="worqr")
    big = "x" * 5000

    async def handle(process: Process[Any]) -> None:
        if process.task["n"] < 2:
            raise PaymentDeclinedError("declined")

    worker = await started(
        client.worker(client.queue("jobs", JsonCodec()), handle, max_attempts=2, backoff=QUICK), stopping
    )
    await wq.queue("jobs", JsonCodec()).enqueue_many([{"n": 1, "blob": big}, {"n": 2, "blob": big}])
    raw.rpush(QueueKeys(client.prefix, "jobs").pending, "not json " + big)
    await eventually(lambda: worker.stats.processed == 1 and worker.stats.dead_lettered == 2)
    about_processes = [r for r in caplog.records if r.getMessage().startswith("process ")]
    assert len(about_processes) == 4  # retried, dead-lettered, finished, undecodable
    for record in about_processes:
        assert getattr(record, "worqr_worker", None) == client.worker_id, record.getMessage()
        assert getattr(record, "worqr_queue", None) == "jobs"
        assert record.getMessage().startswith(f"process {getattr(record, 'worqr_process', None)}")
        preview = getattr(record, "worqr_task", None)
        assert isinstance(preview, str) and 0 < len(preview) < 100
    for record in caplog.records:
        assert not any(isinstance(v, str) and big in v for v in [record.getMessage(), *vars(record).values()])


# Bad options -------------------------------------------------------------------------------


async def handler(process: Process[str]) -> None:
    """A valid handler for the option tests."""


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency must be an int from 1 to"),
        ({"concurrency": True}, "concurrency must be an int from 1 to"),
        ({"concurrency": 10**6}, "concurrency must be an int from 1 to"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"grace": -1}, "grace"),
        ({"retries": 3}, "unknown option"),
        ({"backoff": 2.0}, "backoff must be a worqr.Backoff"),
    ],
)
async def test_async_bad_worker_options_are_refused_before_anything_is_written(
    client: AsyncWorqr, raw: redis.Redis, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        client.worker("jobs", handler, **options)
    assert keys_of(raw, cast("Any", client)) == []


async def test_async_bad_queues_and_handlers_are_refused_before_anything_is_written(
    client: AsyncWorqr, raw: redis.Redis
) -> None:
    def blocking(process: Process[str]) -> None:
        """A sync handler: refused by the asyncio runtime."""

    with pytest.raises(InvalidArgumentError, match="handler must be an async function"):
        client.worker("jobs", cast("Any", blocking))
    with pytest.raises(InvalidArgumentError, match="handler must be an async function"):
        client.persistent_worker("jobs", cast("Any", "not a function"))
    with pytest.raises(InvalidArgumentError, match="queues is empty"):
        client.worker([], handler)
    with pytest.raises(InvalidArgumentError, match="listed twice"):
        client.worker(["a", "a"], handler)
    with pytest.raises(InvalidArgumentError, match="queues must be a queue name"):
        client.worker(cast("Any", 42), handler)
    worker = client.worker("jobs", handler)
    with pytest.raises(InvalidArgumentError, match="grace"):
        worker.request_stop(grace=-1)
    assert keys_of(raw, cast("Any", client)) == []


async def test_async_a_second_worker_on_the_same_client_is_refused(
    client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    first = await started(client.worker("jobs", handler), stopping)
    second = client.worker("other", handler)
    with pytest.raises(WorqrError, match="already runs a Worker"):
        await second.start()
    assert not second.running
    assert await client.get_working_queues() == ["jobs"]
    await first.stop()
    async with second:
        assert await client.get_working_queues() == ["other"]
