"""Each Redis operation as data: which script or command, which keys, which arguments,
and how to read the reply. Pure: nothing here does I/O. The runners of `worqr._io` execute calls.

Every factory's keys and arguments match the header of its ``lua/<script>.lua``
(``tests/test_scripts.py`` checks that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from worqr import errors
from worqr._protocol.events import Outcome
from worqr._protocol.keys import LeaseKeys, QueueKeys, RegistryKeys
from worqr._protocol.models import Failure, reply_text

T = TypeVar("T")

Arg = str | bytes | int


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One command for Redis: a Lua script (``script``) or a plain read (``command``).

    ``idempotent`` says whether running it twice has the same effect as once; only such
    calls are retried when a connection breaks after the call was sent. ``advisory`` says
    that Redis refusing it must not fail its batch: the runner hands back the error as its
    result, and the flow decides (the queue registry, pipelined beside a state change that
    did happen). ``durable`` marks a state change that a client configured with a
    `Durability` must see confirmed by replicas before it is acknowledged. ``partial`` marks
    a read whose batch may come back in part: on a Redis Cluster, when a node stays
    unreachable and every call of the batch is partial, the runner hands back an
    `Unreachable` as the result of each of that node's calls instead of failing the batch.
    """

    keys: tuple[str, ...]
    args: tuple[Arg, ...]
    parse: Callable[[Any], T]
    idempotent: bool
    script: str | None = None
    command: str | None = None
    advisory: bool = False
    durable: bool = False
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The result of a `partial` read that its node did not serve: ``node`` (host:port) and
    why."""

    node: str
    reason: str


def _script(
    name: str,
    keys: Sequence[str],
    args: Sequence[Arg],
    parse: Callable[[Any], T],
    *,
    idempotent: bool,
    durable: bool = False,
) -> Call[T]:
    return Call(tuple(keys), tuple(args), parse, idempotent, script=name, durable=durable)


def _read(command: str, key: str, args: Sequence[Arg], parse: Callable[[Any], T]) -> Call[T]:
    return Call((key,), tuple(args), parse, True, command=command)


def _ok(reply: list[Any]) -> None:
    if reply[0] != errors.STATUS_OK:
        raise errors.status_error(reply[0], "a status the call does not expect")


def _second(reply: list[Any]) -> int:
    _ok(reply)
    return int(reply[1])


# Queue operations (slot {prefix:queue}) -------------------------------------------------


def _counted(keys: QueueKeys, payloads: Sequence[bytes]) -> Callable[[list[Any]], int]:
    """Parse an enqueue-like reply: the count, or DuplicateTaskError for a DUPLICATE status."""

    def parse(reply: list[Any]) -> int:
        if reply[0] == errors.STATUS_DUPLICATE:
            task = payloads[int(reply[1]) - 1]
            msg = f"task {task[:80]!r} is already queued, delayed or in process on queue {keys.queue!r} (unique=True); nothing was enqueued"
            raise errors.status_error(reply[0], msg, queue=keys.queue, task=task)
        return _second(reply)

    return parse


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What an enqueue did: how many tasks it appended, and whether the caller must now list
    the queue in the registry (see ``lua/enqueue.lua``)."""

    count: int
    unlisted: bool


def enqueue(keys: QueueKeys, payloads: Sequence[bytes], *, unique: bool) -> Call[Enqueued]:
    counted = _counted(keys, payloads)

    def parse(reply: list[Any]) -> Enqueued:
        return Enqueued(counted(reply), int(reply[2]) == 1)

    args = (keys.work_channel, "1" if unique else "0", *payloads)
    key_list = (keys.pending, keys.unique, keys.idle, keys.listed, keys.counters)
    return _script("enqueue", key_list, args, parse, idempotent=False, durable=True)


def schedule(keys: QueueKeys, payloads: Sequence[bytes], *, unique: bool, at_ms: int | None, in_ms: int) -> Call[int]:
    """Delayed enqueue: due at ``at_ms`` (ms since the epoch) if given, else in ``in_ms``."""
    mode, ms = ("in", in_ms) if at_ms is None else ("at", at_ms)
    args = (keys.channel, "1" if unique else "0", mode, ms, *payloads)
    key_list = (keys.delayed, keys.unique, keys.seq, keys.counters)
    return _script("schedule", key_list, args, _counted(keys, payloads), idempotent=False, durable=True)


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
        _ok(reply)
        first, payloads, attempts, next_due = int(reply[1]), reply[2], reply[3], int(reply[4])
        counts = [int(n) for n in attempts] if attempts else [0] * len(payloads)
        tasks = [(first + i, payload, counts[i]) for i, payload in enumerate(payloads)]
        return Taken(tasks, None if next_due < 0 else next_due)

    key_list = (
        keys.pending, keys.workers, keys.processes(worker_id), keys.seq, keys.delayed, keys.attempts, keys.idle,
        keys.incarnations, keys.paused,
    )  # fmt: skip
    return _script("dequeue", key_list, (keys.work_channel, worker_id, count, incarnation), parse, idempotent=False)


def _owned(process_id: str, worker_id: str) -> Callable[[list[Any]], None]:
    def parse(reply: list[Any]) -> None:
        if reply[0] == errors.STATUS_PROCESS_LOST:
            msg = (
                f"process {process_id!r} no longer belongs to worker {worker_id!r}: it was finished or stopped, "
                "or this worker was declared dead and its task requeued"
            )
            raise errors.status_error(reply[0], msg, process_id=process_id)
        _ok(reply)

    return parse


def finish(
    keys: QueueKeys, worker_id: str, seq: int, result_json: str, process_id: str, *, outcome: Outcome = "succeeded"
) -> Call[None]:
    """Finish one process; ``outcome`` (how it ended) goes into its done event."""
    args = (keys.done_channel, seq, worker_id, result_json, outcome)
    parse = _owned(process_id, worker_id)
    return _script(
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
        _ok(reply)
        return [int(status) == 0 for status in reply[1]]

    args: list[Arg] = [keys.done_channel, worker_id, outcome]
    for seq, result_json in finished:
        args += (seq, result_json)
    key_list = (keys.processes(worker_id), keys.unique, keys.attempts, keys.counters)
    return _script("finish_many", key_list, args, parse, idempotent=False, durable=True)


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
    return _script("fail", key_list, args, parse, idempotent=False, durable=True)


def stop(keys: QueueKeys, worker_id: str, seq: int, process_id: str) -> Call[None]:
    parse = _owned(process_id, worker_id)
    key_list = (keys.processes(worker_id), keys.pending, keys.idle, keys.counters)
    return _script("stop", key_list, (keys.work_channel, seq), parse, idempotent=False, durable=True)


def cancel(keys: QueueKeys, payload: bytes) -> Call[int]:
    key_list = (keys.pending, keys.unique, keys.delayed, keys.attempts, keys.counters)
    return _script("cancel", key_list, (keys.channel, payload), _second, idempotent=False, durable=True)


def delete_queue(keys: QueueKeys) -> Call[int]:
    key_list = (keys.pending, keys.unique, keys.delayed, keys.attempts, keys.listed, keys.counters)
    return _script("delete_queue", key_list, (keys.channel,), _second, idempotent=False, durable=True)


def requeue_dead(keys: QueueKeys, ids: Sequence[str]) -> Call[int]:
    return _script(
        "requeue_dead",
        (keys.dead, keys.pending, keys.idle, keys.counters),
        (keys.work_channel, *ids),
        _second,
        idempotent=False,
        durable=True,
    )


def purge_dead(keys: QueueKeys, ids: Sequence[str]) -> Call[int]:
    return _script("purge_dead", (keys.dead,), tuple(ids), _second, idempotent=True)


def join_queue(keys: QueueKeys, worker_id: str, incarnation: str) -> Call[int]:
    key_list = (keys.workers, keys.pending, keys.incarnations)
    return _script("join_queue", key_list, (worker_id, incarnation), _second, idempotent=True)


def leave_queue(keys: QueueKeys, worker_id: str, *, interrupted: bool, incarnation: str = "") -> Call[int]:
    """``interrupted``: the worker died or was declared dead, so each requeued task used an
    attempt. ``incarnation``: a reaper's, the incarnation declared dead; the queue is left
    alone if a later one of the worker joined it since ("": whatever joined)."""
    key_list = (keys.workers, keys.processes(worker_id), keys.pending, keys.attempts, keys.idle, keys.incarnations)
    args = (keys.work_channel, worker_id, "1" if interrupted else "0", incarnation)
    return _script("leave_queue", key_list, args, _second, idempotent=True)


def count(keys: QueueKeys) -> Call[int]:
    return _read("LLEN", keys.pending, (), int)


def peek(keys: QueueKeys) -> Call[bytes | None]:
    return _read("LINDEX", keys.pending, (0,), lambda reply: reply)


def tasks(keys: QueueKeys) -> Call[list[bytes]]:
    return _read("LRANGE", keys.pending, (0, -1), list)


def _pairs(reply: list[bytes] | dict[bytes, bytes]) -> dict[bytes, bytes]:
    """An HGETALL reply as a dict (RESP3 answers with a map, RESP2 with a flat list)."""
    if isinstance(reply, dict):
        return reply
    return {reply[i]: reply[i + 1] for i in range(0, len(reply), 2)}


def processes(keys: QueueKeys, worker_id: str) -> Call[dict[int, bytes]]:
    def parse(reply: list[bytes] | dict[bytes, bytes]) -> dict[int, bytes]:
        return {int(seq): task for seq, task in _pairs(reply).items()}

    return _read("HGETALL", keys.processes(worker_id), (), parse)


def count_delayed(keys: QueueKeys) -> Call[int]:
    return _read("ZCARD", keys.delayed, (), int)


def count_dead(keys: QueueKeys) -> Call[int]:
    return _read("HLEN", keys.dead, (), int)


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

    return _read("HGETALL", keys.dead, (), parse)


# Registry operations (slot {prefix}) ----------------------------------------------------


def members(key: str) -> Call[list[str]]:
    return _read("SMEMBERS", key, (), lambda reply: sorted(reply_text(m) for m in reply))


def add_queue(keys: RegistryKeys, queue: str) -> Call[None]:
    """Advisory: a refusal comes back as the call's result (see `Call`)."""
    return Call((keys.queues,), (queue,), _ok, True, script="add_queue", advisory=True)


def remove_queue(keys: RegistryKeys, queue: str) -> Call[None]:
    return _script("remove_queue", (keys.queues,), (queue,), _ok, idempotent=True)


def register_worker(keys: RegistryKeys, worker_id: str, timeout_ms: int, record: Mapping[str, str]) -> Call[int | None]:
    """Parses to None when registered (its ``record`` written); when the id is still
    registered or being reaped (WORKER_KNOWN), to the lease left on its heartbeat in ms
    (-1: no expiry, -2: none)."""

    def parse(reply: list[Any]) -> int | None:
        if reply[0] == errors.STATUS_WORKER_KNOWN:
            return int(reply[1])
        _ok(reply)
        return None

    key_list = (keys.workers, keys.reaping, keys.heartbeat(worker_id), keys.worker(worker_id))
    fields = [item for pair in record.items() for item in pair]
    return _script("register_worker", key_list, (worker_id, timeout_ms, *fields), parse, idempotent=False)


def _alive(reply: list[Any]) -> bool:
    if reply[0] == errors.STATUS_WORKER_LOST:
        return False
    _ok(reply)
    return True


def heartbeat(keys: RegistryKeys, worker_id: str, timeout_ms: int) -> Call[tuple[bool, bool]]:
    """Parses to (alive, a peer overdue): alive False when the worker has been declared
    dead; a peer overdue when some worker's heartbeat deadline has passed (reap now)."""

    def parse(reply: list[Any]) -> tuple[bool, bool]:
        if not _alive(reply):
            return False, False
        return True, len(reply) > 1 and int(reply[1]) == 1

    key_list = (keys.heartbeat(worker_id), keys.deadlines)
    return _script("heartbeat", key_list, (timeout_ms, worker_id), parse, idempotent=True)


def add_worker_queue(keys: RegistryKeys, worker_id: str, queue: str) -> Call[bool]:
    """Parses to False when the worker has been declared dead."""
    key_list = (keys.workers, keys.heartbeat(worker_id), keys.queues_of(worker_id), keys.queues)
    return _script("add_worker_queue", key_list, (worker_id, queue), _alive, idempotent=True)


def remove_worker_queue(keys: RegistryKeys, worker_id: str, queue: str) -> Call[None]:
    return _script("remove_worker_queue", (keys.queues_of(worker_id),), (queue,), _ok, idempotent=True)


def declare_dead(keys: RegistryKeys, worker_ids: Sequence[str], *, force: bool) -> Call[dict[str, str]]:
    """Every worker being reaped, with the incarnation that was declared dead ("" unknown)."""

    def parse(reply: list[Any]) -> dict[str, str]:
        _ok(reply)
        return {reply_text(reply[i]): reply_text(reply[i + 1]) for i in range(1, len(reply), 2)}

    key_list = (keys.workers, keys.reaping, *(keys.heartbeat(w) for w in worker_ids))
    return _script("declare_dead", key_list, ("1" if force else "0", *worker_ids), parse, idempotent=True)


def forget_worker(keys: RegistryKeys, worker_id: str, released: Sequence[str]) -> Call[tuple[bool, int]]:
    """Parses to (forgotten by this call, queues still to release)."""

    def parse(reply: list[Any]) -> tuple[bool, int]:
        _ok(reply)
        return int(reply[1]) == 1, int(reply[2])

    key_list = (keys.reaping, keys.queues_of(worker_id), keys.worker(worker_id), keys.leases_of(worker_id))
    return _script("forget_worker", key_list, (worker_id, *released), parse, idempotent=True)


def release_lease(keys: LeaseKeys, worker_id: str, incarnation: str) -> Call[bool]:
    """A step of reaping: release the lease if the dead worker's ``incarnation`` holds it;
    True if it did (worqr/leases/lua/reap.lua: reaping is the core's, the lease's script
    lives with the other lease scripts)."""

    def parse(reply: list[Any]) -> bool:
        _ok(reply)
        return int(reply[1]) == 1

    args = (worker_id, incarnation, keys.released)
    return _script("leases/reap", (keys.holder,), args, parse, idempotent=True, durable=True)


# Server settings (no keys) ----------------------------------------------------------------


def eviction_policy() -> Call[str | None]:
    """The server's ``maxmemory-policy``, read from ``INFO memory`` (applications are rarely
    granted CONFIG); None if the server does not report it."""

    def parse(reply: bytes | str) -> str | None:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name == "maxmemory_policy":
                return value.strip()
        return None

    return Call((), ("memory",), parse, True, command="INFO")
