"""Reading the server behind worqr's back, with a plain redis-py client: every key of a
prefix and its value, a queue's keys, idle set and attempts, and a channel's subscribers."""

from __future__ import annotations

import re
from typing import Protocol, cast

import redis

from worqr._protocol.keys import QueueKeys


def snapshot(raw: redis.Redis, prefix: str) -> dict[bytes, bytes]:
    """Every key of ``prefix`` (``{prefix}:...`` and ``{prefix:queue}:...``) with its
    serialized value (DUMP): equal snapshots, equal data. The queues' counters are left
    out: a refused change counts itself (``fenced``); the counters' tests read them. So are
    the heartbeat deadlines (``{P}:deadlines``), which every heartbeat moves on, as it does
    the heartbeat keys' ttl."""
    escaped = re.sub(r"([*?\[\]\\])", r"\\\1", prefix)
    keys = {k for pattern in (f"{{{escaped}}}:*", f"{{{escaped}:*") for k in raw.scan_iter(match=pattern, count=1000)}
    return {key: raw.dump(key) for key in sorted(keys) if not key.endswith((b":counters", b":deadlines"))}  # type: ignore[misc]


class Named(Protocol):
    """A `Worqr` or an `AsyncWorqr`, for helpers that only need its names."""

    @property
    def prefix(self) -> str: ...
    @property
    def worker_id(self) -> str: ...


def idle_key(client: Named, queue: str = "jobs") -> str:
    return QueueKeys(client.prefix, queue).idle


def processes_key(client: Named, worker_id: str | None = None, queue: str = "jobs") -> str:
    return QueueKeys(client.prefix, queue).processes(worker_id or client.worker_id)


def stored_attempts(raw: redis.Redis, client: Named, task: str, queue: str = "jobs") -> bytes | None:
    return cast("bytes | None", raw.hget(QueueKeys(client.prefix, queue).attempts, task))


def written_keys(raw: redis.Redis, client: Named) -> list[bytes]:
    """Every key under the client's prefix."""
    return sorted(cast("list[bytes]", list(raw.scan_iter(match=f"*{client.prefix}*"))))


def idle_workers(raw: redis.Redis, client: Named) -> list[str]:
    """The queue's idle set, longest idle first."""
    return [m.decode() for m in cast("list[bytes]", raw.zrange(idle_key(client), 0, -1))]


def subscribers(raw: redis.Redis, channel: str) -> int:
    ((_, count),) = cast("list[tuple[bytes, int]]", raw.pubsub_numsub(channel))
    return count
