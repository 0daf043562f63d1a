"""The flows of queues and their tasks: enqueue (now or later), reads, cancel, delete, and
the dead letters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MappingView, Set
from datetime import datetime
from typing import TypeVar, cast

from worqr._protocol import ops, registry_ops
from worqr._protocol.checks import check_dead_letter_ids, check_flag, check_matchable, due_time_ms
from worqr._protocol.codec import Codec, accepts_batches
from worqr._protocol.flows.drive import Flow
from worqr._protocol.flows.steps import check_listed, one
from worqr._protocol.models import DeadLetter, server_time
from worqr._protocol.session import Session
from worqr.errors import CodecError, InvalidTaskTypeError, PayloadTooLargeError, WorqrError

T = TypeVar("T")


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


def as_batch(codec: Codec[T], task_or_tasks: object, *, many: bool = False) -> list[T]:
    """The tasks of one ``enqueue`` argument: a batch if ``many`` or if the codec takes
    iterables as batches (text and bytes codecs, where a str or bytes is one task).

    A batch keeps its order, so it must be an ordered sequence: a mapping (its keys), a set
    or a dict view (in arbitrary order) is refused, before anything is written."""
    if many or (
        accepts_batches(codec)
        and isinstance(task_or_tasks, Iterable)
        and not isinstance(task_or_tasks, str | bytes | bytearray | memoryview)
    ):
        if not isinstance(task_or_tasks, Iterable):
            msg = f"expected an iterable of tasks, got {type(task_or_tasks).__name__}"
            raise InvalidTaskTypeError(msg)
        if isinstance(task_or_tasks, Mapping | Set | MappingView):
            if isinstance(task_or_tasks, Mapping):
                why = "a mapping is not a batch (iterating it gives only its keys)"
            elif isinstance(task_or_tasks, MappingView):
                why = "a dict view is not a batch"
            else:
                why = "a set's order is arbitrary, and a batch is enqueued in its order"
            msg = (
                "a batch of tasks must be an ordered sequence (a list, a tuple, a generator...), "
                f"got a {type(task_or_tasks).__name__}: {why}; pass a list of the tasks in the order you want"
            )
            raise InvalidTaskTypeError(msg)
        return list(cast("Iterable[T]", task_or_tasks))
    return [cast("T", task_or_tasks)]


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
    if check_flag("unique", unique):
        check_matchable(codec, "enqueue(..., unique=True)")
    due = due_time_ms(delay, at)
    payloads = encode_tasks(session, codec, tasks)
    if not payloads:
        return 0
    if due is None:
        # One round trip; the script says when the queue must be listed (see lua/enqueue.lua).
        enqueued = yield from one(ops.enqueue(keys, payloads, unique=unique))
        if enqueued.unlisted:
            try:
                (listed,) = yield [registry_ops.add_queue(session.registry, keys.queue)]
            except WorqrError as exc:  # the tasks are in: report them, never invite a retry
                listed = exc
            check_listed(listed, keys.queue)
        return enqueued.count
    call = ops.schedule(keys, payloads, unique=unique, at_ms=due[0], in_ms=due[1])
    listed, count = yield [registry_ops.add_queue(session.registry, keys.queue), call]
    check_listed(listed, keys.queue)
    return cast("int", count)


def count_delayed(session: Session, queue: str) -> Flow[int]:
    return (yield from one(ops.count_delayed(session.queue(queue))))


def count_queue(session: Session, queue: str) -> Flow[int]:
    return (yield from one(ops.count(session.queue(queue))))


def peek_queue(session: Session, queue: str, codec: Codec[T]) -> Flow[T | None]:
    payload = yield from one(ops.peek(session.queue(queue)))
    return None if payload is None else codec.decode(payload)


def get_tasks(session: Session, queue: str, codec: Codec[T]) -> Flow[list[T]]:
    payloads = yield from one(ops.tasks(session.queue(queue)))
    return [codec.decode(p) for p in payloads]


def get_queues(session: Session) -> Flow[list[str]]:
    return (yield from one(registry_ops.members(session.registry.queues)))


def delete_queue(session: Session, queue: str) -> Flow[int]:
    keys = session.queue(queue)
    # Unlist first: an enqueue racing the delete either lands before the script (and is
    # dropped with the rest) or after it, and then lists the queue again (lua/enqueue.lua).
    yield [registry_ops.remove_queue(session.registry, keys.queue)]
    return (yield from one(ops.delete_queue(keys)))


def cancel_tasks(session: Session, queue: str, codec: Codec[T], task: T) -> Flow[int]:
    keys = session.queue(queue)
    check_matchable(codec, "cancel_tasks (Queue.cancel)")
    (payload,) = encode_tasks(session, codec, [task])
    return (yield from one(ops.cancel(keys, payload)))


# Dead letters ------------------------------------------------------------------------------


def _dead_letter(queue: str, codec: Codec[T], entry: ops.DeadEntry) -> DeadLetter[T]:
    """One dead letter, decoded; one whose payload does not decode comes back with its
    ``decode_error`` (reading its ``task`` raises it) instead of failing the whole list."""
    failed_at = server_time(entry.failed_at_ms)
    fields = (entry.error_type, entry.error, entry.attempts, failed_at, entry.worker_id)
    try:
        task = codec.decode(entry.payload)
    except CodecError as exc:
        msg = f"dead letter {entry.id} of queue {queue!r} does not decode: {exc}"
        error = CodecError(msg, payload=entry.payload)
        error.__cause__ = exc
        return DeadLetter(entry.id, queue, cast("T", None), *fields, payload=entry.payload, decode_error=error)
    return DeadLetter(entry.id, queue, task, *fields, payload=entry.payload)


def get_dead_letters(session: Session, queue: str, codec: Codec[T]) -> Flow[list[DeadLetter[T]]]:
    keys = session.queue(queue)
    entries = yield from one(ops.dead_letters(keys))
    return [_dead_letter(keys.queue, codec, e) for e in entries]


def count_dead_letters(session: Session, queue: str) -> Flow[int]:
    return (yield from one(ops.count_dead(session.queue(queue))))


def requeue_dead_letters(session: Session, queue: str, ids: object) -> Flow[int]:
    keys = session.queue(queue)
    chosen = check_dead_letter_ids(ids)
    listed, count = yield [registry_ops.add_queue(session.registry, keys.queue), ops.requeue_dead(keys, chosen)]
    check_listed(listed, keys.queue)
    return cast("int", count)


def purge_dead_letters(session: Session, queue: str, ids: object) -> Flow[int]:
    keys = session.queue(queue)
    return (yield from one(ops.purge_dead(keys, check_dead_letter_ids(ids))))
