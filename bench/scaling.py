"""Drain throughput on a Redis Cluster of 1, 2 and 3 primaries (docs/scaling.md).

    python -m bench.scaling [--tasks N] [--queues Q] [--processes P] [--primaries 1,2,3]

For each size it starts a fresh local cluster (`worqr.testing.LocalCluster`, no replicas,
AOF and snapshots off), spreads ``Q`` queues over its slots by their names, fills them, and
times ``P`` worker processes (the runtime, default settings; process ``i`` serves every
``P``-th queue) until every task is handled. Beside each rate it prints the server CPU each
primary spent per task: on a machine with few cores the Python workers, not the shards, set
the rate, and the per-shard CPU shows how the load spreads (what lets throughput grow with
shards where the clients have cores to spare).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Any

import redis

from bench import children, machine, redis_stats
from bench.children import Shared, started
from bench.table import TIMES
from bench.worqr_child import CLUSTER_PREFIX as PREFIX
from bench.worqr_child import run_cluster_worker
from worqr import Worqr
from worqr.testing import LocalCluster


def _server_cpu(cluster: LocalCluster) -> dict[int, float]:
    """Seconds of CPU each primary has used so far, by port."""
    used = {}
    for node in cluster.primaries():
        client = redis.Redis(host=node.host, port=node.port)
        try:
            info: dict[str, Any] = client.info("cpu")
        finally:
            client.close()
        used[node.port] = float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    return used


def measure(
    primaries: int, *, tasks: int, queues: int, processes: int
) -> tuple[float, list[float], dict[int, int], str]:
    """(tasks/s, server µs per task on each primary, queues per primary, server version)."""
    names = [f"q{i}" for i in range(queues)]
    with LocalCluster(primaries=primaries, replicas=0) as cluster:
        per_primary: dict[int, int] = {}
        for name in names:
            owner = cluster.primary_for("{" + PREFIX + ":" + name + "}")
            per_primary[owner.port] = per_primary.get(owner.port, 0) + 1
        with Worqr(redis=cluster.url, prefix=PREFIX) as producer:
            for i, name in enumerate(names):
                share = tasks // queues + (1 if i < tasks % queues else 0)
                producer.enqueue(name, [f"t{j}" for j in range(share)])
        assignments = [[n for j, n in enumerate(names) if j % processes == p] for p in range(processes)]
        shared = Shared.make()
        cpu_before = _server_cpu(cluster)
        with contextlib.ExitStack() as stack:
            groups = [
                stack.enter_context(started(run_cluster_worker, (cluster.url, a), 1, shared)) for a in assignments
            ]
            start = time.monotonic()
            groups[0].go()  # one start line: the children share ``shared``
            done = groups[0].wait_count(tasks, start + 120.0)
            elapsed = time.monotonic() - start
        cpu_after = _server_cpu(cluster)
        version = _version(cluster)
    if done < tasks:
        msg = f"only {done} of {tasks} tasks were handled in 120 s on {primaries} primaries"
        raise RuntimeError(msg)
    micros = [(cpu_after[port] - cpu_before[port]) * 1e6 / tasks for port in sorted(cpu_before)]
    return tasks / elapsed, micros, per_primary, version


def _version(cluster: LocalCluster) -> str:
    node = cluster.primaries()[0]
    client = redis.Redis(host=node.host, port=node.port)
    try:
        return redis_stats.server_version(client)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=30000)
    parser.add_argument("--queues", type=int, default=12)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--primaries", default="1,2,3")
    args = parser.parse_args(argv)
    children.preload(children.PRELOAD)
    sizes = [int(n) for n in args.primaries.split(",")]
    rows = []
    for size in sizes:
        print(
            f"[bench] cluster of {size} primaries: {args.tasks} tasks on {args.queues} queues",
            file=sys.stderr,
            flush=True,
        )
        rows.append((size, *measure(size, tasks=args.tasks, queues=args.queues, processes=args.processes)))
    base = rows[0][1]
    print("## worqr on Redis Cluster: drain throughput by number of primaries\n")
    print(f"- {rows[0][4]}; {os.cpu_count()} {TIMES} {machine.cpu_model()}; load average {machine.load_average()}")
    print(f"- Run: `python -m bench.scaling --tasks {args.tasks} --queues {args.queues} --processes {args.processes}`; "
          f"{args.processes} worker processes, runtime defaults, no replicas.\n")  # fmt: skip
    print(
        f"| Primaries | Queues per primary | Drain (tasks/s) | {TIMES} 1 primary | Server CPU per task on each primary (µs) |"
    )
    print("|---:|---|---:|---:|---|")
    for size, rate, micros, per_primary, _ in rows:
        spread = " / ".join(str(n) for _, n in sorted(per_primary.items()))
        cpu = " / ".join(f"{m:.1f}" for m in micros)
        print(f"| {size} | {spread} | {rate:,.0f} | {TIMES}{rate / base:.2f} | {cpu} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
