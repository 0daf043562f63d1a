"""A worker OS process running the worqr runtime, driven by tests/scenarios/test_runtime_processes.py.

    python runtime_child.py KIND HANDLER URL PREFIX QUEUE LEDGER NAME [options]

KIND: ``worker`` / ``persistent`` (`Worqr.worker` / `Worqr.persistent_worker`, ``run()``)
or ``async-worker`` / ``async-persistent`` (the `AsyncWorqr` twins, ``await run()``).
HANDLER:
    record   write "start", then "finish", and return the task
    slow     write "start", run ``--seconds`` (sync: waits on its cancel token; async: sleeps),
             then write "finish"; told to stop early, write "told" instead
    poison   a task starting with "poison" SIGKILLs this very process; others as ``record``
    hold     write "start", hold the task until told to stop (token / CancelledError), write "told"

The ledger is a file of JSON lines, each written with one unbuffered ``os.write`` on an
O_APPEND descriptor, so several children share one ledger and a SIGKILL loses nothing
written before it. Records: {"ev": "start"|"finish"|"told", "who", "task", "attempt",
"process", "t"}; every record of the "worqr" logger as {"ev": "log", "level", "msg"}; and
{"ev": "exit", "outcome"} when ``run()`` returns or raises. The child prints "ready" on
stdout once ``run()`` has started the worker and installed its signal handlers, so a test
may signal it from then on. Exit status: 0 after a clean stop, 3 after WorkerLostError
(``--stop-on-loss``; by default a lost worker registers again and goes on).
A stuck child dumps its threads' stacks on SIGUSR1 and its asyncio tasks on SIGUSR2 (stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from worqr import AsyncWorqr, Process, WorkerLostError, Worqr, cancel_token

KINDS = ("worker", "persistent", "async-worker", "async-persistent")
HANDLERS = ("record", "slow", "poison", "hold")
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Ledger:
    """Appends JSON lines to the shared ledger file, one ``os.write`` each."""

    def __init__(self, path: str, who: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.who = who

    def write(self, ev: str, **fields: Any) -> None:
        line = json.dumps({"ev": ev, "who": self.who, "t": time.time(), "pid": os.getpid(), **fields})
        os.write(self.fd, (line + "\n").encode())

    def process(self, ev: str, process: Process[str], **fields: Any) -> None:
        self.write(ev, task=process.task, attempt=process.attempt, process=process.id, **fields)


class LedgerLogHandler(logging.Handler):
    """Copies the runtime's log records into the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(logging.DEBUG)
        self.ledger = ledger

    def emit(self, record: logging.LogRecord) -> None:
        self.ledger.write("log", level=record.levelname, msg=record.getMessage())


def announce_ready_once_signals_are_handled() -> None:
    """Print "ready" once ``run()`` replaced the default SIGINT/SIGTERM handlers: ``run()``
    installs them right after ``start()`` returned, and a signal sent before would kill the
    process instead of stopping the worker."""
    defaults = {signum: signal.getsignal(signum) for signum in SIGNALS}

    def watch() -> None:
        deadline = time.monotonic() + 60
        while any(signal.getsignal(s) == defaults[s] for s in SIGNALS):
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)
        print("ready", flush=True)

    threading.Thread(target=watch, name="announce-ready", daemon=True).start()


def sync_handler(name: str, ledger: Ledger, seconds: float) -> Callable[[Process[str]], object]:
    def handle(process: Process[str]) -> object:
        ledger.process("start", process)
        if name == "poison" and process.task.startswith("poison"):
            os.kill(os.getpid(), signal.SIGKILL)
        token = cancel_token()
        if name == "hold" or (name == "slow" and token.wait(seconds)):
            token.wait()
            ledger.process("told", process, reason=token.reason)
            return None
        ledger.process("finish", process)
        return process.task

    return handle


def async_handler(name: str, ledger: Ledger, seconds: float) -> Callable[[Process[str]], Awaitable[object]]:
    async def handle(process: Process[str]) -> object:
        ledger.process("start", process)
        if name == "poison" and process.task.startswith("poison"):
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            if name == "hold":
                await asyncio.Event().wait()
            elif name == "slow":
                await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            ledger.process("told", process, reason="cancelled")
            raise
        ledger.process("finish", process)
        return process.task

    return handle


def options(args: argparse.Namespace) -> dict[str, Any]:
    chosen: dict[str, Any] = {"concurrency": args.concurrency, "grace": args.grace}
    if args.stop_on_loss:
        chosen["restart_on_loss"] = False
    if args.max_attempts is not None:
        chosen["max_attempts"] = args.max_attempts
    return chosen


def client_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "redis": args.url,
        "prefix": args.prefix,
        "worker_id": args.name,
        "heartbeat_interval": args.heartbeat_interval,
        "worker_timeout": args.worker_timeout,
        "cleanup_interval": args.cleanup_interval,
    }


def run_sync(args: argparse.Namespace, ledger: Ledger) -> str:
    handler = sync_handler(args.handler, ledger, args.seconds)
    with Worqr(**client_settings(args)) as wq:
        build = wq.persistent_worker if args.kind == "persistent" else wq.worker
        worker = build(args.queue, handler, **options(args))
        announce_ready_once_signals_are_handled()
        try:
            worker.run()
        except WorkerLostError:
            return "lost"
        return f"stopped {worker.stats}"


def dump_tasks() -> None:
    """Print every asyncio task with its chain of awaited coroutines (a stuck child's state)."""
    for task in asyncio.all_tasks():
        print(task, file=sys.stderr)
        awaited: Any = task.get_coro()
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
            if frame is not None:
                print(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}", file=sys.stderr)
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    sys.stderr.flush()


async def run_async(args: argparse.Namespace, ledger: Ledger) -> str:
    handler = async_handler(args.handler, ledger, args.seconds)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump_tasks)  # a test dumps a stuck child's tasks
    async with AsyncWorqr(**client_settings(args)) as wq:
        build = wq.persistent_worker if args.kind == "async-persistent" else wq.worker
        worker = build(args.queue, handler, **options(args))
        announce_ready_once_signals_are_handled()
        try:
            await worker.run()
        except WorkerLostError:
            return "lost"
        return f"stopped {worker.stats}"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("handler", choices=HANDLERS)
    for positional in ("url", "prefix", "queue", "ledger", "name"):
        parser.add_argument(positional)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--grace", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=1.0, help="how long the slow handler runs")
    parser.add_argument("--max-attempts", type=int, default=None)
    parser.add_argument(
        "--stop-on-loss", action="store_true", help="restart_on_loss=False: run() raises WorkerLostError"
    )
    parser.add_argument("--heartbeat-interval", type=float, default=0.1)
    parser.add_argument("--worker-timeout", type=float, default=0.6)
    parser.add_argument("--cleanup-interval", type=float, default=0.4)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a test dumps a stuck child's stacks
    ledger = Ledger(args.ledger, args.name)
    logger = logging.getLogger("worqr")
    logger.addHandler(LedgerLogHandler(ledger))
    logger.setLevel(logging.INFO)
    outcome = asyncio.run(run_async(args, ledger)) if args.kind.startswith("async") else run_sync(args, ledger)
    ledger.write("exit", outcome=outcome)
    return 3 if outcome == "lost" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
