"""worqr's figures: enqueue (one task per call, batches, one big list), drains through the
runtime in worker processes, idle wake-up latency, commands and round trips per task,
memory per queued task, and the herd of idle workers one new task wakes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from bench import redis_stats
from bench.children import Drain, Shared, started, timed_drain
from bench.faults import Recovery, Subject, Twice, twice_drain
from bench.herd import AttemptCounter
from bench.redis_stats import Usage
from bench.settings import Settings, payload
from bench.timing import Latency, Rate, timed_loop
from bench.worqr_child import (
    FAULT_PREFIX,
    FAULT_QUEUE,
    run_marked_worker,
    run_rescuer,
    run_timed_worker,
    run_victim,
    run_worker,
)
from worqr import Worqr
from worqr._protocol.keys import QueueKeys
from worqr._protocol.scripts import script

PREFIX = "bench"
QUEUE = "noop"


@dataclass(frozen=True)
class Herd:
    """Dequeue attempts per new task among ``workers`` idle workers: ``gross`` counted
    between the markers around a task, ``net`` after taking off the idle polling
    (``background`` attempts per second, measured with no task) over the same windows."""

    workers: int
    tasks: int
    gross: float
    net: float
    background: float


@dataclass(frozen=True)
class WorqrFigures:
    enqueue: Rate
    enqueue_usage: Usage
    enqueue_batch: Rate
    enqueue_list: Rate
    memory_per_task: float
    #: (processes, concurrency) -> drain; concurrency 0 stands for the defaults.
    drains: dict[tuple[int, int], Drain]
    best_concurrency: int
    latency: Latency
    herd: Herd
    twice: Twice


def _fill_faults(url: str, tasks: int) -> None:
    with Worqr(redis=url, prefix=FAULT_PREFIX) as wq:
        wq.enqueue(FAULT_QUEUE, [payload(i) for i in range(tasks)])


#: worqr in the crash-recovery row (`bench.faults`).
SUBJECT = Subject("worqr", _fill_faults, Recovery(run_victim, run_rescuer, note="victim concurrency 50"))


def measure(url: str, settings: Settings, say: Callable[[str], None]) -> WorqrFigures:
    client = redis.Redis.from_url(url)
    try:
        with Worqr(redis=url, prefix=PREFIX) as wq:
            return _measure(url, client, wq, settings, say)
    finally:
        client.close()


def _measure(url: str, client: redis.Redis, wq: Worqr, settings: Settings, say: Callable[[str], None]) -> WorqrFigures:
    say("worqr: enqueue")
    redis_stats.flush(client)
    before = redis_stats.snapshot(client)
    enqueue = timed_loop(settings.enqueue_tasks, settings.enqueue_seconds, lambda i: wq.enqueue(QUEUE, payload(i)))
    enqueue_usage = redis_stats.usage(before, redis_stats.snapshot(client))

    redis_stats.flush(client)
    size = settings.batch_size
    batch = timed_loop(
        settings.batch_tasks, 10.0, lambda i: wq.enqueue(QUEUE, [payload(j) for j in range(i, i + size)])
    )
    memory_per_task = _memory_per_task(client, wq, settings.drain_tasks, size)
    enqueue_list = _fill(client, wq, settings.drain_tasks)

    drains: dict[tuple[int, int], Drain] = {}
    for concurrency in settings.concurrencies:
        say(f"worqr: drain, 1 process, concurrency {concurrency}")
        drains[1, concurrency] = _drain(url, client, wq, settings, processes=1, concurrency=concurrency)
    best = max(settings.concurrencies, key=lambda c: drains[1, c].rate)
    for concurrency in sorted({1, best}):
        say(f"worqr: drain, 2 processes, concurrency {concurrency}")
        drains[2, concurrency] = _drain(url, client, wq, settings, processes=2, concurrency=concurrency)

    say("worqr: idle wake-up latency")
    latency = _latency(url, client, wq, settings.latency_samples)
    say(f"worqr: the herd of {settings.herd_workers} idle workers")
    herd = _herd(url, client, wq, settings)
    say(f"worqr: tasks run twice, {settings.twice_tasks:,} marked tasks, default settings")
    redis_stats.flush(client)
    twice = twice_drain(
        client,
        run_marked_worker,
        (url, PREFIX, QUEUE, {}),
        lambda n: _enqueue_marked(wq, n),
        settings,
    )
    return WorqrFigures(
        enqueue, enqueue_usage, batch, enqueue_list, memory_per_task, drains, best, latency, herd, twice
    )


def _enqueue_marked(wq: Worqr, tasks: int) -> None:
    wq.enqueue(QUEUE, [payload(i) for i in range(tasks)])


def _options(concurrency: int) -> dict[str, Any]:
    """The worker's options: none for concurrency 1 (the defaults)."""
    return {} if concurrency == 1 else {"concurrency": concurrency}


def _fill(client: redis.Redis, wq: Worqr, tasks: int) -> Rate:
    """Empty the server and enqueue ``tasks`` in one call."""
    redis_stats.flush(client)
    batch = [payload(i) for i in range(tasks)]
    start = time.perf_counter()
    wq.enqueue(QUEUE, batch)
    return Rate(tasks, time.perf_counter() - start)


def _memory_per_task(client: redis.Redis, wq: Worqr, tasks: int, size: int) -> float:
    """Memory per queued task, enqueued in batches of ``size`` like the raw pattern's (one
    call of every task would leave its large query buffer in the server's memory)."""
    redis_stats.flush(client)
    before = redis_stats.memory(client)
    for start in range(0, tasks, size):
        wq.enqueue(QUEUE, [payload(i) for i in range(start, min(tasks, start + size))])
    return (redis_stats.memory(client) - before) / tasks


def _drain(url: str, client: redis.Redis, wq: Worqr, settings: Settings, *, processes: int, concurrency: int) -> Drain:
    _fill(client, wq, settings.drain_tasks)
    args = (url, PREFIX, QUEUE, _options(concurrency))
    return timed_drain(
        client, run_worker, args, processes=processes, tasks=settings.drain_tasks, seconds=settings.drain_seconds
    )


def _wait_for(what: str, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout} s waiting for {what}"
            raise RuntimeError(msg)
        time.sleep(0.01)


def _reached(shared: Shared, tasks: int) -> Callable[[], bool]:
    return lambda: shared.count >= tasks


def _wait_idle(client: redis.Redis, workers: int) -> None:
    """Wait until ``workers`` workers joined the queue and subscribed to its events, then a
    little longer, for their first look at the (empty) queue."""
    keys = QueueKeys(PREFIX, QUEUE)

    def joined() -> bool:
        ((_, subscribers),) = client.pubsub_numsub(keys.channel)
        return int(client.scard(keys.workers)) >= workers and int(subscribers) >= workers

    _wait_for(f"{workers} worker(s) to join {QUEUE!r}", joined)
    time.sleep(0.3)


def _latency(url: str, client: redis.Redis, wq: Worqr, samples: int) -> Latency:
    """Time from ``enqueue`` returning to the handler starting in an idle worker process
    (default settings), both read from CLOCK_MONOTONIC."""
    redis_stats.flush(client)
    shared = Shared.make(with_starts=True)
    latencies = []
    with started(run_timed_worker, (url, PREFIX, QUEUE, {}), 1, shared) as group:
        group.go()
        _wait_idle(client, 1)
        for i in range(samples):
            wq.enqueue(QUEUE, payload(i))
            enqueued = time.monotonic()
            latencies.append(shared.start_times.get(timeout=10) - enqueued)
            _wait_for("the handler to return", _reached(shared, i + 1), 10)
            time.sleep(0.01)  # the worker finishes, looks at the queue once more, and idles
    return Latency.of(latencies)


def _herd(url: str, client: redis.Redis, wq: Worqr, settings: Settings) -> Herd:
    redis_stats.flush(client)
    workers = settings.herd_workers
    with started(run_worker, (url, PREFIX, QUEUE, {}), workers) as group:
        group.go()
        _wait_idle(client, workers)
        with AttemptCounter(url, script("dequeue").sha) as counter:
            quiet_seconds = 2.0 if settings.herd_tasks >= 5 else 0.5  # noqa: PLR2004 (a short idle sample for --quick)
            counter.mark("idle-start")
            time.sleep(quiet_seconds)
            counter.mark("idle-end")
            counter.wait_marked("idle-end")
            background = counter.tally.between("idle-start", "idle-end") / quiet_seconds
            gross = 0
            window = 0.0
            for i in range(settings.herd_tasks):
                counter.mark(f"task-{i}")
                start = time.monotonic()
                wq.enqueue(QUEUE, payload(i))
                _wait_for("a worker to handle the task", _reached(group.shared, i + 1), 10)
                counter.quiet_for(0.1, timeout=2.0)
                counter.mark(f"end-{i}")
                window += time.monotonic() - start
                counter.wait_marked(f"end-{i}")
                gross += counter.tally.between(f"task-{i}", f"end-{i}")
    tasks = settings.herd_tasks
    return Herd(workers, tasks, gross / tasks, (gross - background * window) / tasks, background)
