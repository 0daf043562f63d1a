"""The raw ceiling: the reliable-queue pattern written by hand with redis-py, no library.

A producer ``LPUSH``es; a worker ``LMOVE``s the oldest task into a processing list, then
acknowledges it with ``LREM``. Once with one round trip per command, once pipelined in
batches (of 100). Idle wake-up uses ``BLMOVE``, the pattern's blocking form, in a worker
process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

import redis

from bench import redis_stats
from bench.children import Shared, count, started
from bench.redis_stats import Usage
from bench.settings import Settings, payload
from bench.timing import Latency, Rate, timed_loop

PENDING = "raw:pending"
PROCESSING = "raw:processing"


@dataclass(frozen=True)
class RawFigures:
    enqueue: Rate
    enqueue_pipelined: Rate
    drain: Rate
    drain_pipelined: Rate
    enqueue_usage: Usage
    drain_usage: Usage
    drain_pipelined_usage: Usage
    memory_per_task: float
    latency: Latency


def measure(url: str, settings: Settings) -> RawFigures:
    client = redis.Redis.from_url(url)
    try:
        return _measure(url, client, settings)
    finally:
        client.close()


def _measure(url: str, client: redis.Redis, settings: Settings) -> RawFigures:
    redis_stats.flush(client)
    before = redis_stats.snapshot(client)
    enqueue = timed_loop(settings.raw_tasks, settings.enqueue_seconds * 2, lambda i: _push(client, i))
    enqueue_usage = redis_stats.usage(before, redis_stats.snapshot(client))

    before = redis_stats.snapshot(client)
    drain = timed_loop(enqueue.done, settings.enqueue_seconds * 2, lambda _i: _take_and_ack(client))
    drain_usage = redis_stats.usage(before, redis_stats.snapshot(client))

    redis_stats.flush(client)
    size = settings.batch_size
    enqueue_pipelined = timed_loop(settings.raw_pipelined_tasks, 10.0, lambda i: _push_batch(client, i, size))
    before = redis_stats.snapshot(client)
    drain_pipelined = timed_loop(enqueue_pipelined.done, 10.0, lambda _i: _take_and_ack_batch(client, size))
    drain_pipelined_usage = redis_stats.usage(before, redis_stats.snapshot(client))

    return RawFigures(
        enqueue=enqueue,
        enqueue_pipelined=enqueue_pipelined,
        drain=drain,
        drain_pipelined=drain_pipelined,
        enqueue_usage=enqueue_usage,
        drain_usage=drain_usage,
        drain_pipelined_usage=drain_pipelined_usage,
        memory_per_task=_memory_per_task(client, settings.drain_tasks, size),
        latency=_latency(url, client, settings.latency_samples),
    )


def _push(client: redis.Redis, i: int) -> int:
    client.lpush(PENDING, payload(i))
    return 1


def _take_and_ack(client: redis.Redis) -> int:
    task = client.lmove(PENDING, PROCESSING, "RIGHT", "LEFT")
    if task is None:
        msg = "the raw queue ran dry before the drain ended"
        raise RuntimeError(msg)
    client.lrem(PROCESSING, 1, cast("str", task))  # the work is done: acknowledge
    return 1


def _push_batch(client: redis.Redis, start: int, size: int) -> int:
    pipe = client.pipeline(transaction=False)
    for i in range(start, start + size):
        pipe.lpush(PENDING, payload(i))
    pipe.execute()
    return size


def _take_and_ack_batch(client: redis.Redis, size: int) -> int:
    pipe = client.pipeline(transaction=False)
    for _ in range(size):
        pipe.lmove(PENDING, PROCESSING, "RIGHT", "LEFT")
    tasks = [t for t in pipe.execute() if t is not None]
    pipe = client.pipeline(transaction=False)
    for task in reversed(tasks):  # the newest is at the head of the processing list
        pipe.lrem(PROCESSING, 1, task)
    pipe.execute()
    return max(1, len(tasks))


def _memory_per_task(client: redis.Redis, tasks: int, size: int) -> float:
    redis_stats.flush(client)
    before = redis_stats.memory(client)
    for start in range(0, tasks, size):
        _push_batch(client, start, min(size, tasks - start))
    used = redis_stats.memory(client) - before
    redis_stats.flush(client)
    return used / tasks


def blmove_worker(url: str, shared: Shared) -> None:
    """A worker process of the raw pattern: BLMOVE, send the time it got the task, LREM."""
    client = redis.Redis.from_url(url)
    starts = shared.start_times
    shared.ready.release()
    shared.go.wait()
    while not shared.stop.is_set():
        task = client.blmove(PENDING, PROCESSING, 1, "RIGHT", "LEFT")
        if task is not None:
            starts.put(time.monotonic())
            client.lrem(PROCESSING, 1, cast("str", task))
            count(shared.counter)
    client.close()


def _latency(url: str, client: redis.Redis, samples: int) -> Latency:
    """Time from the LPUSH call starting to a worker process blocked in BLMOVE getting the
    task (CLOCK_MONOTONIC in both). From the call's start: the worker's reply leaves the
    server with the producer's, so from LPUSH returning it would be about zero."""
    redis_stats.flush(client)
    shared = Shared.make(with_starts=True)
    latencies = []
    with started(blmove_worker, (url,), 1, shared) as group:
        group.go()
        time.sleep(0.05)  # blocked in BLMOVE
        for i in range(samples):
            pushing = time.monotonic()
            client.lpush(PENDING, payload(i))
            latencies.append(shared.start_times.get(timeout=10) - pushing)
            while shared.count <= i:  # acknowledged: about to block again
                time.sleep(0.0005)
            time.sleep(0.005)
    return Latency.of(latencies)
