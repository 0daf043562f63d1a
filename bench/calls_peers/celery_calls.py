"""Celery: ``task.delay(n)`` returns an `AsyncResult`; ``AsyncResult.get(timeout=)`` waits
for the Redis result backend's message (it subscribes to the task's result channel). The
worker runs the thread pool with concurrency 16, without gossip, mingle and heartbeats (the
cluster chatter a single worker does not need)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery

from bench.calls_peers import CALL_TIMEOUT, CallSystem, SyncCall
from bench.children import Shared, at_start_line, count, signal_on_stop

QUEUE = "bench-calls"
CONCURRENCY = 16
_counter: Any = None

app = Celery("bench_calls")
app.conf.update(
    task_default_queue=QUEUE,
    worker_hijack_root_logger=False,
    worker_log_color=False,
    broker_connection_retry_on_startup=True,
    result_expires=600,
)


@app.task(name="echo")  # type: ignore[untyped-decorator]
def echo(n: int) -> int:
    count(_counter)
    return n


def _configure(url: str) -> None:
    app.conf.update(broker_url=url, result_backend=url)


def run_worker(url: str, shared: Shared) -> None:
    global _counter  # noqa: PLW0603 (the task runs in this process)
    _counter = shared.counter
    os.dup2(2, 1)  # the worker prints its shutdown on stdout: keep the report clean
    _configure(url)
    worker = app.Worker(
        pool="threads",
        concurrency=CONCURRENCY,
        loglevel="WARNING",
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        quiet=True,
    )
    if not at_start_line(shared):
        return
    signal_on_stop(shared, signal.SIGTERM)  # celery's warm shutdown
    worker.start()


@contextmanager
def caller(url: str) -> Iterator[SyncCall]:
    _configure(url)

    def call(n: int) -> int:
        return int(echo.delay(n).get(timeout=CALL_TIMEOUT))

    try:
        yield call
    finally:
        app.close()


SYSTEMS = (
    CallSystem(
        name="celery",
        distribution="celery",
        worker=run_worker,
        setup=f"task.delay + AsyncResult.get(timeout=); threads pool, concurrency {CONCURRENCY}, Redis broker and result backend",
        sync_caller=caller,
    ),
)
