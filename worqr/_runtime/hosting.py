"""What differs between the two runtime workers, each written in both flavours (see
``worqr._io.flavors`` for the rest): where handlers run (asyncio tasks, or a pool of
threads), how a running handler is interrupted (its task cancelled; a thread cannot be, so
only its token tells it), what a handler's failure is, and how signals are caught.

``_async/worker.py`` uses the ``Async``/``async_`` names; its generated twin the ``Sync``/
``sync_`` ones.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import queue
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from worqr._runtime.jobs import Job

#: A handler's failure, which is its task's and not the worker's. A thread catches every
#: exception (``sys.exit`` in a handler included); an asyncio task leaves what is not an
#: Exception (KeyboardInterrupt, a cancel) to the event loop.
AsyncHandlerFailure = Exception
SyncHandlerFailure = BaseException


class AsyncHandlers:
    """Runs ``execute(job)`` for each job submitted, each in an asyncio task of its own, at
    most ``concurrency`` at once, in the order submitted."""

    def __init__(self, concurrency: int, execute: Callable[[Job[Any]], Awaitable[None]], name: str) -> None:
        self._concurrency = concurrency
        self._execute = execute
        self._name = name
        self._waiting: collections.deque[Job[Any]] = collections.deque()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._starting = True

    def start(self) -> None:
        """Nothing to start: a task is made for each job."""

    def submit(self, job: Job[Any]) -> None:
        self._waiting.append(job)
        self._fill()

    def cancel(self, job: Job[Any]) -> None:
        """Interrupt the job's handler (its task), if it runs."""
        task = self._tasks.get(job.process.id)
        if task is not None:
            task.cancel()

    def stop_starting(self) -> None:
        """Start no more handlers (shutdown)."""
        self._starting = False

    def unstarted(self) -> list[Job[Any]]:
        """Take back the jobs submitted whose handler has not started."""
        jobs = list(self._waiting)
        self._waiting.clear()
        return jobs

    def close(self) -> None:
        self._starting = False

    def is_current(self) -> bool:
        """Whether the caller is one of the handlers."""
        return asyncio.current_task() in self._tasks.values()

    def _fill(self) -> None:
        while self._waiting and self._starting and len(self._tasks) < self._concurrency:
            job = self._waiting.popleft()
            self._tasks[job.process.id] = asyncio.get_running_loop().create_task(self._run(job), name=self._name)

    async def _run(self, job: Job[Any]) -> None:
        try:
            await self._execute(job)
        finally:
            self._tasks.pop(job.process.id, None)
            self._fill()


class SyncHandlers:
    """`AsyncHandlers` on ``concurrency`` daemon threads that take the submitted jobs in
    order; each job runs in a context of its own (its cancellation token is its own)."""

    def __init__(self, concurrency: int, execute: Callable[[Job[Any]], None], name: str) -> None:
        self._execute = execute
        self._jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(concurrency)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job[Any]) -> None:
        self._jobs.put(job)

    def cancel(self, job: Job[Any]) -> None:
        """A thread cannot be interrupted: the job's token tells its handler to stop."""

    def stop_starting(self) -> None:
        """Nothing to do: a job claimed before its handler began is skipped (`Job.begin`)."""

    def unstarted(self) -> list[Job[Any]]:
        jobs: list[Job[Any]] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return jobs
            if job is not None:
                jobs.append(job)

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)

    def is_current(self) -> bool:
        return threading.current_thread() in self._threads

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            contextvars.copy_context().run(self._execute, job)


def async_catch_signals(on_signal: Callable[[int], None]) -> Callable[[], None]:
    """With the event loop in the main thread, call ``on_signal(signum)`` on SIGINT and
    SIGTERM until the returned function is called."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)

    def restore() -> None:
        for signum in signals:
            loop.remove_signal_handler(signum)

    return restore


def sync_catch_signals(on_signal: Callable[[int], None]) -> Callable[[], None]:
    """`async_catch_signals` from the main thread (elsewhere signals cannot be caught)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: object) -> None:
        on_signal(signum)

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore
