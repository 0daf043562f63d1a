"""Every public operation, written once as a generator of `Call` batches.

A flow yields a list of calls (sent in one round trip) and receives their parsed results;
its return value is the operation's result. `drive` and `adrive` run a flow on a sync or
async runner, so `Worqr` and `AsyncWorqr` share every decision made here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from worqr import _ops as ops
from worqr._codec import Codec, accepts_batches
from worqr._keys import check_worker_id
from worqr._models import Process, make_process_id, parse_process_id
from worqr._ops import Call
from worqr._session import Session
from worqr.errors import (
    CodecError,
    InvalidArgumentError,
    InvalidTaskTypeError,
    PayloadTooLargeError,
    WorkerIdInUseError,
    WorkerLostError,
)

T = TypeVar("T")
R = TypeVar("R")

@dataclass(frozen=True, slots=True)
class Pause:
    """Yielded by a flow that must wait (for another worker's heartbeat to expire)."""

    seconds: float


#: A flow: yields batches of calls (or a Pause), receives their results, returns R.
Flow = Generator[list[Call[Any]] | Pause, list[Any], R]

log = logging.getLogger("worqr")


def drive(flow: Flow[R], run: Callable[[Sequence[Call[Any]]], list[Any]]) -> R:
    """Run ``flow`` to completion, sending each batch with ``run``."""
    try:
        batch = next(flow)
        while True:
            if isinstance(batch, Pause):
                time.sleep(batch.seconds)
                batch = flow.send([])
                continue
            try:
                results = run(batch)
            except Exception as exc:  # noqa: BLE001 (the flow decides; re-raised if it doesn't catch)
                batch = flow.throw(exc)
            else:
                batch = flow.send(results)
    except StopIteration as stop:
        return cast("R", stop.value)


async def adrive(flow: Flow[R], run: Callable[[Sequence[Call[Any]]], Awaitable[list[Any]]]) -> R:
    """Run ``flow`` to completion, sending each batch with the coroutine ``run``."""
    try:
        batch = next(flow)
        while True:
            if isinstance(batch, Pause):
                await asyncio.sleep(batch.seconds)
                batch = flow.send([])
                continue
            try:
                results = await run(batch)
            except Exception as exc:  # noqa: BLE001 (see drive)
                batch = flow.throw(exc)
            else:
                batch = flow.send(results)
    except StopIteration as stop:
        return cast("R", stop.value)


def _one(call: Call[T]) -> Flow[T]:
    (result,) = yield [call]
    return cast("T", result)


def _run(calls: list[Call[Any]]) -> Flow[list[Any]]:
    """Send ``calls`` in one round trip (nothing if empty); return their results."""
    if not calls:
        return []
    return (yield calls)


def encode_tasks(session: Session, codec: Codec[T], tasks: Iterable[T]) -> list[bytes]:
    """Encode and check every task before anything is written."""
    payloads = []
    for task in tasks:
        payload = codec.encode(task)
        if not payload:
            msg = "a task must not be empty: an empty payload carries nothing for a worker to do"
            raise InvalidTaskTypeError(msg)
        if len(payload) > session.max_payload_size:
            msg = (
                f"task of {len(payload)} bytes is over the limit of {session.max_payload_size} bytes "
                "(max_payload_size); store large data elsewhere and enqueue a reference to it"
            )
            raise PayloadTooLargeError(msg)
        payloads.append(payload)
    return payloads


# Queues ------------------------------------------------------------------------------------


def as_batch(codec: Codec[T], task_or_tasks: object, *, many: bool = False) -> list[T]:
    """The tasks of one ``enqueue`` argument: a batch if ``many`` or if the codec takes
    iterables as batches (text and bytes codecs, where a str or bytes is one task)."""
    if many or (
        accepts_batches(codec)
        and isinstance(task_or_tasks, Iterable)
        and not isinstance(task_or_tasks, str | bytes | bytearray | memoryview)
    ):
        if not isinstance(task_or_tasks, Iterable):
            msg = f"expected an iterable of tasks, got {type(task_or_tasks).__name__}"
            raise InvalidTaskTypeError(msg)
        return list(cast("Iterable[T]", task_or_tasks))
    return [cast("T", task_or_tasks)]


def enqueue(session: Session, queue: str, codec: Codec[T], tasks: list[T], *, unique: bool) -> Flow[int]:
    keys = session.queue(queue)
    flag: object = unique  # checked at run time: callers are not always type-checked
    if not isinstance(flag, bool):
        msg = f"unique must be True or False, got {unique!r}"
        raise InvalidArgumentError(msg)
    payloads = encode_tasks(session, codec, tasks)
    if not payloads:
        return 0
    _, count = yield [ops.add_queue(session.registry, keys.queue), ops.enqueue(keys, payloads, unique=unique)]
    return cast("int", count)


def count_queue(session: Session, queue: str) -> Flow[int]:
    return (yield from _one(ops.count(session.queue(queue))))


def peek_queue(session: Session, queue: str, codec: Codec[T]) -> Flow[T | None]:
    payload = yield from _one(ops.peek(session.queue(queue)))
    return None if payload is None else codec.decode(payload)


def get_tasks(session: Session, queue: str, codec: Codec[T]) -> Flow[list[T]]:
    payloads = yield from _one(ops.tasks(session.queue(queue)))
    return [codec.decode(p) for p in payloads]


def get_queues(session: Session) -> Flow[list[str]]:
    return (yield from _one(ops.members(session.registry.queues)))


def delete_queue(session: Session, queue: str) -> Flow[int]:
    keys = session.queue(queue)
    removed = yield from _one(ops.delete_queue(keys))
    yield [ops.remove_queue(session.registry, keys.queue)]
    return removed


def cancel_tasks(session: Session, queue: str, codec: Codec[T], task: T) -> Flow[int]:
    keys = session.queue(queue)
    (payload,) = encode_tasks(session, codec, [task])
    return (yield from _one(ops.cancel(keys, payload)))


# Processes ---------------------------------------------------------------------------------


def dequeue(session: Session, queue: str, codec: Codec[T]) -> Flow[Process[T] | None]:
    keys = session.queue(queue)
    worker_id = session.worker_id
    session.state.check_can_dequeue(keys.queue, worker_id)
    try:
        taken = yield from _one(ops.dequeue(keys, worker_id, 1))
    except WorkerLostError:
        session.state.mark_lost()
        raise
    if not taken:
        return None
    seq, payload = taken[0]
    process_id = make_process_id(seq, keys.queue)
    try:
        task = codec.decode(payload)
    except CodecError as exc:
        msg = f"{exc}; the task is in process {process_id!r}: finish or stop it"
        raise CodecError(msg, payload=payload, process_id=process_id) from exc
    return Process(process_id, keys.queue, task, worker_id)


def _result_json(result: object) -> str:
    try:
        return json.dumps(result, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"result {result!r:.80} cannot be encoded as JSON ({exc}); return plain JSON values"
        raise InvalidTaskTypeError(msg) from exc


def finish_process(session: Session, process_id: str, result: object) -> Flow[None]:
    seq, queue = parse_process_id(process_id)
    keys = session.queue(queue)
    yield [ops.finish(keys, session.worker_id, seq, _result_json(result), process_id)]


def stop_process(session: Session, process_id: str) -> Flow[None]:
    seq, queue = parse_process_id(process_id)
    keys = session.queue(queue)
    yield [ops.add_queue(session.registry, keys.queue), ops.stop(keys, session.worker_id, seq, process_id)]


def get_matching_processes(session: Session, codec: Codec[T], task: T) -> Flow[list[str]]:
    (payload,) = encode_tasks(session, codec, [task])
    registry = session.registry
    live, reaping = yield [ops.members(registry.workers), ops.members(registry.reaping)]
    workers = sorted({*live, *reaping})  # a worker being reaped still holds its processes
    queue_lists = yield from _run([ops.members(registry.queues_of(w)) for w in workers])
    pairs = [(w, q) for w, queues in zip(workers, queue_lists, strict=True) for q in queues]
    tables = yield from _run([ops.processes(session.queue(q), w) for w, q in pairs])
    return sorted(
        make_process_id(seq, q)
        for (_, q), table in zip(pairs, tables, strict=True)
        for seq, task in table.items()
        if task == payload
    )


# Workers -----------------------------------------------------------------------------------


def start_worker(session: Session) -> Flow[None]:
    registry, worker_id = session.registry, session.worker_id
    with session.state.lock:
        if session.state.started and not session.state.lost:
            return
    # The id may still be registered by an earlier incarnation (a process restarted under a
    # fixed id). If its heartbeat has a lease left it may be alive: wait the lease out once;
    # a worker that renewed it meanwhile is alive and keeps its id. Otherwise reap it first.
    waited = False
    for _ in range(3):
        lease_ms = yield from _one(ops.register_worker(registry, worker_id, session.timeout_ms))
        if lease_ms is None:
            break
        if lease_ms > 0 and waited:
            msg = f"worker id {worker_id!r} belongs to a live worker (it renews its heartbeat); choose another worker_id"
            raise WorkerIdInUseError(msg)
        if lease_ms > 0:
            waited = True
            yield Pause(lease_ms / 1000 + 0.05)
            continue
        log.info("worker %s was still registered; requeuing its old processes first", worker_id)
        yield from reap(session, [worker_id], force=True)
    else:
        msg = f"worker id {worker_id!r} keeps being registered by another client; choose another worker_id"
        raise WorkerIdInUseError(msg)
    with session.state.lock:
        session.state.started, session.state.lost = True, False
        session.state.working.clear()
    log.info("worker %s started", worker_id)


def start_work(session: Session, queue: str) -> Flow[int]:
    """Join ``queue``; returns how many tasks are waiting there."""
    keys = session.queue(queue)
    session.state.check_started(keys.queue, session.worker_id)
    # Queue first, registry second: a worker declared dead in between finds add_worker_queue
    # refused and leaves again, so the reaper never misses a queue it could hold processes on.
    pending = yield from _one(ops.join_queue(keys, session.worker_id))
    alive = yield from _one(ops.add_worker_queue(session.registry, session.worker_id, keys.queue))
    if not alive:
        yield [ops.leave_queue(keys, session.worker_id)]
        session.state.mark_lost()
        msg = f"worker {session.worker_id!r} was declared dead; call start_worker() again"
        raise WorkerLostError(msg)
    with session.state.lock:
        session.state.working.add(keys.queue)
    return pending


def stop_work(session: Session, queue: str) -> Flow[int]:
    """Leave ``queue``, requeuing this worker's processes there; returns how many."""
    keys = session.queue(queue)
    with session.state.lock:
        session.state.working.discard(keys.queue)
    requeued = yield from _one(ops.leave_queue(keys, session.worker_id))
    if requeued:
        yield [ops.add_queue(session.registry, keys.queue)]
    yield [ops.remove_worker_queue(session.registry, session.worker_id, keys.queue)]
    return requeued


def get_workers(session: Session) -> Flow[list[str]]:
    return (yield from _one(ops.members(session.registry.workers)))


def get_working_queues(session: Session, worker_id: str | None) -> Flow[list[str]]:
    target = session.worker_id if worker_id is None else check_worker_id(worker_id)
    return (yield from _one(ops.members(session.registry.queues_of(target))))


def reap(session: Session, candidates: Sequence[str], *, force: bool) -> Flow[list[str]]:
    """Declare dead the candidates whose heartbeat is gone (all of them if ``force``),
    requeue the processes of every worker being reaped, and return the ids this call forgot.

    Safe to run concurrently and to resume after a crash: every step is idempotent, and a
    worker stays in the reaping set until all its queues were released.
    """
    registry = session.registry
    reaping = yield from _one(ops.declare_dead(registry, candidates, force=force))
    targets = [w for w in reaping if w in candidates] if force else reaping
    forgotten = []
    for worker_id in targets:
        queues = yield from _one(ops.members(registry.queues_of(worker_id)))
        requeued = yield from _run([ops.leave_queue(session.queue(q), worker_id) for q in queues])
        yield from _run([ops.add_queue(registry, q) for q, n in zip(queues, requeued, strict=True) if n])
        if (yield from _one(ops.forget_worker(registry, worker_id))):
            forgotten.append(worker_id)
            level = logging.INFO if worker_id == session.worker_id else logging.WARNING
            log.log(level, "reaped worker %s: requeued %d task(s) on %s", worker_id, sum(requeued), queues)
    if session.worker_id in targets:
        session.state.mark_lost()
    return forgotten


def cleanup_workers(session: Session) -> Flow[list[str]]:
    workers = yield from _one(ops.members(session.registry.workers))
    return (yield from reap(session, workers, force=False))


def fail_worker(session: Session, worker_id: str | None) -> Flow[None]:


    target = session.worker_id if worker_id is None else check_worker_id(worker_id)
    yield from reap(session, [target], force=True)


def heartbeat(session: Session) -> Flow[bool]:
    """Renew this worker's heartbeat; if it is gone, requeue own processes and return False."""
    alive = yield from _one(ops.heartbeat(session.registry, session.worker_id, session.timeout_ms))
    if not alive:
        log.error("worker %s lost its heartbeat key: it was declared dead and stops taking work", session.worker_id)
        yield from reap(session, [session.worker_id], force=True)
        session.state.mark_lost()
    return alive


def pending_counts(session: Session, queues: Sequence[str]) -> Flow[dict[str, int]]:
    """How many tasks wait on each queue (the polling fallback for missed work events)."""
    counts = yield from _run([ops.count(session.queue(q)) for q in queues])
    return dict(zip(queues, counts, strict=True))
