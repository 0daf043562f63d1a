"""The ticker of a runtime worker: it fires the schedules of the worker's queues when they
are due (docs/schedules.md). This file is the asyncio one; its generated twin
(``_sync/ticker.py``) serves the threaded worker.

Every worker serving a queue runs one, so there is no scheduler process: any of them may try
a due time, and the fire script lets exactly one of them enqueue it (``lua/fire.lua``). The
ticker sleeps until the soonest due time of its queues; a changed schedule wakes it (the
``scheduled`` event of its queue, which the worker passes on with `poke`), and it looks
again at least every `LOOK_EVERY` seconds, should an event have been missed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from worqr._io.flavors import AsyncBackground, AsyncEvent
from worqr._protocol.flows.drive import adrive
from worqr._protocol.session import Session
from worqr._runtime.rounds import RetryLog
from worqr.errors import WorqrError
from worqr.schedules import flows

log = logging.getLogger("worqr")

#: The longest a ticker goes without looking at its queues' schedules (seconds).
LOOK_EVERY = 30.0
#: How long a ticker waits, while its worker is not live, before it looks again (seconds).
RETRY_LOOK = 0.5
#: How long `stop` waits for a look in flight (seconds): not long, so that a worker cut off
#: from Redis stops on time; a look left running ends by itself (a fire is atomic, and any
#: worker may make it).
STOP_TIMEOUT = 0.5


class AsyncTicker:
    """Fires the due schedules of ``queues`` for the worker of ``session``, over ``run`` (the
    worker's runner), in a background loop from `start` to `stop`."""

    def __init__(self, session: Session, run: Callable[..., Any], queues: Sequence[str]) -> None:
        self._session = session
        self._run = run
        self._queues = list(queues)
        self._wake = AsyncEvent()
        self._background = AsyncBackground(f"worqr-schedules-{session.worker_id[:8]}")
        #: Logs looks that keep failing (Redis away) at a sensible rate, and backs off.
        self._retries = RetryLog("fire the schedules of its queues")

    def start(self) -> None:
        self._wake.bind()
        self._background.start(self._loop)

    def poke(self) -> None:
        """Look again now (a schedule of one of the queues changed). From any thread."""
        self._wake.set_threadsafe()

    async def stop(self) -> None:
        self._background.stopping = True
        self._wake.set_threadsafe()
        await self._background.join(STOP_TIMEOUT)

    async def _loop(self) -> None:
        while not self._background.stopping:
            self._wake.clear()
            wait = await self._look() if self._session.state.is_live() else RETRY_LOOK
            await self._wake.wait(min(wait, LOOK_EVERY))

    async def _look(self) -> float:
        """Fire what is due on each queue; the seconds until the soonest due time."""
        waits = []
        try:
            for queue in self._queues:
                wait = await adrive(flows.tick(self._session, queue), self._run)
                if wait is not None:
                    waits.append(wait)
        except WorqrError as exc:
            return self._retries.failed(self._session.worker_id, exc, time.monotonic())
        except Exception as exc:  # the ticker must outlive any surprise: the next look tries again
            log.exception("the schedules of queues %s failed unexpectedly, will retry", self._queues)
            return self._retries.failed(self._session.worker_id, exc, time.monotonic())
        self._retries.succeeded(self._session.worker_id, time.monotonic())
        return min(waits, default=LOOK_EVERY)
