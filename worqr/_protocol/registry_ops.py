"""The registry's and the workers' operations as data (slot ``{prefix}``: queues and workers
known, heartbeats, reaping), and the one server setting worqr reads. Pure, like
`worqr._protocol.ops`; every script's keys and arguments match the header of its
``lua/<script>.lua`` (``tests/test_scripts.py`` checks that)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from worqr import errors
from worqr._protocol.call import Call, expect_ok, read_call, script_call, second_of
from worqr._protocol.keys import LeaseKeys, RegistryKeys, StreamKeys
from worqr._protocol.models import reply_text

# Registry operations (slot {prefix}) ----------------------------------------------------


def members(key: str) -> Call[list[str]]:
    return read_call("SMEMBERS", key, (), lambda reply: sorted(reply_text(m) for m in reply))


def add_queue(keys: RegistryKeys, queue: str) -> Call[None]:
    """Advisory: a refusal comes back as the call's result (see `Call`)."""
    return Call((keys.queues,), (queue,), expect_ok, True, script="add_queue", advisory=True)


def remove_queue(keys: RegistryKeys, queue: str) -> Call[None]:
    return script_call("remove_queue", (keys.queues,), (queue,), expect_ok, idempotent=True)


def register_worker(keys: RegistryKeys, worker_id: str, timeout_ms: int, record: Mapping[str, str]) -> Call[int | None]:
    """Parses to None when registered (its ``record`` written); when the id is still
    registered or being reaped (WORKER_KNOWN), to the lease left on its heartbeat in ms
    (-1: no expiry, -2: none)."""

    def parse(reply: list[Any]) -> int | None:
        if reply[0] == errors.STATUS_WORKER_KNOWN:
            return int(reply[1])
        expect_ok(reply)
        return None

    key_list = (keys.workers, keys.reaping, keys.heartbeat(worker_id), keys.worker(worker_id))
    fields = [item for pair in record.items() for item in pair]
    return script_call("register_worker", key_list, (worker_id, timeout_ms, *fields), parse, idempotent=False)


def _alive(reply: list[Any]) -> bool:
    if reply[0] == errors.STATUS_WORKER_LOST:
        return False
    expect_ok(reply)
    return True


def heartbeat(keys: RegistryKeys, worker_id: str, timeout_ms: int) -> Call[tuple[bool, bool]]:
    """Parses to (alive, a peer overdue): alive False when the worker has been declared
    dead; a peer overdue when some worker's heartbeat deadline has passed (reap now)."""

    def parse(reply: list[Any]) -> tuple[bool, bool]:
        if not _alive(reply):
            return False, False
        return True, len(reply) > 1 and int(reply[1]) == 1

    key_list = (keys.heartbeat(worker_id), keys.deadlines)
    return script_call("heartbeat", key_list, (timeout_ms, worker_id), parse, idempotent=True)


def add_worker_queue(keys: RegistryKeys, worker_id: str, queue: str) -> Call[bool]:
    """Parses to False when the worker has been declared dead."""
    key_list = (keys.workers, keys.heartbeat(worker_id), keys.queues_of(worker_id), keys.queues)
    return script_call("add_worker_queue", key_list, (worker_id, queue), _alive, idempotent=True)


def remove_worker_queue(keys: RegistryKeys, worker_id: str, queue: str) -> Call[None]:
    return script_call("remove_worker_queue", (keys.queues_of(worker_id),), (queue,), expect_ok, idempotent=True)


def declare_dead(keys: RegistryKeys, worker_ids: Sequence[str], *, force: bool) -> Call[dict[str, str]]:
    """Every worker being reaped, with the incarnation that was declared dead ("" unknown)."""

    def parse(reply: list[Any]) -> dict[str, str]:
        expect_ok(reply)
        return {reply_text(reply[i]): reply_text(reply[i + 1]) for i in range(1, len(reply), 2)}

    key_list = (keys.workers, keys.reaping, *(keys.heartbeat(w) for w in worker_ids))
    return script_call("declare_dead", key_list, ("1" if force else "0", *worker_ids), parse, idempotent=True)


def forget_worker(keys: RegistryKeys, worker_id: str, released: Sequence[str]) -> Call[tuple[bool, int]]:
    """Parses to (forgotten by this call, queues still to release)."""

    def parse(reply: list[Any]) -> tuple[bool, int]:
        expect_ok(reply)
        return int(reply[1]) == 1, int(reply[2])

    key_list = (
        keys.reaping,
        keys.queues_of(worker_id),
        keys.worker(worker_id),
        keys.leases_of(worker_id),
        keys.streams_of(worker_id),
    )
    return script_call("forget_worker", key_list, (worker_id, *released), parse, idempotent=True)


def release_lease(keys: LeaseKeys, worker_id: str, incarnation: str) -> Call[bool]:
    """A step of reaping: release the lease if the dead worker's ``incarnation`` holds it;
    True if it did (worqr/leases/lua/reap.lua: reaping is the core's, the lease's script
    lives with the other lease scripts)."""

    def parse(reply: list[Any]) -> bool:
        expect_ok(reply)
        return int(reply[1]) == 1

    args = (worker_id, incarnation, keys.released)
    return script_call("leases/reap", (keys.holder,), args, parse, idempotent=True, durable=True)


def release_stream(keys: StreamKeys, worker_id: str, incarnation: str, partitions: int = 0) -> Call[int]:
    """A step of reaping: hand the messages the dead worker's ``incarnation`` holds in the
    stream's groups (in each of its ``partitions``, for an ordered stream) to the groups' live
    consumers; how many (worqr/streams/lua/reap.lua)."""
    args = (worker_id, incarnation, "", keys.published)
    streams = [keys.messages] if partitions == 0 else [keys.of_partition(i).messages for i in range(partitions)]
    return script_call("streams/reap", (keys.consumers, *streams), args, second_of, idempotent=True, durable=True)


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
