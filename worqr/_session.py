"""What one client knows about itself: names, limits and worker state. No I/O."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from worqr._keys import QueueKeys, RegistryKeys, check_prefix, check_queue_name, check_worker_id
from worqr.errors import InvalidArgumentError, NotWorkingError, WorkerLostError, WorkerNotStartedError

#: Default limit on one encoded task. Redis allows 512 MiB, but a queue of huge values
#: blocks the server on every move; store big blobs elsewhere and enqueue a reference.
DEFAULT_MAX_PAYLOAD_SIZE = 16 * 1024 * 1024
#: How many queues' checked names and keys a session remembers (a hot-path saving).
_KNOWN_QUEUES = 4096


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or value == float("inf"):
        msg = f"{name} must be a positive, finite number of seconds, got {value!r}"
        raise InvalidArgumentError(msg)
    return float(value)


@dataclass
class WorkerState:
    """Whether this client's worker is started or was declared dead, and what it works on."""

    started: bool = False
    lost: bool = False
    working: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Called (from whichever thread noticed) when the worker is found declared dead.
    lost_callbacks: list[Callable[[], None]] = field(default_factory=list)

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
    ) -> None:
        self.prefix = check_prefix(prefix)
        self.worker_id = check_worker_id(worker_id)
        self.heartbeat_interval = _check_seconds("heartbeat_interval", heartbeat_interval)
        self.worker_timeout = None if worker_timeout is None else _check_seconds("worker_timeout", worker_timeout)
        self.cleanup_interval = _check_seconds("cleanup_interval", cleanup_interval)
        self.poll_interval = _check_seconds("poll_interval", poll_interval)
        if self.worker_timeout is not None and self.heartbeat_interval >= self.worker_timeout:
            msg = (
                f"heartbeat_interval ({heartbeat_interval}) must be shorter than worker_timeout ({worker_timeout}), "
                "or peers will reap a live worker; a third of the timeout is a good choice"
            )
            raise InvalidArgumentError(msg)
        if isinstance(max_payload_size, bool) or not isinstance(max_payload_size, int) or max_payload_size < 1:
            msg = f"max_payload_size must be a positive int (bytes), got {max_payload_size!r}"
            raise InvalidArgumentError(msg)
        self.max_payload_size = max_payload_size
        self.registry = RegistryKeys(self.prefix)
        self._queue_keys: dict[str, QueueKeys] = {}
        self.state = WorkerState()

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
