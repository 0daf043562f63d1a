"""The typed answers of `worqr.operations`: a queue, a worker, a process, as an operator
sees them, and how each is parsed from Redis replies."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Literal

from worqr._protocol.models import server_time

WorkerState = Literal["alive", "overdue", "reaping", "ended"]

#: The counters of lua/include/counters.lua, in the order they are shown.
COUNTER_NAMES = ("enqueued", "finished", "failed", "dead_lettered", "requeued", "fenced", "cancelled")


@dataclass(frozen=True, slots=True)
class QueueCounters:
    """A queue's exact totals since it was created, each counted in the script that made
    the change (docs/operations.md)."""

    enqueued: int = 0
    finished: int = 0
    failed: int = 0
    dead_lettered: int = 0
    requeued: int = 0
    fenced: int = 0
    cancelled: int = 0

    @classmethod
    def parse(cls, pairs: dict[bytes, bytes]) -> QueueCounters:
        known = {f.name for f in fields(cls)}
        values = {name.decode(): int(value) for name, value in pairs.items() if name.decode() in known}
        return cls(**values)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTER_NAMES}


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """One queue: ``queued`` (waiting now), ``delayed`` (due later, retries included),
    ``in_flight`` (in some worker's processes), ``dead_letters``, ``workers`` (how many
    work it), ``paused`` and its ``counters``."""

    name: str
    queued: int
    delayed: int
    in_flight: int
    dead_letters: int
    workers: int
    paused: bool
    counters: QueueCounters = field(default_factory=QueueCounters)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One worker, from its record, its heartbeat and its processes. ``alive``: registered
    with a heartbeat; ``state``: ``"alive"``, ``"overdue"`` (registered, its heartbeat
    expired, not reaped yet), ``"reaping"`` (declared dead, its tasks being requeued) or
    ``"ended"`` (declared dead in the last day: reaped, or left); ``heartbeat_age``: seconds
    since its last heartbeat by the server's clock (None for a worker without a timeout, or
    not alive); ``ended_at``: when it was declared dead; ``ended_by``: ``"expired"`` (its
    heartbeat expired and a peer reaped it: it died, hung or lost Redis) or ``"declared"``
    (declared dead while its heartbeat lived: it left cleanly, or was reaped by force).
    Fields its record lacks (a worker of an older worqr) are None."""

    id: str
    queues: tuple[str, ...]
    alive: bool
    state: WorkerState
    in_flight: int
    host: str | None = None
    pid: int | None = None
    version: str | None = None
    concurrency: int | None = None
    started_at: datetime | None = None
    heartbeat_age: float | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A task in some worker's processes: its ``id`` (``<seq>:<queue>``), the payload as
    stored (``task``, bytes) and the attempt it is on (1 for the first)."""

    id: str
    queue: str
    worker_id: str
    task: bytes
    attempt: int


@dataclass(frozen=True, slots=True)
class QueuePeek:
    """The front of a queue: its first ``waiting`` tasks (payloads, front first) and its
    first ``delayed`` ones (payload, when due), soonest first."""

    waiting: list[bytes]
    delayed: list[tuple[bytes, datetime]]


def ms_time(value: bytes | None) -> datetime | None:
    """A record's time (ms since the epoch, server clock) as an aware datetime."""
    if not value:
        return None
    return server_time(int(value))


def optional_int(value: bytes | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")
