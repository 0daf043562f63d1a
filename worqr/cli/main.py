"""``worqr``: parse, connect, run the command, print its answer; errors as one line."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence

from worqr.cli.parser import build_parser

_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def redact(text: str) -> str:
    """``text`` with any password in a URL replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on a usage error
    if args.command in ("demo", "demo-worker"):
        from worqr import _demo  # noqa: PLC0415 (keep `worqr --help` fast)

        if args.command == "demo":
            return _demo.run_demo(tasks=args.tasks, work_time=args.work_time, redis_url=args.demo_redis)
        return _demo.run_worker(
            redis_url=args.redis,
            prefix=args.prefix,
            queue=args.queue,
            worker_id=args.worker_id,
            work_time=args.work_time,
            hold_after=args.hold_after,
        )
    return _run(args)


#: The commands that run until stopped: worqr's warnings (a worker reaped, Redis gone, a
#: failed scrape) go to their stderr, one line each, passwords redacted.
LONG_RUNNING = ("worker", "metrics", "dashboard", "watch")


class _Redacted(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _log_to_stderr() -> None:
    logger = logging.getLogger("worqr")
    if any(isinstance(h.formatter, _Redacted) for h in logger.handlers):
        return  # main() run again in this process
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Redacted("worqr: %(levelname)s %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def _run(args: argparse.Namespace) -> int:
    from worqr import Worqr  # noqa: PLC0415
    from worqr.cli import commands  # noqa: PLC0415
    from worqr.operations.documents import dumps  # noqa: PLC0415

    if args.command in LONG_RUNNING:
        _log_to_stderr()
    try:
        with Worqr(redis=args.redis, prefix=args.prefix) as wq:
            answer = commands.COMMANDS[args.command](wq, args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 (one line, never a traceback)
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"worqr: error: {redact(message)}", file=sys.stderr)
        return 1
    if answer.document is not None or answer.text:
        print(dumps(answer.document) if args.json else answer.text)
    if answer.error is not None:
        print(f"worqr: error: {redact(answer.error)}", file=sys.stderr)
    return answer.status
