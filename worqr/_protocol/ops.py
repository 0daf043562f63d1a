"""Each queue operation as data (a `Call`: which script or command, which keys, which
arguments, and how to read the reply); the registry's and the workers' are in
`worqr._protocol.registry_ops`. Pure: nothing here does I/O. The runners of `worqr._io`
execute calls.

Every factory's keys and arguments match the header of its ``lua/<script>.lua``
(``tests/test_scripts.py`` checks that).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from worqr import errors
from worqr._protocol.call import Arg, Call, expect_ok, read_call, script_call, second_of
from worqr._protocol.events import Outcome
from worqr._protocol.keys import QueueKeys
from worqr._protocol.models import Failure, reply_text

# Queue operations (slot {prefix:queue}) -------------------------------------------------


def _counted(keys: QueueKeys, payloads: Sequence[bytes]) -> Callable[[list[Any]], int]:
    """Parse an enqueue-like reply: the count, or DuplicateTaskError for a DUPLICATE status."""

    def parse(reply: list[Any]) -> int:
        if reply[0] == errors.STATUS_DUPLICATE:
            task = payloads[int(reply[1]) - 1]
            msg = f"task {task[:80]!r} is already queued, delayed or in process on queue {keys.queue!r} (unique=True); nothing was enqueued"
            raise errors.status_error(reply[0], msg, queue=keys.queue, task=task)
        return second_of(reply)

    return parse


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What an enqueue did: how many tasks it appended, and whether the caller must now list
    the queue in the registry (see ``lua/enqueue.lua``)."""

    count: int
    unlisted: bool


def enqueue(keys: QueueKeys, payloads: Sequence[bytes], *, unique: bool) -> Call[Enqueued]:
    counted = _counted(keys, payloads)

    def parse(reply: int | list[Any]) -> Enqueued:
        if isinstance(reply, int):  # appended: 2 * count + unlisted
            return Enqueued(reply >> 1, reply & 1 == 1)
        return Enqueued(counted(reply), False)  # only a DUPLICATE status is a list: it raises

    args = (keys.work_channel, "1" if unique else "0", *payloads)
    key_list = (keys.pending, keys.unique, keys.idle, keys.listed, keys.counters)
    return script_call("enqueue", key_list, args, parse, idempotent=False, durable=True)


def schedule(keys: QueueKeys, payloads: Sequence[bytes], *, unique: bool, at_ms: int | None, in_ms: int) -> Call[int]:
    """Delayed enqueue: due at ``at_ms`` (ms since the epoch) if given, else in ``in_ms``."""
    mode, ms = ("in", in_ms) if at_ms is None else ("at", at_ms)
    args = (keys.channel, "1" if unique else "0", mode, ms, *payloads)
    key_list = (keys.delayed, keys.unique, keys.seq, keys.counters)
    return script_call("schedule", key_list, args, _counted(keys, payloads), idempotent=False, durable=True)


@dataclass(frozen=True, slots=True)
class Taken:
    """What one dequeue took: (sequence number, payload, earlier attempts) per task, and the
    milliseconds until the queue's next delayed task is due (None: nothing is delayed)."""

    tasks: list[tuple[int, bytes, int]]
    next_due_ms: int | None


def dequeue(keys: QueueKeys, worker_id: str, count: int, incarnation: str) -> Call[Taken]:
    def parse(reply: list[Any]) -> Taken:
        if reply[0] == errors.STATUS_WORKER_LOST:
            msg = f"worker {worker_id!r} may no longer dequeue from queue {keys.queue!r}: peers declared it dead; call start_worker() again"
            raise errors.status_error(reply[0], msg)
        expect_ok(reply)
        first, payloads, attempts, next_due = int(reply[1]), reply[2], reply[3], int(reply[4])
        counts = [int(n) for n in attempts] if attempts else [0] * len(payloads)
        tasks = [(first + i, payload, counts[i]) for i, payload in enumerate(payloads)]
        return Taken(tasks, None if next_due < 0 else next_due)

    key_list = (
        keys.pending, keys.workers, keys.processes(worker_id), keys.seq, keys.delayed, keys.attempts, keys.idle,
        keys.incarnations, keys.paused,
    )  # fmt: skip
    return script_call("dequeue", key_list, (keys.work_channel, worker_id, count, incarnation), parse, idempotent=False)


def _owned(process_id: str, worker_id: str) -> Callable[[list[Any]], None]:
    def parse(reply: list[Any]) -> None:
        if reply[0] == errors.STATUS_PROCESS_LOST:
            msg = (
                f"process {process_id!r} no longer belongs to worker {worker_id!r}: it was finished or stopped, "
                "or this worker was declared dead and its task requeued"
            )
            raise errors.status_error(reply[0], msg, process_id=process_id)
        expect_ok(reply)

    return parse


def finish(
    keys: QueueKeys, worker_id: str, seq: int, result_json: str, process_id: str, *, outcome: Outcome = "succeeded"
) -> Call[None]:
    """Finish one process; ``outcome`` (how it ended) goes into its done event."""
    args = (keys.done_channel, seq, worker_id, result_json, outcome)
    parse = _owned(process_id, worker_id)
    return script_call(
        "finish",
        (keys.processes(worker_id), keys.unique, keys.attempts, keys.counters),
        args,
        parse,
        idempotent=False,
        durable=True,
    )


def finish_many(
    keys: QueueKeys, worker_id: str, finished: Sequence[tuple[int, str]], *, outcome: Outcome = "succeeded"
) -> Call[list[bool]]:
    """Finish several of this worker's processes on one queue: (seq, result JSON) each, all
    with one ``outcome``. Parses to, per process in order, whether it was finished (False:
    PROCESS_LOST)."""

    def parse(reply: list[Any]) -> list[bool]:
        expect_ok(reply)
        if not reply[1]:
            return [True] * len(finished)
        lost = {int(position) for position in reply[1]}
        return [position not in lost for position in range(1, len(finished) + 1)]

    args: list[Arg] = [keys.done_channel, worker_id, outcome]
    for seq, result_json in finished:
        args += (seq, result_json)
    key_list = (keys.processes(worker_id), keys.unique, keys.attempts, keys.counters)
    return script_call("finish_many", key_list, args, parse, idempotent=False, durable=True)


def fail(
    keys: QueueKeys,
    worker_id: str,
    seq: int,
    process_id: str,
    *,
    max_attempts: int,
    retry_in_ms: int,
    counted: bool,
    error_type: str,
    message: str,
) -> Call[Failure]:
    owned = _owned(process_id, worker_id)

    def parse(reply: list[Any]) -> Failure:
        owned(reply)
        dead_id = int(reply[2])
        return Failure(int(reply[1]), str(dead_id) if dead_id else None)

    key_list = (keys.processes(worker_id), keys.attempts, keys.delayed, keys.dead, keys.unique, keys.seq, keys.counters)
    args = (keys.channel, seq, worker_id, max_attempts, retry_in_ms, "1" if counted else "0", error_type, message)
    return script_call("fail", key_list, args, parse, idempotent=False, durable=True)


def stop(keys: QueueKeys, worker_id: str, seq: int, process_id: str) -> Call[None]:
    parse = _owned(process_id, worker_id)
    key_list = (keys.processes(worker_id), keys.pending, keys.idle, keys.counters)
    return script_call("stop", key_list, (keys.work_channel, seq), parse, idempotent=False, durable=True)


def cancel(keys: QueueKeys, payload: bytes) -> Call[int]:
    key_list = (keys.pending, keys.unique, keys.delayed, keys.attempts, keys.counters)
    return script_call("cancel", key_list, (keys.channel, payload), second_of, idempotent=False, durable=True)


def delete_queue(keys: QueueKeys) -> Call[int]:
    key_list = (keys.pending, keys.unique, keys.delayed, keys.attempts, keys.listed, keys.counters)
    return script_call("delete_queue", key_list, (keys.channel,), second_of, idempotent=False, durable=True)


def requeue_dead(keys: QueueKeys, ids: Sequence[str]) -> Call[int]:
    return script_call(
        "requeue_dead",
        (keys.dead, keys.pending, keys.idle, keys.counters),
        (keys.work_channel, *ids),
        second_of,
        idempotent=False,
        durable=True,
    )


def purge_dead(keys: QueueKeys, ids: Sequence[str]) -> Call[int]:
    return script_call("purge_dead", (keys.dead,), tuple(ids), second_of, idempotent=True)


def join_queue(keys: QueueKeys, worker_id: str, incarnation: str) -> Call[int]:
    key_list = (keys.workers, keys.pending, keys.incarnations)
    return script_call("join_queue", key_list, (worker_id, incarnation), second_of, idempotent=True)


def leave_queue(keys: QueueKeys, worker_id: str, *, interrupted: bool, incarnation: str = "") -> Call[int]:
    """``interrupted``: the worker died or was declared dead, so each requeued task used an
    attempt. ``incarnation``: a reaper's, the incarnation declared dead; the queue is left
    alone if a later one of the worker joined it since ("": whatever joined)."""
    key_list = (keys.workers, keys.processes(worker_id), keys.pending, keys.attempts, keys.idle, keys.incarnations)
    args = (keys.work_channel, worker_id, "1" if interrupted else "0", incarnation)
    return script_call("leave_queue", key_list, args, second_of, idempotent=True)


def count(keys: QueueKeys) -> Call[int]:
    return read_call("LLEN", keys.pending, (), int)


def peek(keys: QueueKeys) -> Call[bytes | None]:
    return read_call("LINDEX", keys.pending, (0,), lambda reply: reply)


def tasks(keys: QueueKeys) -> Call[list[bytes]]:
    return read_call("LRANGE", keys.pending, (0, -1), list)


def _pairs(reply: list[bytes] | dict[bytes, bytes]) -> dict[bytes, bytes]:
    """An HGETALL reply as a dict (RESP3 answers with a map, RESP2 with a flat list)."""
    if isinstance(reply, dict):
        return reply
    return {reply[i]: reply[i + 1] for i in range(0, len(reply), 2)}


def processes(keys: QueueKeys, worker_id: str) -> Call[dict[int, bytes]]:
    def parse(reply: list[bytes] | dict[bytes, bytes]) -> dict[int, bytes]:
        return {int(seq): task for seq, task in _pairs(reply).items()}

    return read_call("HGETALL", keys.processes(worker_id), (), parse)


def count_delayed(keys: QueueKeys) -> Call[int]:
    return read_call("ZCARD", keys.delayed, (), int)


def count_dead(keys: QueueKeys) -> Call[int]:
    return read_call("HLEN", keys.dead, (), int)


@dataclass(frozen=True, slots=True)
class DeadEntry:
    """One dead letter as stored (see the envelope in ``lua/fail.lua``)."""

    id: str
    payload: bytes
    error_type: str
    error: str
    attempts: int
    failed_at_ms: int
    worker_id: str


def _parse_dead_envelope(dead_id: str, envelope: bytes) -> DeadEntry:
    attempts, failed_at, worker_id, error_type, length, rest = envelope.split(b"\n", 5)
    size = int(length)
    return DeadEntry(
        dead_id,
        rest[size:],
        reply_text(error_type),
        reply_text(rest[:size]),
        int(attempts),
        int(failed_at),
        reply_text(worker_id),
    )


def dead_letters(keys: QueueKeys) -> Call[list[DeadEntry]]:
    def parse(reply: list[bytes] | dict[bytes, bytes]) -> list[DeadEntry]:
        entries = [_parse_dead_envelope(reply_text(k), v) for k, v in _pairs(reply).items()]
        return sorted(entries, key=lambda e: int(e.id))

    return read_call("HGETALL", keys.dead, (), parse)
