"""Property 3 with real signals: a worker process frozen (SIGSTOP) past its timeout is reaped
by a peer; when it wakes (SIGCONT) its late finish is refused and it takes no more work."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import redis

from tests.helpers import wait_until
from worqr import Worqr
from worqr._protocol.keys import RegistryKeys

CHILD = str(Path(__file__).with_name("child_worker.py"))


def read_line(child: subprocess.Popen[str], prefix: str) -> str:
    assert child.stdout is not None
    while True:
        line = child.stdout.readline()
        assert line, f"child exited before printing {prefix!r}"
        if line.startswith(prefix):
            return line.strip()


def test_paused_worker_is_reaped_and_fenced_when_it_resumes(
    make_worqr: Callable[..., Worqr], redis_url: str, worqr_prefix: str, raw: redis.Redis
) -> None:
    peer = make_worqr(heartbeat_interval=0.1, worker_timeout=0.6, cleanup_interval=60)
    peer.enqueue("jobs", ["first", "second"])
    with subprocess.Popen(
        [sys.executable, CHILD, "hold", redis_url, worqr_prefix, "jobs", "zombie"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            held = read_line(child, "holding").split(" ", 1)[1]
            # Given a worker frozen while it holds a task ...
            child.send_signal(signal.SIGSTOP)
            wait_until(lambda: not raw.exists(RegistryKeys(worqr_prefix).heartbeat("zombie")))
            # ... when a peer reaps it, the task is back at the front and the peer finishes it.
            assert peer.cleanup_workers() == ["zombie"]
            assert peer.get_tasks("jobs") == ["first", "second"]
            peer.start_worker()
            peer.start_work("jobs")
            process = peer.dequeue("jobs")
            assert process is not None and process.task == "first" and process.id != held
            peer.finish_process(process.id)
            # Then the zombie wakes up: its finish is refused and it takes no more work.
            child.send_signal(signal.SIGCONT)
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
            assert read_line(child, "finish:") == "finish: ProcessLostError"
            assert read_line(child, "dequeue:") == "dequeue: WorkerLostError"
            assert child.wait(30) == 0
        except BaseException:
            child.kill()  # never leave a frozen child behind
            raise
    assert peer.get_tasks("jobs") == ["second"]
    assert peer.get_matching_processes("first") == []
    assert "zombie" not in peer.get_workers()
