"""The benchmark of crash recovery: a worker process holding 50 sleeping tasks is SIGKILLed
while a rescuer with default settings idles on the queue; seconds from the kill until all 50
ran again on the rescuer. Both use default client settings (heartbeat 1 s, worker_timeout
3 s, cleanup_interval 10 s), in one run on one private server (progress to stderr).

    python -m bench.recovery [--kills N] [--tasks N]

The floor is ``worker_timeout``: a peer may not reap a worker whose heartbeat could still be
alive. docs/performance.md ("Crash recovery") explains the table.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import subprocess
import sys
import time
import uuid

from bench import machine
from bench.timing import Latency
from worqr import Process, Worqr
from worqr.testing import RedisServer

VICTIM = """
import sys, threading, time
from worqr import Worqr
client = Worqr(redis=sys.argv[1], prefix=sys.argv[2])
worker = client.worker(sys.argv[3], lambda process: time.sleep(3600), concurrency=int(sys.argv[4]))
worker.start()
print("ready", flush=True)
threading.Event().wait()
"""


def say(message: str) -> None:
    print(f"[bench.recovery] {message}", file=sys.stderr, flush=True)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"bench.recovery: {message}")


def one_kill(url: str, tasks: int, rng: random.Random) -> float:
    prefix, queue_name = f"bench-{uuid.uuid4().hex[:8]}", "slow"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    victim = subprocess.Popen(  # noqa: S603 (this interpreter, our own script)
        [sys.executable, "-c", VICTIM, url, prefix, queue_name, str(tasks)], stdout=subprocess.PIPE, text=True, env=env
    )
    _require(victim.stdout is not None and victim.stdout.readline().strip() == "ready", "the victim did not start")
    producer = Worqr(redis=url, prefix=prefix)
    producer.enqueue(queue_name, [f"task {i}" for i in range(tasks)])
    deadline = time.monotonic() + 30.0
    while producer.count_queue(queue_name) or len(producer.inspect_processes(queue_name)) < tasks:
        _require(time.monotonic() < deadline, "the victim did not take every task")
        time.sleep(0.01)
    ran: queue.Queue[float] = queue.Queue()

    def run(_: Process[str]) -> None:
        ran.put(time.perf_counter())

    rescuer_client = Worqr(redis=url, prefix=prefix)
    rescuer = rescuer_client.worker(queue_name, run, concurrency=tasks)
    rescuer.start()
    time.sleep(rng.uniform(2.0, 4.0))  # kill at a random phase of both heartbeats, a few beats in
    killed_at = time.perf_counter()
    victim.kill()
    victim.wait()
    if victim.stdout is not None:
        victim.stdout.close()
    last = max(ran.get(timeout=120.0) for _ in range(tasks))
    rescuer.stop()
    rescuer_client.close()
    producer.close()
    return last - killed_at


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.recovery", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLed workers measured (default 20)")
    parser.add_argument("--tasks", type=int, default=50, help="tasks the victim holds (default 50)")
    args = parser.parse_args(argv)
    rng = random.Random(7)  # noqa: S311 (when to kill, not security)
    seconds = []
    with RedisServer() as server:
        for i in range(args.kills):
            seconds.append(one_kill(server.url, args.tasks, rng))
            say(f"kill {i + 1}/{args.kills}: all {args.tasks} ran again {seconds[-1]:.2f} s after the kill")
    took = Latency.of(seconds)
    timeout = 3.0  # the default worker_timeout
    print("| crash recovery, default settings | kills | p50 | p99 | max | p99 - worker_timeout |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| {args.tasks} sleeping tasks of a SIGKILLed worker run again | {took.samples} | {took.p50_ms / 1000:.2f} s | "
        f"{took.p99_ms / 1000:.2f} s | {took.max_ms / 1000:.2f} s | {took.p99_ms / 1000 - timeout:.2f} s |"
    )
    print("\n" + "; ".join(f"{k}: {v}" for k, v in machine.describe()))


if __name__ == "__main__":
    main()
