"""The benchmark of schedules: how late a periodic schedule's run starts after its due time,
with one and with four runtime workers of its queue looking at every due time, beside a
delayed task (``enqueue(delay=)``, the same wake-up path without a schedule) and the raw
round trip of the same server, in one run on one private server (progress to stderr).

    python -m bench.schedules [--ticks N] [--every S]

Each run's lateness is the server's time when its handler started, less its due time (the
schedule's first due time plus a whole number of intervals; the fire script never runs one
early). Default client settings. docs/schedules.md ("How late a run starts") explains it.
"""

from __future__ import annotations

import argparse
import queue
import sys
import time
import uuid

import redis

from bench import machine
from bench.leases import ping
from bench.timing import Latency
from worqr import Process, Worker, Worqr
from worqr.testing import RedisServer


def say(message: str) -> None:
    print(f"[bench.schedules] {message}", file=sys.stderr, flush=True)


def server_ms(raw: redis.Redis) -> float:
    seconds, micros = raw.time()
    return seconds * 1000 + micros / 1000


def _workers(url: str, prefix: str, count: int, started: queue.Queue[float]) -> tuple[list[Worqr], list[Worker[str]]]:
    raw = redis.Redis.from_url(url)

    def run(_: Process[str]) -> None:
        started.put(server_ms(raw))

    clients = [Worqr(redis=url, prefix=prefix) for _ in range(count)]
    workers = [client.worker("ticks", run) for client in clients]
    for worker in workers:
        worker.start()
    return clients, workers


def _stop(clients: list[Worqr], workers: list[Worker[str]]) -> None:
    for worker in workers:
        worker.stop()
    for client in clients:
        client.close()


def scheduled(url: str, workers: int, ticks: int, every: float) -> Latency:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    started: queue.Queue[float] = queue.Queue()
    clients, running = _workers(url, prefix, workers, started)
    made = clients[0].schedule("tick", "ticks", "tick", every=every)
    if made.next_due is None:
        raise SystemExit("bench.schedules: the schedule has no due time")
    first = made.next_due.timestamp() * 1000
    late = []
    for _ in range(ticks):
        at = started.get(timeout=60.0)
        due = first + round((at - first) / (every * 1000) - 0.25) * every * 1000  # runs are never early
        late.append((at - due) / 1000)
    clients[0].remove_schedule("tick")
    _stop(clients, running)
    return Latency.of(late)


def delayed(url: str, samples: int, every: float) -> Latency:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    started: queue.Queue[float] = queue.Queue()
    clients, running = _workers(url, prefix, 1, started)
    raw = redis.Redis.from_url(url)
    late = []
    for _ in range(samples):
        due = server_ms(raw) + every * 1000
        clients[0].enqueue("ticks", "later", delay=every)
        late.append((started.get(timeout=60.0) - due) / 1000)
    _stop(clients, running)
    return Latency.of(late)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.schedules", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=200, help="runs measured per row (default 200)")
    parser.add_argument("--every", type=float, default=0.1, help="the schedule's interval in seconds (default 0.1)")
    args = parser.parse_args(argv)
    with RedisServer() as server:
        rtt = ping(server.url)
        say(f"PING round trip p50 {rtt.p50_ms:.3f} ms")
        rows = []
        for workers in (1, 4):
            started = time.perf_counter()
            rows.append(
                (
                    f"schedule every={args.every:g}, {workers} worker(s)",
                    scheduled(server.url, workers, args.ticks, args.every),
                )
            )
            say(f"{workers} worker(s): {time.perf_counter() - started:.1f} s")
        rows.append((f"delayed task, delay={args.every:g} (baseline)", delayed(server.url, args.ticks, args.every)))
    print("| run starts after its due time | samples | p50 | p99 | max | p50 / PING p50 |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, late in rows:
        print(
            f"| {label} | {late.samples} | {late.p50_ms:.2f} ms | {late.p99_ms:.2f} ms | {late.max_ms:.2f} ms | "
            f"{late.p50_ms / rtt.p50_ms:.0f}\u00d7 |"
        )
    print(f"\nPING round trip p50 {rtt.p50_ms:.3f} ms; " + "; ".join(f"{k}: {v}" for k, v in machine.describe()))


if __name__ == "__main__":
    main()
