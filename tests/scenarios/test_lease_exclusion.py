"""Mutual exclusion of a lease under real OS processes: 20 contenders in 4 processes
(lease_child.py), the holder's process SIGKILLed or SIGSTOPped past its ttl at random for
20 seconds. Across the run, from the shared journal (CLOCK_MONOTONIC is one clock for every
process): the intervals in which ``term.alive`` was True never overlap between holders,
tokens strictly increase from holder to holder, and the fenced resource accepted tokens only
in increasing order and refused every zombie write of a stale token."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.helpers import wait_until
from worqr._protocol.keys import LeaseKeys

pytestmark = pytest.mark.slow

CHILD = str(Path(__file__).with_name("lease_child.py"))
PROCESSES, CONTENDERS, TTL = 4, 5, 0.5
CHAOS_SECONDS = 20.0
DEADLINE = 20.0


@dataclass
class Interval:
    who: str
    token: int
    start: float
    end: float


def intervals(journal: Path) -> list[Interval]:
    """Each term's alive interval: from the first moment it was seen alive to the last."""
    found: dict[tuple[str, int], Interval] = {}
    for line in journal.read_text().splitlines():
        record = json.loads(line)
        key = (record["who"], record.get("token", 0))
        if record["ev"] == "held":
            found[key] = Interval(record["who"], record["token"], record["t"], record["t"])
        elif record["ev"] == "alive":
            found[key].end = max(found[key].end, record["t"])
    return sorted(found.values(), key=lambda interval: interval.token)


def writes(journal: Path) -> list[dict[str, object]]:
    return [r for r in map(json.loads, journal.read_text().splitlines()) if r["ev"] == "write"]


def spawn(url: str, prefix: str, journal: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, CHILD, url, prefix, "exclusive", str(journal), str(CONTENDERS), str(TTL)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.send_signal(signal.SIGCONT)
            child.kill()
        child.wait(DEADLINE)
        if child.stdout is not None:
            child.stdout.close()


def test_twenty_contenders_never_overlap_under_sigkill_and_sigstop(
    redis_url: str, worqr_prefix: str, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    journal = tmp_path / "journal.jsonl"
    raw = redis.Redis.from_url(redis_url)
    holder_key = LeaseKeys(worqr_prefix, "exclusive").holder
    rng = random.Random(13)
    children.extend(spawn(redis_url, worqr_prefix, journal) for _ in range(PROCESSES))
    kills = stops = 0
    ends = time.monotonic() + CHAOS_SECONDS
    while time.monotonic() < ends:
        wait_until(lambda: raw.hget(holder_key, "worker") is not None, DEADLINE)
        time.sleep(rng.uniform(0.2, 0.8))  # the chaos schedule (not a synchronization)
        holder = raw.hget(holder_key, "worker")
        if not isinstance(holder, bytes):
            continue
        pid = int(holder.decode().split("-")[0])
        victim = next((c for c in children if c.pid == pid and c.poll() is None), None)
        if victim is None:
            continue
        if rng.random() < 0.5:
            victim.kill()
            victim.wait(DEADLINE)
            kills += 1
            children.append(spawn(redis_url, worqr_prefix, journal))
        else:
            victim.send_signal(signal.SIGSTOP)
            time.sleep(rng.uniform(1.1, 4.0) * TTL)  # past its ttl; at times past its worker_timeout too
            victim.send_signal(signal.SIGCONT)
            stops += 1
    for child in children:
        child.kill()
        child.wait(DEADLINE)

    terms = intervals(journal)
    assert kills >= 3 and stops >= 3, (kills, stops)
    assert len(terms) >= 20, len(terms)
    tokens = [term.token for term in terms]
    assert len(set(tokens)) == len(tokens), "a token was held twice"
    by_start = sorted(terms, key=lambda term: term.start)
    assert [term.token for term in by_start] == tokens, "tokens do not increase from holder to holder"
    for earlier, later in itertools.pairwise(terms):
        assert earlier.end < later.start, f"alive intervals overlap: {earlier} and {later}"
    accepted = [int(token) for token in raw.lrange(LeaseKeys(worqr_prefix, "exclusive").tag + ":resource", 0, -1)]
    assert accepted == sorted(accepted) and set(accepted) <= set(tokens)
    done = writes(journal)
    stale = [w for w in done if int(str(w["token"])) < int(str(w["latest"]))]  # a newer holder existed
    assert [w for w in stale if w["zombie"]], "no zombie write of a stale token to check"
    assert not [w for w in stale if w["ok"]], "the resource accepted a stale token"
    assert any(w["ok"] for w in done if not w["zombie"])
