"""The asyncio twins of tests/test_fast_paths.py: `AsyncWorker` keeps its guarantees on the
fast paths (targeted wake-ups, prefetch, batched results), and `flows.adrive_together` steps
several flows in one round trip per round, against a real server."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
import redis

from tests.async_runtime_helpers import DoneEvents, declare_dead, eventually, held_until_cancelled, settled, started
from tests.protocol_helpers import Recorded, catching, lost_dequeue, reads
from tests.redis_helpers import idle_workers, processes_key, stored_attempts, subscribers, written_keys
from tests.runtime_helpers import FAST, LONG, QUICK, QUIET, WINDOW
from worqr import (
    AsyncWorker,
    AsyncWorqr,
    Event,
    InvalidArgumentError,
    Process,
    RedisCommandError,
    RedisUnavailableError,
    WorkerLostError,
)
from worqr._protocol import flows
from worqr._protocol.call import Call
from worqr._protocol.keys import QueueKeys
from worqr.testing import RedisServer

MakeAsyncWorqr = Callable[..., AsyncWorqr]
Handler = Callable[[Process[Any]], Awaitable[object]]


@pytest.fixture
async def wq(make_async_worqr: MakeAsyncWorqr) -> AsyncWorqr:
    """A producer (and observer) client that runs no worker."""
    return make_async_worqr(**FAST)


@pytest.fixture
async def client(make_async_worqr: MakeAsyncWorqr) -> AsyncWorqr:
    """The client the runtime worker runs on."""
    return make_async_worqr(**FAST)


@pytest.fixture
async def stopping() -> AsyncIterator[list[AsyncWorker[Any]]]:
    """Workers to stop at once after the test, so a failing test never waits for a grace."""
    workers: list[AsyncWorker[Any]] = []
    yield workers
    for worker in workers:
        await worker.stop(grace=0)


class AsyncSpy(Recorded):
    """`Spy` for an `AsyncWorqr`: records each batch its runner sends (each still goes to the
    real server); ``hold``, if set, is awaited before a batch is sent."""

    def __init__(self, client: AsyncWorqr, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__()
        self.hold: Callable[[Sequence[Call[Any]]], Awaitable[None]] | None = None
        real = client._runner.run

        async def run(calls: Sequence[Call[Any]]) -> list[Any]:
            if self.hold is not None:
                await self.hold(calls)
            self.batches.append(list(calls))
            return await real(calls)

        monkeypatch.setattr(client._runner, "run", run)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """`eventually` for a condition that must itself await."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            msg = f"condition not met within {timeout} s"
            raise AssertionError(msg)
        await asyncio.sleep(0.01)


def recorder(name: str, ran: list[tuple[str, str]]) -> Handler:
    async def handle(process: Process[str]) -> str:
        ran.append((name, process.task))
        return process.task

    return handle


async def nothing(process: Process[Any]) -> None:
    """A valid handler that does no work."""


def holder(reasons: list[str | None]) -> Handler:
    async def handle(process: Process[Any]) -> None:
        reasons.append(await held_until_cancelled(process))

    return handle


# Targeted wake-up --------------------------------------------------------------------------


async def idle_fleet(
    make_async_worqr: MakeAsyncWorqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch,
    stopping: list[AsyncWorker[Any]], *, make_handler: Callable[[str], Handler], size: int = 4,
) -> dict[str, AsyncSpy]:  # fmt: skip
    """``size`` runtime workers, each on its own client, all gone idle; their spies by id."""
    spies: dict[str, AsyncSpy] = {}
    for _ in range(size):
        client = make_async_worqr(**QUIET)
        spies[client.worker_id] = AsyncSpy(client, monkeypatch)
        await started(client.worker("jobs", make_handler(client.worker_id), prefetch=0), stopping)
    await eventually(lambda: raw.zcard(QueueKeys(client.prefix, "jobs").idle) == size)
    return spies


async def test_async_one_task_makes_only_the_longest_idle_of_four_workers_dequeue(
    make_async_worqr: MakeAsyncWorqr, wq: AsyncWorqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch,
    stopping: list[AsyncWorker[Any]],
) -> None:  # fmt: skip
    ran: list[tuple[str, str]] = []
    spies = await idle_fleet(
        make_async_worqr, raw, monkeypatch, stopping, make_handler=lambda name: recorder(name, ran)
    )
    longest_idle = idle_workers(raw, wq)[0]
    before = {name: spy.dequeues() for name, spy in spies.items()}
    await wq.enqueue("jobs", "only one")
    await eventually(lambda: len(ran) == 1, timeout=5.0)  # no poll for 60 s: a wake-up did it
    await eventually(lambda: raw.zcard(QueueKeys(wq.prefix, "jobs").idle) == 4)
    await asyncio.sleep(WINDOW)  # room for a stray wake-up to show
    assert ran == [(longest_idle, "only one")]
    moved = {name for name, spy in spies.items() if spy.dequeues() != before[name]}
    assert moved == {longest_idle}


async def test_async_several_tasks_at_once_wake_as_many_idle_workers(
    make_async_worqr: MakeAsyncWorqr, wq: AsyncWorqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch,
    stopping: list[AsyncWorker[Any]],
) -> None:  # fmt: skip
    ran: list[tuple[str, str]] = []

    def make_handler(name: str) -> Handler:
        async def handle(process: Process[str]) -> None:
            ran.append((name, process.task))
            await eventually(lambda: len(ran) == 3, timeout=LONG)  # fails unless three run at once

        return handle

    spies = await idle_fleet(make_async_worqr, raw, monkeypatch, stopping, make_handler=make_handler)
    order = idle_workers(raw, wq)
    before = {name: spy.dequeues() for name, spy in spies.items()}
    await wq.enqueue("jobs", ["a", "b", "c"])
    await eventually(lambda: sum(s.stats.processed for s in stopping) == 3, timeout=5.0)
    await eventually(lambda: raw.zcard(QueueKeys(wq.prefix, "jobs").idle) == 4)
    await asyncio.sleep(WINDOW)
    assert sum(s.stats.failed for s in stopping) == 0
    assert sorted(task for _, task in ran) == ["a", "b", "c"]
    assert {name for name, _ in ran} == set(order[:3])  # the three longest idle, one task each
    assert spies[order[3]].dequeues() == before[order[3]]  # the fourth was left alone


@pytest.mark.parametrize("how", ["stopped", "closed", "core-api"])
async def test_async_an_idle_worker_that_no_longer_listens_is_passed_over_and_a_live_one_is_woken(
    make_async_worqr: MakeAsyncWorqr, wq: AsyncWorqr, raw: redis.Redis, stopping: list[AsyncWorker[Any]], how: str
) -> None:
    gone = make_async_worqr(**QUIET)
    if how == "core-api":  # dequeued from an empty queue: idle, but never subscribed to wake-ups
        await gone.start_worker()
        await gone.start_work("jobs")
        assert await gone.dequeue("jobs") is None
    else:
        worker = gone.worker("jobs", nothing)
        await worker.start()
        await eventually(lambda: idle_workers(raw, wq) == [gone.worker_id])
        await (worker.stop() if how == "stopped" else gone.close())
    wake_channel = QueueKeys(wq.prefix, "jobs").wake_channel(gone.worker_id)
    await eventually(lambda: subscribers(raw, wake_channel) == 0)
    ran: list[tuple[str, str]] = []
    live = make_async_worqr(**QUIET)
    await started(live.worker("jobs", recorder(live.worker_id, ran)), stopping)
    if how == "core-api":
        await eventually(lambda: idle_workers(raw, wq) == [gone.worker_id, live.worker_id])  # gone is first in line
    else:  # leaving the queue (stop_work) took it out of the idle set
        await eventually(lambda: idle_workers(raw, wq) == [live.worker_id])
    await wq.enqueue("jobs", "x")
    await eventually(lambda: ran == [(live.worker_id, "x")], timeout=3.0)  # at once: the poll is 60 s away
    assert gone.worker_id not in idle_workers(raw, wq)  # popped and passed over


async def test_async_an_on_listener_still_hears_the_broadcast_work_event_and_every_done_event(
    wq: AsyncWorqr, client: AsyncWorqr, raw: redis.Redis, stopping: list[AsyncWorker[Any]]
) -> None:
    heard: list[Event] = []
    await wq.on("jobs", heard.append)

    async def upper(process: Process[str]) -> str:
        return process.task.upper()

    await started(client.worker("jobs", upper), stopping)
    await wq.enqueue("jobs", ["a", "b"])
    await eventually(lambda: sum(e.type == "done" for e in heard) == 2)
    assert [e.message for e in heard if e.type == "work"] == ["2"]
    done = {m["task"]: m["result"] for m in (json.loads(e.message) for e in heard if e.type == "done")}
    assert done == {"a": "A", "b": "B"}
    assert subscribers(raw, QueueKeys(wq.prefix, "jobs").done_channel) == 1  # only the on() listener


# Prefetch ----------------------------------------------------------------------------------


async def test_async_prefetch_holds_concurrency_plus_prefetch_processes_but_runs_only_concurrency_handlers(
    wq: AsyncWorqr, client: AsyncWorqr, raw: redis.Redis, stopping: list[AsyncWorker[Any]]
) -> None:
    reasons: list[str | None] = []
    worker = await started(client.worker("jobs", holder(reasons), prefetch=5), stopping)
    tasks = [f"t{i}" for i in range(8)]
    await wq.enqueue("jobs", tasks)
    await eventually(lambda: raw.hlen(processes_key(client)) == 6)
    await eventually(lambda: worker.stats.in_flight == 1)
    assert await wq.get_tasks("jobs") == ["t6", "t7"]
    await worker.stop(grace=0.2)
    assert reasons == ["shutdown"]
    assert await wq.get_tasks("jobs") == tasks  # all six back in front, in their original order
    assert raw.hlen(processes_key(client)) == 0
    assert (worker.stats.released, worker.stats.processed, worker.stats.failed) == (6, 0, 0)


async def test_async_shutdown_gives_prefetched_tasks_back_before_the_grace_of_the_running_handler_ends(
    wq: AsyncWorqr, client: AsyncWorqr, raw: redis.Redis, stopping: list[AsyncWorker[Any]]
) -> None:
    reasons: list[str | None] = []
    worker = await started(client.worker("jobs", holder(reasons), prefetch=5), stopping)
    tasks = [f"t{i}" for i in range(8)]
    await wq.enqueue("jobs", tasks)
    await eventually(lambda: raw.hlen(processes_key(client)) == 6 and worker.stats.in_flight == 1)
    worker.request_stop(grace=LONG)

    async def waiting_five_back() -> bool:
        return await wq.get_tasks("jobs") == tasks[1:]

    await until(waiting_five_back, timeout=3.0)
    assert reasons == []  # while the running handler still has its grace
    assert worker.running
    await worker.stop(grace=0)
    assert await wq.get_tasks("jobs") == tasks
    assert worker.stats.released == 6


async def test_async_a_prefetched_tasks_timeout_starts_when_its_handler_begins(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    await wq.enqueue("jobs", [f"t{i}" for i in range(6)])
    queued_when_first_ran: list[int] = []

    async def handle(process: Process[str]) -> str:
        if process.task == "t0":
            queued_when_first_ran.append(await wq.count_queue("jobs"))
        await asyncio.sleep(0.08)  # the work: well within the timeout; six of them are not
        return process.task

    worker = await started(client.worker("jobs", handle, prefetch=5, timeout=0.3, max_attempts=1), stopping)
    await settled(worker, processed=6)
    assert queued_when_first_ran == [0]  # all six were taken at once; the last waited ~0.4 s
    assert (worker.stats.failed, await wq.count_dead_letters("jobs")) == (0, 0)


async def test_async_a_cancel_event_for_a_prefetched_task_finishes_it_as_cancelled_without_running_it(
    wq: AsyncWorqr, client: AsyncWorqr, stopping: list[AsyncWorker[Any]]
) -> None:
    gate = asyncio.Event()
    ran: list[str] = []

    async def handle(process: Process[str]) -> str:
        ran.append(process.task)
        if process.task == "t0":
            await asyncio.wait_for(gate.wait(), LONG)
        return process.task

    done = await DoneEvents.of(wq)
    worker = await started(client.worker("jobs", handle, prefetch=5), stopping)
    await wq.enqueue("jobs", ["t0", "t1", "t2", "t3"])
    await eventually(lambda: worker.stats.in_flight == 1)  # t0 runs; t1..t3 wait in the worker
    assert await wq.count_queue("jobs") == 0
    assert await wq.cancel_tasks("jobs", "t2") == 0  # not queued: it waits in the worker
    await eventually(lambda: any(j.process.task == "t2" and j.state == "cancelled" for j in worker._jobs.all()))
    gate.set()
    await settled(worker, processed=3, cancelled=1)
    assert ran == ["t0", "t1", "t3"]
    await eventually(lambda: len(done.messages) == 4)
    assert done.results() == {"t0": "t0", "t1": "t1", "t2": None, "t3": "t3"}
    assert await wq.get_matching_processes("t2") == []
    assert worker.stats.failed == 0


async def test_async_the_prefetched_tasks_of_a_worker_declared_dead_are_all_requeued_and_run_by_a_peer(
    wq: AsyncWorqr, client: AsyncWorqr, make_async_worqr: MakeAsyncWorqr, raw: redis.Redis,
    stopping: list[AsyncWorker[Any]],
) -> None:  # fmt: skip
    await started(client.worker("jobs", holder([]), prefetch=5), stopping)
    tasks = [f"t{i}" for i in range(6)]
    await wq.enqueue("jobs", tasks)
    await eventually(lambda: raw.hlen(processes_key(client)) == 6)
    await declare_dead(client, wq, raw)
    assert await wq.get_tasks("jobs") == tasks  # running and waiting alike, in order
    assert [stored_attempts(raw, client, t) for t in tasks] == [b"1"] * 6  # each used an attempt
    attempts: dict[str, int] = {}

    async def handle(process: Process[str]) -> None:
        attempts[process.task] = process.attempt

    peer = await started(make_async_worqr(**FAST).worker("jobs", handle), stopping)
    await settled(peer, processed=6)
    assert attempts == dict.fromkeys(tasks, 2)


#: A worker process that takes six tasks (one running, five prefetched) and blocks.
HOLDING_CHILD = """
import asyncio, sys
from worqr import AsyncWorqr
url, prefix, worker_id = sys.argv[1:4]

async def hold(process):
    await asyncio.Event().wait()

async def main():
    client = AsyncWorqr(redis=url, prefix=prefix, worker_id=worker_id, heartbeat_interval=0.1, worker_timeout=0.5,
                        cleanup_interval=60.0, poll_interval=60.0)
    await client.worker("jobs", hold, prefetch=5).run()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_async_the_prefetched_tasks_of_a_sigkilled_worker_process_are_all_requeued_by_a_peer(
    wq: AsyncWorqr, raw: redis.Redis, redis_url: str
) -> None:
    tasks = [f"t{i}" for i in range(8)]
    await wq.enqueue("jobs", tasks)
    victim = "victim-worker"
    child = subprocess.Popen([sys.executable, "-c", HOLDING_CHILD, redis_url, wq.prefix, victim])
    try:
        held = processes_key(wq, victim)
        await eventually(lambda: raw.hlen(held) == 6 or child.poll() is not None, timeout=20.0)
        assert child.poll() is None, f"the worker process exited with {child.returncode}"
        assert await wq.get_tasks("jobs") == ["t6", "t7"]
    finally:
        child.kill()
        child.wait()

    async def reaped() -> bool:
        return victim in await wq.cleanup_workers()  # once its heartbeat expired

    await until(reaped, timeout=5.0)
    assert await wq.get_tasks("jobs") == tasks
    assert [stored_attempts(raw, wq, t) for t in tasks] == [b"1"] * 6 + [None] * 2
    assert raw.hlen(processes_key(wq, victim)) == 0


@pytest.mark.parametrize("prefetch", [-1, 1001, True, 2.0, "5"])
async def test_async_a_bad_prefetch_is_refused_before_anything_is_written(
    client: AsyncWorqr, raw: redis.Redis, prefetch: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match=r"prefetch must be None \(adapt\) or an int from 0 to 1000, got"):
        client.worker("jobs", nothing, prefetch=prefetch)
    assert written_keys(raw, client) == []


# Adaptive prefetch -------------------------------------------------------------------------


async def test_async_adaptive_prefetch_takes_more_than_concurrency_per_dequeue_when_handlers_are_short(
    wq: AsyncWorqr, client: AsyncWorqr, monkeypatch: pytest.MonkeyPatch, stopping: list[AsyncWorker[Any]]
) -> None:
    spy = AsyncSpy(client, monkeypatch)
    worker = await started(client.worker("jobs", nothing, concurrency=2), stopping)
    await wq.enqueue("jobs", [f"t{i}" for i in range(400)])
    await settled(worker, processed=400)
    assert max(spy.dequeue_counts()) > 2


@pytest.mark.parametrize("prefetch", [None, 0])
async def test_async_no_prefetch_when_handlers_are_slower_than_the_window_or_it_is_off(
    wq: AsyncWorqr, client: AsyncWorqr, monkeypatch: pytest.MonkeyPatch, stopping: list[AsyncWorker[Any]],
    prefetch: int | None,
) -> None:  # fmt: skip
    pause = 0.005 if prefetch is None else 0.0  # adaptive: 5 ms a task, over the 2 ms window

    async def handle(process: Process[str]) -> None:
        await asyncio.sleep(pause)

    spy = AsyncSpy(client, monkeypatch)
    worker = await started(client.worker("jobs", handle, concurrency=2, prefetch=prefetch), stopping)
    await wq.enqueue("jobs", [f"t{i}" for i in range(40)])
    await settled(worker, processed=40)
    counts = spy.dequeue_counts()
    assert counts and max(counts) <= 2, counts


# Batched results ---------------------------------------------------------------------------


async def test_async_results_of_many_short_tasks_reach_their_done_events_exactly_once(
    wq: AsyncWorqr, client: AsyncWorqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch,
    stopping: list[AsyncWorker[Any]],
) -> None:  # fmt: skip
    spy = AsyncSpy(client, monkeypatch)
    done = await DoneEvents.of(wq)
    tasks = [f"t{i}" for i in range(300)]

    async def handle(process: Process[str]) -> dict[str, object]:
        return {"task": process.task, "n": int(process.task[1:])}

    worker = await started(client.worker("jobs", handle, concurrency=4), stopping)
    await wq.enqueue("jobs", tasks)
    await eventually(lambda: len(done.messages) >= 300)
    await settled(worker, processed=300)
    await asyncio.sleep(WINDOW)  # room for a duplicate done event to show
    assert sorted(m["task"] for m in done.messages) == sorted(tasks)  # each exactly once
    assert all(m["result"] == {"task": m["task"], "n": int(m["task"][1:])} for m in done.messages)
    assert (worker.stats.failed, worker.stats.in_flight) == (0, 0)
    assert raw.exists(processes_key(client)) == 0
    batches = spy.finished_seqs()
    assert sum(len(b) for b in batches) == 300
    assert len(batches) < 300  # results went out in batches
    assert spy.calls("finish") == []


class HeldRound:
    """Keeps the runtime loop inside one round trip (its next dequeue) until the handlers of
    ``waiting`` tasks have all returned: their results then go out together."""

    def __init__(self, spy: AsyncSpy, worker: AsyncWorker[Any], waiting: int) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self._spy = spy
        self._worker = worker
        self._waiting = waiting
        spy.hold = self._hold

    async def _hold(self, calls: Sequence[Call[Any]]) -> None:
        if not any(c.script == "dequeue" for c in calls):
            return
        self._spy.hold = None  # once
        self.entered.set()
        await eventually(lambda: len(self._worker._succeeded) == self._waiting)
        await asyncio.wait_for(self.release.wait(), LONG)


async def test_async_a_result_that_is_not_json_fails_only_its_own_task_in_a_batch(
    wq: AsyncWorqr, client: AsyncWorqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch,
    stopping: list[AsyncWorker[Any]],
) -> None:  # fmt: skip
    held = asyncio.Event()
    running = [0]

    async def handle(process: Process[str]) -> object:
        running[0] += 1
        await asyncio.wait_for(held.wait(), LONG)
        return object() if process.task == "bad" else process.task.upper()

    spy = AsyncSpy(client, monkeypatch)
    done = await DoneEvents.of(wq)
    worker = await started(
        client.worker("jobs", handle, concurrency=6, prefetch=0, max_attempts=2, backoff=QUICK), stopping
    )
    await wq.enqueue("jobs", ["a", "b", "bad", "c", "d"])
    await eventually(lambda: running[0] == 5)
    held_round = HeldRound(spy, worker, waiting=5)
    await wq.enqueue("jobs", "trigger")  # wakes the loop into a dequeue, which is held
    await asyncio.wait_for(held_round.entered.wait(), LONG)
    held.set()  # the five return while the loop is held
    held_round.release.set()
    await settled(worker, processed=5, failed=2, retried=1, dead_lettered=1)
    await eventually(lambda: len(done.messages) == 5)
    assert done.results() == {"a": "A", "b": "B", "c": "C", "d": "D", "trigger": "TRIGGER"}
    good = sorted(int(m["process_id"].split(":")[0]) for m in done.messages if m["task"] in {"a", "b", "c", "d"})
    assert good in [sorted(seqs) for seqs in spy.finished_seqs()]  # the batch's four good results, in one call
    (letter,) = await wq.get_dead_letters("jobs")
    assert (letter.task, letter.error_type, letter.attempts) == ("bad", "InvalidTaskTypeError", 2)
    assert "cannot be encoded as JSON" in letter.error
    assert raw.exists(processes_key(client)) == 0


async def test_async_a_batch_reports_only_the_process_it_lost_as_dropped(
    wq: AsyncWorqr, client: AsyncWorqr, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    stopping: list[AsyncWorker[Any]],
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="worqr")
    held = asyncio.Event()
    first_ids: dict[str, str] = {}

    async def handle(process: Process[str]) -> str:
        first_ids.setdefault(process.task, process.id)
        await asyncio.wait_for(held.wait(), LONG)
        return f"{process.task}@{process.id}"

    spy = AsyncSpy(client, monkeypatch)
    done = await DoneEvents.of(wq)
    worker = await started(client.worker("jobs", handle, concurrency=6, prefetch=0), stopping)
    batch = ["a", "b", "c", "d", "e"]
    await wq.enqueue("jobs", batch)
    await eventually(lambda: len(first_ids) == 5)
    held_round = HeldRound(spy, worker, waiting=5)
    await wq.enqueue("jobs", "trigger")
    await asyncio.wait_for(held_round.entered.wait(), LONG)
    held.set()
    await eventually(lambda: len(worker._succeeded) == 5)
    await client.stop_process(first_ids["c"])  # c's process is no longer this worker's: back to the queue
    held_round.release.set()
    await settled(worker, processed=6)  # a, b, d, e, trigger, and c run again
    await eventually(lambda: len(done.messages) == 6)
    dropped = [r.getMessage() for r in caplog.records if "result dropped" in r.getMessage()]
    assert dropped == [f"process {first_ids['c']}: finished, but it no longer belonged to this worker; result dropped"]
    results = done.results()
    assert {t: results[t] for t in ["a", "b", "d", "e"]} == {t: f"{t}@{first_ids[t]}" for t in ["a", "b", "d", "e"]}
    assert results["c"] != f"c@{first_ids['c']}"  # c's done event is its second run's
    assert sorted(m["task"] for m in done.messages) == sorted([*batch, "trigger"])
    for task in [*batch, "trigger"]:
        assert await wq.get_matching_processes(task) == []


# flows.adrive_together ---------------------------------------------------------------------


class AsyncCountingRun:
    """An async runner's ``run`` that records each batch it is given."""

    def __init__(self, run: Callable[[Sequence[Call[Any]]], Awaitable[list[Any]]]) -> None:
        self.batches: list[list[Call[Any]]] = []
        self._run = run

    async def __call__(self, calls: Sequence[Call[Any]]) -> list[Any]:
        self.batches.append(list(calls))
        return await self._run(calls)


async def test_adrive_together_sends_one_round_trip_per_round_and_gives_each_flow_its_results(wq: AsyncWorqr) -> None:
    await wq.enqueue("one", ["1a"])
    await wq.enqueue("two", ["2a", "2b"])
    await wq.enqueue("three", ["3a", "3b", "3c"])
    run = AsyncCountingRun(wq._runner.run)
    session = wq._session
    together = [reads(session, "one", 1), reads(session, "two", 2), reads(session, "three", 3)]
    assert await flows.adrive_together(together, run) == [[1], [2, b"2a"], [3, b"3a", 3]]
    assert [len(batch) for batch in run.batches] == [3, 2, 1]  # one runner call per round


async def test_adrive_together_gives_a_calls_error_only_to_the_flow_that_made_it(
    wq: AsyncWorqr, raw: redis.Redis
) -> None:
    await wq.enqueue("fine", ["x"])
    raw.set(QueueKeys(wq.prefix, "clobbered").pending, "not a list")
    run = AsyncCountingRun(wq._runner.run)
    session = wq._session
    together = [
        reads(session, "fine", 2),
        reads(session, "clobbered", 2),  # Redis refuses its call (WRONGTYPE): it ends there
        lost_dequeue(session, "fine"),  # its reply's parser raises
        catching(session, "clobbered", "fine"),  # catches the refusal and goes on
    ]
    fine, refused, lost, caught = await flows.adrive_together(together, run)
    assert fine == [1, b"x"]
    assert isinstance(refused, RedisCommandError)
    assert "WRONGTYPE" in str(refused)
    assert isinstance(lost, WorkerLostError)
    assert caught == ["RedisCommandError", 1]  # thrown into the flow, which went on
    assert [len(batch) for batch in run.batches] == [4, 2]
    assert await wq.get_tasks("fine") == ["x"]


async def test_adrive_together_gives_a_failed_round_trip_to_every_flow_in_it(worqr_prefix: str) -> None:
    with RedisServer() as server:
        wq = AsyncWorqr(redis=server.url, prefix=worqr_prefix)
        try:
            await wq.enqueue("jobs", ["x"])
            session = wq._session
            server.stop()
            together = [reads(session, "jobs", 2), reads(session, "other", 1)]
            outcomes = await flows.adrive_together(together, wq._runner.run)
        finally:
            await wq.close()
    assert all(isinstance(o, RedisUnavailableError) for o in outcomes), outcomes
