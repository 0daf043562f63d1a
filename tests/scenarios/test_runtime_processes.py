"""The worker runtime under real OS processes: SIGTERM and a second signal, SIGKILL, a poison
task that kills its workers, SIGSTOP past the timeout, and persistent tasks taken over.

Each child (runtime_child.py) runs ``Worker.run()`` / ``AsyncWorker.run()`` and writes what its
handlers do, and the runtime's log records, to a shared ledger of JSON lines. The tests wait on
the ledger, the children's "ready" lines and Redis state, never on fixed sleeps.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_until
from worqr import Event, Worqr

pytestmark = pytest.mark.slow

CHILD = str(Path(__file__).with_name("runtime_child.py"))
QUEUE = "jobs"
#: The children's client settings (runtime_child.py's defaults).
HEARTBEAT_INTERVAL, WORKER_TIMEOUT, CLEANUP_INTERVAL = 0.1, 0.6, 0.4
#: Deadline for a child to start, stop or react; far above what any step needs.
DEADLINE = 20.0
Record = dict[str, Any]


class Child:
    """One runtime_child.py process; its stdout lines are collected by a reader thread."""

    def __init__(self, name: str, argv: list[str], *, asyncio: bool) -> None:
        self.name = name
        self.asyncio = asyncio
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.stuck = False
        self.reader = threading.Thread(target=self._read, name=f"stdout-{name}", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.strip())

    def wait_ready(self) -> None:
        wait_until(lambda: "ready" in self.lines or self.popen.poll() is not None, DEADLINE)
        assert "ready" in self.lines, f"{self.name} exited with {self.popen.returncode} before it was ready"

    def send(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def exit_code(self) -> int:
        try:
            return self.popen.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.stuck = True
            raise


class Fleet:
    """Starts children on one prefix and ledger; `kill_all` leaves none behind."""

    def __init__(self, redis_url: str, prefix: str, ledger: Path) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.ledger = ledger
        self.children: list[Child] = []

    def spawn(self, kind: str, handler: str, name: str, *options: str, ready: bool = True) -> Child:
        argv = [
            sys.executable,
            CHILD,
            kind,
            handler,
            self.redis_url,
            self.prefix,
            QUEUE,
            str(self.ledger),
            name,
            *options,
        ]
        child = Child(name, argv, asyncio=kind.startswith("async"))
        self.children.append(child)
        if ready:
            child.wait_ready()
        return child

    def kill_all(self) -> None:
        for child in self.children:
            if child.popen.poll() is None:
                child.popen.send_signal(signal.SIGCONT)  # a stopped child must run to die
                if child.stuck:  # it failed to exit: dump its threads and asyncio tasks on stderr
                    child.popen.send_signal(signal.SIGUSR1)
                    if child.asyncio:
                        child.popen.send_signal(signal.SIGUSR2)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        child.popen.wait(1)  # time to write the dump (it does not exit on these)
                child.popen.kill()
        for child in self.children:
            child.popen.wait(DEADLINE)
            child.reader.join(DEADLINE)
            assert child.popen.stdout is not None
            child.popen.stdout.close()

    def records(self, ev: str | None = None, who: str | None = None, task: str | None = None) -> list[Record]:
        """The ledger's records (in the order they were written), filtered."""
        if not self.ledger.exists():
            return []
        lines = self.ledger.read_text().split("\n")[:-1]  # complete lines only: a child may be writing
        found = [json.loads(line) for line in lines]
        return [
            r
            for r in found
            if (ev is None or r["ev"] == ev)
            and (who is None or r["who"] == who)
            and (task is None or r.get("task") == task)
        ]

    def logged(self, who: str, text: str) -> list[Record]:
        return [r for r in self.records("log", who) if text in r["msg"]]


@pytest.fixture
def fleet(redis_url: str, worqr_prefix: str, tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(redis_url, worqr_prefix, tmp_path / "ledger.jsonl")
    try:
        yield fleet
    finally:
        fleet.kill_all()


class Events:
    """Every event of QUEUE that the test's client hears."""

    def __init__(self, client: Worqr) -> None:
        self.client = client
        self.seen: list[Event] = []
        client.on(QUEUE, self.seen.append)

    def done(self) -> list[Record]:
        return [json.loads(e.message) for e in list(self.seen) if e.type == "done"]

    def barrier(self, marker: str) -> None:
        """Wait until every event published so far has arrived: a ``cancel`` event published
        now (for a payload no one runs) comes after them on the same channel."""
        self.client.cancel_tasks(QUEUE, marker)
        wait_until(lambda: any(e.type == "cancel" and e.message == marker for e in list(self.seen)), DEADLINE)


@pytest.fixture
def producer(make_worqr: Callable[..., Worqr]) -> Worqr:
    return make_worqr()


@pytest.fixture
def events(producer: Worqr) -> Events:
    return Events(producer)


def tasks_of(records: list[Record]) -> list[str]:
    return [r["task"] for r in records]


def index_of(records: list[Record], record: Record) -> int:
    return next(i for i, r in enumerate(records) if r == record)


# 1. SIGTERM: in-flight handlers finish within grace, nothing lost ------------------------------


@pytest.mark.parametrize("kind", ["worker", "async-worker"])
def test_sigterm_stops_taking_work_lets_in_flight_handlers_finish_and_loses_nothing(
    kind: str, fleet: Fleet, producer: Worqr, events: Events
) -> None:
    tasks = [f"t{i}" for i in range(6)]
    child = fleet.spawn(kind, "slow", "w", "--concurrency", "2", "--seconds", "1.0", "--grace", "20")
    producer.enqueue(QUEUE, tasks)
    wait_until(lambda: len(fleet.records("start")) == 2, DEADLINE)
    child.send(signal.SIGTERM)
    assert child.exit_code() == 0
    ledger = fleet.records()
    started, finished = tasks_of(fleet.records("start")), tasks_of(fleet.records("finish"))
    # In-flight handlers ran to the end (grace 20 s) and their results were accepted ...
    assert sorted(finished) == sorted(started) and len(started) >= 2
    assert fleet.records("told") == []
    assert fleet.logged("w", "no longer belonged") == []
    wait_until(lambda: len(events.done()) == len(finished), DEADLINE)
    assert sorted(d["task"] for d in events.done()) == sorted(finished)
    # ... no handler started after the signal was handled ...
    (received,) = fleet.logged("w", "SIGTERM received")
    assert all(index_of(ledger, r) < index_of(ledger, received) for r in fleet.records("start"))
    # ... and the rest wait in their queue, in order: finished + queued == enqueued.
    assert producer.get_tasks(QUEUE) == [t for t in tasks if t not in finished]
    assert len(finished) + producer.count_queue(QUEUE) == len(tasks)
    assert "w" not in producer.get_workers()


# 2. A second signal: stop at once, running tasks back at the front in order -----------------


@pytest.mark.parametrize(
    ("kind", "second"),
    [
        ("worker", signal.SIGTERM),
        ("worker", signal.SIGINT),
        ("async-worker", signal.SIGTERM),
        ("async-worker", signal.SIGINT),
    ],
)
def test_second_signal_stops_at_once_and_puts_running_tasks_back_at_the_front_in_order(
    kind: str, second: signal.Signals, fleet: Fleet, producer: Worqr, events: Events
) -> None:
    tasks = [f"t{i}" for i in range(4)]
    child = fleet.spawn(kind, "slow", "w", "--concurrency", "2", "--seconds", "600", "--grace", "600")
    producer.enqueue(QUEUE, tasks)
    wait_until(lambda: len(fleet.records("start")) == 2, DEADLINE)
    child.send(signal.SIGTERM)
    wait_until(lambda: fleet.logged("w", "SIGTERM received"), DEADLINE)  # the first one was handled
    child.send(second)
    assert child.exit_code() == 0  # long before the 600 s grace
    assert sorted(tasks_of(fleet.records("start"))) == ["t0", "t1"]
    assert fleet.records("finish") == []
    assert sorted(tasks_of(fleet.records("told"))) == ["t0", "t1"]
    assert producer.get_tasks(QUEUE) == tasks  # t0, t1 back at the front, in their order
    assert producer.get_matching_processes("t0") == producer.get_matching_processes("t1") == []
    events.barrier("barrier")
    assert events.done() == []


# 3. SIGKILL mid-task: a peer reaps the worker, the task runs again as attempt 2 ---------------


def test_sigkilled_worker_is_reaped_by_a_peer_and_its_task_runs_again_as_attempt_2(
    fleet: Fleet, producer: Worqr, events: Events
) -> None:
    victim = fleet.spawn("worker", "slow", "victim", "--seconds", "600")
    producer.enqueue(QUEUE, "job")
    wait_until(lambda: fleet.records("start", "victim"), DEADLINE)
    peer = fleet.spawn("async-worker", "record", "peer")
    victim.popen.kill()
    assert victim.exit_code() == -signal.SIGKILL
    wait_until(lambda: fleet.records("finish", "peer"), DEADLINE)
    (first,) = fleet.records("start", "victim")
    (again,) = fleet.records("start", "peer")
    assert (first["task"], first["attempt"]) == ("job", 1)
    assert (again["task"], again["attempt"]) == ("job", 2)
    wait_until(events.done, DEADLINE)
    assert [(d["task"], d["worker_id"]) for d in events.done()] == [("job", "peer")]
    assert producer.get_workers() == ["peer"]
    assert producer.count_queue(QUEUE) == 0
    assert peer.popen.poll() is None


# 4. A poison task: dead-lettered after max_attempts worker deaths; the fleet goes on ---------


def test_poison_task_that_kills_its_workers_is_dead_lettered_and_the_fleet_goes_on(
    fleet: Fleet, producer: Worqr, events: Events
) -> None:
    normal = [f"n{i}" for i in range(8)]
    names = iter(range(100))

    def spawn() -> Child:
        return fleet.spawn("worker", "poison", f"f{next(names)}", "--max-attempts", "3", ready=False)

    crew = [spawn(), spawn()]

    def replace_the_dead() -> None:
        for i, child in enumerate(crew):
            if child.popen.poll() is not None:
                crew[i] = spawn()

    producer.enqueue(QUEUE, ["poison", *normal])

    def settled() -> bool:
        replace_the_dead()
        return producer.count_dead_letters(QUEUE) == 1 and len(fleet.records("finish")) >= len(normal)

    wait_until(settled, 40, interval=0.05)
    (letter,) = producer.get_dead_letters(QUEUE)
    assert letter.task == "poison"
    assert (letter.error_type, letter.attempts) == ("WorqrError", 3), letter
    assert "3 attempt(s)" in letter.error and "worker running it died" in letter.error, letter.error
    assert [r["attempt"] for r in fleet.records("start", task="poison")] == [1, 2, 3]
    dead = [c for c in fleet.children if c.popen.poll() is not None]
    assert [c.popen.returncode for c in dead] == [-signal.SIGKILL] * 3
    assert Counter(tasks_of(fleet.records("finish"))) == Counter(normal)
    # The fleet is not taken down: a task enqueued now still runs.
    replace_the_dead()
    producer.enqueue(QUEUE, "after")
    wait_until(lambda: fleet.records("finish", task="after"), DEADLINE)
    events.barrier("barrier")
    assert Counter(d["task"] for d in events.done()) == Counter([*normal, "after"])
    assert producer.count_queue(QUEUE) == 0 and producer.count_delayed(QUEUE) == 0


# 5. SIGSTOP past worker_timeout: reaped, re-run by a peer, the zombie's late finish refused ---


def test_paused_worker_is_reaped_its_task_reruns_and_its_late_finish_is_rejected(
    fleet: Fleet, producer: Worqr, events: Events
) -> None:
    zombie = fleet.spawn("worker", "slow", "zombie", "--seconds", "0.5", "--stop-on-loss")
    producer.enqueue(QUEUE, "job")
    wait_until(lambda: fleet.records("start", "zombie"), DEADLINE)
    zombie.send(signal.SIGSTOP)
    fleet.spawn("worker", "record", "peer")
    wait_until(lambda: fleet.records("finish", "peer"), DEADLINE)
    (again,) = fleet.records("start", "peer")
    assert again["attempt"] == 2
    assert fleet.records("finish", "zombie") == []  # still frozen in its handler
    zombie.send(signal.SIGCONT)
    assert zombie.exit_code() == 3  # run() raised WorkerLostError (restart_on_loss=False)
    # The handler ended late: either the worker knew it was lost first (its alarm fires as the
    # process wakes: it told the handler, whose wait then ends "told", and dropped any result),
    # or the result reached the fence, which refused it.
    ended = [r["task"] for r in [*fleet.records("finish", "zombie"), *fleet.records("told", "zombie")]]
    assert ended == ["job"]
    dropped = fleet.logged("zombie", "told 1 handler(s) to stop")
    assert dropped or fleet.logged("zombie", "no longer belonged to this worker"), fleet.records("log", "zombie")
    events.barrier("barrier")
    assert [(d["task"], d["worker_id"]) for d in events.done()] == [("job", "peer")]
    assert producer.count_queue(QUEUE) == 0


@pytest.mark.parametrize("kind", ["worker", "async-worker"])
def test_paused_worker_wakes_registers_again_under_its_id_and_takes_work(
    kind: str, fleet: Fleet, producer: Worqr, events: Events
) -> None:
    zombie = fleet.spawn(kind, "slow", "zombie", "--seconds", "0.5")
    producer.enqueue(QUEUE, "job")
    wait_until(lambda: fleet.records("start", "zombie"), DEADLINE)
    zombie.send(signal.SIGSTOP)
    wait_until(lambda: "zombie" in producer.cleanup_workers(), DEADLINE)  # reaped once its heartbeat expired
    assert producer.get_tasks(QUEUE) == ["job"]  # back at the front
    zombie.send(signal.SIGCONT)
    # It finds itself lost, tells its handler, drops the result, and joins again, same id.
    wait_until(lambda: fleet.logged("zombie", "registered again, as a new incarnation"), DEADLINE)
    wait_until(lambda: "zombie" in producer.get_workers(), DEADLINE)
    wait_until(lambda: len(fleet.records("start", "zombie")) == 2, DEADLINE)  # it takes the job again
    second = fleet.records("start", "zombie")[1]
    assert (second["task"], second["attempt"]) == ("job", 2)
    wait_until(lambda: len(events.done()) == 1, DEADLINE)
    assert [(d["task"], d["worker_id"]) for d in events.done()] == [("job", "zombie")]
    assert zombie.popen.poll() is None  # still running
    zombie.send(signal.SIGTERM)
    assert zombie.exit_code() == 0


# 6. Persistent tasks: taken over after SIGKILL (timed), released at once on SIGTERM ----------


@pytest.mark.parametrize("kind", ["persistent", "async-persistent"])
def test_a_paused_persistent_holder_stops_its_handler_as_soon_as_it_wakes(
    kind: str, fleet: Fleet, producer: Worqr
) -> None:
    """SIGSTOP past worker_timeout: a standby takes the task over while the holder is frozen
    (a frozen process runs nothing). When it is thawed, the holder's first act is to stop its
    handler: its lease ran out on its own clock. The overlap is the time from SIGCONT to the
    handler hearing its token."""
    holder = fleet.spawn(kind, "hold", "holder")
    producer.enqueue(QUEUE, "connection")
    wait_until(lambda: fleet.records("start", "holder"), DEADLINE)
    fleet.spawn(kind, "hold", "standby")
    holder.send(signal.SIGSTOP)
    wait_until(lambda: "holder" in producer.cleanup_workers() or fleet.records("start", "standby"), DEADLINE)
    wait_until(lambda: fleet.records("start", "standby"), DEADLINE)
    thawed_at = time.time()
    holder.send(signal.SIGCONT)
    wait_until(lambda: fleet.records("told", "holder"), DEADLINE)
    (told,) = fleet.records("told", "holder")
    print(
        f"\n[singleton] SIGSTOP, {kind}: the thawed holder's handler stopped {told['t'] - thawed_at:.3f} s after SIGCONT"
    )
    assert told["t"] - thawed_at < 1.0
    assert producer.get_matching_processes("connection") == [fleet.records("start", "standby")[0]["process"]]


@pytest.mark.parametrize("kind", ["persistent", "async-persistent"])
def test_persistent_task_of_a_sigkilled_worker_is_taken_over_by_an_idle_peer(
    kind: str, fleet: Fleet, producer: Worqr
) -> None:
    holder = fleet.spawn(kind, "hold", "holder")
    producer.enqueue(QUEUE, "connection")
    wait_until(lambda: fleet.records("start", "holder"), DEADLINE)
    fleet.spawn(kind, "hold", "standby")
    killed_at = time.time()
    holder.popen.kill()
    wait_until(lambda: fleet.records("start", "standby"), DEADLINE)
    (taken,) = fleet.records("start", "standby")
    print(
        f"\n[takeover] {kind}: SIGKILL -> standby's handler started after {taken['t'] - killed_at:.3f} s "
        f"(heartbeat_interval={HEARTBEAT_INTERVAL}, worker_timeout={WORKER_TIMEOUT}, cleanup_interval={CLEANUP_INTERVAL})"
    )
    assert (taken["task"], taken["attempt"]) == ("connection", 2)
    assert producer.get_matching_processes("connection") == [taken["process"]]
    assert "holder" not in producer.get_workers()


@pytest.mark.parametrize("kind", ["persistent", "async-persistent"])
def test_persistent_task_released_on_sigterm_is_taken_over_at_once_without_a_reap(
    kind: str, fleet: Fleet, producer: Worqr
) -> None:
    holder = fleet.spawn(kind, "hold", "holder", "--grace", "600")
    producer.enqueue(QUEUE, "connection")
    wait_until(lambda: fleet.records("start", "holder"), DEADLINE)
    # The standby reaps no one in this test: a takeover can only come from the release.
    fleet.spawn(kind, "hold", "standby", "--cleanup-interval", "600")
    signalled_at = time.time()
    holder.send(signal.SIGTERM)
    wait_until(lambda: fleet.records("start", "standby"), DEADLINE)
    (taken,) = fleet.records("start", "standby")
    print(
        f"\n[takeover] {kind}: SIGTERM -> standby's handler started after {taken['t'] - signalled_at:.3f} s (released)"
    )
    assert holder.exit_code() == 0  # long before the 600 s grace: a persistent task is released at once
    (told,) = fleet.records("told", "holder")
    assert told["reason"] in ("shutdown", "cancelled")
    # Released, not reaped: a clean release uses no attempt.
    assert (taken["task"], taken["attempt"]) == ("connection", 1)
    assert producer.get_matching_processes("connection") == [taken["process"]]
