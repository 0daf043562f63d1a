"""The heartbeat and the reaper, in a daemon thread (`SyncSupervisor`) or an asyncio task
(`AsyncSupervisor`). Both run `supervise` every ``heartbeat_interval``; it renews the
heartbeat and, every ``cleanup_interval`` (with jitter, so peers don't reap in lockstep),
reaps expired peers. Connection failures are logged and the loop goes on, so the heartbeat
survives a Redis restart; while the worker is declared dead the loop idles, until
``start_worker()`` registers it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from worqr._protocol import flows
from worqr._protocol.ops import Call
from worqr._protocol.session import Session
from worqr._protocol.supervision import Schedule, supervise
from worqr.errors import WorqrError

log = logging.getLogger("worqr")


class SyncSupervisor:
    def __init__(self, session: Session, run: Callable[[Sequence[Call[Any]]], list[Any]]) -> None:
        self._session = session
        self._run = run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="worqr-heartbeat", daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=15)

    def _loop(self) -> None:
        schedule = Schedule(self._session)
        while not self._stop.wait(self._session.heartbeat_interval):
            if self._session.state.lost:
                continue  # idle until start_worker() registers the worker again
            try:
                flows.drive(supervise(self._session, cleanup=schedule.cleanup_due()), self._run)
            except WorqrError as exc:
                log.warning("worker %s: heartbeat or cleanup failed, will retry: %s", self._session.worker_id, exc)
            except Exception:  # the heartbeat must outlive any surprise; say what it was
                log.exception(
                    "worker %s: heartbeat or cleanup failed unexpectedly, will retry", self._session.worker_id
                )


class AsyncSupervisor:
    def __init__(self, session: Session, run: Callable[[Sequence[Call[Any]]], Any]) -> None:
        self._session = session
        self._run = run
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="worqr-heartbeat")

    async def stop(self) -> None:
        # The flag as well as the cancel: on Python < 3.12, asyncio.wait_for (redis-py sends
        # under it when a socket timeout is set) can swallow a cancel that arrives as the
        # send completes, and the loop would go on forever.
        self._stopping = True
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        schedule = Schedule(self._session)
        while not self._stopping:
            await asyncio.sleep(self._session.heartbeat_interval)
            if self._session.state.lost:
                continue  # idle until start_worker() registers the worker again
            try:
                await flows.adrive(supervise(self._session, cleanup=schedule.cleanup_due()), self._run, asyncio.sleep)
            except WorqrError as exc:
                log.warning("worker %s: heartbeat or cleanup failed, will retry: %s", self._session.worker_id, exc)
            except Exception:  # the heartbeat must outlive any surprise; say what it was
                log.exception(
                    "worker %s: heartbeat or cleanup failed unexpectedly, will retry", self._session.worker_id
                )
