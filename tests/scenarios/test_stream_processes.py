"""Streams under chaos, with real processes (stream_child.py): three consumer processes in two
groups of one stream while messages are published, SIGKILLed at random (each replaced by a
new process) and one SIGSTOPped past its timeout while it holds messages (its peers reap it;
thawed, it finds itself declared dead and subscribes again).

The journal is the model: what must hold, per group, is that every published message was
acknowledged exactly once (accepted once; no gaps, nothing twice), by the consumer that held
its last delivery; every other ack was refused, a zombie's among them; each process saw its
first deliveries in stream order; and the messages a killed consumer held reached another
consumer within ``worker_timeout`` plus the reap interval (and a little for the scheduler).
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
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_until
from tests.scenarios import stream_child
from worqr import Stream, Worqr
from worqr.streams.messages import id_order

pytestmark = pytest.mark.slow

CHILD = str(Path(stream_child.__file__))
STREAM, GROUPS = "events", ("audit", "billing")
ORDERED, PARTITIONS, ORDERED_GROUP = stream_child.ORDERED, stream_child.PARTITIONS, stream_child.ORDERED_GROUP
#: The ordering keys of the ordered stream's messages ("<key>:<n>", n counting per key).
KEYS = 10
MESSAGES, BATCH = 3000, 50
CONSUMERS = 3
KILLS = 4
PAUSE_SECONDS = 2.5 * stream_child.WORKER_TIMEOUT
#: The bound on a killed consumer's messages reaching another: its heartbeat runs out
#: (worker_timeout), a peer's reap follows within a cleanup interval; SLACK is the scheduler's
#: share on a busy 2-core machine (journal writes, the rescuer's round of its subscriptions).
BOUND = stream_child.WORKER_TIMEOUT + stream_child.CLEANUP_INTERVAL
SLACK = 1.5
DEADLINE = 60.0


class Children:
    def __init__(self, url: str, prefix: str, journal: Path) -> None:
        self.url, self.prefix, self.journal = url, prefix, journal
        self.names = (f"c{i}" for i in itertools.count())
        self.live: list[tuple[str, subprocess.Popen[str]]] = []
        self.every: list[subprocess.Popen[str]] = []
        self._offset = 0
        self._records: list[dict[str, Any]] = []

    def spawn(self) -> None:
        name = next(self.names)
        argv = [sys.executable, CHILD, self.url, self.prefix, STREAM, ",".join(GROUPS), str(self.journal), name]
        popen = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.every.append(popen)
        assert popen.stdout is not None
        assert popen.stdout.readline().strip() == "ready", f"{name} exited with {popen.wait(DEADLINE)}"
        self.live.append((name, popen))

    def records(self) -> list[dict[str, Any]]:
        """Every complete record so far (read on from where the last call stopped)."""
        if self.journal.exists():
            with self.journal.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offset += len(complete)
            self._records += [json.loads(line) for line in complete.split(b"\n")[:-1]]
        return self._records

    def holding(self, name: str) -> set[tuple[str, str]]:
        """(group, id) of the messages ``name`` was delivered and has not acknowledged."""
        held: set[tuple[str, str]] = set()
        for r in self.records():
            if r["who"] == name and r["ev"] == "got":
                held.add((r["group"], r["id"]))
            elif r["who"] == name and r["ev"] == "ack":
                held.discard((r["group"], r["id"]))
        return held

    def stop_all(self) -> None:
        for popen in self.every:
            if popen.poll() is None:
                popen.send_signal(signal.SIGCONT)
                popen.kill()
        for popen in self.every:
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


@dataclass
class Kill:
    name: str
    at: float
    #: (group, id) of the messages pending under the victim right after the SIGKILL: what
    #: its peers must hand on (the journal shows only the one it was working on).
    held: set[tuple[str, str]] = field(default_factory=set)


def chaos(children: Children, streams: dict[str, Stream[str]], kills: list[Kill], pauses: list[str]) -> None:
    """A pause first (of a child that holds messages, read once it has stopped), then KILLS
    kills, each when the victim holds messages; the publisher goes on meanwhile."""
    rng = random.Random(20261207)
    deadline = time.monotonic() + DEADLINE
    while not pauses and time.monotonic() < deadline:
        name, victim = rng.choice(children.live)
        victim.send_signal(signal.SIGSTOP)
        os.waitpid(victim.pid, os.WUNTRACED)  # stopped: its journal is final while it stays so
        if children.holding(name):
            pauses.append(name)
            time.sleep(PAUSE_SECONDS)  # past its timeout (a window, not a synchronization)
        victim.send_signal(signal.SIGCONT)
    while len(kills) < KILLS and time.monotonic() < deadline:
        name, victim = rng.choice(children.live)
        if not children.holding(name):
            time.sleep(0.01)
            continue
        victim.send_signal(signal.SIGKILL)
        kill = Kill(name, time.monotonic())
        victim.wait(DEADLINE)
        for group in (*GROUPS, ORDERED_GROUP):
            kill.held |= {(group, p.id) for p in streams[group].pending(group, 1000) if p.consumer == name}
        kills.append(kill)
        children.live.remove((name, victim))
        children.spawn()
        time.sleep(0.2)


def publish(url: str, prefix: str, ids: list[str], ordered_ids: list[str], chaos_over: threading.Event) -> None:
    """Publish batches, paced, until the chaos is over and at least MESSAGES are out: to the
    stream, and to the ordered stream with KEYS keys, each key's messages numbered."""
    with Worqr(redis=url, prefix=prefix) as producer:
        stream = producer.stream(STREAM)
        ordered = producer.stream(ORDERED, ordered=True, partitions=PARTITIONS, key=stream_child.order_key)
        while not (chaos_over.is_set() and len(ids) >= MESSAGES):
            n = len(ids)
            ids += stream.publish_many([f"m{i}" for i in range(n, n + BATCH)])
            ordered_ids += ordered.publish_many([f"k{i % KEYS}:{i // KEYS}" for i in range(n, n + BATCH)])
            time.sleep(0.02)  # spread the publishing over the chaos (pacing, not synchronization)


Records = list[dict[str, Any]]


def check_each_acknowledged_once(records: Records, ids: list[str], ordered_ids: list[str], kills: list[Kill]) -> None:
    """No gaps and nothing twice: per group, each published message accepted exactly once
    (or, once, by a consumer killed in the middle of its ack)."""
    killed = {kill.name for kill in kills}
    # A killed consumer's last "got" may have been acknowledged before the SIGKILL, with no
    # "ack" record written: its outcome is unknown, and it counts as that consumer's ack.
    in_flight: dict[str, tuple[str, str]] = {}
    for r in records:
        if r["ev"] == "got" and r["who"] in killed:
            in_flight[r["who"]] = (r["group"], r["id"])
        elif r["ev"] == "ack" and r["who"] in killed and in_flight.get(r["who"]) == (r["group"], r["id"]):
            del in_flight[r["who"]]
    accepted = Counter((r["group"], r["id"]) for r in records if r["ev"] == "ack" and r["ok"])
    expected = {(g, i) for g in GROUPS for i in ids} | {(ORDERED_GROUP, i) for i in ordered_ids}
    assert set(accepted) | set(in_flight.values()) == expected
    assert {k: n for k, n in accepted.items() if n != 1} == {}


def check_acks_came_from_holders(records: Records, pauses: list[str]) -> Records:
    """The accepted ack came from the holder of the message's last delivery; every other ack
    (a zombie's, or one of a message handed on meanwhile) was refused, the paused
    consumer's among them. Returns the refused acks."""
    last: dict[tuple[str, str], tuple[int, str]] = {}
    for r in records:
        if r["ev"] == "got":
            key = (r["group"], r["id"])
            last[key] = max(last.get(key, (0, "")), (r["deliveries"], r["who"]))
    for r in records:
        if r["ev"] == "ack" and r["ok"]:
            assert last[(r["group"], r["id"])][1] == r["who"], r
    refused = [r for r in records if r["ev"] == "ack" and not r["ok"]]
    assert pauses, "the chaos never paused a consumer that held messages"
    assert any(r["who"] == pauses[0] for r in refused), "the paused consumer's late acks were not refused"
    assert any(r["ev"] == "lost" and r["who"] == pauses[0] for r in records)
    return refused


def check_first_deliveries_in_order(records: Records) -> None:
    """Each process (each incarnation of the paused one) got its first deliveries in order,
    per group (per partition, in the ordered stream)."""
    runs: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for r in records:
        if r["ev"] == "got" and r["deliveries"] == 1:
            runs[(r["who"], r["group"], r["id"].rpartition("/")[0])].append(id_order(r["id"]))
        if r["ev"] == "lost":  # a new incarnation: its order starts again
            for key in [k for k in runs if k[0] == r["who"]]:
                assert runs[key] == sorted(runs[key]), key
                runs[key] = []
    for key, seen in runs.items():
        assert seen == sorted(seen), key


def check_each_key_in_order(records: Records) -> None:
    """In the ordered stream's group, each key's messages were accepted in their order."""
    data = {r["id"]: r["data"] for r in records if r["ev"] == "got" and r["group"] == ORDERED_GROUP}
    accepted: dict[str, list[int]] = defaultdict(list)
    for r in sorted(records, key=lambda r: r["t"]):
        if r["ev"] == "ack" and r["ok"] and r["group"] == ORDERED_GROUP:
            key, _, n = data[r["id"]].partition(":")
            accepted[key].append(int(n))
    assert len(accepted) == KEYS
    for key, numbers in accepted.items():
        assert numbers == sorted(numbers), (key, numbers[:20])


def check_hand_over(records: Records, kills: list[Kill]) -> float:
    """A killed consumer's messages reached others within the bound; the worst seconds."""
    assert len(kills) >= KILLS
    assert any(kill.held for kill in kills), "no kill caught a consumer holding messages"
    worst = 0.0
    for kill in kills:
        for key in kill.held:
            again = min(
                r["t"] for r in records if r["ev"] == "got" and (r["group"], r["id"]) == key and r["t"] > kill.at
            )
            worst = max(worst, again - kill.at)
    assert worst <= BOUND + SLACK, worst
    return worst


def test_every_message_is_acknowledged_once_per_group_through_kills_and_a_pause(
    children: Children, redis_url: str, worqr_prefix: str
) -> None:
    for _ in range(CONSUMERS):
        children.spawn()
    ids: list[str] = []
    kills: list[Kill] = []
    pauses: list[str] = []
    ordered_ids: list[str] = []
    chaos_over = threading.Event()
    producer = threading.Thread(target=publish, args=(redis_url, worqr_prefix, ids, ordered_ids, chaos_over))
    producer.start()
    with Worqr(redis=redis_url, prefix=worqr_prefix) as reader:
        stream = reader.stream(STREAM)
        ordered = reader.stream(ORDERED, ordered=True, partitions=PARTITIONS)
        streams = {**dict.fromkeys(GROUPS, stream), ORDERED_GROUP: ordered}
        try:
            chaos(children, streams, kills, pauses)
        finally:
            chaos_over.set()
            producer.join(DEADLINE)

        def all_acked() -> bool:
            groups = [*stream.groups(), *ordered.groups()]
            return len(groups) == len(GROUPS) + 1 and all(g.pending == 0 and g.lag == 0 for g in groups)

        wait_until(all_acked, DEADLINE)
    children.stop_all()
    records = children.records()
    assert len(ids) >= MESSAGES
    check_each_acknowledged_once(records, ids, ordered_ids, kills)
    refused = check_acks_came_from_holders(records, pauses)
    check_first_deliveries_in_order(records)
    check_each_key_in_order(records)
    worst = check_hand_over(records, kills)
    redelivered = sum(1 for r in records if r["ev"] == "got" and r["deliveries"] > 1)
    print(
        f"streams chaos: {len(ids)} messages x {len(GROUPS)} groups and {len(ordered_ids)} ordered, "
        f"{len(kills)} kills, 1 pause, "
        f"{redelivered} redeliveries, {len(refused)} refused acks, worst hand-over {worst:.2f} s (bound {BOUND} s)"
    )
