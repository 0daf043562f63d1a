"""RQ: ``Queue.enqueue`` returns a `Job`; ``Job.latest_result(timeout=)`` blocks on the job's
result stream (XREAD) until the worker writes it. A `SimpleWorker` runs one job at a time in
its own process (the default `Worker` forks a work horse per job, far slower), so the row
runs `PROCESSES` of them, one per core of the benchmark machine."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from rq import Queue, SimpleWorker

from bench.calls_peers import CALL_TIMEOUT, CallSystem, SyncCall
from bench.children import Shared, at_start_line, count, signal_on_stop

QUEUE = "bench-calls"
PROCESSES = 2
_counter: Any = None


def echo(n: int) -> int:
    count(_counter)
    return n


def run_worker(url: str, shared: Shared) -> None:
    global _counter  # noqa: PLW0603 (the job runs in this process)
    _counter = shared.counter
    client = redis.Redis.from_url(url)
    worker = SimpleWorker([Queue(QUEUE, connection=client)], connection=client)
    if not at_start_line(shared):
        return
    signal_on_stop(shared, signal.SIGTERM)  # rq's warm shutdown
    worker.work(logging_level="WARNING")


@contextmanager
def caller(url: str) -> Iterator[SyncCall]:
    client = redis.Redis.from_url(url)
    queue = Queue(QUEUE, connection=client)

    def call(n: int) -> int:
        job = queue.enqueue(echo, n)
        result = job.latest_result(timeout=int(CALL_TIMEOUT))
        if result is None:
            msg = f"no result of the rq job {job.id} within {CALL_TIMEOUT} s"
            raise TimeoutError(msg)
        if result.type != result.Type.SUCCESSFUL:
            msg = f"the rq job {job.id} ended {result.type!r}: {result.exc_string}"
            raise RuntimeError(msg)
        return int(result.return_value)

    try:
        yield call
    finally:
        client.close()


SYSTEMS = (
    CallSystem(
        name="rq",
        distribution="rq",
        worker=run_worker,
        setup="Queue.enqueue + Job.latest_result(timeout=); SimpleWorker (no fork)",
        sync_caller=caller,
        processes=PROCESSES,
    ),
)
