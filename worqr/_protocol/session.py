"""What one client knows about itself: names, limits and worker state. No I/O.

The worker state is read and changed by the client's caller, its heartbeat and its runtime
worker, which may be threads: the I/O layer hands the session the lock that guards it (a
``threading.Lock``), so that this module needs no threading of its own.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from worqr._protocol.checks import (
    check_max_payload_size,
    check_positive_seconds,
    check_prefix,
    check_queue_name,
    check_worker_id,
)
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr.errors import InvalidArgumentError, NotWorkingError, WorkerLostError, WorkerNotStartedError

#: Default limit on one encoded task. Redis allows 512 MiB, but a queue of huge values
#: blocks the server on every move; store big blobs elsewhere and enqueue a reference.
DEFAULT_MAX_PAYLOAD_SIZE = 16 * 1024 * 1024
#: How many queues' checked names and keys a session remembers (a hot-path saving).
_KNOWN_QUEUES = 4096

Lock = AbstractContextManager[object]


#: Why a worker stopped taking work, as its errors and logs say it.
DECLARED_DEAD = "was declared dead by its peers (its heartbeat key is gone)"


class WorkerState:
    """Whether this client's worker is started or was declared dead, and what it works on.

    Each registration is an incarnation of the worker id, named by a fresh random token: the
    queues' fence (``dequeue``) tells a worker's incarnations apart, so a call an earlier one
    sent before an outage and Redis applies late cannot take work for the current one.
    """

    def __init__(self, lock: Lock) -> None:
        self.started = False
        self.lost = False
        #: Why the worker was lost (None while it is not): see `DECLARED_DEAD`.
        self.lost_reason: str | None = None
        self.incarnation = ""
        #: When (``time.monotonic()``) the last heartbeat that Redis confirmed was sent: the
        #: server's lease on the worker runs from no earlier than that.
        self.confirmed_at = 0.0
        self.working: set[str] = set()
        self.lock = lock
        #: Called (from whichever thread noticed) when the worker is found declared dead.
        self.lost_callbacks: list[Callable[[], None]] = []

    def check_can_dequeue(self, queue: str, worker_id: str) -> None:
        with self.lock:
            if self.lost:
                msg = f"worker {worker_id!r} {self.lost_reason or DECLARED_DEAD} and takes no more work; call start_worker() again"
                raise WorkerLostError(msg)
            if queue not in self.working:
                msg = f"worker {worker_id!r} is not working on queue {queue!r}; call start_work({queue!r}) first"
                raise NotWorkingError(msg)

    def check_started(self, queue: str, worker_id: str) -> None:
        with self.lock:
            if self.lost:
                msg = f"worker {worker_id!r} was declared dead; call start_worker() before start_work({queue!r})"
                raise WorkerLostError(msg)
            if not self.started:
                msg = f"call start_worker() before start_work({queue!r})"
                raise WorkerNotStartedError(msg)

    def is_live(self) -> bool:
        """Started and not declared dead since."""
        with self.lock:
            return self.started and not self.lost

    def new_incarnation(self) -> str:
        """A fresh token for the next registration (kept once it succeeds: `mark_started`)."""
        return secrets.token_hex(8)

    def mark_started(self, incarnation: str, sent_at: float) -> None:
        """The worker is registered as ``incarnation``; ``sent_at``: when the registration
        (its first heartbeat) was sent."""
        with self.lock:
            self.started, self.lost, self.lost_reason = True, False, None
            self.incarnation, self.confirmed_at = incarnation, sent_at
            self.working.clear()

    def confirm(self, incarnation: str, sent_at: float) -> bool:
        """Record a heartbeat that Redis confirmed; False if it was sent for an earlier
        incarnation (its reply says nothing of the current one)."""
        with self.lock:
            if incarnation != self.incarnation:
                return False
            self.confirmed_at = max(self.confirmed_at, sent_at)
            return True

    def unconfirmed_for(self, now: float | None = None) -> float:
        """Seconds since the last confirmed heartbeat was sent."""
        return (time.monotonic() if now is None else now) - self.confirmed_at

    def add_working(self, queue: str) -> None:
        with self.lock:
            self.working.add(queue)

    def discard_working(self, queue: str) -> None:
        with self.lock:
            self.working.discard(queue)

    def missing(self, queues: Iterable[str]) -> bool:
        """True when the worker is live but does not work on all of ``queues`` (a restart
        registered it again; joining the queues is still to do, or failed half-way)."""
        with self.lock:
            return self.started and not self.lost and any(queue not in self.working for queue in queues)

    def mark_lost(self, reason: str = DECLARED_DEAD, *, incarnation: str | None = None) -> bool:
        """The worker takes no more work, for ``reason``; with ``incarnation``, only if that
        is still the current one (False: a newer registration, which this news is not about)."""
        with self.lock:
            if incarnation is not None and incarnation != self.incarnation:
                return False
            if not self.lost:
                self.lost_reason = reason
            self.lost = True
            self.working.clear()
            callbacks = list(self.lost_callbacks)
        for callback in callbacks:
            callback()
        return True


class Session:
    """The validated settings of a client, shared by its faces, flows and background loops."""

    def __init__(
        self,
        *,
        prefix: str,
        worker_id: str,
        heartbeat_interval: float,
        worker_timeout: float | None,
        cleanup_interval: float,
        poll_interval: float,
        max_payload_size: int,
        lock: Lock,
    ) -> None:
        self.prefix = check_prefix(prefix)
        self.worker_id = check_worker_id(worker_id)
        self.heartbeat_interval = check_positive_seconds("heartbeat_interval", heartbeat_interval)
        self.worker_timeout = (
            None if worker_timeout is None else check_positive_seconds("worker_timeout", worker_timeout)
        )
        self.cleanup_interval = check_positive_seconds("cleanup_interval", cleanup_interval)
        self.poll_interval = check_positive_seconds("poll_interval", poll_interval)
        if self.worker_timeout is not None and self.heartbeat_interval >= self.worker_timeout:
            msg = (
                f"heartbeat_interval ({heartbeat_interval}) must be shorter than worker_timeout ({worker_timeout}), "
                "or peers will reap a live worker; a third of the timeout is a good choice"
            )
            raise InvalidArgumentError(msg)
        self.max_payload_size = check_max_payload_size(max_payload_size)
        self.registry = RegistryKeys(self.prefix)
        self._queue_keys: dict[str, QueueKeys] = {}
        self.state = WorkerState(lock)
        #: More fields of this worker's record, set by whoever runs it (the runtime: its
        #: concurrency) before it registers.
        self.worker_details: dict[str, str] = {}

    @property
    def timeout_ms(self) -> int:
        """The heartbeat lifetime in milliseconds; 0 for a permanent worker."""
        return 0 if self.worker_timeout is None else max(1, round(self.worker_timeout * 1000))

    def queue(self, name: object) -> QueueKeys:
        """The keys of queue ``name``, after checking the name."""
        if isinstance(name, str):
            known = self._queue_keys.get(name)
            if known is not None:
                return known
        keys = QueueKeys(self.prefix, check_queue_name(name))
        if len(self._queue_keys) >= _KNOWN_QUEUES:
            self._queue_keys.clear()
        self._queue_keys[keys.queue] = keys
        return keys
