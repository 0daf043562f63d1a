"""A plain soak worker process: drains one queue with the core client's public API, writes
what it sees to its ledger, and carries on through Redis restarts, network faults and being
declared dead (or fencing itself), following the documented recovery: after WorkerLostError
it calls start_worker() and start_work() again. (The runtime workers are in
`soak.runtime_worker`; this one tests the core protocol underneath them.)

    python -m soak.worker --redis URL --prefix P --queue Q --worker-id ID --ledger FILE
        [--worker-timeout 1.0] [--heartbeat-interval 0.3] [--cleanup-interval 0.5] [--work-ms 0]

Signals: SIGTERM stops it cleanly (it gives back what it holds and exits). SIGUSR1 asks it to
hold its next task: it writes ``hold`` and waits, mid-task, until it is thawed (SIGCONT), so
the orchestrator can freeze it while it holds a task and make a zombie of it. SIGUSR2
withdraws that request.

`work` is the worker loop, one small function.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from soak.ledger import LedgerWriter
from worqr import Process, ProcessLostError, RedisUnavailableError, WorkerLostError, Worqr

#: Wait between attempts while Redis cannot be reached (worqr already retried for a while).
BACKOFF_SECONDS = 0.05
#: Wait before looking again when the queue is empty.
IDLE_SECONDS = 0.02
#: Longest a held task waits to be frozen and thawed (in case the orchestrator is gone).
HOLD_LIMIT_SECONDS = 60.0


class Control:
    """What the orchestrator asked for, by signal."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.hold_next = threading.Event()
        self.thawed = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGUSR1, lambda *_: self.hold_next.set())
        signal.signal(signal.SIGUSR2, lambda *_: self.hold_next.clear())
        signal.signal(signal.SIGCONT, lambda *_: self.thawed.set())

    def pause(self, seconds: float) -> None:
        self.stopping.wait(seconds)


def until_answered(call: Callable[[], object], control: Control) -> bool:
    """Call ``call`` until Redis answers (True), or until told to stop (False).

    Only for calls that may safely be repeated after ``maybe_applied``.
    """
    while not control.stopping.is_set():
        try:
            call()
        except RedisUnavailableError:
            control.pause(BACKOFF_SECONDS)
        else:
            return True
    return False


def run_task(process: Process[str], ledger: LedgerWriter, control: Control, work_seconds: float) -> None:
    """The work itself: a sleep, or a hold until frozen and thawed when asked to."""
    if control.hold_next.is_set():
        control.hold_next.clear()
        control.thawed.clear()
        ledger.write("hold", process.id, process.task)
        deadline = time.monotonic() + HOLD_LIMIT_SECONDS
        while not control.thawed.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)  # a signal handler runs between sleeps
    elif work_seconds > 0:
        time.sleep(work_seconds)


def finish(wq: Worqr, process: Process[str], ledger: LedgerWriter, control: Control) -> None:
    """Finish ``process``, retrying through outages, and write down what Redis answered.

    A finish whose connection broke after it was sent may or may not have been applied
    (``ambiguous``); it is sent again: if the first attempt was not applied, the retry is
    (``accepted``); if it was, or if this worker was reaped meanwhile, the retry is refused
    (``ambiguous-refused``), and the ledger cannot tell which. The server's journal can.
    """
    ambiguous = False
    while not control.stopping.is_set():
        try:
            wq.finish_process(process.id)
        except ProcessLostError:
            ledger.write("ambiguous-refused" if ambiguous else "rejected", process.id, process.task)
            return
        except RedisUnavailableError as exc:
            if exc.maybe_applied and not ambiguous:
                ambiguous = True
                ledger.write("ambiguous", process.id, process.task)
            else:
                ledger.write("unavailable", "finish")
            control.pause(BACKOFF_SECONDS)
        else:
            ledger.write("accepted", process.id, process.task)
            return


def give_back_unknown(wq: Worqr, queue: str, control: Control) -> None:
    """After a dequeue whose reply was lost: a task may now sit in a process this worker does
    not know of. ``stop_work`` puts every process of this worker on ``queue`` back at the
    front (this worker holds no other), then ``start_work`` joins again."""
    if until_answered(lambda: wq.stop_work(queue), control):
        until_answered(lambda: wq.start_work(queue), control)


def work(wq: Worqr, queue: str, ledger: LedgerWriter, control: Control, work_seconds: float) -> None:
    """Take, run and finish tasks of ``queue`` one at a time until told to stop.

    Raises:
        WorkerLostError: this worker was declared dead; start it again to go on.
    """
    while not control.stopping.is_set():
        try:
            process = wq.dequeue(queue)
        except RedisUnavailableError as exc:
            if exc.maybe_applied:
                ledger.write("ambiguous-dequeue")
                give_back_unknown(wq, queue, control)
            else:
                ledger.write("unavailable", "dequeue")
                control.pause(BACKOFF_SECONDS)
            continue
        if process is None:
            control.pause(IDLE_SECONDS)
            continue
        ledger.write("exec", process.id, process.task)
        run_task(process, ledger, control, work_seconds)
        finish(wq, process, ledger, control)


def serve(wq: Worqr, queue: str, ledger: LedgerWriter, control: Control, work_seconds: float) -> None:
    """Start the worker and run `work`; start again whenever it is declared dead."""
    while not control.stopping.is_set():
        try:
            if not (until_answered(wq.start_worker, control) and until_answered(lambda: wq.start_work(queue), control)):
                return
            ledger.write("ready")
            work(wq, queue, ledger, control, work_seconds)
        except WorkerLostError:
            ledger.write("lost")


def release(wq: Worqr, ledger: LedgerWriter, control: Control) -> None:
    """At a clean exit, leave the registry and give back what is held (nothing, once drained).

    ``released`` is written only when this worker was registered, so that the journal's
    count of workers declared dead, minus these lines, counts the interrupted incarnations.
    """
    while not control.stopping.is_set():
        try:
            if wq.worker_id in wq.get_workers():
                wq.fail_worker()
                ledger.write("released")
            return
        except RedisUnavailableError:
            control.pause(BACKOFF_SECONDS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soak.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--ledger", required=True, type=Path)
    parser.add_argument("--worker-timeout", type=float, default=1.0)
    parser.add_argument("--heartbeat-interval", type=float, default=0.3)
    parser.add_argument("--cleanup-interval", type=float, default=0.5)
    parser.add_argument("--work-ms", type=float, default=0.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")  # to the stderr file
    control = Control()
    control.install()
    ledger = LedgerWriter(args.ledger)
    ledger.write("start", str(os.getpid()))
    wq = Worqr(
        redis=args.redis,
        prefix=args.prefix,
        worker_id=args.worker_id,
        worker_timeout=args.worker_timeout,
        heartbeat_interval=args.heartbeat_interval,
        cleanup_interval=args.cleanup_interval,
    )
    try:
        serve(wq, args.queue, ledger, control, args.work_ms / 1000)
        control.stopping.clear()  # a clean exit: wait for Redis as long as it takes (or a second SIGTERM)
        release(wq, ledger, control)
    finally:
        wq.close()
        ledger.write("closed")
        ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
