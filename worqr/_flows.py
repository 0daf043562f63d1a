"""Every public operation, written once as a generator of `Call` batches.

A flow yields a list of calls (sent in one round trip) and receives their parsed results;
its return value is the operation's result. `drive` and `adrive` run a flow on a sync or
async runner, so `Worqr` and `AsyncWorqr` share every decision made here.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

from worqr import _ops as ops
from worqr._codec import Codec, accepts_batches
from worqr._keys import check_worker_id
from worqr._models import DeadLetter, Failure, Process, make_process_id, parse_process_id
from worqr._ops import Call
from worqr._session import Session
from worqr.errors import (
    CodecError,
    InvalidArgumentError,
    InvalidTaskTypeError,
    PayloadTooLargeError,
    RedisPermissionError,
    WorkerIdInUseError,
    WorkerLostError,
    WorqrError,
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


@dataclass(frozen=True, slots=True)
class _Raised:
    """A call's parser raised: the exception goes to the flow that yielded the call."""

    error: Exception


def _guarded(call: Call[Any]) -> Call[Any]:
    """``call``, made to hand its error back as its result instead of failing the batch."""
    parse = call.parse

    def guarded(reply: Any) -> Any:
        try:
            return parse(reply)
        except Exception as exc:  # noqa: BLE001 (handed to the flow that owns the call)
            return _Raised(exc)

    # Built directly: dataclasses.replace costs more than the rest of a round on the hot path.
    return Call(
        call.keys,
        call.args,
        guarded,
        call.idempotent,
        script=call.script,
        command=call.command,
        advisory=True,
        durable=call.durable,
    )


def _throw(flow: Flow[Any], *, error: Exception) -> list[Call[Any]] | Pause:
    return flow.throw(error)


def _send(flow: Flow[Any], *, results: list[Any]) -> list[Call[Any]] | Pause:
    return flow.send(results)


class _Together:
    """Steps several flows side by side; each round, the calls they all yielded go out in one
    round trip. A call's error reaches only the flow that yielded it. Pure: `drive_together`
    and `adrive_together` do the I/O."""

    def __init__(self, flows: Sequence[Flow[Any]]) -> None:
        self.flows = list(flows)
        self.outcomes: list[Any] = [None] * len(flows)
        self.waiting: dict[int, list[Call[Any]]] = {}
        self.paused: dict[int, float] = {}
        for i in range(len(flows)):
            self._advance(i, next)

    def _advance(self, i: int, step: Callable[[Flow[Any]], list[Call[Any]] | Pause]) -> None:
        try:
            batch = step(self.flows[i])
        except StopIteration as stop:
            self.outcomes[i] = stop.value
        except Exception as exc:  # noqa: BLE001 (the flow's outcome)
            self.outcomes[i] = exc
        else:
            if isinstance(batch, Pause):
                self.paused[i] = batch.seconds
            else:
                self.waiting[i] = batch

    def calls(self) -> list[Call[Any]]:
        return [_guarded(call) for batch in self.waiting.values() for call in batch]

    def deliver(self, results: list[Any]) -> None:
        waiting, self.waiting = self.waiting, {}
        at = 0
        for i, batch in waiting.items():
            mine = results[at : at + len(batch)]
            at += len(batch)
            error = next(
                (
                    r.error if isinstance(r, _Raised) else r
                    for r, c in zip(mine, batch, strict=True)
                    if isinstance(r, _Raised) or (isinstance(r, WorqrError) and not c.advisory)
                ),
                None,
            )
            if error is not None:
                self._advance(i, functools.partial(_throw, error=error))
            else:
                self._advance(i, functools.partial(_send, results=mine))

    def fail(self, error: Exception) -> None:
        """The whole round failed (Redis unreachable, say): every flow in it hears so."""
        waiting, self.waiting = self.waiting, {}
        for i in waiting:
            self._advance(i, functools.partial(_throw, error=error))

    def pause(self) -> float:
        """How long the paused flows wait; they are resumed by `resume`."""
        return max(self.paused.values(), default=0.0)

    def resume(self) -> None:
        paused, self.paused = self.paused, {}
        for i in paused:
            self._advance(i, functools.partial(_send, results=[]))


def drive_together(flows: Sequence[Flow[Any]], run: Callable[[Sequence[Call[Any]]], list[Any]]) -> list[Any]:
    """Run ``flows`` to completion side by side, their calls sent together (one round trip per
    round instead of one per flow). Returns each flow's result, or the exception it raised."""
    together = _Together(flows)
    while together.waiting or together.paused:
        if together.waiting:
            calls = together.calls()
            try:
                results = run(calls)
            except Exception as exc:  # noqa: BLE001 (each flow decides)
                together.fail(exc)
            else:
                together.deliver(results)
        else:
            time.sleep(together.pause())
            together.resume()
    return together.outcomes


async def adrive_together(
    flows: Sequence[Flow[Any]], run: Callable[[Sequence[Call[Any]]], Awaitable[list[Any]]]
) -> list[Any]:
    """`drive_together` on an async runner."""
    together = _Together(flows)
    while together.waiting or together.paused:
        if together.waiting:
            calls = together.calls()
            try:
                results = await run(calls)
            except Exception as exc:  # noqa: BLE001 (each flow decides)
                together.fail(exc)
            else:
                together.deliver(results)
        else:
            await asyncio.sleep(together.pause())
            together.resume()
    return together.outcomes


def _one(call: Call[T]) -> Flow[T]:
    (result,) = yield [call]
    return cast("T", result)


def _run(calls: list[Call[Any]]) -> Flow[list[Any]]:
    """Send ``calls`` in one round trip (nothing if empty); return their results."""
    if not calls:
        return []
    return (yield calls)


def _check_listed(result: object, queue: str) -> None:
    """The outcome of an advisory add_queue: the state change beside it happened either way,
    so a refusal (the registry key clobbered, say) is logged, not raised."""
    if isinstance(result, WorqrError):
        log.warning("queue %r has its tasks, but the queue registry refused to list it: %s", queue, result)


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


def check_flag(name: str, value: object) -> bool:
    """``value`` if it is a bool (callers are not always type-checked), else InvalidArgumentError."""
    if not isinstance(value, bool):
        msg = f"{name} must be True or False, got {value!r}"
        raise InvalidArgumentError(msg)
    return value


def check_seconds(name: str, value: object, *, allow_none: bool = False) -> float | None:
    """``value`` as a non-negative, finite number of seconds (or None if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        msg = f"{name} must be a non-negative, finite number of seconds, got {value!r}"
        raise InvalidArgumentError(msg)
    return float(value)


def due_time_ms(delay: float | None, at: datetime | None) -> tuple[int | None, int] | None:
    """How a delayed enqueue names its due time: (at in ms since the epoch, or None; delay in
    ms), or None for an ordinary enqueue. Checked before anything is written."""
    seconds = check_seconds("delay", delay, allow_none=True)
    if at is None:
        return None if seconds is None else (None, round(seconds * 1000))
    if seconds is not None:
        msg = "pass delay= or at=, not both"
        raise InvalidArgumentError(msg)
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        msg = (
            f"at must be a timezone-aware datetime (like datetime.now(timezone.utc) + timedelta(minutes=5)), got {at!r}"
        )
        raise InvalidArgumentError(msg)
    return round(at.timestamp() * 1000), 0


def enqueue(
    session: Session,
    queue: str,
    codec: Codec[T],
    tasks: list[T],
    *,
    unique: bool,
    delay: float | None = None,
    at: datetime | None = None,
) -> Flow[int]:
    keys = session.queue(queue)
    check_flag("unique", unique)
    due = due_time_ms(delay, at)
    payloads = encode_tasks(session, codec, tasks)
    if not payloads:
        return 0
    if due is None:
        # One round trip; the script says when the queue must be listed (see lua/enqueue.lua).
        enqueued = yield from _one(ops.enqueue(keys, payloads, unique=unique))
        if enqueued.unlisted:
            try:
                (listed,) = yield [ops.add_queue(session.registry, keys.queue)]
            except WorqrError as exc:  # the tasks are in: report them, never invite a retry
                listed = exc
            _check_listed(listed, keys.queue)
        return enqueued.count
    call = ops.schedule(keys, payloads, unique=unique, at_ms=due[0], in_ms=due[1])
    listed, count = yield [ops.add_queue(session.registry, keys.queue), call]
    _check_listed(listed, keys.queue)
    return cast("int", count)


def count_delayed(session: Session, queue: str) -> Flow[int]:
    return (yield from _one(ops.count_delayed(session.queue(queue))))


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
    # Unlist first: an enqueue racing the delete either lands before the script (and is
    # dropped with the rest) or after it, and then lists the queue again (lua/enqueue.lua).
    yield [ops.remove_queue(session.registry, keys.queue)]
    return (yield from _one(ops.delete_queue(keys)))


def cancel_tasks(session: Session, queue: str, codec: Codec[T], task: T) -> Flow[int]:
    keys = session.queue(queue)
    (payload,) = encode_tasks(session, codec, [task])
    return (yield from _one(ops.cancel(keys, payload)))


# Processes ---------------------------------------------------------------------------------


#: Most tasks one dequeue call takes.
MAX_TAKE = 1000


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A task taken into a process whose payload the queue's codec could not decode."""

    process_id: str
    payload: bytes
    error: CodecError


@dataclass(frozen=True, slots=True)
class Batch:
    """What `take` got: decoded processes with their payloads (in queue order), undecodable
    ones, and the seconds until the queue's next delayed task is due (None: none delayed)."""

    processes: list[tuple[Process[Any], bytes]]
    undecodable: list[Undecodable]
    next_due: float | None


def take(session: Session, queue: str, codec: Codec[T], count: int) -> Flow[Batch]:
    """Move up to ``count`` tasks of ``queue`` into new processes of this worker."""
    keys = session.queue(queue)
    worker_id = session.worker_id
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_TAKE:
        msg = f"count must be an int from 1 to {MAX_TAKE}, got {count!r}"
        raise InvalidArgumentError(msg)
    session.state.check_can_dequeue(keys.queue, worker_id)
    try:
        taken = yield from _one(ops.dequeue(keys, worker_id, count))
    except WorkerLostError:
        session.state.mark_lost()
        raise
    processes: list[tuple[Process[Any], bytes]] = []
    undecodable = []
    for seq, payload, attempts in taken.tasks:
        process_id = make_process_id(seq, keys.queue)
        try:
            process = Process(process_id, keys.queue, codec.decode(payload), worker_id, attempts + 1)
            processes.append((process, payload))
        except CodecError as exc:
            msg = f"{exc}; the task is in process {process_id!r}: finish, stop or fail it"
            error = CodecError(msg, payload=payload, process_id=process_id)
            error.__cause__ = exc
            undecodable.append(Undecodable(process_id, payload, error))
    next_due = None if taken.next_due_ms is None else taken.next_due_ms / 1000
    return Batch(processes, undecodable, next_due)


def dequeue(session: Session, queue: str, codec: Codec[T]) -> Flow[Process[T] | None]:
    batch = yield from take(session, queue, codec, 1)
    if batch.undecodable:
        raise batch.undecodable[0].error
    return batch.processes[0][0] if batch.processes else None


def result_json(result: object) -> str:
    try:
        return json.dumps(result, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"result {result!r:.80} cannot be encoded as JSON ({exc}); return plain JSON values"
        raise InvalidTaskTypeError(msg) from exc


def finish_process(session: Session, process_id: str, result: object) -> Flow[None]:
    seq, queue = parse_process_id(process_id)
    keys = session.queue(queue)
    yield [ops.finish(keys, session.worker_id, seq, result_json(result), process_id)]


def finish_processes(session: Session, results: Sequence[tuple[str, str]]) -> Flow[list[bool]]:
    """Finish several of this worker's processes, each with its result already JSON: one
    call per queue, all in one round trip. Returns, per process in order, whether it was
    finished (False: it no longer belonged to this worker)."""
    by_queue: dict[str, list[tuple[int, int, str]]] = {}
    for i, (process_id, result_json) in enumerate(results):
        seq, queue = parse_process_id(process_id)
        by_queue.setdefault(queue, []).append((i, seq, result_json))
    calls = [
        ops.finish_many(session.queue(queue), session.worker_id, [(seq, result) for _, seq, result in group])
        for queue, group in by_queue.items()
    ]
    replies = yield from _run(calls)
    finished = [False] * len(results)
    for group, statuses in zip(by_queue.values(), replies, strict=True):
        for (i, _, _), status in zip(group, statuses, strict=True):
            finished[i] = status
    return finished


def error_fields(error: object) -> tuple[str, str]:
    """The type name and message kept with a failure: an exception's, or ("Error", text).
    Lone surrogates (a file name decoded with surrogateescape, say) become backslash escapes:
    UTF-8 cannot carry them, and any exception's message must be storable."""
    if isinstance(error, BaseException):
        return type(error).__qualname__, str(error).encode("utf-8", "backslashreplace").decode()
    if isinstance(error, str):
        return "Error", error.encode("utf-8", "backslashreplace").decode()
    msg = f"error must be an exception or a str, got {type(error).__name__}"
    raise InvalidArgumentError(msg)


def check_max_attempts(max_attempts: object) -> int:
    """``max_attempts`` for the scripts: a positive int, or 0 for None (never dead-letter)."""
    if max_attempts is None:
        return 0
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        msg = f"max_attempts must be a positive int or None (retry forever), got {max_attempts!r}"
        raise InvalidArgumentError(msg)
    return max_attempts


def fail_process(
    session: Session,
    process_id: str,
    error: object,
    *,
    max_attempts: int | None,
    retry_delay: float,
    counted: bool = True,
) -> Flow[Failure]:
    seq, queue = parse_process_id(process_id)
    keys = session.queue(queue)
    error_type, message = error_fields(error)
    limit = check_max_attempts(max_attempts)
    delay = cast("float", check_seconds("retry_delay", retry_delay))
    call = ops.fail(
        keys,
        session.worker_id,
        seq,
        process_id,
        max_attempts=limit,
        retry_in_ms=round(delay * 1000),
        counted=counted,
        error_type=error_type.replace("\n", " "),
        message=message,
    )
    # The queue is listed again (a retry puts the task back, even on a deleted queue).
    listed, failure = yield [ops.add_queue(session.registry, keys.queue), call]
    _check_listed(listed, keys.queue)
    return cast("Failure", failure)


def _dead_letter(queue: str, codec: Codec[T], entry: ops.DeadEntry) -> DeadLetter[T]:
    failed_at = datetime.fromtimestamp(entry.failed_at_ms / 1000, tz=timezone.utc)
    task = codec.decode(entry.payload)
    return DeadLetter(entry.id, queue, task, entry.error_type, entry.error, entry.attempts, failed_at, entry.worker_id)


def get_dead_letters(session: Session, queue: str, codec: Codec[T]) -> Flow[list[DeadLetter[T]]]:
    keys = session.queue(queue)
    entries = yield from _one(ops.dead_letters(keys))
    return [_dead_letter(keys.queue, codec, e) for e in entries]


def count_dead_letters(session: Session, queue: str) -> Flow[int]:
    return (yield from _one(ops.count_dead(session.queue(queue))))


def _dead_letter_ids(ids: object) -> list[str]:
    if ids is None:
        return []
    items = [ids] if isinstance(ids, str) else ids
    if not isinstance(items, Iterable):
        msg = f"ids must be a dead letter id (str), an iterable of them, or None for all, got {ids!r}"
        raise InvalidArgumentError(msg)
    checked = []
    for item in items:
        if not isinstance(item, str) or not (item.isascii() and item.isdigit()):
            msg = f"{item!r} is not a dead letter id; pass the id of a DeadLetter (like '17')"
            raise InvalidArgumentError(msg)
        checked.append(item)
    if not checked:
        msg = "ids is empty: pass None to mean every dead letter"
        raise InvalidArgumentError(msg)
    return checked


def requeue_dead_letters(session: Session, queue: str, ids: object) -> Flow[int]:
    keys = session.queue(queue)
    chosen = _dead_letter_ids(ids)
    listed, count = yield [ops.add_queue(session.registry, keys.queue), ops.requeue_dead(keys, chosen)]
    _check_listed(listed, keys.queue)
    return cast("int", count)


def purge_dead_letters(session: Session, queue: str, ids: object) -> Flow[int]:
    keys = session.queue(queue)
    return (yield from _one(ops.purge_dead(keys, _dead_letter_ids(ids))))


def stop_process(session: Session, process_id: str) -> Flow[None]:
    seq, queue = parse_process_id(process_id)
    keys = session.queue(queue)
    listed, _ = yield [ops.add_queue(session.registry, keys.queue), ops.stop(keys, session.worker_id, seq, process_id)]
    _check_listed(listed, keys.queue)


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
            msg = (
                f"worker id {worker_id!r} belongs to a live worker (it renews its heartbeat); choose another worker_id"
            )
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
    yield from warn_if_keys_can_be_evicted()


def warn_if_keys_can_be_evicted() -> Flow[None]:
    """Log a warning when the server's eviction policy can drop worqr's keys at maxmemory."""
    try:
        policy = yield from _one(ops.eviction_policy())
    except RedisPermissionError:
        log.info("cannot read Redis's maxmemory-policy (INFO is not granted); it should be noeviction")
        return
    if policy is not None and policy.startswith("allkeys-"):
        log.warning(
            "Redis's maxmemory-policy is %s: at maxmemory Redis may evict worqr's queues and lose their tasks; "
            "set it to noeviction, or give worqr a Redis of its own",
            policy,
        )
    elif policy is not None and policy.startswith("volatile-"):
        log.warning(
            "Redis's maxmemory-policy is %s: at maxmemory Redis may evict worker heartbeat keys (they expire), "
            "and peers then reap live workers; set it to noeviction, or give worqr a Redis of its own",
            policy,
        )


def start_work(session: Session, queue: str) -> Flow[int]:
    """Join ``queue``; returns how many tasks are waiting there."""
    keys = session.queue(queue)
    session.state.check_started(keys.queue, session.worker_id)
    # Queue first, registry second: a worker declared dead in between finds add_worker_queue
    # refused and leaves again, so the reaper never misses a queue it could hold processes on.
    pending = yield from _one(ops.join_queue(keys, session.worker_id))
    alive = yield from _one(ops.add_worker_queue(session.registry, session.worker_id, keys.queue))
    if not alive:
        requeued = yield from _one(ops.leave_queue(keys, session.worker_id, interrupted=False))
        if requeued:
            (listed,) = yield [ops.add_queue(session.registry, keys.queue)]
            _check_listed(listed, keys.queue)
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
    requeued = yield from _one(ops.leave_queue(keys, session.worker_id, interrupted=False))
    if requeued:
        (listed,) = yield [ops.add_queue(session.registry, keys.queue)]
        _check_listed(listed, keys.queue)
    yield [ops.remove_worker_queue(session.registry, session.worker_id, keys.queue)]
    return requeued


def get_workers(session: Session) -> Flow[list[str]]:
    return (yield from _one(ops.members(session.registry.workers)))


def get_working_queues(session: Session, worker_id: str | None) -> Flow[list[str]]:
    target = session.worker_id if worker_id is None else check_worker_id(worker_id)
    return (yield from _one(ops.members(session.registry.queues_of(target))))


#: Passes a reap makes over a worker's queues before leaving the rest to the next cleanup.
REAP_PASSES = 3


def reap(session: Session, candidates: Sequence[str], *, force: bool, interrupted: bool = True) -> Flow[list[str]]:
    """Declare dead the candidates whose heartbeat is gone (all of them if ``force``),
    requeue the processes of every worker being reaped, and return the ids this call forgot.
    ``interrupted`` (all but a clean close): each requeued task used an attempt.

    Safe to run concurrently and to resume after a crash: every step is idempotent, and a
    worker stays in the reaping set until all its queues were released.
    """
    registry = session.registry
    reaping = yield from _one(ops.declare_dead(registry, candidates, force=force))
    targets = [w for w in reaping if w in candidates] if force else reaping
    forgotten = []
    for worker_id in targets:
        released: list[str] = []
        total = 0
        for _ in range(REAP_PASSES):  # another pass only if queues were added meanwhile
            queues = yield from _one(ops.members(registry.queues_of(worker_id)))
            requeued = yield from _run(
                [ops.leave_queue(session.queue(q), worker_id, interrupted=interrupted) for q in queues]
            )
            refilled = [q for q, n in zip(queues, requeued, strict=True) if n]
            for queue, listed in zip(
                refilled, (yield from _run([ops.add_queue(registry, q) for q in refilled])), strict=True
            ):
                _check_listed(listed, queue)
            released += queues
            total += sum(requeued)
            done, left = yield from _one(ops.forget_worker(registry, worker_id, queues))
            if done:
                forgotten.append(worker_id)
                level = logging.INFO if worker_id == session.worker_id else logging.WARNING
                log.log(level, "reaped worker %s: requeued %d task(s) on %s", worker_id, total, released)
            if not left:
                break
    if session.worker_id in targets:
        session.state.mark_lost()
    return forgotten


def cleanup_workers(session: Session) -> Flow[list[str]]:
    workers = yield from _one(ops.members(session.registry.workers))
    return (yield from reap(session, workers, force=False))


def fail_worker(session: Session, worker_id: str | None) -> Flow[None]:
    """Reap a worker now. This worker's own (the default) is a clean leave: its tasks keep
    their attempts; another worker's counts as an interruption of its tasks."""
    target = session.worker_id if worker_id is None else check_worker_id(worker_id)
    yield from reap(session, [target], force=True, interrupted=target != session.worker_id)


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
