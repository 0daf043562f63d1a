"""The reads of `worqr.operations` as flows (see `worqr._protocol.flows`): which commands,
in how many round trips. A queue costs two round trips whatever its size (its counts, then
one HLEN per worker on it), a worker two (its record, heartbeat and queues, then one HLEN
per queue), and the lists of queues and workers one more."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from worqr import errors
from worqr._protocol import call, ops, registry_ops
from worqr._protocol.flows.drive import Flow
from worqr._protocol.flows.steps import batch, one
from worqr._protocol.models import make_process_id, server_time
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


def _partial(calls: list[call.Call[Any]]) -> list[call.Call[Any]]:
    """``calls`` as partial reads: on a Redis Cluster, a node that stays unreachable gives
    `call.Unreachable` results instead of failing the whole read."""
    return [replace(call, partial=True) for call in calls]


class _Missing:
    """The nodes a partial read could not reach, and the error that reports them."""

    def __init__(self) -> None:
        self.nodes: set[str] = set()

    def served(self, results: Sequence[Any]) -> bool:
        """Whether every result came back (else its nodes are noted)."""
        missing = {r.node for r in results if isinstance(r, call.Unreachable)}
        self.nodes |= missing
        return not missing

    def raise_if_any(self, what: str, value: object) -> None:
        if self.nodes:
            nodes = ", ".join(sorted(self.nodes))
            msg = f"could not reach {len(self.nodes)} node(s) of the cluster ({nodes}): {what} shows only the others"
            raise errors.PartialReadError(msg, value=value, unreachable=tuple(sorted(self.nodes)))


def queue_names(session: Session, names: Sequence[str] | None) -> Flow[list[str]]:
    """``names`` checked, or every queue of the registry (sorted)."""
    if names is not None:
        return [session.queue(name).queue for name in names]
    return (yield from one(registry_ops.members(session.registry.queues)))


def inspect_queues(session: Session, names: Sequence[str] | None = None) -> Flow[list[QueueInfo]]:
    """These queues (all of the registry's by default), in the order given (else by name)."""
    chosen = yield from queue_names(session, names)
    keys = [session.queue(name) for name in chosen]
    first: list[call.Call[Any]] = []
    for k in keys:
        first += [ops.count(k), ops.count_delayed(k), ops.count_dead(k), registry_ops.members(k.workers)]
        first += [reads.counters(k), reads.paused(k)]
    missing = _Missing()
    replies = yield from batch(_partial(first))
    rows = [replies[i * _PER_QUEUE : (i + 1) * _PER_QUEUE] for i in range(len(keys))]
    served = [(k, row) for k, row in zip(keys, rows, strict=True) if missing.served(row)]
    flights = yield from batch(_partial([reads.in_flight(k, w) for k, row in served for w in row[3]]))
    infos, at = [], 0
    for k, (queued, delayed, dead, workers, counters, paused) in served:
        mine = flights[at : at + len(workers)]
        at += len(workers)
        if missing.served(mine):
            info = QueueInfo(
                k.queue, queued, delayed, sum(mine), dead, len(workers), paused, QueueCounters.parse(counters)
            )
            infos.append(info)
    missing.raise_if_any("the list of queues", infos)
    return infos


def inspect_workers(session: Session) -> Flow[list[WorkerInfo]]:
    """Every worker: the live ones, those being reaped and those declared dead in the last
    day (``alive`` False, with ``ended_at``), by id."""
    registry = session.registry
    live, reaping, ended = yield from batch(
        [registry_ops.members(registry.workers), registry_ops.members(registry.reaping), reads.ended(registry)]
    )
    ids = sorted({*live, *reaping, *ended})
    calls: list[call.Call[Any]] = []
    for worker_id in ids:
        calls += [reads.worker_record(registry, worker_id), reads.heartbeat_ttl(registry, worker_id)]
        calls.append(registry_ops.members(registry.queues_of(worker_id)))
    replies = yield from batch(calls)
    rows = [replies[i * 3 : (i + 1) * 3] for i in range(len(ids))]
    missing = _Missing()
    flights = yield from batch(
        _partial([reads.in_flight(session.queue(q), w) for w, row in zip(ids, rows, strict=True) for q in row[2]])
    )
    infos, at = [], 0
    for worker_id, (record, ttl, joined) in zip(ids, rows, strict=True):
        queues = joined or _worked(record)  # an ended worker: the queues its reap released
        mine = flights[at : at + len(joined)]
        at += len(joined)
        missing.served(mine)
        in_flight = sum(n for n in mine if isinstance(n, int))
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
    missing.raise_if_any("in_flight of the workers (their tasks on the nodes reached)", infos)
    return infos


def inspect_processes(
    session: Session, queue: str | None = None, worker_id: str | None = None
) -> Flow[list[ProcessInfo]]:
    """The processes in flight, of one queue or all, of one worker or all; by queue, then
    worker, then number."""
    chosen = yield from queue_names(session, None if queue is None else [queue])
    keys = [session.queue(name) for name in chosen]
    missing = _Missing()
    if worker_id is not None:
        workers: list[Any] = [[worker_id] for _ in keys]
    else:
        workers = yield from batch(_partial([registry_ops.members(k.workers) for k in keys]))
    pairs = [(k, w) for k, ws in zip(keys, workers, strict=True) if missing.served([ws]) for w in ws]
    held = yield from batch(_partial([ops.processes(k, w) for k, w in pairs]))
    found = [
        (k, w, seq, task)
        for (k, w), procs in zip(pairs, held, strict=True)
        if missing.served([procs])
        for seq, task in sorted(procs.items())
    ]
    by_queue: dict[str, list[bytes]] = {}
    for k, _, _, task in found:
        by_queue.setdefault(k.queue, []).append(task)
    counts = yield from batch(_partial([reads.attempts(session.queue(q), tasks) for q, tasks in by_queue.items()]))
    attempts = {q: iter(c) for q, c in zip(by_queue, counts, strict=True) if missing.served([c])}
    infos = [
        ProcessInfo(make_process_id(seq, k.queue), k.queue, w, task, next(attempts[k.queue]) + 1)
        for k, w, seq, task in found
        if k.queue in attempts
    ]
    missing.raise_if_any("the list of processes", infos)
    return infos


#: The most tasks `peek` reads of each kind.
MAX_PEEK = 1000


def peek(session: Session, queue: str, limit: int) -> Flow[QueuePeek]:
    """The first ``limit`` waiting and delayed tasks of ``queue``: one round trip."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PEEK:
        msg = f"limit must be an int from 1 to {MAX_PEEK}, got {limit!r}"
        raise errors.InvalidArgumentError(msg)
    keys = session.queue(queue)
    waiting, delayed = yield from batch([reads.waiting(keys, limit), reads.delayed(keys, limit)])
    due = [(task, server_time(ms)) for task, ms in delayed]
    return QueuePeek(waiting, due)


def _worked(record: dict[bytes, bytes]) -> list[str]:
    """The queues an ended worker's record lists (see lua/forget_worker.lua)."""
    try:
        worked = json.loads(record.get(b"queues", b"[]"))
    except ValueError:
        return []
    return [q for q in worked if isinstance(q, str)] if isinstance(worked, list) else []


def pause(session: Session, queue: str) -> Flow[bool]:
    """Pause ``queue``: it takes tasks and hands none out. True if it was paused already."""
    return (yield from one(reads.pause(session.queue(queue))))


def resume(session: Session, queue: str) -> Flow[bool]:
    """Resume ``queue``, waking its idle workers. True if it was paused."""
    return (yield from one(reads.resume(session.queue(queue))))
