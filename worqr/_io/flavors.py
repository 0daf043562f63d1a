"""The few things that differ between worqr's two flavours, each written in both: an asyncio
task or a thread, an asyncio or a threading event, redis-py's asyncio or sync API where the
two do not line up, tenacity's async or sync retrying (redis-py's own differences are in
``worqr._io.redis_flavors``).

The modules in ``_async`` folders use only the ``Async``/``async_`` names below, and
``tools/unasync.py`` turns them into the ``Sync``/``sync_`` ones in the ``_sync`` twins. So
this module is where "the sync and the async code differ" can be read in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import tenacity

T = TypeVar("T")

#: Tenacity's retrying loops (``for attempt in SyncRetrying(...)``).
AsyncRetrying = tenacity.AsyncRetrying
SyncRetrying = tenacity.Retrying


async def async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def sync_sleep(seconds: float) -> None:
    time.sleep(seconds)


async def async_settle() -> None:
    """Let the event loop read what its sockets received meanwhile (the threaded flavour's
    sockets are polled when they are used: nothing to do). Two turns: in the first, the
    loop polls its sockets and queues their callbacks behind this task; in the second they
    run before it."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def sync_settle() -> None:
    return None


async def async_each(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T | Exception]:
    """Run every call (at once), whatever the others do; each one's result or the exception
    it raised, in order. Anything but an `Exception` (a cancel) is raised."""
    outcomes: list[T | Exception] = []
    for outcome in await asyncio.gather(*(call() for call in calls), return_exceptions=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
        outcomes.append(outcome)
    return outcomes


def sync_each(calls: Sequence[Callable[[], T]]) -> list[T | Exception]:
    """`async_each`, one call after the other."""
    outcomes: list[T | Exception] = []
    for call in calls:
        try:
            outcomes.append(call())
        except Exception as exc:  # noqa: BLE001 (each call's outcome is the caller's to judge)
            outcomes.append(exc)
    return outcomes


async def async_deliver(callback: Callable[[T], object], value: T) -> None:
    """Call ``callback(value)``; a coroutine function's result is awaited."""
    outcome = callback(value)
    if inspect.isawaitable(outcome):
        await outcome


def sync_deliver(callback: Callable[[T], object], value: T) -> None:
    callback(value)


class AsyncLock:
    """Nothing to lock: asyncio code runs on one thread and changes state between awaits.
    (`SyncLock` is a real, reentrant lock.)"""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


SyncLock = threading.RLock


class AsyncEvent:
    """An event to wait on with a timeout (``wait`` returns whether it was set), settable from
    any thread (``set_threadsafe``) once the loop that waits on it is known."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def set_threadsafe(self) -> None:
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and (loop is None or running is loop):
            self._event.set()  # on the loop already: no need to go through its queue
        elif loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._event.set)

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float | None = None) -> bool:
        self._loop = asyncio.get_running_loop()
        if self._event.is_set() or (timeout is not None and timeout <= 0):
            return self._event.is_set()
        if timeout is None:
            await self._event.wait()
            return True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        return self._event.is_set()

    def bind(self) -> None:
        """Remember the running loop, for `set_threadsafe` before the first `wait`."""
        self._loop = asyncio.get_running_loop()


class SyncEvent:
    def __init__(self) -> None:
        self._event = threading.Event()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        # Already set: nothing to do, and skipping the event's lock and notify matters when a
        # handler thread sets it after every task. A waiter clears it before it reads the
        # state it waits for, so a setter that finds it set has its update read anyway.
        if not self._event.is_set():
            self._event.set()

    set_threadsafe = set

    def clear(self) -> None:
        self._event.clear()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def bind(self) -> None:
        return None


class AsyncNotice:
    """Waiters for a condition that other code makes true and announces with `notify_all`."""

    def __init__(self, _lock: object = None) -> None:  # one thread: the lock is not needed
        self._condition = asyncio.Condition()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true (True) or ``timeout`` seconds pass (False)."""
        async with self._condition:
            try:
                await asyncio.wait_for(self._condition.wait_for(predicate), timeout)
            except asyncio.TimeoutError:
                return False
            return True

    async def notify_all(self) -> None:
        async with self._condition:
            self._condition.notify_all()


class SyncNotice:
    """`AsyncNotice` for threads; ``lock`` is the lock that guards what ``predicate`` reads."""

    def __init__(self, lock: Any = None) -> None:
        self._condition = threading.Condition(lock)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(predicate, timeout)

    def notify_all(self) -> None:
        with self._condition:
            self._condition.notify_all()


class AsyncBackground:
    """A background loop in an asyncio task: `start` it with the coroutine function to run;
    `stop` sets its flag (the loop checks `stopping`) and cancels the task, so that a loop
    waiting on Redis is interrupted, then waits for it to end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self, loop: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await loop()

        self._task = asyncio.get_running_loop().create_task(run(), name=self.name)

    def is_current(self) -> bool:
        return self._task is not None and asyncio.current_task() is self._task

    async def stop(self, timeout: float) -> None:
        # The flag as well as the cancel: on Python < 3.12, asyncio.wait_for (redis-py sends
        # under it when a socket timeout is set) can swallow a cancel that arrives as the
        # send completes, and the loop would go on.
        self.stopping = True
        task = self._task
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), timeout)

    async def join(self, timeout: float) -> None:
        """Wait, at most ``timeout`` seconds, for the loop to end by itself (not cancelled)."""
        task = self._task
        if task is None or task is asyncio.current_task():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            task.cancel()


class SyncBackground:
    """`AsyncBackground` in a daemon thread; `stop` cannot interrupt a call in flight, so it
    waits at most ``timeout`` seconds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stopping = False
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self, loop: Callable[[], None]) -> None:
        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()

    def is_current(self) -> bool:
        return self._thread is threading.current_thread()

    def stop(self, timeout: float) -> None:
        self.stopping = True
        self.join(timeout)

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and thread.is_alive():
            thread.join(timeout)


#: Which face a flavour serves, for messages that name the other one.
async_face = "AsyncWorqr"
sync_face = "Worqr"


class SyncCancelled(BaseException):
    """Never raised: a thread is not cancelled from outside (a running handler is told to
    stop by its cancellation token). The twin of ``asyncio.CancelledError``."""


AsyncCancelled = asyncio.CancelledError


class AsyncAlarm:
    """Calls ``callback`` once, ``delay`` seconds after the latest `arm` (each arm moves the
    time), unless `disarm`\\ed first; on the event loop, whatever its tasks are waiting on."""

    def __init__(self, callback: Callable[[], None], name: str) -> None:
        self._callback = callback
        self.name = name
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, delay: float) -> None:
        self.disarm()
        self._handle = asyncio.get_running_loop().call_later(max(0.0, delay), self._callback)

    def disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        self.disarm()


class SyncAlarm:
    """`AsyncAlarm` on a daemon thread of its own (started by the first `arm`), so that it
    rings even while every other thread of the worker waits on a socket."""

    def __init__(self, callback: Callable[[], None], name: str) -> None:
        self._callback = callback
        self.name = name
        self._condition = threading.Condition()
        self._deadline: float | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def arm(self, delay: float) -> None:
        with self._condition:
            if self._closed:
                return
            self._deadline = time.monotonic() + max(0.0, delay)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def disarm(self) -> None:
        with self._condition:
            self._deadline = None
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed, self._deadline = True, None
            self._condition.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)

    def _run(self) -> None:
        with self._condition:
            while not self._closed:
                if self._deadline is None:
                    self._condition.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._condition.wait(left)
                    continue
                self._deadline = None
                self._condition.release()
                try:
                    self._callback()
                except Exception:  # the alarm must outlive its callback; say what it was
                    logging.getLogger("worqr").exception("%s: the alarm's callback failed", self.name)
                finally:
                    self._condition.acquire()
