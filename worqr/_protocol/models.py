"""The values worqr hands back: processes and events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, Literal, TypeVar, cast

from worqr.errors import CodecError, InvalidProcessIdError

T = TypeVar("T")

EventType = Literal["work", "scheduled", "cancel", "delete", "done", "call", "released", "published"]


@dataclass(frozen=True, slots=True)
class Process(Generic[T]):
    """A task taken from a queue by one worker, until it is finished or stopped.

    Set by worqr; read them, don't build them. ``id`` alone is enough to finish or stop
    the process, and is unique even when payloads repeat. ``attempt`` is 1 on a task's first
    run and goes up with each failed or interrupted attempt (counted in Redis).
    """

    id: str
    queue: str
    task: T
    worker_id: str
    attempt: int = 1


class _Undecoded:
    """What a dead letter whose payload did not decode holds in place of its task."""

    def __repr__(self) -> str:
        return "<undecoded>"


_UNDECODED: Any = _Undecoded()


@dataclass(frozen=True, slots=True, init=False, repr=False, match_args=False)
class DeadLetter(Generic[T]):
    """A task that used up its attempts, kept with its last error until it is requeued or purged.

    ``id`` names it for `requeue_dead_letters` and `purge_dead_letters`; ``failed_at`` is the
    server's time of the last failure (UTC). ``payload`` is the task's bytes as stored.

    ``task`` is the payload decoded by the view's codec. A dead letter whose payload no
    longer decodes (its type changed since it failed, or another codec wrote it) is listed
    all the same, in its place among the others: its ``decode_error`` holds the
    `CodecError`, and reading its ``task`` raises that error. So ``task`` is always a ``T``
    (even when ``T`` admits None), one bad letter does not hide the others, and it can still
    be read as bytes (``payload``, or a `BytesCodec` view), requeued or purged by ``id``.
    ``decode_error`` is None when ``task`` decoded: check it first to skip or report such
    letters. Two dead letters are equal when their fields and tasks are (``payload`` and
    ``decode_error`` are not compared).
    """

    __match_args__ = ("id", "queue", "task", "error_type", "error", "attempts", "failed_at", "worker_id")

    id: str
    queue: str
    _task: Any
    error_type: str
    error: str
    attempts: int
    failed_at: datetime
    worker_id: str
    payload: bytes = field(compare=False)
    decode_error: CodecError | None = field(compare=False)

    def __init__(  # noqa: PLR0917 (positional in the order of the fields, as before)
        self,
        id: str,
        queue: str,
        task: T,
        error_type: str,
        error: str,
        attempts: int,
        failed_at: datetime,
        worker_id: str,
        *,
        payload: bytes = b"",
        decode_error: CodecError | None = None,
    ) -> None:
        """``task`` is ignored when ``decode_error`` is given (the payload did not decode)."""
        values = {
            "id": id,
            "queue": queue,
            "_task": _UNDECODED if decode_error is not None else task,
            "error_type": error_type,
            "error": error,
            "attempts": attempts,
            "failed_at": failed_at,
            "worker_id": worker_id,
            "payload": payload,
            "decode_error": decode_error,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def task(self) -> T:
        """The task, decoded; raises ``decode_error`` (a `CodecError`) if the payload did not decode."""
        if self.decode_error is not None:
            raise self.decode_error.with_traceback(None)
        return cast("T", self._task)

    def __repr__(self) -> str:
        if self.decode_error is None:
            task = f"task={self._task!r}"
        else:
            task = f"payload={self.payload[:40]!r}, decode_error={str(self.decode_error)!r}"
        return (
            f"DeadLetter(id={self.id!r}, queue={self.queue!r}, {task}, error_type={self.error_type!r}, "
            f"error={self.error!r}, attempts={self.attempts!r}, failed_at={self.failed_at!r}, "
            f"worker_id={self.worker_id!r})"
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """What `fail_process` did: how many attempts the task has used, and the id of its dead
    letter if it was dead-lettered (None: it is scheduled for another attempt)."""

    attempts: int
    dead_letter_id: str | None


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened on a queue, delivered to callbacks registered with ``on``.

    ``message`` depends on ``type``: ``work``: how many tasks arrived; ``scheduled``: a
    delayed task was added (or a failed one will be retried), due in ``message`` ms;
    ``cancel``: the payload (for a task over 4 KiB, a `DigestCancel` names it by digest);
    ``delete``: empty; ``done``: JSON with ``worker_id``, ``process_id``, ``outcome``
    (``"succeeded"`` or ``"cancelled"``), ``task`` (at most 4 KiB of it: then ``task_size`` and
    ``task_truncated`` say so) and ``result``; ``call``: ``"<call id>\n<state>"``, a notice
    for the client waiting on a call (it ended in that state, or reported ``progress``),
    followed for an ended call by ``"\n<attempts>\n<function>\n<outcome>"`` when its outcome
    is small (docs/calls.md, "The notices"), heard only on the caller's own channel;
    ``released``: ``"<token>"``, a lease's term ended (worqr.leases; heard only by its
    standbys, with ``queue`` naming the lease's channel); ``published``: ``"<last id>"`` or
    empty, a stream has messages for its subscribers (worqr.streams; heard by them only). Payloads that are not UTF-8 are carried as base64, and
    ``task_encoding`` says so.
    """

    type: EventType
    queue: str
    message: str
    task_encoding: Literal["utf-8", "base64"] = "utf-8"


def reply_text(value: object) -> str:
    """A reply's bytes as text (undecodable bytes kept as surrogates); anything else as str."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def server_time(ms: int) -> datetime:
    """A time the scripts wrote (ms since the epoch, by the server's clock) as an aware UTC
    datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def make_process_id(seq: int, queue: str) -> str:
    """The id of process number ``seq`` of ``queue``: ``"<seq>:<queue>"``. ``seq`` comes from
    the queue's counter (``lua/include/next_ids.lua``): 19 digits, unique also across a
    loss of Redis data, and past 2^53, so it is an int, never a float."""
    return f"{seq}:{queue}"


def parse_process_id(process_id: object) -> tuple[int, str]:
    """Split a process id into its sequence number and queue, or raise `InvalidProcessIdError`."""
    if isinstance(process_id, str):
        seq, sep, queue = process_id.partition(":")
        if sep and queue and seq.isascii() and seq.isdigit():
            return int(seq), queue
    msg = f"{process_id!r} is not a process id; pass the id of a Process returned by dequeue (like '42:emails')"
    raise InvalidProcessIdError(msg)
