"""The reads of `worqr.operations` as flows (see `worqr._protocol.flows`): which commands,
in how many round trips. A queue costs two round trips whatever its size (its counts, then
one HLEN per worker on it), a worker two (its record, heartbeat and queues, then one HLEN
per queue), and the lists of queues and workers one more."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from worqr import errors
from worqr._protocol import ops
from worqr._protocol.flows.drive import Flow
from worqr._protocol.flows.steps import batch, one
from worqr._protocol.models import make_process_id
from worqr._protocol.session import Session
from worqr.operations import reads
from worqr.operations.views import (
    ProcessInfo,
    QueueCounters,
    QueueInfo,
    QueuePeek,
    WorkerInfo,
    WorkerState,
    ms_time,
    optional_int,
    text,
)

_PER_QUEUE = 6


def queue_names(session: Session, names: Sequence[str] | None) -> Flow[list[str]]:
    """``names`` checked, or every queue of the registry (sorted)."""
    if names is not None:
        return [session.queue(name).queue for name in names]
    return (yield from one(ops.members(session.registry.queues)))


def inspect_queues(session: Session, names: Sequence[str] | None = None) -> Flow[list[QueueInfo]]:
    """These queues (all of the registry's by default), in the order given (else by name)."""
    chosen = yield from queue_names(session, names)
    keys = [session.queue(name) for name in chosen]
    first: list[ops.Call[Any]] = []
    for k in keys:
        first += [ops.count(k), ops.count_delayed(k), ops.count_dead(k), ops.members(k.workers)]
        first += [reads.counters(k), reads.paused(k)]
    replies = yield from batch(first)
    rows = [replies[i * _PER_QUEUE : (i + 1) * _PER_QUEUE] for i in range(len(keys))]
    flights = yield from batch([reads.in_flight(k, w) for k, row in zip(keys, rows, strict=True) for w in row[3]])
    infos, at = [], 0
    for k, (queued, delayed, dead, workers, counters, paused) in zip(keys, rows, strict=True):
        in_flight = sum(flights[at : at + len(workers)])
        at += len(workers)
        infos.append(
            QueueInfo(k.queue, queued, delayed, in_flight, dead, len(workers), paused, QueueCounters.parse(counters))
        )
    return infos


def inspect_workers(session: Session) -> Flow[list[WorkerInfo]]:
    """Every worker: the live ones, those being reaped and those declared dead in the last
    day (``alive`` False, with ``ended_at``), by id."""
    registry = session.registry
    live, reaping, ended = yield from batch(
        [ops.members(registry.workers), ops.members(registry.reaping), reads.ended(registry)]
    )
    ids = sorted({*live, *reaping, *ended})
    calls: list[ops.Call[Any]] = []
    for worker_id in ids:
        calls += [reads.worker_record(registry, worker_id), reads.heartbeat_ttl(registry, worker_id)]
        calls.append(ops.members(registry.queues_of(worker_id)))
    replies = yield from batch(calls)
    rows = [replies[i * 3 : (i + 1) * 3] for i in range(len(ids))]
    flights = yield from batch(
        [reads.in_flight(session.queue(q), w) for w, row in zip(ids, rows, strict=True) for q in row[2]]
    )
    infos, at = [], 0
    for worker_id, (record, ttl, queues) in zip(ids, rows, strict=True):
        in_flight = sum(flights[at : at + len(queues)])
        at += len(queues)
        alive = worker_id in live and ttl != -2  # noqa: PLR2004 (PTTL: no such key)
        state: WorkerState = "alive" if alive else "overdue" if worker_id in live else "ended"
        if worker_id in reaping:
            state = "reaping"
        timeout_ms = optional_int(record.get(b"timeout_ms"))
        age = None
        if alive and timeout_ms and ttl >= 0:
            age = max(0.0, (timeout_ms - ttl) / 1000)
        infos.append(
            WorkerInfo(
                id=worker_id,
                queues=tuple(queues),
                alive=alive,
                state=state,
                in_flight=in_flight,
                host=text(record.get(b"host")),
                pid=optional_int(record.get(b"pid")),
                version=text(record.get(b"version")),
                concurrency=optional_int(record.get(b"concurrency")),
                started_at=ms_time(record.get(b"started_at")),
                heartbeat_age=age,
                ended_at=ms_time(record.get(b"ended_at")),
                ended_by=text(record.get(b"ended_by")),
            )
        )
    return infos


def inspect_processes(
    session: Session, queue: str | None = None, worker_id: str | None = None
) -> Flow[list[ProcessInfo]]:
    """The processes in flight, of one queue or all, of one worker or all; by queue, then
    worker, then number."""
    chosen = yield from queue_names(session, None if queue is None else [queue])
    keys = [session.queue(name) for name in chosen]
    if worker_id is not None:
        workers = [[worker_id] for _ in keys]
    else:
        workers = yield from batch([ops.members(k.workers) for k in keys])
    pairs = [(k, w) for k, ws in zip(keys, workers, strict=True) for w in ws]
    held = yield from batch([ops.processes(k, w) for k, w in pairs])
    found = [
        (k, w, seq, task) for (k, w), procs in zip(pairs, held, strict=True) for seq, task in sorted(procs.items())
    ]
    by_queue: dict[str, list[bytes]] = {}
    for k, _, _, task in found:
        by_queue.setdefault(k.queue, []).append(task)
    counts = yield from batch([reads.attempts(session.queue(q), tasks) for q, tasks in by_queue.items()])
    attempts = {q: iter(c) for q, c in zip(by_queue, counts, strict=True)}
    return [
        ProcessInfo(make_process_id(seq, k.queue), k.queue, w, task, next(attempts[k.queue]) + 1)
        for k, w, seq, task in found
    ]


#: The most tasks `peek` reads of each kind.
MAX_PEEK = 1000


def peek(session: Session, queue: str, limit: int) -> Flow[QueuePeek]:
    """The first ``limit`` waiting and delayed tasks of ``queue``: one round trip."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PEEK:
        msg = f"limit must be an int from 1 to {MAX_PEEK}, got {limit!r}"
        raise errors.InvalidArgumentError(msg)
    keys = session.queue(queue)
    waiting, delayed = yield from batch([reads.waiting(keys, limit), reads.delayed(keys, limit)])
    due = [(task, datetime.fromtimestamp(ms / 1000, tz=timezone.utc)) for task, ms in delayed]
    return QueuePeek(waiting, due)


def pause(session: Session, queue: str) -> Flow[bool]:
    """Pause ``queue``: it takes tasks and hands none out. True if it was paused already."""
    return (yield from one(reads.pause(session.queue(queue))))


def resume(session: Session, queue: str) -> Flow[bool]:
    """Resume ``queue``, waking its idle workers. True if it was paused."""
    return (yield from one(reads.resume(session.queue(queue))))
