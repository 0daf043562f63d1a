"""Working a queue by hand with the core API (start_worker, start_work, dequeue), for the
retry and delay tests: a working client, taking one task, the queue's keys and delayed set,
the server's clock in ms, and a snapshot of a prefix to check that nothing was written."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import redis

from tests.helpers import wait_until
from worqr import AsyncWorqr, Process, Worqr
from worqr._protocol.keys import QueueKeys


def working(client: Worqr, queue: str = "jobs") -> Worqr:
    client.start_worker()
    client.start_work(queue)
    return client


def take(client: Worqr, queue: str = "jobs") -> Process[str]:
    process = client.dequeue(queue)
    assert process is not None
    return process


def keys_of(client: Worqr | AsyncWorqr, queue: str = "jobs") -> QueueKeys:
    return QueueKeys(client.prefix, queue)


def server_ms(raw: redis.Redis) -> int:
    seconds, micros = raw.time()
    return int(seconds) * 1000 + int(micros) // 1000


def snapshot(raw: redis.Redis, prefix: str) -> dict[bytes, object]:
    """Every key of ``prefix`` with its type and contents, to check that nothing was written.

    The queues' counters are left out: a refused change counts itself (``fenced``), and
    the tests of the counters read them directly; so are the heartbeat deadlines, which
    every heartbeat moves on."""
    readers: dict[bytes, Callable[[bytes], object]] = {
        b"string": raw.get,
        b"list": lambda key: raw.lrange(key, 0, -1),
        b"set": raw.smembers,
        b"hash": raw.hgetall,
        b"zset": lambda key: raw.zrange(key, 0, -1, withscores=True),
    }
    state: dict[bytes, object] = {}
    for key in raw.scan_iter(match=f"*{prefix}*"):
        if key.endswith((b":counters", b":deadlines")):
            continue
        kind = cast("bytes", raw.type(key))
        state[key] = (kind, readers[kind](key))
    return state


def delayed_entries(raw: redis.Redis, client: Worqr | AsyncWorqr, queue: str = "jobs") -> list[tuple[bytes, float]]:
    """The queue's delayed set as (member, due time in server ms), earliest first."""
    return cast("list[tuple[bytes, float]]", raw.zrange(keys_of(client, queue).delayed, 0, -1, withscores=True))


def dequeue_once_due(client: Worqr, raw: redis.Redis, due_ms: float, queue: str = "jobs") -> Process[str]:
    """Dequeue until the one delayed task of ``queue`` comes, checking by the server's clock
    that no dequeue got it before its due time (it stays delayed until then) and that no
    dequeue that started after its due time came back empty."""
    got: list[Process[str]] = []

    def dequeued() -> bool:
        before = server_ms(raw)
        process = client.dequeue(queue)
        after = server_ms(raw)
        if process is None:
            assert before < due_ms, "the task was due but a dequeue did not promote it"
            assert (client.count_delayed(queue), client.count_queue(queue)) == (1, 0)
            return False
        assert after >= due_ms, "the task was dequeued before it was due"
        got.append(process)
        return True

    wait_until(dequeued)
    return got[0]
