"""A soak worker process on the worker runtime: ``Worqr.worker`` (``runtime``),
``AsyncWorqr.worker`` (``async-runtime``), or a persistent worker that holds the
"connection-N" tasks (``persistent``: ``Worqr.persistent_worker``; ``async-persistent``:
``AsyncWorqr.persistent_worker``). It writes what its handlers do, and what worqr's log
records say, to its ledger (`soak.ledger`).

    python -m soak.runtime_worker --kind KIND --redis URL --prefix P --queue Q --worker-id ID
        --ledger FILE [--concurrency 2] [--worker-timeout 1.0] [--heartbeat-interval 0.3]
        [--cleanup-interval 0.5] [--poll-interval 1.0] [--work-ms 0]

The runtime runs with its defaults but two: ``prefetch=0`` (a task taken waits for no
handler, so that a held task with no handler running it is a finding, not prefetch) and
``max_attempts=None`` (the soak's handlers never fail, and a task that chaos interrupted
three times must not be dead-lettered unrun by the poison guard: every task must be
finished). ``restart_on_loss`` is left at its default, True: the worker must ride out every
fault by itself, under its own worker id. The process only retries ``start()`` while Redis
cannot be reached at all (as a supervisor would restart it); once started, it exits only
when told to (SIGTERM), and it exits with 2 if the runtime stopped by itself.

What goes to the ledger, and from where:

- the handlers write ``exec`` when they begin and ``end`` when they return (``returned``) or
  stop because they were told to (``told-<reason>``); persistent handlers write
  ``hold-start`` and ``hold-stop``, with the wall-clock time (``time.time()``: the
  orchestrator compares holders across processes on one machine);
- the logging handler `Recorder` turns worqr's records into ``ready`` (the worker serves its
  queues), ``accepted`` (the runtime's DEBUG "process ... finished": the finish_many reply
  said the process was still this worker's, and it is finished), ``rejected`` (its WARNING
  "... no longer belonged to this worker; result dropped"), ``ambiguous`` (a batch of
  finishes that may have held this process's broke after it was sent: the runtime's "could
  not record an outcome, will retry" with ``maybe_applied``; every result then waiting is
  marked, a superset of the batch), ``ambiguous-refused`` (a rejection after that), ``lost``
  (the worker fenced itself, or found itself declared dead), ``rejoined`` (registered again
  under its own id) and ``released`` (the clean leave on close).

Signals: SIGTERM stops it cleanly. SIGUSR1 asks the next handler to begin (not a persistent
one) to hold its task until the process is thawed (SIGCONT), for a mid-task pause; SIGUSR2
withdraws that request.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from soak.ledger import LedgerWriter
from worqr import AsyncWorqr, Process, RedisUnavailableError, Worqr, WorqrError, cancel_token

KINDS = ("runtime", "async-runtime", "persistent", "async-persistent")
#: Wait before trying to start again when Redis could not be reached.
START_BACKOFF_SECONDS = 0.5
#: Longest a held task waits to be frozen and thawed (in case the orchestrator is gone).
HOLD_LIMIT_SECONDS = 60.0
#: Seconds running handlers get to finish on shutdown (the queue is drained by then).
GRACE_SECONDS = 5.0
#: How often the main thread looks at the worker and the signals.
WATCH_SECONDS = 0.1


def wall() -> str:
    """The wall-clock time, for records compared across the processes of one machine."""
    return f"{time.time():.6f}"


class Control:
    """What the orchestrator asked for, by signal."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.hold_next = threading.Event()
        self.thawed = threading.Event()
        self._lock = threading.Lock()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGUSR1, lambda *_: self.hold_next.set())
        signal.signal(signal.SIGUSR2, lambda *_: self.hold_next.clear())
        signal.signal(signal.SIGCONT, lambda *_: self.thawed.set())

    def take_hold(self) -> bool:
        """True for the one handler that is to hold its task (the request is used up)."""
        with self._lock:
            if not self.hold_next.is_set():
                return False
            self.hold_next.clear()
            self.thawed.clear()
            return True


class Recorder(logging.Handler):
    """Writes to the ledger what worqr's log records say about this worker (see the module
    docstring). Matches the records by their text: the soak follows worqr's log lines."""

    def __init__(self, ledger: LedgerWriter) -> None:
        super().__init__(level=logging.DEBUG)
        self.ledger = ledger
        self._lock = threading.Lock()
        #: process id -> task, for the processes whose handler returned and whose result
        #: the runtime has not recorded (nor refused) yet
        self.waiting: dict[str, str] = {}
        self.ambiguous: set[str] = set()
        self.ready = False

    def returned(self, process_id: str, task: str) -> None:
        with self._lock:
            self.waiting[process_id] = task

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(record)
        except Exception:  # noqa: BLE001 (a logging handler must not raise into worqr)
            self.handleError(record)

    def _emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        process_id = getattr(record, "worqr_process", None)
        if isinstance(process_id, str) and record.levelno == logging.DEBUG and text.endswith(" finished"):
            self._settled(process_id, accepted=True)
        elif isinstance(process_id, str) and "no longer belonged to this worker; result dropped" in text:
            self._settled(process_id, accepted=False)
        elif "could not record an outcome" in text:
            if any(isinstance(arg, RedisUnavailableError) and arg.maybe_applied for arg in _args(record)):
                with self._lock:
                    fresh = {p: t for p, t in self.waiting.items() if p not in self.ambiguous}
                    self.ambiguous.update(fresh)
                for pid, task in fresh.items():
                    self.ledger.write("ambiguous", pid, task)
        elif "registered again, as a new incarnation" in text:
            self.ledger.write("rejoined")
        elif record.levelno >= logging.ERROR and "could not confirm its heartbeat" in text and "told" not in text:
            self.ledger.write("lost", "fenced")
        elif "it stops taking work" in text:
            self.ledger.write("lost", "declared-dead")
        elif " serving " in text and text.startswith("worker ") and not self.ready:
            self.ready = True
            self.ledger.write("ready")
        elif " left: gave back " in text:
            self.ledger.write("released")

    def _settled(self, process_id: str, *, accepted: bool) -> None:
        with self._lock:
            task = self.waiting.pop(process_id, None)
            ambiguous = process_id in self.ambiguous
            self.ambiguous.discard(process_id)
        if task is None:
            return  # not a result of this worker's handlers (none other is finished in the soak)
        event = "accepted" if accepted else ("ambiguous-refused" if ambiguous else "rejected")
        self.ledger.write(event, process_id, task)


def _args(record: logging.LogRecord) -> tuple[Any, ...]:
    args = record.args
    return args if isinstance(args, tuple) else ()


def _reason(reason: str | None) -> str:
    return "told-" + (reason or "unknown").replace(" ", "-")


# Handlers -------------------------------------------------------------------------------------


def sync_handler(
    ledger: LedgerWriter, recorder: Recorder, control: Control, work_seconds: float
) -> Callable[[Process[str]], None]:
    def handle(process: Process[str]) -> None:
        ledger.write("exec", process.id, process.task)
        token = cancel_token()
        if control.take_hold():
            ledger.write("hold", process.id, process.task)
            deadline = time.monotonic() + HOLD_LIMIT_SECONDS
            while not control.thawed.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)
        elif work_seconds > 0:
            token.wait(work_seconds)
        if token.cancelled:
            ledger.write("end", process.id, process.task, _reason(token.reason))
            return
        recorder.returned(process.id, process.task)
        ledger.write("end", process.id, process.task, "returned")

    return handle


def async_handler(
    ledger: LedgerWriter, recorder: Recorder, control: Control, work_seconds: float
) -> Callable[[Process[str]], Awaitable[None]]:
    async def handle(process: Process[str]) -> None:
        ledger.write("exec", process.id, process.task)
        try:
            if control.take_hold():
                ledger.write("hold", process.id, process.task)
                deadline = time.monotonic() + HOLD_LIMIT_SECONDS
                while not control.thawed.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
            elif work_seconds > 0:
                await asyncio.sleep(work_seconds)
        except asyncio.CancelledError:
            ledger.write("end", process.id, process.task, _reason(cancel_token().reason))
            raise
        recorder.returned(process.id, process.task)
        ledger.write("end", process.id, process.task, "returned")

    return handle


def sync_holder(ledger: LedgerWriter) -> Callable[[Process[str]], None]:
    """A persistent handler: holds its task until told to stop."""

    def hold(process: Process[str]) -> None:
        ledger.write("hold-start", process.id, process.task, wall())
        token = cancel_token()
        token.wait()
        ledger.write("hold-stop", process.id, process.task, wall(), _reason(token.reason))

    return hold


def async_holder(ledger: LedgerWriter) -> Callable[[Process[str]], Awaitable[None]]:
    async def hold(process: Process[str]) -> None:
        ledger.write("hold-start", process.id, process.task, wall())
        try:
            await asyncio.Event().wait()
        finally:
            ledger.write("hold-stop", process.id, process.task, wall(), _reason(cancel_token().reason))

    return hold


# The process ----------------------------------------------------------------------------------


def client_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "redis": args.redis,
        "prefix": args.prefix,
        "worker_id": args.worker_id,
        "worker_timeout": args.worker_timeout,
        "heartbeat_interval": args.heartbeat_interval,
        "cleanup_interval": args.cleanup_interval,
        "poll_interval": args.poll_interval,
    }


def run_sync(args: argparse.Namespace, ledger: LedgerWriter, recorder: Recorder, control: Control) -> int:
    persistent = args.kind == "persistent"
    with Worqr(**client_options(args)) as wq:

        def build() -> Any:
            if persistent:
                return wq.persistent_worker(args.queue, sync_holder(ledger), concurrency=args.concurrency)
            handler = sync_handler(ledger, recorder, control, args.work_ms / 1000)
            return wq.worker(args.queue, handler, concurrency=args.concurrency, prefetch=0, max_attempts=None)

        worker = None
        while worker is None and not control.stopping.is_set():
            candidate = build()
            try:
                candidate.start()
            except WorqrError as exc:
                ledger.write("start-failed", type(exc).__name__)
                control.stopping.wait(START_BACKOFF_SECONDS)
            else:
                worker = candidate
        if worker is None:
            return 0
        code = 0
        while not control.stopping.wait(WATCH_SECONDS):
            if not worker.running:
                ledger.write("runtime-stopped")
                code = 2
                break
        worker.stop(grace=GRACE_SECONDS)
    return code


async def run_async(args: argparse.Namespace, ledger: LedgerWriter, recorder: Recorder, control: Control) -> int:
    persistent = args.kind == "async-persistent"
    async with AsyncWorqr(**client_options(args)) as wq:

        def build() -> Any:
            if persistent:
                return wq.persistent_worker(args.queue, async_holder(ledger), concurrency=args.concurrency)
            handler = async_handler(ledger, recorder, control, args.work_ms / 1000)
            return wq.worker(args.queue, handler, concurrency=args.concurrency, prefetch=0, max_attempts=None)

        worker = None
        while worker is None and not control.stopping.is_set():
            candidate = build()
            try:
                await candidate.start()
            except WorqrError as exc:
                ledger.write("start-failed", type(exc).__name__)
                await asyncio.sleep(START_BACKOFF_SECONDS)
            else:
                worker = candidate
        if worker is None:
            return 0
        code = 0
        while not control.stopping.is_set():
            await asyncio.sleep(WATCH_SECONDS)
            if not worker.running:
                ledger.write("runtime-stopped")
                code = 2
                break
        await worker.stop(grace=GRACE_SECONDS)
    return code


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soak.runtime_worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--ledger", required=True, type=Path)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--worker-timeout", type=float, default=1.0)
    parser.add_argument("--heartbeat-interval", type=float, default=0.3)
    parser.add_argument("--cleanup-interval", type=float, default=0.5)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--work-ms", type=float, default=0.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    control = Control()
    control.install()
    ledger = LedgerWriter(args.ledger)
    ledger.write("start", str(os.getpid()))
    stderr = logging.StreamHandler()  # to the stderr file
    stderr.setLevel(logging.INFO)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
    recorder = Recorder(ledger)
    root = logging.getLogger()
    root.addHandler(stderr)
    root.setLevel(logging.INFO)
    worqr_log = logging.getLogger("worqr")
    worqr_log.setLevel(logging.DEBUG)  # the runtime's DEBUG "process ... finished" is the acknowledgment
    worqr_log.addHandler(recorder)
    try:
        if args.kind.startswith("async-"):
            code = asyncio.run(run_async(args, ledger, recorder, control))
        else:
            code = run_sync(args, ledger, recorder, control)
    finally:
        ledger.write("closed")
        ledger.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
