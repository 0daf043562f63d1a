"""dramatiq with its Redis broker: messages in a list, fetched and acknowledged in batches by
a Lua script (prefetch), run by the worker's threads (8 per process by default)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.children import Shared, at_start_line, stop_on_signal, tally
from bench.faults import Recovery
from bench.peers import Peer, Producer, Setup
from bench.timing import Rate, timed_loop

QUEUE = "bench"
_shared: Shared | None = None


def _noop(index: int = -1) -> None:
    tally(_shared, index)


def make(url: str) -> tuple[RedisBroker, Any]:
    """The broker and the no-op actor, declared the same way in every process."""
    broker = RedisBroker(url=url)
    dramatiq.set_broker(broker)
    return broker, dramatiq.actor(_noop, actor_name="noop", queue_name=QUEUE, broker=broker)


class DramatiqProducer:
    def __init__(self, url: str) -> None:
        self.broker, self.actor = make(url)

    def enqueue(self, total: int, seconds: float) -> Rate:
        def one(_i: int) -> int:
            self.actor.send()
            return 1

        return timed_loop(total, seconds, one)

    def enqueue_batches(self, _total: int, _size: int, _seconds: float) -> Rate | None:
        return None  # no batch call (a group sends its messages one by one)

    def fill(self, total: int, *, marked: bool = False) -> None:
        for i in range(total):
            self.actor.send(i) if marked else self.actor.send()


@contextmanager
def producer(url: str) -> Iterator[Producer]:
    made = DramatiqProducer(url)
    try:
        yield made
    finally:
        made.broker.close()


def run_default(url: str, shared: Shared) -> None:
    _work(url, shared)


def run_victim(url: str, shared: Shared) -> None:
    _work(url, shared, worker_threads=50)


def _work(url: str, shared: Shared, **options: Any) -> None:
    global _shared  # noqa: PLW0603 (the actor runs in threads of this process)
    _shared = shared
    broker, _actor = make(url)
    worker = dramatiq.Worker(broker, **options)
    if not at_start_line(shared):
        return
    worker.start()
    stopped = stop_on_signal(shared, worker.stop)
    stopped.join()
    broker.close()


PEER = Peer(
    name="dramatiq",
    distribution="dramatiq",
    producer=producer,
    setups=(Setup("Worker defaults (8 threads)", run_default),),
    notes="no batch enqueue call",
    recovery=Recovery(run_victim, run_default, note="victim: 50 worker threads"),
)
