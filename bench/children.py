"""Worker processes for the measurements: started from a forkserver (imports paid once),
held at a start line until every one is ready, released together, counted through shared
memory, and always ended on the way out.

A child's target takes its own arguments and then a `Shared`: it builds its worker, calls
``shared.ready.release()``, waits for ``shared.go``, runs, counts each task it handles with
`count` (a shared integer, no Redis command), and returns when ``shared.stop`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
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
    #: How many times each task index ran (tasks that carry an index, see `tally`).
    marks: Any | None = None
    #: A victim of the crash-recovery measurement: tasks are counted, then held forever.
    hold: bool = False

    @classmethod
    def make(cls, *, with_starts: bool = False, marks: int = 0, hold: bool = False) -> Shared:
        starts = CONTEXT.Queue() if with_starts else None
        counts = CONTEXT.Array("i", marks) if marks else None
        return cls(CONTEXT.Value("q", 0), CONTEXT.Semaphore(0), CONTEXT.Event(), CONTEXT.Event(), starts, counts, hold)

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


#: How long a victim's task holds on (it is SIGKILLed long before).
HOLD_SECONDS = 3600.0


def _tally(shared: Shared | None, index: int) -> None:
    if shared is None:
        msg = "a task ran before its worker set the Shared it counts into"
        raise RuntimeError(msg)
    count(shared.counter)
    if index >= 0 and shared.marks is not None:
        with shared.marks.get_lock():
            shared.marks[index] += 1


def tally(shared: Shared | None, index: int = -1) -> None:
    """What every benchmark task does (in a child's handler): count itself, mark its index
    (if it carries one, >= 0), and in a victim (``shared.hold``) then hold on until killed."""
    _tally(shared, index)
    if shared is not None and shared.hold:
        time.sleep(HOLD_SECONDS)


async def async_tally(shared: Shared | None, index: int = -1) -> None:
    """`tally` for asyncio handlers: a victim's task awaits instead of blocking its loop."""
    _tally(shared, index)
    if shared is not None and shared.hold:
        await asyncio.sleep(HOLD_SECONDS)


async def run_until_stop(main: Coroutine[Any, Any, object], shared: Shared) -> None:
    """Run ``main`` (an asyncio worker's main loop) until it ends by itself or the parent
    sets ``shared.stop``; then cancel it and wait until it ended."""
    running = asyncio.ensure_future(main)
    stop = asyncio.ensure_future(asyncio.get_running_loop().run_in_executor(None, shared.stop.wait))
    await asyncio.wait([running, stop], return_when=asyncio.FIRST_COMPLETED)
    await cancel_and_wait(running)


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` (an asyncio worker's main loop) and wait until it ended."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run_twice(shared: Shared) -> int:
    """How many task indices ran more than once."""
    if shared.marks is None:
        msg = "this Shared carries no marks: make it with Shared.make(marks=N)"
        raise RuntimeError(msg)
    return sum(1 for n in shared.marks[:] if n > 1)


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
        #: Killed: the shared events are left alone (setting one waits for every process that
        #: waits on it to wake, and a killed one never does).
        self.killed = False
        self.grouped = target is own_group

    def kill_groups(self) -> None:
        """SIGKILL every process and everything it started (the targets run in their own
        process groups, see `own_group`), as if their machine had died."""
        self.killed = True
        begun = [process for process in self.processes if process.pid is not None]
        for process in begun:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        for process in begun:
            process.join(5)

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
        if not self.killed:
            self.shared.stop.set()
            self.shared.go.set()  # a child still at the start line exits too
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in self.processes:
            if process.is_alive():
                process.kill()
                process.join(5)
        if self.grouped:
            self.kill_groups()  # what a target in its own group started (a pool) ends with it

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
    shared: Shared | None = None,
) -> Drain:
    """Start ``processes`` workers on a queue that holds ``tasks``; time them from the start
    line until they handled every task, or until ``seconds`` passed."""
    with started(target, args, processes, shared) as group:
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


def own_group(target: Callable[..., None], *args: Any) -> None:
    """Run ``target(*args)`` as the leader of a new process group, so that `Group.kill_groups`
    reaches the processes and threads it starts (a prefork pool, a work horse) too."""
    os.setpgid(0, 0)
    target(*args)


def signal_on_stop(shared: Shared, signum: int) -> threading.Thread:
    """In a child: send ``signum`` to this process once the parent sets ``shared.stop``
    (for libraries whose workers stop on a signal)."""
    return stop_on_signal(shared, lambda: os.kill(os.getpid(), signum))


def at_start_line(shared: Shared) -> bool:
    """A worker at the start line: say it is ready, wait for the parent's go; False if the
    parent called the run off (``shared.stop`` set before the go)."""
    shared.ready.release()
    shared.go.wait()
    return not shared.stop.is_set()


async def async_at_start_line(shared: Shared) -> bool:
    """`at_start_line` for an asyncio worker: the wait for the go does not block its loop."""
    shared.ready.release()
    await asyncio.get_running_loop().run_in_executor(None, shared.go.wait)
    return not shared.stop.is_set()
