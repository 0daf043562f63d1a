"""The flows of processes: take tasks into processes, then finish, fail or stop them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from worqr._protocol import ops, registry_ops
from worqr._protocol.checks import check_matchable, check_max_attempts, check_seconds, check_take_count
from worqr._protocol.codec import Codec, json_refusal, shown
from worqr._protocol.events import Outcome
from worqr._protocol.flows.drive import Flow
from worqr._protocol.flows.steps import batch, check_listed, one
from worqr._protocol.flows.tasks import encode_tasks
from worqr._protocol.models import Failure, Process, make_process_id, parse_process_id
from worqr._protocol.session import Session
from worqr.errors import CodecError, InvalidArgumentError, InvalidTaskTypeError, WorkerLostError

T = TypeVar("T")


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
    check_take_count(count)
    session.state.check_can_dequeue(keys.queue, worker_id)
    try:
        taken = yield from one(ops.dequeue(keys, worker_id, count, session.state.incarnation))
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
    if result is None:  # what most handlers return: no encoder call per task
        return "null"
    try:
        return json.dumps(result, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"result {shown(result)} cannot be encoded as JSON ({json_refusal(exc)}); return plain JSON values"
        raise InvalidTaskTypeError(msg) from exc


def finish_process(session: Session, process_id: str, result: object, *, outcome: Outcome = "succeeded") -> Flow[None]:
    """Finish a process; its done event says how it ended (``outcome``)."""
    seq, queue = parse_process_id(process_id)
    keys = session.queue(queue)
    yield [ops.finish(keys, session.worker_id, seq, result_json(result), process_id, outcome=outcome)]


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
    replies = yield from batch(calls)
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
    listed, failure = yield [registry_ops.add_queue(session.registry, keys.queue), call]
    check_listed(listed, keys.queue)
    return cast("Failure", failure)


def stop_process(session: Session, process_id: str) -> Flow[None]:
    seq, queue = parse_process_id(process_id)
    keys = session.queue(queue)
    listed, _ = yield [
        registry_ops.add_queue(session.registry, keys.queue),
        ops.stop(keys, session.worker_id, seq, process_id),
    ]
    check_listed(listed, keys.queue)


def get_matching_processes(session: Session, codec: Codec[T], task: T) -> Flow[list[str]]:
    check_matchable(codec, "get_matching_processes")
    (payload,) = encode_tasks(session, codec, [task])
    registry = session.registry
    live, reaping = yield [registry_ops.members(registry.workers), registry_ops.members(registry.reaping)]
    workers = sorted({*live, *reaping})  # a worker being reaped still holds its processes
    queue_lists = yield from batch([registry_ops.members(registry.queues_of(w)) for w in workers])
    pairs = [(w, q) for w, queues in zip(workers, queue_lists, strict=True) for q in queues]
    tables = yield from batch([ops.processes(session.queue(q), w) for w, q in pairs])
    return sorted(
        make_process_id(seq, q)
        for (_, q), table in zip(pairs, tables, strict=True)
        for seq, task in table.items()
        if task == payload
    )
