"""The sync runtime's fast paths keep its guarantees, against a real server: targeted wake-ups
(one task wakes one idle worker, not the herd), prefetch (tasks taken ahead of free handlers),
batched results (`finish_many`, sent with the next dequeue), and `flows.drive_together`,
which steps several flows in one round trip per round.

Dequeue calls are counted by `Spy`, which wraps a client's ``runner.run``: every call still
goes to the server, so it observes the runtime without faking Redis."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import pytest
import redis

from tests.helpers import wait_until
from tests.protocol_helpers import Recorded, catching, lost_dequeue, reads
from tests.redis_helpers import idle_key, idle_workers, processes_key, stored_attempts, subscribers, written_keys
from tests.runtime_helpers import (
    FAST,
    LONG,
    QUICK,
    QUIET,
    WINDOW,
    DoneEvents,
    declare_dead,
    handler,
    held_until_told,
    settled,
    started,
)
from worqr import (
    Event,
    InvalidArgumentError,
    Process,
    RedisCommandError,
    RedisUnavailableError,
    Worker,
    WorkerLostError,
    Worqr,
)
from worqr._protocol import flows, ops, registry_ops
from worqr._protocol.call import Call
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr._runtime.options import MAX_PREFETCH, Pace, Settings
from worqr.testing import RedisServer

MakeWorqr = Callable[..., Worqr]


@pytest.fixture
def wq(make_worqr: MakeWorqr) -> Worqr:
    """A producer (and observer) client that runs no worker."""
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


class Spy(Recorded):
    """Records each batch of calls a client sends by wrapping its runner's ``run`` (every
    batch still goes to the real server). ``hold``, if set, runs in the sending thread before
    the batch is sent: a test can keep the runtime loop inside a round trip with it."""

    def __init__(self, client: Worqr, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__()
        self.hold: Callable[[Sequence[Call[Any]]], None] | None = None
        real = client._runner.run

        def run(calls: Sequence[Call[Any]]) -> list[Any]:
            if self.hold is not None:
                self.hold(calls)
            self.batches.append(list(calls))
            return real(calls)

        monkeypatch.setattr(client._runner, "run", run)


def recorder(name: str, ran: list[tuple[str, str]]) -> Callable[[Process[str]], str]:
    def handle(process: Process[str]) -> str:
        ran.append((name, process.task))
        return process.task

    return handle


# Targeted wake-up --------------------------------------------------------------------------


def idle_fleet(
    make_worqr: MakeWorqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch, stopping: list[Worker[Any]],
    *, make_handler: Callable[[str], Callable[[Process[str]], object]], size: int = 4,
) -> dict[str, Spy]:  # fmt: skip
    """``size`` runtime workers, each on its own client, all gone idle; their spies by id."""
    spies: dict[str, Spy] = {}
    for _ in range(size):
        client = make_worqr(**QUIET)
        spies[client.worker_id] = Spy(client, monkeypatch)
        started(client.worker("jobs", make_handler(client.worker_id), prefetch=0), stopping)
    wait_until(lambda: raw.zcard(idle_key(client)) == size)
    return spies


def test_one_task_makes_only_the_longest_idle_of_four_workers_dequeue(
    make_worqr: MakeWorqr, wq: Worqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch, stopping: list[Worker[Any]]
) -> None:
    ran: list[tuple[str, str]] = []
    spies = idle_fleet(make_worqr, raw, monkeypatch, stopping, make_handler=lambda name: recorder(name, ran))
    longest_idle = idle_workers(raw, wq)[0]
    before = {name: spy.dequeues() for name, spy in spies.items()}
    wq.enqueue("jobs", "only one")
    wait_until(lambda: len(ran) == 1, timeout=5.0)  # no poll for 60 s: a wake-up did it
    wait_until(lambda: raw.zcard(idle_key(wq)) == 4)  # the woken worker went idle again
    time.sleep(WINDOW)  # room for a stray wake-up to show
    assert ran == [(longest_idle, "only one")]
    moved = {name for name, spy in spies.items() if spy.dequeues() != before[name]}
    assert moved == {longest_idle}


def test_several_tasks_at_once_wake_as_many_idle_workers(
    make_worqr: MakeWorqr, wq: Worqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch, stopping: list[Worker[Any]]
) -> None:
    together = threading.Barrier(3)
    ran: list[tuple[str, str]] = []

    def make_handler(name: str) -> Callable[[Process[str]], None]:
        def handle(process: Process[str]) -> None:
            ran.append((name, process.task))
            together.wait(LONG)  # breaks (failing the task) unless three workers run at once

        return handle

    spies = idle_fleet(make_worqr, raw, monkeypatch, stopping, make_handler=make_handler)
    order = idle_workers(raw, wq)
    before = {name: spy.dequeues() for name, spy in spies.items()}
    wq.enqueue("jobs", ["a", "b", "c"])
    wait_until(lambda: sum(s.stats.processed for s in stopping) == 3, timeout=5.0)
    wait_until(lambda: raw.zcard(idle_key(wq)) == 4)
    time.sleep(WINDOW)
    assert sum(s.stats.failed for s in stopping) == 0
    assert sorted(task for _, task in ran) == ["a", "b", "c"]
    assert {name for name, _ in ran} == set(order[:3])  # the three longest idle, one task each
    assert spies[order[3]].dequeues() == before[order[3]]  # the fourth was left alone


@pytest.mark.parametrize("how", ["stopped", "closed", "core-api"])
def test_an_idle_worker_that_no_longer_listens_is_passed_over_and_a_live_one_is_woken(
    make_worqr: MakeWorqr, wq: Worqr, raw: redis.Redis, stopping: list[Worker[Any]], how: str
) -> None:
    gone = make_worqr(**QUIET)
    if how == "core-api":  # dequeued from an empty queue: idle, but never subscribed to wake-ups
        gone.start_worker()
        gone.start_work("jobs")
        assert gone.dequeue("jobs") is None
    else:
        worker = gone.worker("jobs", handler)
        worker.start()
        wait_until(lambda: idle_workers(raw, wq) == [gone.worker_id])
        worker.stop() if how == "stopped" else gone.close()
    wake_channel = QueueKeys(wq.prefix, "jobs").wake_channel(gone.worker_id)
    wait_until(lambda: subscribers(raw, wake_channel) == 0)
    ran: list[tuple[str, str]] = []
    live = make_worqr(**QUIET)
    started(live.worker("jobs", recorder(live.worker_id, ran)), stopping)
    if how == "core-api":
        wait_until(lambda: idle_workers(raw, wq) == [gone.worker_id, live.worker_id])  # gone is first in line
    else:  # leaving the queue (stop_work) took it out of the idle set
        wait_until(lambda: idle_workers(raw, wq) == [live.worker_id])
    wq.enqueue("jobs", "x")
    wait_until(lambda: ran == [(live.worker_id, "x")], timeout=3.0)  # at once: the poll is 60 s away
    assert gone.worker_id not in idle_workers(raw, wq)  # popped and passed over


def test_an_on_listener_still_hears_the_broadcast_work_event_and_every_done_event(
    wq: Worqr, client: Worqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    heard: list[Event] = []
    wq.on("jobs", heard.append)
    started(client.worker("jobs", lambda p: p.task.upper()), stopping)
    wq.enqueue("jobs", ["a", "b"])
    wait_until(lambda: sum(e.type == "done" for e in heard) == 2)
    assert [e.message for e in heard if e.type == "work"] == ["2"]
    done = {m["task"]: m["result"] for m in (json.loads(e.message) for e in heard if e.type == "done")}
    assert done == {"a": "A", "b": "B"}
    # Done events have their own channel, which only on() listeners subscribe to.
    assert subscribers(raw, QueueKeys(wq.prefix, "jobs").done_channel) == 1


# Prefetch ----------------------------------------------------------------------------------


def test_prefetch_holds_concurrency_plus_prefetch_processes_but_runs_only_concurrency_handlers(
    wq: Worqr, client: Worqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    reasons: list[str | None] = []
    worker = started(client.worker("jobs", lambda p: reasons.append(held_until_told(p)), prefetch=5), stopping)
    tasks = [f"t{i}" for i in range(8)]
    wq.enqueue("jobs", tasks)
    wait_until(lambda: raw.hlen(processes_key(client)) == 6)
    wait_until(lambda: worker.stats.in_flight == 1)
    assert wq.get_tasks("jobs") == ["t6", "t7"]
    worker.stop(grace=0.2)
    wait_until(lambda: len(reasons) == 1)  # the running handler answers in its own thread
    assert reasons == ["shutdown"]
    assert wq.get_tasks("jobs") == tasks  # all six back in front, in their original order
    assert raw.hlen(processes_key(client)) == 0
    assert (worker.stats.released, worker.stats.processed, worker.stats.failed) == (6, 0, 0)


def test_shutdown_gives_prefetched_tasks_back_before_the_grace_of_the_running_handler_ends(
    wq: Worqr, client: Worqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    reasons: list[str | None] = []
    worker = started(client.worker("jobs", lambda p: reasons.append(held_until_told(p)), prefetch=5), stopping)
    tasks = [f"t{i}" for i in range(8)]
    wq.enqueue("jobs", tasks)
    wait_until(lambda: raw.hlen(processes_key(client)) == 6 and worker.stats.in_flight == 1)
    worker.request_stop(grace=LONG)
    wait_until(lambda: wq.get_tasks("jobs") == tasks[1:], timeout=3.0)  # the waiting five are back
    assert reasons == []  # while the running handler still has its grace
    assert worker.running
    worker.stop(grace=0)
    assert wq.get_tasks("jobs") == tasks
    assert worker.stats.released == 6


def test_a_prefetched_tasks_timeout_starts_when_its_handler_begins(
    wq: Worqr, client: Worqr, stopping: list[Worker[Any]]
) -> None:
    wq.enqueue("jobs", [f"t{i}" for i in range(6)])
    queued_when_first_ran: list[int] = []

    def handle(process: Process[str]) -> str:
        if process.task == "t0":
            queued_when_first_ran.append(wq.count_queue("jobs"))
        time.sleep(0.08)  # the work: well within the timeout; six of them are not
        return process.task

    worker = started(client.worker("jobs", handle, prefetch=5, timeout=0.3, max_attempts=1), stopping)
    settled(worker, processed=6)
    assert queued_when_first_ran == [0]  # all six were taken at once; the last waited ~0.4 s
    assert (worker.stats.failed, wq.count_dead_letters("jobs")) == (0, 0)


def test_a_cancel_event_for_a_prefetched_task_finishes_it_as_cancelled_without_running_it(
    wq: Worqr, client: Worqr, stopping: list[Worker[Any]]
) -> None:
    gate = threading.Event()
    ran: list[str] = []

    def handle(process: Process[str]) -> str:
        ran.append(process.task)
        if process.task == "t0":
            assert gate.wait(LONG)
        return process.task

    done = DoneEvents(wq)
    worker = started(client.worker("jobs", handle, prefetch=5), stopping)
    wq.enqueue("jobs", ["t0", "t1", "t2", "t3"])
    wait_until(lambda: worker.stats.in_flight == 1)  # t0 runs; t1..t3 wait in the worker
    assert wq.count_queue("jobs") == 0
    assert wq.cancel_tasks("jobs", "t2") == 0  # not queued: it waits in the worker
    wait_until(lambda: any(j.process.task == "t2" and j.state == "cancelled" for j in worker._jobs.all()))
    gate.set()
    settled(worker, processed=3, cancelled=1)
    assert ran == ["t0", "t1", "t3"]
    wait_until(lambda: len(done.messages) == 4)
    assert done.results() == {"t0": "t0", "t1": "t1", "t2": None, "t3": "t3"}
    assert wq.get_matching_processes("t2") == []
    assert worker.stats.failed == 0


def test_the_prefetched_tasks_of_a_worker_declared_dead_are_all_requeued_and_run_by_a_peer(
    wq: Worqr, client: Worqr, make_worqr: MakeWorqr, raw: redis.Redis, stopping: list[Worker[Any]]
) -> None:
    started(client.worker("jobs", held_until_told, prefetch=5), stopping)
    tasks = [f"t{i}" for i in range(6)]
    wq.enqueue("jobs", tasks)
    wait_until(lambda: raw.hlen(processes_key(client)) == 6)
    declare_dead(client, wq, raw)
    assert wq.get_tasks("jobs") == tasks  # running and waiting alike, in order
    assert [stored_attempts(raw, wq, t) for t in tasks] == [b"1"] * 6  # each used an attempt
    attempts: dict[str, int] = {}

    def handle(process: Process[str]) -> None:
        attempts[process.task] = process.attempt

    peer = started(make_worqr(**FAST).worker("jobs", handle), stopping)
    settled(peer, processed=6)
    assert attempts == dict.fromkeys(tasks, 2)


#: A worker process that takes six tasks (one running, five prefetched) and blocks.
HOLDING_CHILD = """
import sys, threading
from worqr import Worqr
url, prefix, worker_id = sys.argv[1:4]
client = Worqr(redis=url, prefix=prefix, worker_id=worker_id, heartbeat_interval=0.1, worker_timeout=0.5,
               cleanup_interval=60.0, poll_interval=60.0)
client.worker("jobs", lambda process: threading.Event().wait(), prefetch=5).run()
"""


@pytest.mark.slow
def test_the_prefetched_tasks_of_a_sigkilled_worker_process_are_all_requeued_by_a_peer(
    wq: Worqr, raw: redis.Redis, redis_url: str
) -> None:
    tasks = [f"t{i}" for i in range(8)]
    wq.enqueue("jobs", tasks)
    victim = "victim-worker"
    child = subprocess.Popen([sys.executable, "-c", HOLDING_CHILD, redis_url, wq.prefix, victim])
    try:
        wait_until(lambda: raw.hlen(processes_key(wq, victim)) == 6 or child.poll() is not None, timeout=20.0)
        assert child.poll() is None, f"the worker process exited with {child.returncode}"
        assert wq.get_tasks("jobs") == ["t6", "t7"]
    finally:
        child.kill()
        child.wait()
    wait_until(lambda: victim in wq.cleanup_workers(), timeout=5.0, interval=0.05)  # once its heartbeat expired
    assert wq.get_tasks("jobs") == tasks
    assert [stored_attempts(raw, wq, t) for t in tasks] == [b"1"] * 6 + [None] * 2
    assert raw.hlen(processes_key(wq, victim)) == 0


@pytest.mark.parametrize("prefetch", [-1, 1001, True, 2.0, "5"])
def test_a_bad_prefetch_is_refused_before_anything_is_written(client: Worqr, raw: redis.Redis, prefetch: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"prefetch must be None \(adapt\) or an int from 0 to 1000, got"):
        client.worker("jobs", handler, prefetch=prefetch)
    assert written_keys(raw, client) == []


def test_a_persistent_worker_takes_no_prefetch(client: Worqr, raw: redis.Redis) -> None:
    with pytest.raises(InvalidArgumentError, match=r"unknown option\(s\) prefetch"):
        client.persistent_worker("jobs", handler, **cast("Any", {"prefetch": 2}))
    assert written_keys(raw, client) == []


@pytest.mark.parametrize("prefetch", [None, 0, 1, 1000])
def test_a_good_prefetch_is_kept(client: Worqr, prefetch: int | None) -> None:
    assert client.worker("jobs", handler, prefetch=prefetch).settings.prefetch == prefetch


# Adaptive prefetch -------------------------------------------------------------------------


def test_adaptive_prefetch_holds_about_its_window_of_work_per_handler() -> None:
    settings = Settings.check(
        concurrency=4, max_attempts=3, backoff=QUICK, timeout=None, persistent=False, restart_on_loss=False, grace=1.0, prefetch=None
    )  # fmt: skip
    pace = Pace()
    assert settings.capacity(pace) == 4  # nothing known yet: no prefetch
    pace.add(0.0005)  # 0.5 ms a task: the 2 ms window holds 4 per handler
    assert settings.capacity(pace) == 4 + 4 * 4
    pace.seconds = 0.005  # slower than the window: none
    assert settings.capacity(pace) == 4
    pace.seconds = 1e-9  # near-instant: at most MAX_PREFETCH per handler
    assert settings.capacity(pace) == 4 + 4 * MAX_PREFETCH
    fixed = Settings.check(
        concurrency=900, max_attempts=3, backoff=QUICK, timeout=None, persistent=False, restart_on_loss=False, grace=1.0, prefetch=500
    )  # fmt: skip
    assert fixed.capacity(pace) == flows.MAX_TAKE  # never more than one dequeue may take


def test_adaptive_prefetch_takes_more_than_concurrency_per_dequeue_when_handlers_are_short(
    wq: Worqr, client: Worqr, monkeypatch: pytest.MonkeyPatch, stopping: list[Worker[Any]]
) -> None:
    spy = Spy(client, monkeypatch)
    worker = started(client.worker("jobs", lambda _p: None, concurrency=2), stopping)
    wq.enqueue("jobs", [f"t{i}" for i in range(400)])
    settled(worker, processed=400)
    assert max(spy.dequeue_counts()) > 2


@pytest.mark.parametrize("prefetch", [None, 0])
def test_no_prefetch_when_handlers_are_slower_than_the_window_or_it_is_off(
    wq: Worqr, client: Worqr, monkeypatch: pytest.MonkeyPatch, stopping: list[Worker[Any]], prefetch: int | None
) -> None:
    pause = 0.005 if prefetch is None else 0.0  # adaptive: 5 ms a task, over the 2 ms window

    def handle(process: Process[str]) -> None:
        time.sleep(pause)

    spy = Spy(client, monkeypatch)
    worker = started(client.worker("jobs", handle, concurrency=2, prefetch=prefetch), stopping)
    wq.enqueue("jobs", [f"t{i}" for i in range(40)])
    settled(worker, processed=40)
    counts = spy.dequeue_counts()
    assert counts and max(counts) <= 2, counts


# Batched results ---------------------------------------------------------------------------


def test_results_of_many_short_tasks_reach_their_done_events_exactly_once(
    wq: Worqr, client: Worqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch, stopping: list[Worker[Any]]
) -> None:
    spy = Spy(client, monkeypatch)
    done = DoneEvents(wq)
    tasks = [f"t{i}" for i in range(300)]
    worker = started(client.worker("jobs", lambda p: {"task": p.task, "n": int(p.task[1:])}, concurrency=4), stopping)
    wq.enqueue("jobs", tasks)
    wait_until(lambda: len(done.messages) >= 300)
    settled(worker, processed=300)
    time.sleep(WINDOW)  # room for a duplicate done event to show
    assert sorted(m["task"] for m in done.messages) == sorted(tasks)  # each exactly once
    assert all(m["result"] == {"task": m["task"], "n": int(m["task"][1:])} for m in done.messages)
    assert (worker.stats.failed, worker.stats.in_flight) == (0, 0)
    assert raw.exists(processes_key(client)) == 0
    batches = spy.finished_seqs()
    assert sum(len(b) for b in batches) == 300
    assert len(batches) < 300  # results went out in batches
    assert spy.calls("finish") == []


class HeldRound:
    """Keeps the runtime loop inside one round trip (its next dequeue) until the
    handlers of ``waiting`` tasks have all returned: their results then go out together."""

    def __init__(self, spy: Spy, worker: Worker[Any], waiting: int) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self._worker = worker
        self._waiting = waiting
        spy.hold = self._hold
        self._spy = spy

    def _hold(self, calls: Sequence[Call[Any]]) -> None:
        if not any(c.script == "dequeue" for c in calls):
            return
        self._spy.hold = None  # once
        self.entered.set()
        wait_until(lambda: len(self._worker._succeeded) == self._waiting)
        assert self.release.wait(LONG)


def test_a_result_that_is_not_json_fails_only_its_own_task_in_a_batch(
    wq: Worqr, client: Worqr, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch, stopping: list[Worker[Any]]
) -> None:
    running = threading.Semaphore(0)
    held = threading.Event()

    def handle(process: Process[str]) -> object:
        running.release()
        assert held.wait(LONG)
        return object() if process.task == "bad" else process.task.upper()

    spy = Spy(client, monkeypatch)
    done = DoneEvents(wq)
    worker = started(client.worker("jobs", handle, concurrency=6, prefetch=0, max_attempts=2, backoff=QUICK), stopping)
    batch = ["a", "b", "bad", "c", "d"]
    wq.enqueue("jobs", batch)
    for _ in batch:
        assert running.acquire(timeout=LONG)
    held_round = HeldRound(spy, worker, waiting=5)
    wq.enqueue("jobs", "trigger")  # wakes the loop into a dequeue, which is held
    assert held_round.entered.wait(LONG)
    held.set()  # the five return while the loop is held
    held_round.release.set()
    settled(worker, processed=5, failed=2, retried=1, dead_lettered=1)
    wait_until(lambda: len(done.messages) == 5)
    assert done.results() == {"a": "A", "b": "B", "c": "C", "d": "D", "trigger": "TRIGGER"}
    good = sorted(int(m["process_id"].split(":")[0]) for m in done.messages if m["task"] in {"a", "b", "c", "d"})
    assert good in [sorted(seqs) for seqs in spy.finished_seqs()]  # the batch's four good results, in one call
    (letter,) = wq.get_dead_letters("jobs")
    assert (letter.task, letter.error_type, letter.attempts) == ("bad", "InvalidTaskTypeError", 2)
    assert "cannot be encoded as JSON" in letter.error
    assert raw.exists(processes_key(client)) == 0


def test_a_batch_reports_only_the_process_it_lost_as_dropped(
    wq: Worqr,
    client: Worqr,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stopping: list[Worker[Any]],
) -> None:
    caplog.set_level(logging.WARNING, logger="worqr")
    running = threading.Semaphore(0)
    held = threading.Event()
    first_ids: dict[str, str] = {}

    def handle(process: Process[str]) -> str:
        first_ids.setdefault(process.task, process.id)
        running.release()
        assert held.wait(LONG)
        return f"{process.task}@{process.id}"

    spy = Spy(client, monkeypatch)
    done = DoneEvents(wq)
    worker = started(client.worker("jobs", handle, concurrency=6, prefetch=0), stopping)
    batch = ["a", "b", "c", "d", "e"]
    wq.enqueue("jobs", batch)
    for _ in batch:
        assert running.acquire(timeout=LONG)
    held_round = HeldRound(spy, worker, waiting=5)
    wq.enqueue("jobs", "trigger")
    assert held_round.entered.wait(LONG)
    held.set()
    wait_until(lambda: len(worker._succeeded) == 5)
    client.stop_process(first_ids["c"])  # c's process is no longer this worker's: back to the queue
    held_round.release.set()
    settled(worker, processed=6)  # a, b, d, e, trigger, and c run again
    wait_until(lambda: len(done.messages) == 6)
    dropped = [r.getMessage() for r in caplog.records if "result dropped" in r.getMessage()]
    assert dropped == [f"process {first_ids['c']}: finished, but it no longer belonged to this worker; result dropped"]
    results = done.results()
    assert {t: results[t] for t in ["a", "b", "d", "e"]} == {t: f"{t}@{first_ids[t]}" for t in ["a", "b", "d", "e"]}
    assert results["c"] != f"c@{first_ids['c']}"  # c's done event is its second run's
    assert sorted(m["task"] for m in done.messages) == sorted([*batch, "trigger"])
    assert all(wq.get_matching_processes(t) == [] for t in [*batch, "trigger"])


# flows.drive_together ----------------------------------------------------------------------


class CountingRun:
    """A runner's ``run`` that records each batch it is given."""

    def __init__(self, run: Callable[[Sequence[Call[Any]]], list[Any]]) -> None:
        self.batches: list[list[Call[Any]]] = []
        self._run = run

    def __call__(self, calls: Sequence[Call[Any]]) -> list[Any]:
        self.batches.append(list(calls))
        return self._run(calls)


def test_drive_together_sends_one_round_trip_per_round_and_gives_each_flow_its_results(wq: Worqr) -> None:
    wq.enqueue("one", ["1a"])
    wq.enqueue("two", ["2a", "2b"])
    wq.enqueue("three", ["3a", "3b", "3c"])
    run = CountingRun(wq._runner.run)
    session = wq._session
    outcomes = flows.drive_together(
        [reads(session, "one", 1), reads(session, "two", 2), reads(session, "three", 3)], run
    )
    assert outcomes == [[1], [2, b"2a"], [3, b"3a", 3]]
    assert [len(batch) for batch in run.batches] == [3, 2, 1]  # one runner call per round


def test_drive_together_gives_a_calls_error_only_to_the_flow_that_made_it(wq: Worqr, raw: redis.Redis) -> None:
    wq.enqueue("fine", ["x"])
    raw.set(QueueKeys(wq.prefix, "clobbered").pending, "not a list")
    run = CountingRun(wq._runner.run)
    session = wq._session
    outcomes = flows.drive_together(
        [
            reads(session, "fine", 2),
            reads(session, "clobbered", 2),  # Redis refuses its call (WRONGTYPE): it ends there
            lost_dequeue(session, "fine"),  # its reply's parser raises
            catching(session, "clobbered", "fine"),  # catches the refusal and goes on
        ],
        run,
    )
    fine, refused, lost, caught = outcomes
    assert fine == [1, b"x"]
    assert isinstance(refused, RedisCommandError)
    assert "WRONGTYPE" in str(refused)
    assert isinstance(lost, WorkerLostError)
    assert caught == ["RedisCommandError", 1]  # thrown into the flow, which went on
    assert [len(batch) for batch in run.batches] == [4, 2]
    assert wq.get_tasks("fine") == ["x"]  # the refused dequeue moved nothing


def test_drive_together_hands_an_advisory_calls_refusal_to_its_flow_as_a_result(wq: Worqr, raw: redis.Redis) -> None:
    registry = RegistryKeys(wq.prefix)
    raw.set(registry.queues, "not a set")

    def listing() -> flows.Flow[object]:
        (listed,) = yield [registry_ops.add_queue(registry, "jobs")]
        return listed

    listed, count = flows.drive_together([listing(), reads(wq._session, "jobs", 1)], wq._runner.run)
    assert isinstance(listed, RedisCommandError)
    assert count == [0]


def test_drive_together_resumes_a_paused_flow_after_the_others(wq: Worqr) -> None:
    wq.enqueue("jobs", ["x"])

    def pausing() -> flows.Flow[object]:
        yield flows.Pause(0.01)
        (count,) = yield [ops.count(wq._session.queue("jobs"))]
        return count

    assert flows.drive_together([pausing(), reads(wq._session, "jobs", 2)], wq._runner.run) == [1, [1, b"x"]]


def test_drive_together_gives_a_failed_round_trip_to_every_flow_in_it(worqr_prefix: str) -> None:
    with RedisServer() as server:
        wq = Worqr(redis=server.url, prefix=worqr_prefix)
        try:
            wq.enqueue("jobs", ["x"])
            session = wq._session
            server.stop()
            outcomes = flows.drive_together([reads(session, "jobs", 2), reads(session, "other", 1)], wq._runner.run)
        finally:
            wq.close()
    assert all(isinstance(o, RedisUnavailableError) for o in outcomes), outcomes


def test_due_tasks_a_dequeue_cannot_take_wake_another_idle_worker_not_the_caller(
    make_worqr: MakeWorqr, wq: Worqr, raw: redis.Redis
) -> None:
    """dequeue moves every due delayed task; those it does not take wake other idle workers.
    The caller may itself be the longest idle: it must be passed over, or nobody is woken."""
    first, second = make_worqr(**QUIET), make_worqr(**QUIET)
    listeners = []
    for client in (first, second):
        client.start_worker()
        client.start_work("jobs")
        assert client.dequeue("jobs") is None  # idle: first, then second
        pubsub = raw.pubsub()
        pubsub.subscribe(QueueKeys(wq.prefix, "jobs").wake_channel(client.worker_id))
        assert pubsub.get_message(timeout=5) is not None  # the subscription is live
        listeners.append(pubsub)
    try:
        assert idle_workers(raw, wq) == [first.worker_id, second.worker_id]
        wq.enqueue("jobs", ["a", "b"], delay=0.001)
        assert wq.count_delayed("jobs") == 2
        process = None
        deadline = time.monotonic() + 5
        while process is None and time.monotonic() < deadline:  # due within a millisecond, by the server's clock
            process = first.dequeue("jobs")
        assert process is not None and process.task == "a"
        woken = listeners[1].get_message(timeout=5)
        assert woken is not None and woken["data"] == b"work\n1"
        assert listeners[0].get_message(timeout=0.2) is None  # the caller was not woken
        assert idle_workers(raw, wq) == []
    finally:
        for pubsub in listeners:
            pubsub.close()
