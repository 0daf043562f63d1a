"""Schedules under real OS processes (schedule_child.py): four worker processes of a queue
fire an ``every=1`` schedule for 60 due times while workers are SIGKILLed and replaced at
random; each due time fires exactly once: the schedule's runs, the queue's exact counter of
enqueued tasks and the span of due times agree, and no task is lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import wait_until
from tests.runtime_helpers import FAST
from worqr import Worqr
from worqr._protocol.keys import QueueKeys

pytestmark = pytest.mark.slow

CHILD = str(Path(__file__).with_name("schedule_child.py"))
DEADLINE = 20.0
TICKS = 60
MakeWorqr = Callable[..., Worqr]


def spawn(url: str, prefix: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    popen = subprocess.Popen([sys.executable, CHILD, url, prefix, "ticks"], stdout=subprocess.PIPE, text=True, env=env)
    assert popen.stdout is not None
    assert popen.stdout.readline().strip() == "ready"
    return popen


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        child.kill()
        child.wait(DEADLINE)
        if child.stdout is not None:
            child.stdout.close()


def test_every_second_with_four_worker_processes_killed_at_random_fires_each_tick_once(
    redis_url: str, worqr_prefix: str, make_worqr: MakeWorqr, raw: redis.Redis, children: list[subprocess.Popen[str]]
) -> None:
    rng = random.Random(13)
    children.extend(spawn(redis_url, worqr_prefix) for _ in range(4))
    client = make_worqr(**FAST)
    made = client.schedule("tick", "ticks", "tick", every=1.0)
    assert made.next_due is not None
    kills = 0
    deadline = time.monotonic() + TICKS + DEADLINE
    next_kill = time.monotonic() + rng.uniform(2, 6)
    while (seen := next(s for s in client.get_schedules() if s.name == "tick")).runs < TICKS:
        assert time.monotonic() < deadline, f"only {seen.runs} runs"
        if time.monotonic() >= next_kill:  # SIGKILL one at random, mid-run, and start a new one
            victim = rng.choice([child for child in children if child.poll() is None])
            victim.send_signal(signal.SIGKILL)
            kills += 1
            children.append(spawn(redis_url, worqr_prefix))
            next_kill = time.monotonic() + rng.uniform(2, 6)
        time.sleep(0.05)  # a poll of the schedule's count; every due time is a second apart
    # Stop the ticks without losing the counts: a new timing moves the next due time an hour
    # on (and bumps the revision, so that a fire in flight changes nothing).
    client.schedule("tick", "ticks", "tick", every=3600.0)
    final = next(s for s in client.get_schedules() if s.name == "tick")
    assert final.last_fired is not None
    assert kills >= 8
    span = round((final.last_fired - made.next_due).total_seconds())
    enqueued = int(raw.hget(QueueKeys(worqr_prefix, "ticks").counters, "enqueued") or 0)
    # Each due time from the first to the last fired exactly once: as many runs as due times,
    # as many tasks as runs (60, or one more if the 61st came before the new timing).
    assert final.runs in (TICKS, TICKS + 1)
    assert (enqueued, span + 1, final.missed, final.skipped) == (final.runs, final.runs, 0, 0)
    survivors = [child for child in children if child.poll() is None]
    assert survivors
    # A task a killed worker held runs again on a peer: none is lost.
    wait_until(lambda: raw.llen(f"{worqr_prefix}:ran") >= final.runs, DEADLINE)
