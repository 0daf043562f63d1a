"""Calls under chaos: 5,000 calls through three worker processes (calls_child.py) while a
chaos loop SIGKILLs workers (each replaced by a new process) and SIGSTOPs one past its
timeout while it holds calls (its peers reap it; thawed, it rejoins).

What must hold: every call resolves exactly once (one end notice on its caller's channel,
and its record never changes once it ended), to the value the ledger gives (`expected`),
from a run that really returned that value (the journal's "return" record of the worker
and attempt the record names); and every ``status()`` read made during the run, by a reader
that samples the calls as they go, is consistent with the ledger: a known state, attempts
that never go down, progress of the shape the function reports, an end that never changes.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.helpers import wait_until
from tests.scenarios import calls_child
from worqr import Call, CallStatus, Function, Worqr
from worqr._protocol.keys import QueueKeys

pytestmark = pytest.mark.slow

CHILD = str(Path(calls_child.__file__))
CALLS = 5000
WORKERS = 3
#: The children's timings (calls_child.py's defaults): a paused child is declared dead after
#: WORKER_TIMEOUT and reaped within a CLEANUP_INTERVAL more.
WORKER_TIMEOUT, CLEANUP_INTERVAL = 1.0, 0.3
PAUSE_SECONDS = 2.5 * WORKER_TIMEOUT
PAUSE_TRIES = 50
#: Seconds between two chaos actions.
CHAOS_GAP = 0.3
#: The run goes on until the chaos made this many kills (and one pause) at least.
MIN_KILLS = 5
DEADLINE = 20.0
RESULT_TIMEOUT = 60.0
STATES = ("queued", "running", "succeeded")
#: Published on the notice channel after the run: every notice published before it arrives first.
MARKER = "marker"


@dataclass
class Placed:
    call: Call[Any]
    function: str
    args: list[Any]

    @property
    def expected(self) -> Any:
        return calls_child.expected(self.function, self.args)


@dataclass
class Chaos:
    kills: list[str] = field(default_factory=list)
    #: (child name, the calls it had started and not returned when it was stopped)
    pauses: list[tuple[str, set[str]]] = field(default_factory=list)


class Children:
    """The worker processes, on one prefix and journal; the chaos loop replaces killed ones."""

    def __init__(self, url: str, prefix: str, journal: Path) -> None:
        self.url, self.prefix, self.journal = url, prefix, journal
        self.names = (f"w{i}" for i in itertools.count())
        self.live: list[tuple[str, subprocess.Popen[str]]] = []
        self.every: list[tuple[str, subprocess.Popen[str]]] = []

    def spawn(self) -> None:
        """Start one more child and wait for its "ready" line (it has joined the queue)."""
        name = next(self.names)
        argv = [sys.executable, CHILD, self.url, self.prefix, str(self.journal), name]
        popen = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.every.append((name, popen))
        assert popen.stdout is not None
        line = popen.stdout.readline()  # "ready", or "" if it exited first
        assert line.strip() == "ready", f"{name} exited with {popen.wait(DEADLINE)} before it was ready"
        self.live.append((name, popen))

    def records(self, ev: str | None = None) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        lines = self.journal.read_text().split("\n")[:-1]  # complete lines only
        return [r for r in map(json.loads, lines) if ev is None or r["ev"] == ev]

    def holding(self, name: str) -> set[str]:
        """The calls ``name`` started (by the journal) and has not returned."""
        started: set[str] = set()
        for record in self.records():
            if record["who"] != name:
                continue
            if record["ev"] == "start":
                started.add(record["call"])
            elif record["ev"] == "return":
                started.discard(record["call"])
        return started

    def stop_all(self) -> None:
        for _, popen in self.every:
            if popen.poll() is None:
                popen.send_signal(signal.SIGCONT)  # a stopped child must run to die
                popen.kill()
        for _, popen in self.every:
            popen.wait(DEADLINE)
            assert popen.stdout is not None
            popen.stdout.close()


@pytest.fixture
def children(redis_url: str, worqr_prefix: str, tmp_path: Path) -> Iterator[Children]:
    made = Children(redis_url, worqr_prefix, tmp_path / "journal.jsonl")
    try:
        yield made
    finally:
        made.stop_all()


def chaos_loop(children: Children, done: threading.Event, chaos: Chaos, rng: random.Random) -> None:
    """Pause, kill, then kill or pause at random, until ``done``. A pause stops a child that
    holds calls (by the journal, read once it is stopped) past its timeout; a child stopped
    while it held none is let go at once and another tried."""
    actions = itertools.chain(["pause", "kill"], iter(lambda: rng.choice(["kill", "kill", "kill", "pause"]), None))
    while not done.wait(CHAOS_GAP):
        action = next(actions)
        if action == "kill":
            name, victim = rng.choice(children.live)
            victim.send_signal(signal.SIGKILL)
            victim.wait(DEADLINE)
            children.live.remove((name, victim))
            chaos.kills.append(name)
            children.spawn()
            continue
        for _ in range(PAUSE_TRIES):
            name, victim = rng.choice(children.live)
            victim.send_signal(signal.SIGSTOP)
            # A signal takes effect when the child next runs: wait until it has stopped, so
            # that the journal read next is final (nothing more is written while it stays so).
            os.waitpid(victim.pid, os.WUNTRACED)
            held = children.holding(name)
            if held:
                break
            victim.send_signal(signal.SIGCONT)  # it held nothing: try again
        else:
            continue
        chaos.pauses.append((name, held))
        done.wait(PAUSE_SECONDS)  # past its timeout: its peers reap it meanwhile
        victim.send_signal(signal.SIGCONT)


@dataclass
class Reads:
    """The ``status()`` reads of the sampling reader, per call, in the order they were made."""

    by_call: dict[str, list[CallStatus]] = field(default_factory=lambda: defaultdict(list))
    count: int = 0


def read_statuses(url: str, prefix: str, placed: list[Placed], done: threading.Event, reads: Reads) -> None:
    rng = random.Random(7)
    with Worqr(redis=url, prefix=prefix) as reader:
        while not done.is_set():
            for one in rng.sample(placed, min(len(placed), 20)) if placed else []:
                status = reader.get_call(one.call.id).status()
                reads.by_call[one.call.id].append(status)
                reads.count += 1


class Ends:
    """Counts the end notices per call on the producer's notice channel (raw redis-py)."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self.client, self.channel = client, channel
        self.counts: Counter[str] = Counter()
        self.subscribed, self.marked = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._listen, name="ends", daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        pubsub = self.client.pubsub()
        pubsub.subscribe(self.channel)
        try:
            while True:
                message = pubsub.get_message(timeout=DEADLINE)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    self.subscribed.set()
                elif message["type"] == "message":
                    if message["data"] == MARKER.encode():
                        self.marked.set()
                        return
                    _, call_id, state, *_outcome = message["data"].decode().split("\n", 3)
                    if state != "progress":
                        self.counts[call_id] += 1
        finally:
            pubsub.close()

    def finish(self) -> Counter[str]:
        """Every notice published so far (the marker comes after them on the channel)."""
        self.client.publish(self.channel, MARKER)
        assert self.marked.wait(DEADLINE)
        self.thread.join(DEADLINE)
        return self.counts


def place_all(producer: Worqr, rng: random.Random, placed: list[Placed]) -> None:
    function: Function[..., Any]
    args: list[Any]
    for i in range(CALLS):
        kind = rng.random()
        if kind < 0.8:
            function, args = calls_child.triple, [i]
            call: Call[Any] = producer.call(calls_child.triple, i)
        elif kind < 0.95:
            function, args = calls_child.digest, [f"text {i}"]
            call = producer.call(calls_child.digest, f"text {i}")
        else:
            function, args = calls_child.steps, [i, 3]
            call = producer.call(calls_child.steps, i, 3)
        placed.append(Placed(call, function.name, args))


def check_reads(statuses: list[CallStatus], one: Placed) -> None:
    """One call's reads, in order, against the ledger."""
    attempts = 0
    ended: CallStatus | None = None
    for status in statuses:
        assert status.state in STATES, (one.call.id, status)
        assert status.attempts >= attempts, (one.call.id, statuses)
        attempts = status.attempts
        if ended is not None:
            assert status == ended, f"{one.call.id} changed after it ended: {statuses}"
        if status.state == "succeeded":
            ended = status
        if status.state == "running":
            assert status.attempts >= 1, (one.call.id, status)
            assert status.worker_id is not None, (one.call.id, status)
        if status.progress is not None:
            assert one.function == calls_child.steps.name, (one.call.id, status)
            assert status.progress["of"] == one.args[1], (one.call.id, status)
            assert 1 <= status.progress["step"] <= one.args[1], (one.call.id, status)


def test_calls_resolve_once_to_the_ledger_through_kills_and_a_pause(
    children: Children, redis_url: str, worqr_prefix: str, raw: redis.Redis
) -> None:
    rng = random.Random(20261207)
    for _ in range(WORKERS):
        children.spawn()
    done = threading.Event()
    placed: list[Placed] = []
    chaos, reads = Chaos(), Reads()
    with Worqr(redis=redis_url, prefix=worqr_prefix) as producer:
        ends = Ends(raw, QueueKeys(worqr_prefix, calls_child.QUEUE).notices(producer.worker_id))
        assert ends.subscribed.wait(DEADLINE)
        threads = [
            threading.Thread(target=chaos_loop, args=(children, done, chaos, rng), name="chaos"),
            threading.Thread(target=read_statuses, args=(redis_url, worqr_prefix, placed, done, reads), name="reader"),
        ]
        for thread in threads:
            thread.start()
        try:
            place_all(producer, random.Random(1), placed)
            values = producer.gather([one.call for one in placed], timeout=RESULT_TIMEOUT)
            # Let the chaos go on until it made its kills and its pause, if the calls ended first.
            wait_until(lambda: len(chaos.kills) >= MIN_KILLS and len(chaos.pauses) >= 1, DEADLINE)
        finally:
            done.set()
            for thread in threads:
                thread.join(DEADLINE + PAUSE_SECONDS)
        children.stop_all()  # no late (refused) finish of a thawed worker can come after this
        final = {one.call.id: one.call.status() for one in placed}
    heard = ends.finish()

    # Every call resolved to the ledger's value, once.
    assert len(placed) == CALLS
    wrong = [(one.call.id, got, one.expected) for one, got in zip(placed, values, strict=True) if got != one.expected]
    assert wrong == [], wrong[:5]
    assert {s.state for s in final.values()} == {"succeeded"}
    assert {call_id: n for call_id, n in heard.items() if n != 1} == {}, "calls with more than one end notice"
    assert set(heard) == set(final), "calls without an end notice"

    # Each outcome came from a run that returned that value: the worker and attempt the record names.
    returned = {(r["call"], r["attempt"], r["who"]): r["value"] for r in children.records("return")}
    for one in placed:
        status = final[one.call.id]
        assert returned.get((one.call.id, status.attempts, status.worker_id)) == one.expected, (one.call.id, status)

    # The status reads made during the run agree with the ledger, and end where the call ended.
    assert reads.count > CALLS // 10, reads.count
    for one in placed:
        check_reads([*reads.by_call.get(one.call.id, []), final[one.call.id]], one)

    # The chaos did what it is for: calls interrupted mid-run ran again, and calls the paused
    # worker held were finished by others while it was stopped.
    assert len(chaos.kills) >= MIN_KILLS, chaos
    assert max(s.attempts for s in final.values()) >= 2, "no call was interrupted"
    taken = [
        call_id
        for name, held in chaos.pauses
        for call_id in held
        if final[call_id].worker_id != name or final[call_id].attempts >= 2
    ]
    held_ids = {call_id for _, held in chaos.pauses for call_id in held}
    assert taken, (  # with what the journal says of those calls, to tell why when it happens
        f"no call held by a paused worker was taken over: {chaos.pauses}; their final statuses "
        f"{ {call_id: final[call_id] for call_id in held_ids} }; their records "
        f"{[r for r in children.records() if r.get('call') in held_ids]}; the log {children.records('log')[-40:]}"
    )
    print(
        f"calls chaos: {CALLS} calls, {len(chaos.kills)} kills, {len(chaos.pauses)} pauses, "
        f"{reads.count} status reads, max attempts {max(s.attempts for s in final.values())}"
    )
