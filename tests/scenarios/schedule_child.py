"""An OS process running a runtime worker of one queue, driven by
tests/scenarios/test_schedule_processes.py: it fires the queue's schedules (every runtime
worker of a queue does) and runs their tasks.

    python schedule_child.py URL PREFIX QUEUE

Its worker id is "ticker-<pid>". Prints "ready" once its worker serves the queue; each task
it runs is pushed, with the server's time, onto the list "<PREFIX>:ran" (one slot: the
test's own bookkeeping, not worqr's).
"""

from __future__ import annotations

import os
import sys
import threading

import redis

from worqr import Process, Worqr


def main() -> None:
    url, prefix, queue = sys.argv[1:4]
    raw = redis.Redis.from_url(url)
    client = Worqr(
        redis=url,
        prefix=prefix,
        worker_id=f"ticker-{os.getpid()}",
        heartbeat_interval=0.2,
        worker_timeout=1.0,
        cleanup_interval=0.5,
    )

    def run(process: Process[str]) -> None:
        seconds, micros = raw.time()
        raw.rpush(f"{prefix}:ran", f"{process.task} {seconds * 1000 + micros // 1000}")

    worker = client.worker(queue, run, concurrency=2)
    worker.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
