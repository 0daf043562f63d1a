"""The decisions of a worker's supervisor, with no I/O: one tick renews the heartbeat and,
every ``cleanup_interval`` (with jitter, so that peers don't reap in lockstep), reaps the
peers whose heartbeat expired. The hosts in ``worqr._io`` run a tick every
``heartbeat_interval``, in a thread or an asyncio task."""

from __future__ import annotations

import random
import time

from worqr._protocol import flows
from worqr._protocol.session import Session


class Schedule:
    """When the next cleanup is due."""

    def __init__(self, session: Session) -> None:
        self.interval = session.cleanup_interval
        self.next_cleanup = time.monotonic() + self._jittered()

    def _jittered(self) -> float:
        return self.interval * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not security)

    def cleanup_due(self) -> bool:
        now = time.monotonic()
        if now < self.next_cleanup:
            return False
        self.next_cleanup = now + self._jittered()
        return True


def supervise(session: Session, *, cleanup: bool) -> flows.Flow[None]:
    """One tick: renew the heartbeat, then reap expired peers if ``cleanup``."""
    if not (yield from flows.heartbeat(session)):
        return
    if cleanup:
        yield from flows.cleanup_workers(session)
