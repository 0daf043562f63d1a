"""The ``worqr`` command: ``python -m worqr demo`` (and ``demo-worker``, which the demo starts)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

MIN_TASKS = 10


def _task_count(text: str) -> int:
    value = int(text)
    if value < MIN_TASKS:
        msg = f"must be at least {MIN_TASKS} (the killed worker needs a task to hold), got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        msg = f"must be a number of seconds >= 0, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="worqr", description="worqr: a typed, distributed work queue on Redis.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run a producer and two worker processes on an embedded server; one worker is killed mid-task",
        description=(
            "Start a private server, enqueue tasks, start two worker OS processes and SIGKILL one of them "
            "while it holds a task. The survivor reaps it and finishes that task. Exits 0 if no task was lost."
        ),
    )
    demo.add_argument(
        "--tasks", type=_task_count, default=200, help="how many tasks to enqueue (default 200, at least 10)"
    )
    demo.add_argument(
        "--work-time", type=_seconds, default=0.004, help="simulated seconds of work per task (default 0.004)"
    )
    demo.add_argument("--redis", metavar="URL", help="use this server instead of starting an embedded one")

    worker = commands.add_parser("demo-worker", help="one worker process of the demo (started by `worqr demo`)")
    worker.add_argument("--redis", metavar="URL", required=True)
    worker.add_argument("--prefix", required=True)
    worker.add_argument("--queue", required=True)
    worker.add_argument("--worker-id", required=True)
    worker.add_argument("--work-time", type=_seconds, default=0.004)
    worker.add_argument(
        "--hold-after", type=int, default=None, metavar="K", help="after K tasks, take one more and hold it forever"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from worqr import _demo  # noqa: PLC0415 (keep `worqr --help` fast)

    if args.command == "demo":
        return _demo.run_demo(tasks=args.tasks, work_time=args.work_time, redis_url=args.redis)
    return _demo.run_worker(
        redis_url=args.redis,
        prefix=args.prefix,
        queue=args.queue,
        worker_id=args.worker_id,
        work_time=args.work_time,
        hold_after=args.hold_after,
    )


if __name__ == "__main__":
    sys.exit(main())
