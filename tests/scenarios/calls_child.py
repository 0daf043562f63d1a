"""A worker OS process serving the chaos registry of calls, driven by
tests/scenarios/test_calls_chaos.py; and the registry itself, which the test imports too.

    python calls_child.py URL PREFIX JOURNAL NAME [--concurrency N] [timings]

The registry's functions are deterministic in their value (`expected` gives it, from the
function's name and arguments: the test's ledger uses it) and take a few milliseconds, so
that a SIGKILL or SIGSTOP lands in the middle of some. Each writes a "start" record to the
journal when it begins and a "return" record (with its value) just before it returns; the
runtime's log records are copied as "log" records. The journal is the shared file of JSON
lines of tests/scenarios/test_runtime_processes.py's `Fleet` (``ev`` and ``who`` fields):
each record is one unbuffered ``os.write`` on an O_APPEND descriptor, so several children
share it and a SIGKILL loses nothing written before it (the kernel has it; no fsync is
needed, since the machine does not crash). The child prints "ready" on stdout once its
worker is registered and has joined the queue.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from typing import Any

from worqr import Functions, Worqr, current_call

QUEUE = "chaos-calls"
functions = Functions()


class Journal:
    """Appends JSON lines to the shared journal, one ``os.write`` each."""

    def __init__(self, path: str, who: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.who = who

    def write(self, ev: str, **fields: Any) -> None:
        line = json.dumps({"ev": ev, "who": self.who, "t": time.time(), "pid": os.getpid(), **fields})
        os.write(self.fd, (line + "\n").encode())


class JournalLogHandler(logging.Handler):
    """Copies the runtime's log records into the journal."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(logging.INFO)
        self.journal = journal

    def emit(self, record: logging.LogRecord) -> None:
        self.journal.write("log", level=record.levelname, msg=record.getMessage())


#: This process's journal (set by `main`; None in the test process, which only calls).
JOURNAL: Journal | None = None


def _started() -> tuple[str, int]:
    call = current_call()
    if JOURNAL is not None:
        JOURNAL.write("start", call=call.id, attempt=call.attempt)
    return call.id, call.attempt


def _returning(started: tuple[str, int], value: object) -> None:
    if JOURNAL is not None:
        JOURNAL.write("return", call=started[0], attempt=started[1], value=value)


def _work(seed: str) -> None:
    """A few milliseconds of work (1 to 4 ms, by the seed: deterministic, not in the value)."""
    time.sleep((1 + int(hashlib.sha256(seed.encode()).hexdigest()[:2], 16) % 4) / 1000)


# The registry: explicit names, so that a call placed by the test (which imports this module
# as tests.scenarios.calls_child) names what the children (which run it as a script) serve.


@functions.function(queue=QUEUE, max_attempts=None, name="chaos.triple")
def triple(n: int) -> int:
    started = _started()
    _work(f"triple {n}")
    value = n * 3
    _returning(started, value)
    return value


@functions.function(queue=QUEUE, max_attempts=None, name="chaos.digest")
def digest(text: str) -> str:
    started = _started()
    _work(f"digest {text}")
    value = hashlib.sha256(text.encode()).hexdigest()[:16]
    _returning(started, value)
    return value


@functions.function(queue=QUEUE, max_attempts=None, name="chaos.steps")
def steps(n: int, count: int) -> dict[str, int]:
    """Reports its progress, {"step": i, "of": count}, at each of its ``count`` steps (3 ms each)."""
    started = _started()
    call = current_call()
    for step in range(1, count + 1):
        time.sleep(0.003)
        call.report_progress({"step": step, "of": count})
    value = {"n": n, "sum": sum(range(n, n + count))}
    _returning(started, value)
    return value


def expected(function: str, args: list[Any]) -> Any:
    """The value a call of ``function`` with ``args`` must resolve to, as JSON (the ledger)."""
    if function == triple.name:
        return args[0] * 3
    if function == digest.name:
        return hashlib.sha256(args[0].encode()).hexdigest()[:16]
    if function == steps.name:
        n, count = args
        return {"n": n, "sum": sum(range(n, n + count))}
    msg = f"no such function {function!r}"
    raise LookupError(msg)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for positional in ("url", "prefix", "journal", "name"):
        parser.add_argument(positional)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--heartbeat-interval", type=float, default=0.2)
    parser.add_argument("--worker-timeout", type=float, default=1.0)
    parser.add_argument("--cleanup-interval", type=float, default=0.3)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    global JOURNAL  # noqa: PLW0603 (the functions find the process's journal here)
    args = parse(argv)
    JOURNAL = Journal(args.journal, args.name)
    logger = logging.getLogger("worqr")
    logger.addHandler(JournalLogHandler(JOURNAL))
    logger.setLevel(logging.INFO)
    with Worqr(
        redis=args.url,
        prefix=args.prefix,
        worker_id=args.name,
        heartbeat_interval=args.heartbeat_interval,
        worker_timeout=args.worker_timeout,
        cleanup_interval=args.cleanup_interval,
    ) as wq:
        worker = wq.serve(functions, concurrency=args.concurrency)  # restart_on_loss: the default, True
        worker.start()
        print("ready", flush=True)
        while worker.running:
            time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
