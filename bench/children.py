"""Worker processes for the measurements: started from a forkserver (imports paid once),
held at a start line until every one is ready, released together, counted through shared
memory, and always ended on the way out.

A child's target takes its own arguments and then a `Shared`: it builds its worker, calls
``shared.ready.release()``, waits for ``shared.go``, runs, counts each task it handles with
`count` (a shared integer, no Redis command), and returns when ``shared.stop`` is set.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from bench import redis_stats
from bench.redis_stats import Usage

CONTEXT = multiprocessing.get_context("forkserver")
#: Modules the forkserver imports once, so that each child starts in milliseconds.
PRELOAD = ["redis", "worqr", "bench.worqr_child", "bench.raw"]
#: How long children may take to get ready, and to exit once told to stop.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
#: How often the parent looks at the shared counter while waiting.
POLL_SECONDS = 0.002


class ChildFailedError(RuntimeError):
    """A worker process exited or never got ready before its work was done."""


@dataclass
class Shared:
    """What the parent and its children share. ``starts`` carries handler start times
    (``time.monotonic()``, CLOCK_MONOTONIC, comparable across processes) when asked for."""

    counter: Any
    ready: Any
    go: Any
    stop: Any
    starts: Any | None = None

    @classmethod
    def make(cls, *, with_starts: bool = False) -> Shared:
        starts = CONTEXT.Queue() if with_starts else None
        return cls(CONTEXT.Value("q", 0), CONTEXT.Semaphore(0), CONTEXT.Event(), CONTEXT.Event(), starts)

    @property
    def start_times(self) -> Any:
        """The queue of handler start times (made with ``with_starts=True``)."""
        if self.starts is None:
            msg = "this Shared carries no start times: make it with Shared.make(with_starts=True)"
            raise RuntimeError(msg)
        return self.starts

    @property
    def count(self) -> int:
        return int(self.counter.value)


def count(counter: Any) -> None:
    """Count one handled task (in a child's handler)."""
    with counter.get_lock():
        counter.value += 1


def stop_on_signal(shared: Shared, stop: Callable[[], object]) -> threading.Thread:
    """In a child: call ``stop`` once the parent sets ``shared.stop``."""

    def watch() -> None:
        shared.stop.wait()
        stop()

    thread = threading.Thread(target=watch, name="bench-stop", daemon=True)
    thread.start()
    return thread


class Group:
    """``size`` processes running ``target(*args, shared)``."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], size: int, shared: Shared) -> None:
        self.shared = shared
        self.processes = [CONTEXT.Process(target=target, args=(*args, shared), daemon=True) for _ in range(size)]

    def start(self) -> None:
        for process in self.processes:
            process.start()
        deadline = time.monotonic() + START_TIMEOUT
        for _ in self.processes:
            while not self.shared.ready.acquire(timeout=0.1):
                self._check_alive("getting ready")
                if time.monotonic() > deadline:
                    msg = f"worker processes not ready within {START_TIMEOUT} s"
                    raise ChildFailedError(msg)

    def go(self) -> None:
        self.shared.go.set()

    def wait_count(self, target: int, deadline: float) -> int:
        """Wait until the children counted ``target`` tasks or ``deadline`` (monotonic) passed."""
        while (done := self.shared.count) < target and time.monotonic() < deadline:
            if not any(p.is_alive() for p in self.processes):
                done = self.shared.count
                if done < target:
                    codes = [p.exitcode for p in self.processes]
                    msg = f"every worker process exited (codes {codes}) after {done} of {target} tasks"
                    raise ChildFailedError(msg)
                break
            time.sleep(POLL_SECONDS)
        return done

    def stop(self) -> None:
        self.shared.stop.set()
        self.shared.go.set()  # a child still at the start line exits too
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in self.processes:
            if process.is_alive():
                process.kill()
                process.join(5)

    def _check_alive(self, doing: str) -> None:
        dead = [p.exitcode for p in self.processes if p.exitcode is not None]
        if dead:
            msg = f"a worker process exited with code {dead[0]} while {doing}"
            raise ChildFailedError(msg)


@contextmanager
def started(
    target: Callable[..., None], args: tuple[Any, ...], size: int, shared: Shared | None = None
) -> Iterator[Group]:
    """A started `Group`, ready at the start line; stopped (or killed) on the way out."""
    group = Group(target, args, size, shared or Shared.make())
    try:
        group.start()
        yield group
    finally:
        group.stop()


@dataclass(frozen=True)
class Drain:
    """A timed drain: ``timed`` tasks in ``seconds`` (time-boxed if not ``complete``); the
    server's counts cover the whole run of the workers, ``total`` tasks."""

    timed: int
    seconds: float
    total: int
    usage: Usage
    complete: bool

    @property
    def rate(self) -> float:
        return self.timed / self.seconds if self.seconds > 0 else 0.0


def timed_drain(
    client: redis.Redis,
    target: Callable[..., None],
    args: tuple[Any, ...],
    *,
    processes: int,
    tasks: int,
    seconds: float,
) -> Drain:
    """Start ``processes`` workers on a queue that holds ``tasks``; time them from the start
    line until they handled every task, or until ``seconds`` passed."""
    with started(target, args, processes) as group:
        before = redis_stats.snapshot(client)
        start = time.monotonic()
        group.go()
        timed = group.wait_count(tasks, start + seconds)
        elapsed = time.monotonic() - start
    after = redis_stats.snapshot(client)
    total = group.shared.count
    return Drain(timed, elapsed, total, redis_stats.usage(before, after), timed >= tasks)


def preload(modules: list[str]) -> None:
    """Set what the forkserver imports (before the first child starts)."""
    CONTEXT.set_forkserver_preload(modules)


def signal_on_stop(shared: Shared, signum: int) -> threading.Thread:
    """In a child: send ``signum`` to this process once the parent sets ``shared.stop``
    (for libraries whose workers stop on a signal)."""
    return stop_on_signal(shared, lambda: os.kill(os.getpid(), signum))
