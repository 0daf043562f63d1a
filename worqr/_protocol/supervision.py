"""The decisions of a worker's supervisor, with no I/O: one tick renews the heartbeat and,
every ``cleanup_interval`` (with jitter, so that peers don't reap in lockstep), reaps the
peers whose heartbeat expired. The hosts in ``worqr._io`` run a tick every
``heartbeat_interval``, in a thread or an asyncio task.

Between sweeps, every heartbeat also records when its own deadline is and learns whether a
peer's has passed (``lua/heartbeat.lua``): then the tick reaps at once.

The worker also fences itself on its own clock: Redis's lease on it runs from no earlier
than the moment its last confirmed heartbeat was sent, so once no heartbeat was confirmed
for ``worker_timeout`` less a margin (`fence_after`), it stops its handlers and takes no
more work before its peers could hand its tasks to another worker, whether Redis, the
network or the worker itself was stalled."""

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
    """One tick: renew the heartbeat, then reap expired peers if ``cleanup``, or at once
    when the heartbeat's reply says that a peer's heartbeat ran out (so that a dead peer's
    tasks run again about a heartbeat interval after its timeout, not a sweep later)."""
    alive, overdue = yield from flows.beat(session)
    if alive and (cleanup or overdue):
        yield from flows.cleanup_workers(session)


def fence_after(session: Session) -> float | None:
    """Seconds without a confirmed heartbeat after which the worker fences itself: the
    timeout less half a heartbeat interval (at most a quarter of the timeout), which covers
    the time handlers take to hear their token and any drift between the clocks' rates.
    None for a permanent worker (no timeout)."""
    timeout = session.worker_timeout
    if timeout is None:
        return None
    return timeout - min(timeout / 4, session.heartbeat_interval / 2)


def fence_reason(session: Session, unconfirmed: float) -> str:
    """What the worker says of itself once it fenced."""
    return (
        f"could not confirm its heartbeat for {unconfirmed:.1f} s (worker_timeout {session.worker_timeout:g} s): "
        "it stopped its handlers before its peers could hand its tasks to another worker"
    )
