"""What the server counted: commands (``INFO commandstats``, which also counts the commands a
Lua script runs), round trips (``total_reads_processed``: one per batch of commands a client
sends, pipelined or not), the server's CPU time (``used_cpu_user`` + ``used_cpu_sys``) and
memory (``used_memory``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

#: Commands of the snapshots themselves, left out of every count.
_OWN_COMMANDS = frozenset({"info"})


@dataclass(frozen=True)
class Snapshot:
    calls: dict[str, int]
    reads: int
    cpu_seconds: float
    used_memory: int


@dataclass(frozen=True)
class Usage:
    """Counted between two snapshots; the snapshots' own INFO calls left out."""

    commands: int
    scripts: int
    round_trips: int
    cpu_seconds: float
    by_command: dict[str, int]

    def per_task(self, tasks: int) -> tuple[float, float, float]:
        """(commands, script calls, round trips) per task."""
        n = max(1, tasks)
        return self.commands / n, self.scripts / n, self.round_trips / n

    def cpu_us_per_task(self, tasks: int) -> float:
        """The server's CPU time per task, in microseconds."""
        return self.cpu_seconds * 1e6 / max(1, tasks)

    def top(self, tasks: int, count: int = 6) -> str:
        """The most frequent commands per task, like ``evalsha 2.0, hset 1.0``."""
        ranked = sorted(self.by_command.items(), key=lambda item: -item[1])[:count]
        return ", ".join(f"{name} {calls / max(1, tasks):.2f}" for name, calls in ranked)


def snapshot(client: redis.Redis) -> Snapshot:
    info: dict[str, Any] = client.info("all")
    calls = {
        key.removeprefix("cmdstat_"): int(value["calls"])
        for key, value in info.items()
        if key.startswith("cmdstat_") and isinstance(value, dict)
    }
    cpu = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return Snapshot(calls, int(info["total_reads_processed"]), cpu, int(info["used_memory"]))


def usage(before: Snapshot, after: Snapshot) -> Usage:
    names = set(before.calls) | set(after.calls)
    delta = {n: after.calls.get(n, 0) - before.calls.get(n, 0) for n in names if n not in _OWN_COMMANDS}
    delta = {n: d for n, d in delta.items() if d > 0}
    scripts = sum(d for n, d in delta.items() if n in ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall"))
    # The after-snapshot's own INFO was read before it ran, so it is in its count.
    round_trips = max(0, after.reads - before.reads - 1)
    return Usage(sum(delta.values()), scripts, round_trips, after.cpu_seconds - before.cpu_seconds, delta)


def memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def server_version(client: redis.Redis) -> str:
    info: dict[str, Any] = client.info("server")
    name = str(info.get("server_name") or "redis")
    version = str(info.get("valkey_version") or info.get("redis_version"))
    return f"{name} {version}"


def flush(client: redis.Redis) -> None:
    """Empty the server between measurements (it is ours alone; scripts stay cached)."""
    client.flushall()
