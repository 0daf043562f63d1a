"""Property 1: every state change is one Lua script (EVALSHA); no MULTI/WATCH from Python."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import redis

from worqr import Worqr

#: Commands a client may send outside a script: reads, pub/sub, and connection setup.
READS = {
    "LLEN",
    "LINDEX",
    "LRANGE",
    "SMEMBERS",
    "HGETALL",
    "HLEN",
    "ZCARD",
    "INFO",
    "PING",
    "ECHO",
    "HELLO",
    "CLIENT",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "SELECT",
}


def test_every_state_change_is_one_script(make_worqr: Callable[..., Worqr], redis_url: str) -> None:
    lines: list[str] = []  # commands sent by clients; commands run inside scripts are left out
    ready = threading.Event()
    marker = f"end-{uuid.uuid4().hex}"

    def watch() -> None:
        client: Any = redis.Redis.from_url(redis_url)  # monitor() is untyped in redis-py
        with client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if command.get("client_type") != "lua":
                    lines.append(command["command"])
                if marker in command["command"]:
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(10)

    producer, worker, peer = make_worqr(), make_worqr(worker_timeout=None), make_worqr()
    producer.enqueue("jobs", ["a", "b", "c", "d"], unique=True)
    worker.start_worker()
    peer.start_worker()
    worker.start_work("jobs")
    one, two, three = worker.dequeue("jobs"), worker.dequeue("jobs"), worker.dequeue("jobs")
    assert one and two and three
    worker.finish_process(one.id, 1)
    worker.stop_process(two.id)
    producer.cancel_tasks("jobs", "d")
    producer.get_matching_processes("c")
    peer.fail_worker(worker.worker_id)
    peer.cleanup_workers()
    producer.delete_queue("jobs")
    worker.close()
    peer.close()
    redis.Redis.from_url(redis_url).echo(marker)
    watcher.join(10)

    names = [line.split(" ", 1)[0].upper() for line in lines]
    assert "EVALSHA" in names
    offenders = sorted({n for n in names if n not in READS | {"EVALSHA", "SCRIPT"}})
    assert offenders == [], f"state changed outside a script: {offenders}"
    assert "MULTI" not in names and "WATCH" not in names
