"""What one client knows about itself: names, limits and worker state. No I/O.

The worker state is read and changed by the client's caller, its heartbeat and its runtime
worker, which may be threads: the I/O layer hands the session the lock that guards it (a
``threading.Lock``), so that this module needs no threading of its own.
"""

from __future__ import annotations

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


class WorkerState:
    """Whether this client's worker is started or was declared dead, and what it works on."""

    def __init__(self, lock: Lock) -> None:
        self.started = False
        self.lost = False
        self.working: set[str] = set()
        self.lock = lock
        #: Called (from whichever thread noticed) when the worker is found declared dead.
        self.lost_callbacks: list[Callable[[], None]] = []

    def check_can_dequeue(self, queue: str, worker_id: str) -> None:
        with self.lock:
            if self.lost:
                msg = f"worker {worker_id!r} was declared dead and takes no more work; call start_worker() again"
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

    def mark_started(self) -> None:
        with self.lock:
            self.started, self.lost = True, False
            self.working.clear()

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

    def mark_lost(self) -> None:
        with self.lock:
            self.lost = True
            self.working.clear()
            callbacks = list(self.lost_callbacks)
        for callback in callbacks:
            callback()


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
