"""The values worqr hands back: processes and events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

from worqr.errors import InvalidProcessIdError

T = TypeVar("T")

EventType = Literal["work", "scheduled", "cancel", "delete", "done"]


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


@dataclass(frozen=True, slots=True)
class DeadLetter(Generic[T]):
    """A task that used up its attempts, kept with its last error until it is requeued or purged.

    ``id`` names it for `requeue_dead_letters` and `purge_dead_letters`; ``failed_at`` is the
    server's time of the last failure (UTC).
    """

    id: str
    queue: str
    task: T
    error_type: str
    error: str
    attempts: int
    failed_at: datetime
    worker_id: str


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
    delayed task was added (or a failed one will be retried), due in ``message`` ms; ``cancel``: the payload;
    ``delete``: empty; ``done``: JSON with ``worker_id``, ``process_id``, ``task`` and ``result``.
    Payloads that are not UTF-8 are carried as base64, and ``task_encoding`` says so.
    """

    type: EventType
    queue: str
    message: str
    task_encoding: Literal["utf-8", "base64"] = "utf-8"


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
