"""Celery with its Redis broker: a task is a message in a list (kombu's Redis transport),
taken by the worker's consumer and run by its pool (prefork, one child per CPU, by
default). Messages are acknowledged before the task runs (``acks_late`` is off by
default), so a worker killed meanwhile loses its tasks; a message taken but not yet
acknowledged comes back after the transport's visibility timeout, one hour. No result
backend is configured: the drain needs none. Gossip, mingle and heartbeats are off (the
cluster chatter a single worker does not need)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery

from bench.children import Shared, at_start_line, signal_on_stop, tally
from bench.faults import Recovery
from bench.peers import Peer, Producer, Setup
from bench.timing import Rate, timed_loop

QUEUE = "bench"
_shared: Shared | None = None

app = Celery("bench")
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    worker_log_color=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="noop")  # type: ignore[untyped-decorator]
def noop(index: int = -1) -> None:
    tally(_shared, index)


class CeleryProducer:
    def __init__(self, url: str) -> None:
        app.conf.update(broker_url=url)
        # A connection of its own (not the app's pool, shared by every producer of this
        # process), released on close.
        self.connection = app.connection_for_write(url)
        self.producer = app.amqp.Producer(self.connection)

    def _send(self, index: int = -1) -> None:
        noop.apply_async(() if index < 0 else (index,), producer=self.producer)

    def enqueue(self, total: int, seconds: float) -> Rate:
        def one(_i: int) -> int:
            self._send()
            return 1

        return timed_loop(total, seconds, one)

    def enqueue_batches(self, _total: int, _size: int, _seconds: float) -> Rate | None:
        return None  # a group or chunks sends its messages one by one

    def fill(self, total: int, *, marked: bool = False) -> None:
        for i in range(total):
            self._send(i if marked else -1)

    def close(self) -> None:
        self.connection.release()


@contextmanager
def producer(url: str) -> Iterator[Producer]:
    made = CeleryProducer(url)
    try:
        yield made
    finally:
        made.close()


def _work(url: str, shared: Shared, **options: Any) -> None:
    global _shared  # noqa: PLW0603 (the task runs in this process, its threads or its forked children)
    _shared = shared
    os.dup2(2, 1)  # the worker prints its shutdown on stdout: keep the report clean
    app.conf.update(broker_url=url)
    worker = app.Worker(
        loglevel="WARNING", without_gossip=True, without_mingle=True, without_heartbeat=True, quiet=True, **options
    )
    if not at_start_line(shared):
        return
    signal_on_stop(shared, signal.SIGTERM)  # celery's warm shutdown
    worker.start()


def run_default(url: str, shared: Shared) -> None:
    _work(url, shared)


def run_threads(url: str, shared: Shared) -> None:
    _work(url, shared, pool="threads", concurrency=16)


def run_victim(url: str, shared: Shared) -> None:
    _work(url, shared, pool="threads", concurrency=50)


PEER = Peer(
    name="celery",
    distribution="celery",
    producer=producer,
    setups=(
        Setup("worker defaults (prefork pool, one child per CPU)", run_default),
        Setup("thread pool, concurrency 16", run_threads, "16 threads"),
    ),
    notes="no batch enqueue call; no result backend",
    recovery=Recovery(run_victim, run_default, note="victim: thread pool, concurrency 50"),
)
