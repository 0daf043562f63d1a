"""What a lease's holder knows of its term, with no I/O: the checks of a lease's name and
ttl, and how long a term stays valid on the holder's own clock.

The server lets the holder hash expire ``ttl`` after the acquire or renewal ran there. The
holder cannot know when that was, only that it was after it sent the request; so it counts
its term's validity from the send (on its monotonic clock), less a margin for the rate at
which its clock may run slower than the server's (`margin`): the term is then over on the
holder's side before the server could give the lease to anyone else, whatever the network
delay, and a holder paused (SIGSTOP, a GC pause) past that finds itself not alive when it
wakes. A term also ends on its holder's side once its worker could have been reaped: when
its heartbeat went unconfirmed past the worker's own fence (`worqr._protocol.supervision`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from worqr._protocol.session import Session
from worqr._protocol.supervision import fence_after
from worqr.errors import InvalidArgumentError

#: The drift allowed between the holder's clock rate and the server's, as a fraction of the
#: ttl (Redlock's 1 %), and the server's expiry resolution on top (2 ms).
DRIFT_FACTOR = 0.01
DRIFT_FLOOR = 0.002
#: The ttl of a lease unless given (seconds).
DEFAULT_TTL = 5.0
#: The least and the most ttl a lease takes (seconds).
MIN_TTL = 0.05
MAX_TTL = 86400.0
#: A term is renewed every ttl / RENEWALS_PER_TTL, so that two renewals may fail in a row.
RENEWALS_PER_TTL = 3


def check_ttl(ttl: object) -> float:
    """A lease's ttl in seconds: from `MIN_TTL` to `MAX_TTL`."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not MIN_TTL <= ttl <= MAX_TTL:
        msg = f"ttl must be a number of seconds from {MIN_TTL:g} to {MAX_TTL:g}, got {ttl!r}"
        raise InvalidArgumentError(msg)
    return float(ttl)


def margin(ttl: float) -> float:
    """How much sooner than the server the holder takes its term for over (seconds)."""
    return ttl * DRIFT_FACTOR + DRIFT_FLOOR


def valid_until(sent_at: float, ttl: float) -> float:
    """When (monotonic) a term acquired or renewed by a request sent at ``sent_at`` ends on
    the holder's side."""
    return sent_at + ttl - margin(ttl)


def renew_every(ttl: float) -> float:
    return ttl / RENEWALS_PER_TTL


def worker_alive_until(session: Session, incarnation: str) -> float:
    """Until when (monotonic) the worker of ``incarnation`` cannot have been reaped: -inf if
    it is lost or registered again since, +inf for a permanent worker (no timeout)."""
    state = session.state
    with state.lock:
        if state.lost or not state.started or state.incarnation != incarnation:
            return -math.inf
        confirmed_at = state.confirmed_at
    after = fence_after(session)
    return math.inf if after is None else confirmed_at + after


@dataclass(frozen=True, slots=True)
class Grant:
    """What an acquire got: the term's token and its server time, and when it was sent."""

    token: int
    acquired_at_ms: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class Busy:
    """An acquire that found the lease held by another: by whom, for how much longer (ms)."""

    holder: str
    ttl_ms: int
