"""worqr worker processes for the benchmark: `Worqr.worker(...).run()` with a no-op handler."""

from __future__ import annotations

import time
from typing import Any

from bench.children import Shared, at_start_line, count, stop_on_signal, tally
from worqr import Process, Worqr

#: The prefix and queue of the fault rows (`bench.faults`), each system on its own server.
FAULT_PREFIX, FAULT_QUEUE = "bench", "faults"


def run_worker(url: str, prefix: str, queue: str, options: dict[str, Any], shared: Shared) -> None:
    """One worker process with ``options`` (empty: the defaults) whose handler only counts."""
    counter = shared.counter

    def noop(_process: Process[str]) -> None:
        count(counter)

    _serve(url, prefix, queue, options, shared, handler=noop)


def run_timed_worker(url: str, prefix: str, queue: str, options: dict[str, Any], shared: Shared) -> None:
    """Like `run_worker`, and the handler first sends its start time to ``shared.starts``."""
    counter, starts = shared.counter, shared.start_times

    def noop(_process: Process[str]) -> None:
        starts.put(time.monotonic())
        count(counter)

    _serve(url, prefix, queue, options, shared, handler=noop)


def run_marked_worker(url: str, prefix: str, queue: str, options: dict[str, Any], shared: Shared) -> None:
    """Like `run_worker`, and the handler marks the index its payload carries
    (`bench.settings.payload`)."""

    def noop(process: Process[str]) -> None:
        tally(shared, int(process.task[5:]))

    _serve(url, prefix, queue, options, shared, handler=noop)


def run_victim(url: str, shared: Shared) -> None:
    """The crash-recovery victim: 50 handlers that hold their tasks until killed."""
    _serve(url, FAULT_PREFIX, FAULT_QUEUE, {"concurrency": 50}, shared, handler=lambda _p: tally(shared))


def run_rescuer(url: str, shared: Shared) -> None:
    """The crash-recovery rescuer: a worker with default settings."""
    _serve(url, FAULT_PREFIX, FAULT_QUEUE, {}, shared, handler=lambda _p: tally(shared))


#: The prefix of `python -m bench.scaling`.
CLUSTER_PREFIX = "scale"


def run_cluster_worker(url: str, queues: list[str], shared: Shared) -> None:
    """One worker process on ``queues`` of a cluster (default settings); the handler only counts."""
    counter = shared.counter

    def noop(_process: Process[str]) -> None:
        count(counter)

    _serve(url, CLUSTER_PREFIX, queues, {}, shared, handler=noop)


def _serve(
    url: str, prefix: str, queues: str | list[str], options: dict[str, Any], shared: Shared, *, handler: Any
) -> None:
    with Worqr(redis=url, prefix=prefix) as wq:
        wq.count_queue(queues if isinstance(queues, str) else queues[0])  # connect before the start line
        worker = wq.worker(queues, handler, **options)
        if not at_start_line(shared):
            return
        stop_on_signal(shared, worker.request_stop)
        worker.run()
