"""RQ: jobs are hashes, queues are lists of job ids. The default `Worker` forks a work horse
for every job; `SimpleWorker` runs jobs in its own process. Both in burst mode (exit when
the queue is empty), logging at WARNING (the default INFO logs two lines per job). A job
whose worker died is moved to the failed registry (`AbandonedJobError`), not run again,
unless it was enqueued with a `Retry`."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from rq import Queue, SimpleWorker, Worker

from bench.children import Shared, at_start_line, signal_on_stop, tally
from bench.faults import Recovery
from bench.peers import Peer, Producer, Setup
from bench.timing import Rate, timed_loop

QUEUE = "bench"
_shared: Shared | None = None


def noop(index: int = -1) -> None:
    tally(_shared, index)


class RqProducer:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.queue = Queue(QUEUE, connection=self.client)

    def enqueue(self, total: int, seconds: float) -> Rate:
        def one(_i: int) -> int:
            self.queue.enqueue(noop)
            return 1

        return timed_loop(total, seconds, one)

    def enqueue_batches(self, total: int, size: int, seconds: float) -> Rate | None:
        return timed_loop(total, seconds, lambda i: self._batch(min(size, total - i)))

    def fill(self, total: int, *, marked: bool = False) -> None:
        done = 0
        while done < total:
            done += self._batch(min(100, total - done), done if marked else None)

    def _batch(self, size: int, first: int | None = None) -> int:
        args = [() if first is None else (first + i,) for i in range(size)]
        self.queue.enqueue_many([Queue.prepare_data(noop, a) for a in args])
        return size


@contextmanager
def producer(url: str) -> Iterator[Producer]:
    made = RqProducer(url)
    try:
        yield made
    finally:
        made.client.close()


def _work(worker_class: type[Worker], url: str, shared: Shared, *, burst: bool = True) -> None:
    global _shared  # noqa: PLW0603 (the job function runs in this process or its fork)
    _shared = shared
    client = redis.Redis.from_url(url)
    worker = worker_class([Queue(QUEUE, connection=client)], connection=client)
    if not at_start_line(shared):
        return
    signal_on_stop(shared, signal.SIGTERM)  # rq's warm shutdown
    worker.work(burst=burst, logging_level="WARNING")


def run_worker(url: str, shared: Shared) -> None:
    _work(Worker, url, shared)


def run_simple_worker(url: str, shared: Shared) -> None:
    _work(SimpleWorker, url, shared)


def run_victim(url: str, shared: Shared) -> None:
    _work(SimpleWorker, url, shared, burst=False)


def run_rescuer(url: str, shared: Shared) -> None:
    _work(Worker, url, shared, burst=False)


PEER = Peer(
    name="rq",
    distribution="rq",
    producer=producer,
    setups=(
        Setup("Worker (forks a work horse per job), burst", run_worker, "Worker"),
        Setup("SimpleWorker (no fork), burst", run_simple_worker, "SimpleWorker"),
    ),
    notes="batches: Queue.enqueue_many (one pipeline)",
    recovery=Recovery(run_victim, run_rescuer, capacity=1, note="50 SimpleWorker processes, one job each"),
)
