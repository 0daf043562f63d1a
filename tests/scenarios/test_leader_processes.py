"""Leader election under real OS processes (leader_child.py): the leader SIGKILLed, a
standby elected and reported by ``leader()`` from a third process (this one); the leader
SIGSTOPped past its ttl, a standby elected meanwhile, and the paused leader told ``lost``
when it wakes."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.runtime_helpers import FAST
from worqr import Worqr

pytestmark = pytest.mark.slow

CHILD = str(Path(__file__).with_name("leader_child.py"))
DEADLINE = 20.0
MakeWorqr = Callable[..., Worqr]


class Candidate:
    def __init__(self, url: str, prefix: str, ttl: float) -> None:
        argv = [sys.executable, CHILD, url, prefix, "feed", str(ttl)]
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        self.worker_id = f"leader-{self.popen.pid}"
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next() == "ready"

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.strip())

    def next(self, timeout: float = DEADLINE) -> str:
        return self.lines.get(timeout=timeout)


@pytest.fixture
def candidates() -> Iterator[list[Candidate]]:
    started: list[Candidate] = []
    yield started
    for candidate in started:
        candidate.popen.send_signal(signal.SIGCONT)
        candidate.popen.kill()
        candidate.popen.wait(DEADLINE)
        if candidate.popen.stdout is not None:
            candidate.popen.stdout.close()


def test_a_killed_leader_is_replaced_and_every_process_sees_the_new_one(
    redis_url: str, worqr_prefix: str, make_worqr: MakeWorqr, candidates: list[Candidate]
) -> None:
    first = Candidate(redis_url, worqr_prefix, 1.0)
    candidates.append(first)
    assert first.next() == f"elected {first.worker_id} 1"
    second = Candidate(redis_url, worqr_prefix, 1.0)
    candidates.append(second)
    observer = make_worqr(**FAST)
    observer.start_worker()
    assert observer.lease("feed").holder() == first.worker_id
    first.popen.kill()
    assert second.next() == f"elected {second.worker_id} 2"
    wait_until(lambda: observer.lease("feed").holder() == second.worker_id, DEADLINE)


def test_a_paused_leader_is_told_it_lost_when_it_wakes(
    redis_url: str, worqr_prefix: str, make_worqr: MakeWorqr, candidates: list[Candidate]
) -> None:
    first = Candidate(redis_url, worqr_prefix, 0.5)
    candidates.append(first)
    assert first.next() == f"elected {first.worker_id} 1"
    second = Candidate(redis_url, worqr_prefix, 0.5)
    candidates.append(second)
    first.popen.send_signal(signal.SIGSTOP)
    assert second.next() == f"elected {second.worker_id} 2"  # while the first is paused
    first.popen.send_signal(signal.SIGCONT)
    assert first.next() == f"lost {first.worker_id} 1"
    observer = make_worqr(**FAST)
    observer.start_worker()
    assert observer.lease("feed").holder() == second.worker_id
