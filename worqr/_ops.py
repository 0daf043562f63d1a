"""Each Redis operation as data: which script or command, which keys, which arguments,
and how to read the reply. Pure: nothing here does I/O. `worqr._runner` executes calls.

Every factory's keys and arguments match the header of its ``lua/<script>.lua``
(``tests/test_scripts.py`` checks that).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from worqr import errors
from worqr._keys import QueueKeys, RegistryKeys

T = TypeVar("T")

Arg = str | bytes | int


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One command for Redis: a Lua script (``script``) or a plain read (``command``).

    ``idempotent`` says whether running it twice has the same effect as once; only such
    calls are retried when a connection breaks after the call was sent.
    """

    keys: tuple[str, ...]
    args: tuple[Arg, ...]
    parse: Callable[[Any], T]
    idempotent: bool
    script: str | None = None
    command: str | None = None


def _script(
    name: str, keys: Sequence[str], args: Sequence[Arg], parse: Callable[[Any], T], *, idempotent: bool
) -> Call[T]:
    return Call(tuple(keys), tuple(args), parse, idempotent, script=name)


def _read(command: str, key: str, args: Sequence[Arg], parse: Callable[[Any], T]) -> Call[T]:
    return Call((key,), tuple(args), parse, True, command=command)


def _ok(reply: list[Any]) -> None:
    if reply[0] != errors.STATUS_OK:
        msg = f"unexpected script status {reply[0]!r}"
        raise errors.RedisCommandError(msg)


def _second(reply: list[Any]) -> int:
    _ok(reply)
    return int(reply[1])


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


# Queue operations (slot {prefix:queue}) -------------------------------------------------


def enqueue(keys: QueueKeys, payloads: Sequence[bytes], *, unique: bool) -> Call[int]:
    def parse(reply: list[Any]) -> int:
        if reply[0] == errors.STATUS_DUPLICATE:
            task = payloads[int(reply[1]) - 1]
            msg = f"task {task[:80]!r} is already queued or in process on queue {keys.queue!r} (unique=True); nothing was enqueued"
            raise errors.DuplicateTaskError(msg, queue=keys.queue, task=task)
        return _second(reply)

    args = (keys.channel, "1" if unique else "0", *payloads)
    return _script("enqueue", (keys.pending, keys.unique), args, parse, idempotent=False)


def dequeue(keys: QueueKeys, worker_id: str, count: int) -> Call[list[tuple[int, bytes]]]:
    def parse(reply: list[Any]) -> list[tuple[int, bytes]]:
        if reply[0] == errors.STATUS_WORKER_LOST:
            msg = f"worker {worker_id!r} may no longer dequeue from queue {keys.queue!r}: peers declared it dead; call start_worker() again"
            raise errors.WorkerLostError(msg)
        _ok(reply)
        if len(reply) == 1:
            return []
        first = int(reply[1])
        return [(first + i, task) for i, task in enumerate(reply[2:])]

    key_list = (keys.pending, keys.workers, keys.processes(worker_id), keys.seq)
    return _script("dequeue", key_list, (worker_id, count), parse, idempotent=False)


def _process_lost(process_id: str, worker_id: str) -> errors.ProcessLostError:
    msg = (
        f"process {process_id!r} no longer belongs to worker {worker_id!r}: it was finished or stopped, "
        "or this worker was declared dead and its task requeued"
    )
    return errors.ProcessLostError(msg, process_id=process_id)


def _owned(process_id: str, worker_id: str) -> Callable[[list[Any]], None]:
    def parse(reply: list[Any]) -> None:
        if reply[0] == errors.STATUS_PROCESS_LOST:
            raise _process_lost(process_id, worker_id)
        _ok(reply)

    return parse


def finish(keys: QueueKeys, worker_id: str, seq: int, result_json: str, process_id: str) -> Call[None]:
    args = (keys.channel, seq, worker_id, result_json)
    parse = _owned(process_id, worker_id)
    return _script("finish", (keys.processes(worker_id), keys.unique), args, parse, idempotent=False)


def stop(keys: QueueKeys, worker_id: str, seq: int, process_id: str) -> Call[None]:
    parse = _owned(process_id, worker_id)
    return _script("stop", (keys.processes(worker_id), keys.pending), (keys.channel, seq), parse, idempotent=False)


def cancel(keys: QueueKeys, payload: bytes) -> Call[int]:
    return _script("cancel", (keys.pending, keys.unique), (keys.channel, payload), _second, idempotent=False)


def delete_queue(keys: QueueKeys) -> Call[int]:
    return _script("delete_queue", (keys.pending, keys.unique), (keys.channel,), _second, idempotent=False)


def join_queue(keys: QueueKeys, worker_id: str) -> Call[int]:
    return _script("join_queue", (keys.workers, keys.pending), (worker_id,), _second, idempotent=True)


def leave_queue(keys: QueueKeys, worker_id: str) -> Call[int]:
    key_list = (keys.workers, keys.processes(worker_id), keys.pending)
    return _script("leave_queue", key_list, (keys.channel, worker_id), _second, idempotent=True)


def count(keys: QueueKeys) -> Call[int]:
    return _read("LLEN", keys.pending, (), int)


def peek(keys: QueueKeys) -> Call[bytes | None]:
    return _read("LINDEX", keys.pending, (0,), lambda reply: reply)


def tasks(keys: QueueKeys) -> Call[list[bytes]]:
    return _read("LRANGE", keys.pending, (0, -1), list)


def processes(keys: QueueKeys, worker_id: str) -> Call[dict[int, bytes]]:
    def parse(reply: list[bytes] | dict[bytes, bytes]) -> dict[int, bytes]:
        if isinstance(reply, dict):  # RESP3 answers HGETALL with a map
            return {int(seq): task for seq, task in reply.items()}
        return {int(reply[i]): reply[i + 1] for i in range(0, len(reply), 2)}

    return _read("HGETALL", keys.processes(worker_id), (), parse)


# Registry operations (slot {prefix}) ----------------------------------------------------


def members(key: str) -> Call[list[str]]:
    return _read("SMEMBERS", key, (), lambda reply: sorted(_text(m) for m in reply))


def add_queue(keys: RegistryKeys, queue: str) -> Call[None]:
    return _script("add_queue", (keys.queues,), (queue,), _ok, idempotent=True)


def remove_queue(keys: RegistryKeys, queue: str) -> Call[None]:
    return _script("remove_queue", (keys.queues,), (queue,), _ok, idempotent=True)


def register_worker(keys: RegistryKeys, worker_id: str, timeout_ms: int) -> Call[int | None]:
    """Parses to None when registered; when the id is still registered or being reaped
    (WORKER_KNOWN), to the lease left on its heartbeat in ms (-1: no expiry, -2: none)."""

    def parse(reply: list[Any]) -> int | None:
        if reply[0] == errors.STATUS_WORKER_KNOWN:
            return int(reply[1])
        _ok(reply)
        return None

    key_list = (keys.workers, keys.reaping, keys.heartbeat(worker_id))
    return _script("register_worker", key_list, (worker_id, timeout_ms), parse, idempotent=False)


def _alive(reply: list[Any]) -> bool:
    if reply[0] == errors.STATUS_WORKER_LOST:
        return False
    _ok(reply)
    return True


def heartbeat(keys: RegistryKeys, worker_id: str, timeout_ms: int) -> Call[bool]:
    """Parses to False when the worker has been declared dead."""
    return _script("heartbeat", (keys.heartbeat(worker_id),), (timeout_ms,), _alive, idempotent=True)


def add_worker_queue(keys: RegistryKeys, worker_id: str, queue: str) -> Call[bool]:
    """Parses to False when the worker has been declared dead."""
    key_list = (keys.workers, keys.heartbeat(worker_id), keys.queues_of(worker_id), keys.queues)
    return _script("add_worker_queue", key_list, (worker_id, queue), _alive, idempotent=True)


def remove_worker_queue(keys: RegistryKeys, worker_id: str, queue: str) -> Call[None]:
    return _script("remove_worker_queue", (keys.queues_of(worker_id),), (queue,), _ok, idempotent=True)


def declare_dead(keys: RegistryKeys, worker_ids: Sequence[str], *, force: bool) -> Call[list[str]]:
    def parse(reply: list[Any]) -> list[str]:
        _ok(reply)
        return [_text(w) for w in reply[1:]]

    key_list = (keys.workers, keys.reaping, *(keys.heartbeat(w) for w in worker_ids))
    return _script("declare_dead", key_list, ("1" if force else "0", *worker_ids), parse, idempotent=True)


def forget_worker(keys: RegistryKeys, worker_id: str) -> Call[bool]:
    key_list = (keys.reaping, keys.queues_of(worker_id))
    return _script("forget_worker", key_list, (worker_id,), lambda reply: _second(reply) == 1, idempotent=True)
