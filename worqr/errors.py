"""Every error worqr raises.

WorqrError
├── InvalidArgumentError (ValueError)    a bad argument, refused before anything is written
│   ├── InvalidNameError                 queue name, worker id or prefix
│   ├── InvalidProcessIdError            not a process id worqr made
│   └── PayloadTooLargeError             over the client's max_payload_size
├── InvalidTaskTypeError (TypeError)     a task of the wrong type for its codec
├── CodecError                           a stored payload the codec cannot decode
├── DuplicateTaskError                   unique=True and the payload is already queued or in process
├── ProcessLostError                     the process no longer belongs to this worker
├── WorkerNotStartedError                start_work() before start_worker()
├── NotWorkingError                      dequeue() on a queue without start_work()
├── WorkerLostError                      peers declared this worker dead
├── WorkerIdInUseError                   start_worker() with the id of a live worker
├── RedisUnavailableError (ConnectionError)  Redis could not be reached (after retries)
│   ├── ReplicationTimeoutError          a durable write was applied, but too few replicas confirmed it
│   └── PartialReadError                 a read of many queues missed cluster nodes (what was read: .value)
├── RedisCommandError                    Redis refused a command (WRONGTYPE, OOM, ...)
│   └── RedisPermissionError             wrong credentials, or the ACL denies a command, key or channel
├── ClientClosedError                    the client was closed
├── TaskCancelledError                   a handler was told to stop (cancel_token())
├── CallFailedError                      a call used up its attempts (its last error)
├── CallCancelledError                   a call was cancelled
├── CallNotFoundError (LookupError)      no such call, or its record expired
├── CallTimeoutError (TimeoutError)      waiting for a call's result ran out (the call goes on)
├── LeaseTimeoutError (TimeoutError)     lease.hold(timeout=) did not get the lease in time
├── GroupNotFoundError (LookupError)     a stream has no such consumer group
├── MessageNotFoundError (LookupError)   an ack of an id the group was never delivered
├── ChannelBusyError (TimeoutError)      a channel's end is held by another worker
└── ChannelNotConnectedError             send or next on a channel end not connected (or ended, or lost)
"""

from __future__ import annotations


class WorqrError(Exception):
    """Base class of every error worqr raises."""


class InvalidArgumentError(WorqrError, ValueError):
    """Raised when an argument is invalid; nothing has been written."""


class InvalidNameError(InvalidArgumentError):
    """Raised when a queue name, worker id or prefix cannot be used."""


class InvalidProcessIdError(InvalidArgumentError):
    """Raised when a string is not a process id returned by ``dequeue``."""


class PayloadTooLargeError(InvalidArgumentError):
    """Raised when an encoded task is larger than the client's ``max_payload_size``."""


class InvalidTaskTypeError(WorqrError, TypeError):
    """Raised when a task is not of a type its codec can encode (or is empty)."""


class CodecError(WorqrError):
    """Raised when a payload read from Redis cannot be decoded by the codec.

    When raised by ``dequeue``, the task is already in a process of this worker:
    ``process_id`` names it, so it can be finished or stopped; ``payload`` holds the raw bytes.
    """

    def __init__(self, message: str, *, payload: bytes, process_id: str | None = None) -> None:
        super().__init__(message)
        self.payload = payload
        self.process_id = process_id


class DuplicateTaskError(WorqrError):
    """Raised by ``enqueue(..., unique=True)`` when the payload is already queued or in process.

    Nothing of the call was enqueued, not even the other tasks of a batch.
    """

    def __init__(self, message: str, *, queue: str, task: bytes) -> None:
        super().__init__(message)
        self.queue = queue
        self.task = task


class ProcessLostError(WorqrError):
    """Raised when a process no longer belongs to this worker.

    It was already finished or stopped, or a peer reaped this worker and requeued the task
    (which another worker may now hold). The caller must not assume its result counts.
    """

    def __init__(self, message: str, *, process_id: str) -> None:
        super().__init__(message)
        self.process_id = process_id


class WorkerNotStartedError(WorqrError):
    """Raised by ``start_work`` before ``start_worker``."""


class NotWorkingError(WorqrError):
    """Raised by ``dequeue`` on a queue this worker has not called ``start_work`` for."""


class WorkerLostError(WorqrError):
    """Raised when this worker has been declared dead (its heartbeat key is gone).

    It takes no more work until ``start_worker()`` is called again.
    """


class WorkerIdInUseError(WorqrError):
    """Raised by ``start_worker`` when another live worker renews a heartbeat under the same id."""


class RedisUnavailableError(WorqrError, ConnectionError):
    """Raised when Redis cannot be reached, after bounded retries where retrying is safe.

    ``maybe_applied`` is True when the connection broke after a state change was sent:
    it may or may not have been applied, and worqr did not retry it to avoid applying it twice.
    """

    def __init__(self, message: str, *, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class ReplicationTimeoutError(RedisUnavailableError):
    """Raised by a durable write (see ``Durability``) when fewer replicas than required
    confirmed it in time. The change WAS applied on the primary (``maybe_applied`` is True:
    it may still be lost if the primary fails before a replica gets it). ``confirmed`` and
    ``required`` count the replicas."""

    def __init__(self, message: str, *, confirmed: int, required: int) -> None:
        super().__init__(message, maybe_applied=True)
        self.confirmed = confirmed
        self.required = required


class RedisCommandError(WorqrError):
    """Raised when Redis refuses a command: a key of the wrong type, out of memory, no permission."""


class RedisPermissionError(RedisCommandError):
    """Raised when Redis refuses the credentials, or its ACL denies this user a command, key or
    channel that worqr needs. Retrying will not help: give the user worqr's ACL
    (docs/security.md lists it for producers and workers)."""


class PartialReadError(RedisUnavailableError):
    """Raised by a read of many queues or workers (``inspect_queues``, ``inspect_workers``,
    ``inspect_processes``) when some nodes of a Redis Cluster could not be reached: ``value``
    holds what the other nodes gave (of the same type as the read's answer, without what the
    missing nodes hold) and ``unreachable`` the nodes (host:port) that gave nothing."""

    def __init__(self, message: str, *, value: object, unreachable: tuple[str, ...]) -> None:
        super().__init__(message, maybe_applied=False)
        self.value = value
        self.unreachable = unreachable


class ClientClosedError(WorqrError):
    """Raised when a closed client is used."""


class TaskCancelledError(WorqrError):
    """Raised in a handler by ``cancel_token().raise_if_cancelled()`` once the worker told it
    to stop: its task was cancelled, it ran past its timeout, or the worker is shutting down."""


class CallFailedError(WorqrError):
    """Raised by ``Call.result()`` when the call failed: it used up its attempts (its task is a
    dead letter), or could not run at all (an unknown function, arguments that do not fit).
    ``error_type`` and ``message`` are those of its last attempt; ``attempts`` how many it used."""

    def __init__(self, message: str, *, call_id: str, error_type: str, error: str, attempts: int) -> None:
        super().__init__(message)
        self.call_id = call_id
        self.error_type = error_type
        self.message = error
        self.attempts = attempts


class CallCancelledError(WorqrError):
    """Raised by ``Call.result()`` when the call was cancelled."""

    def __init__(self, message: str, *, call_id: str) -> None:
        super().__init__(message)
        self.call_id = call_id


class CallNotFoundError(WorqrError, LookupError):
    """Raised by ``Call.result()`` for a call that is unknown: no call has that id, or its
    record expired (``result_ttl`` after it ended)."""

    def __init__(self, message: str, *, call_id: str) -> None:
        super().__init__(message)
        self.call_id = call_id


class CallTimeoutError(WorqrError, TimeoutError):
    """Raised by ``Call.result(timeout=...)`` (and ``gather``) when the wait ran out before the
    call ended. The call is left alone: it may still end, and its result be read later."""

    def __init__(self, message: str, *, call_id: str) -> None:
        super().__init__(message)
        self.call_id = call_id


class LeaseTimeoutError(WorqrError, TimeoutError):
    """Raised by ``lease.hold(timeout=...)`` when the lease was not acquired in time."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class GroupNotFoundError(WorqrError, LookupError):
    """Raised for a consumer group that does not exist on the stream (worqr.streams): never
    created by ``subscribe``, or deleted since."""

    def __init__(self, message: str, *, stream: str, group: str) -> None:
        super().__init__(message)
        self.stream = stream
        self.group = group


class MessageNotFoundError(WorqrError, LookupError):
    """Raised by an ack of a message id that the group was never delivered (worqr.streams)."""

    def __init__(self, message: str, *, stream: str, group: str, message_id: str) -> None:
        super().__init__(message)
        self.stream = stream
        self.group = group
        self.message_id = message_id


class ChannelBusyError(WorqrError, TimeoutError):
    """Raised by ``channel.connect()`` or ``channel.listen()`` when another worker held that
    end of the channel for the whole ``timeout`` (worqr.channels)."""

    def __init__(self, message: str, *, channel: str, side: str, holder: str | None) -> None:
        super().__init__(message)
        self.channel = channel
        self.side = side
        self.holder = holder


class ChannelNotConnectedError(WorqrError):
    """Raised by ``send`` or ``next`` on a channel that is not one of its ends: never
    connected, disconnected, ended, or lost (its worker was declared dead, or its hold on
    the end ran out while the process was paused) (worqr.channels)."""


#: Status codes returned by the Lua scripts (first element of the reply), by name.
STATUS_OK = 0
STATUS_PROCESS_LOST = -1
STATUS_DUPLICATE = -2
STATUS_WORKER_LOST = -3
STATUS_WORKER_KNOWN = -4
STATUS_LEASE_BUSY = -5
STATUS_LEASE_LOST = -6
STATUS_UNKNOWN_GROUP = -7
STATUS_UNKNOWN_MESSAGE = -8
STATUS_PARTITIONS = -9

#: Every status code: its name in the scripts' headers, and the error it stands for when a
#: caller meets it as one (``status_error``). Some flows read a code as an answer instead
#: (a heartbeat's WORKER_LOST is "declared dead", a registration's WORKER_KNOWN "wait").
STATUSES: dict[int, tuple[str, type[WorqrError] | None]] = {
    STATUS_OK: ("OK", None),
    STATUS_PROCESS_LOST: ("PROCESS_LOST", ProcessLostError),
    STATUS_DUPLICATE: ("DUPLICATE", DuplicateTaskError),
    STATUS_WORKER_LOST: ("WORKER_LOST", WorkerLostError),
    STATUS_WORKER_KNOWN: ("WORKER_KNOWN", WorkerIdInUseError),
    STATUS_LEASE_BUSY: ("LEASE_BUSY", None),
    STATUS_LEASE_LOST: ("LEASE_LOST", None),
    STATUS_UNKNOWN_GROUP: ("UNKNOWN_GROUP", None),
    STATUS_UNKNOWN_MESSAGE: ("UNKNOWN_MESSAGE", None),
    STATUS_PARTITIONS: ("PARTITIONS", None),
}


def status_error(status: object, message: str, **fields: object) -> WorqrError:
    """The error a script's ``status`` stands for, with ``message`` and its fields
    (``process_id=``, ``queue=``, ``task=``); `RedisCommandError` for a code that is not one."""
    entry = STATUSES.get(status) if isinstance(status, int) else None
    cls = None if entry is None else entry[1]
    if cls is None:
        return RedisCommandError(f"unexpected script status {status!r}: {message}")
    return cls(message, **fields)
