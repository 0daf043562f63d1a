"""The commands `worqr.operations` sends, each a `Call` of the protocol layer: plain reads
(beside the core's own: count, count_delayed, count_dead, members, processes in
`worqr._protocol.ops`), and the two scripts of ``operations/lua``, pause and resume."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worqr import errors
from worqr._protocol.call import Call
from worqr._protocol.keys import QueueKeys, RegistryKeys


def _pairs(reply: Any) -> dict[bytes, bytes]:
    if isinstance(reply, dict):
        return reply
    return {reply[i]: reply[i + 1] for i in range(0, len(reply), 2)}


def _read(command: str, key: str, args: Sequence[Any], parse: Any) -> Call[Any]:
    return Call((key,), tuple(args), parse, True, command=command)


def counters(keys: QueueKeys) -> Call[dict[bytes, bytes]]:
    return _read("HGETALL", keys.counters, (), _pairs)


def waiting(keys: QueueKeys, limit: int) -> Call[list[bytes]]:
    """The first ``limit`` queued tasks, front first."""
    return _read("LRANGE", keys.pending, (0, limit - 1), list)


def delayed(keys: QueueKeys, limit: int) -> Call[list[tuple[bytes, int]]]:
    """The first ``limit`` delayed tasks, soonest first: (payload, due, ms since the epoch).
    An entry is ``<n>:<payload>`` (see lua/schedule.lua)."""

    def parse(reply: list[Any]) -> list[tuple[bytes, int]]:
        pairs = (
            reply if reply and isinstance(reply[0], (list, tuple)) else list(zip(reply[::2], reply[1::2], strict=True))
        )
        return [(entry.split(b":", 1)[1], int(float(score))) for entry, score in pairs]

    return _read("ZRANGE", keys.delayed, (0, limit - 1, "WITHSCORES"), parse)


def paused(keys: QueueKeys) -> Call[bool]:
    return _read("EXISTS", keys.paused, (), lambda reply: int(reply) == 1)


def in_flight(keys: QueueKeys, worker_id: str) -> Call[int]:
    return _read("HLEN", keys.processes(worker_id), (), int)


def attempts(keys: QueueKeys, tasks: Sequence[bytes]) -> Call[list[int]]:
    """The attempts that failed or were interrupted so far, of each of ``tasks``."""
    return _read("HMGET", keys.attempts, tasks, lambda reply: [int(n) if n else 0 for n in reply])


def worker_record(registry: RegistryKeys, worker_id: str) -> Call[dict[bytes, bytes]]:
    return _read("HGETALL", registry.worker(worker_id), (), _pairs)


def heartbeat_ttl(registry: RegistryKeys, worker_id: str) -> Call[int]:
    """The ms left on the worker's heartbeat (-1: no expiry, -2: none)."""
    return _read("PTTL", registry.heartbeat(worker_id), (), int)


def ended(registry: RegistryKeys) -> Call[list[str]]:
    """The workers declared dead in the last day."""
    return _read("ZRANGE", registry.ended, (0, -1), lambda reply: [m.decode("utf-8", "replace") for m in reply])


def _script(name: str, keys: Sequence[str], args: Sequence[Any], parse: Any) -> Call[Any]:
    return Call(tuple(keys), tuple(args), parse, True, script=f"operations/{name}")


def _was(reply: list[Any]) -> bool:
    if reply[0] != errors.STATUS_OK:
        raise errors.status_error(reply[0], "a status pause/resume does not expect")
    return int(reply[1]) == 1


def pause(keys: QueueKeys) -> Call[bool]:
    """Pause the queue (operations/lua/pause.lua); True if it was paused already."""
    return _script("pause", (keys.paused,), (), _was)


def resume(keys: QueueKeys) -> Call[bool]:
    """Resume the queue (operations/lua/resume.lua); True if it was paused."""
    return _script("resume", (keys.paused, keys.pending, keys.idle), (keys.work_channel,), _was)
