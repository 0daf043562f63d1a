"""`AsyncSupervisor`: a worker's heartbeat and the reaper of its dead peers, in an asyncio
task (its twin `SyncSupervisor`: a daemon thread). Every ``heartbeat_interval`` it runs one
tick of `worqr._protocol.supervision` (renew the heartbeat; now and then reap expired
peers). Connection failures are logged and the loop goes on, so the heartbeat survives a
Redis restart; while the worker is declared dead the loop idles, until ``start_worker()``
registers it again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from worqr._io.flavors import AsyncAlarm, AsyncBackground, AsyncEvent, async_sleep
from worqr._protocol import flows
from worqr._protocol.call import Call
from worqr._protocol.session import Session
from worqr._protocol.supervision import Schedule, fence_after, fence_reason, supervise
from worqr.errors import WorqrError

log = logging.getLogger("worqr")

#: How long `stop` waits for a tick in flight to end (the threaded twin cannot interrupt it).
STOP_TIMEOUT = 15.0


class AsyncSupervisor:
    def __init__(self, session: Session, run: Callable[[Sequence[Call[Any]]], Awaitable[list[Any]]]) -> None:
        self._session = session
        self._run = run
        self._stop = AsyncEvent()
        self._background = AsyncBackground("worqr-heartbeat")
        self._alarm = AsyncAlarm(self._fence, "worqr-fence")

    @property
    def running(self) -> bool:
        return self._background.running

    def start(self) -> None:
        self._arm()
        self._background.start(self._loop)

    def registered(self) -> None:
        """The worker registered again, as a new incarnation: set its fence now, from when its
        registration was sent. Else only the next tick sets it, and the tick in flight when
        the worker was lost may hang for as long as Redis stays unreachable (a read timeout,
        then retries), the new incarnation running unfenced meanwhile."""
        self._arm()

    async def stop(self) -> None:
        self._stop.set()
        self._alarm.close()
        await self._background.stop(STOP_TIMEOUT)

    def _arm(self) -> None:
        """Set the fence for when the last confirmed heartbeat is too old (see `fence_after`)."""
        after = fence_after(self._session)
        state = self._session.state
        if after is not None and not state.lost:
            self._alarm.arm(after - state.unconfirmed_for())

    def _fence(self) -> None:
        state = self._session.state
        after, unconfirmed = fence_after(self._session), state.unconfirmed_for()
        if after is None or state.lost or self._stop.is_set():
            return
        if unconfirmed < after:  # confirmed meanwhile
            self._arm()
            return
        reason = fence_reason(self._session, unconfirmed)
        if state.mark_lost(reason, incarnation=state.incarnation):
            log.error("worker %s %s", self._session.worker_id, reason)

    async def _loop(self) -> None:
        schedule = Schedule(self._session)
        while not await self._stop.wait(self._session.heartbeat_interval) and not self._background.stopping:
            if self._session.state.lost:
                continue  # idle until start_worker() registers the worker again
            try:
                await flows.adrive(supervise(self._session, cleanup=schedule.cleanup_due()), self._run, async_sleep)
                self._arm()
            except WorqrError as exc:
                log.warning("worker %s: heartbeat or cleanup failed, will retry: %s", self._session.worker_id, exc)
            except Exception:  # the heartbeat must outlive any surprise; say what it was
                log.exception(
                    "worker %s: heartbeat or cleanup failed unexpectedly, will retry", self._session.worker_id
                )
