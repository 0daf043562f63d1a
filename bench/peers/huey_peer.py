"""huey: a task is a pickled message in a Redis list, taken with BRPOP by the consumer's
workers (one thread by default). Results of tasks that return None are not stored. A task
is off the list once a worker took it: a consumer killed meanwhile loses it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from huey import RedisHuey

from bench.children import Shared, at_start_line, signal_on_stop, tally
from bench.faults import Recovery
from bench.peers import Peer, Producer, Setup
from bench.timing import Rate, timed_loop

NAME = "bench"
_shared: Shared | None = None


def _noop(index: int = -1) -> None:
    tally(_shared, index)


def make(url: str) -> tuple[RedisHuey, Any]:
    """The huey app and its no-op task, declared the same way in every process."""
    app = RedisHuey(NAME, url=url)
    return app, app.task(name="noop")(_noop)


class HueyProducer:
    def __init__(self, url: str) -> None:
        self.app, self.task = make(url)

    def enqueue(self, total: int, seconds: float) -> Rate:
        def one(_i: int) -> int:
            self.task()
            return 1

        return timed_loop(total, seconds, one)

    def enqueue_batches(self, _total: int, _size: int, _seconds: float) -> Rate | None:
        return None  # no batch call

    def fill(self, total: int, *, marked: bool = False) -> None:
        for i in range(total):
            self.task(i) if marked else self.task()


@contextmanager
def producer(url: str) -> Iterator[Producer]:
    made = HueyProducer(url)
    try:
        yield made
    finally:
        made.app.storage.conn.close()


def _consume(url: str, shared: Shared, **options: Any) -> None:
    global _shared  # noqa: PLW0603 (the task runs in a thread of this process)
    _shared = shared
    app, _task = make(url)
    consumer = app.create_consumer(**options)
    if not at_start_line(shared):
        return
    signal_on_stop(shared, signal.SIGINT)  # huey's graceful shutdown
    consumer.run()


def run_default(url: str, shared: Shared) -> None:
    _consume(url, shared)


def run_threads(url: str, shared: Shared) -> None:
    _consume(url, shared, workers=8, worker_type="thread")


def run_victim(url: str, shared: Shared) -> None:
    _consume(url, shared, workers=50, worker_type="thread")


PEER = Peer(
    name="huey",
    distribution="huey",
    producer=producer,
    setups=(
        Setup("consumer defaults (1 worker thread)", run_default),
        Setup("consumer with 8 worker threads", run_threads, "8 threads"),
    ),
    notes="no batch enqueue call",
    recovery=Recovery(run_victim, run_default, note="victim: 50 worker threads"),
)
