"""The arguments of the ``worqr`` command. ``--redis``, ``--prefix``, ``--json`` and
``--show-tasks`` work before or after the command."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

DEFAULT_URL = "redis://localhost:6379/0"
MIN_TASKS = 10


def _task_count(text: str) -> int:
    value = int(text)
    if value < MIN_TASKS:
        msg = f"must be at least {MIN_TASKS} (the killed worker needs a task to hold), got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:  # noqa: PLR2004
        msg = f"must be a port from 0 (any free port) to 65535, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        msg = f"must be a number of seconds >= 0, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes. On the subcommands their defaults are suppressed,
    so that a value given before the command is not overwritten by the default after it."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--redis",
        metavar="URL",
        default=default(os.environ.get("WORQR_REDIS_URL", DEFAULT_URL)),
        help=f"the server: any URL worqr accepts, cluster and sentinel included (default $WORQR_REDIS_URL, then {DEFAULT_URL})",
    )
    parser.add_argument(
        "--prefix",
        default=default(os.environ.get("WORQR_PREFIX", "worqr")),
        help="the key prefix (default $WORQR_PREFIX, then worqr)",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="one JSON document on stdout, for scripts"
    )
    parser.add_argument(
        "--show-tasks",
        action="store_true",
        default=default(False),
        help="show task text in full (by default cut to a preview: tasks may hold personal data)",
    )


def _destructive(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--dry-run", action="store_true", help="say what would happen, change nothing")


#: The port of ``worqr metrics`` unless told otherwise.
DEFAULT_METRICS_PORT = 9809
#: The port of ``worqr dashboard`` unless told otherwise.
DEFAULT_DASHBOARD_PORT = 9810


def _family(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """The views of the capabilities beside the queues: leases, schedules, streams."""
    command("leases", "every lease: its holder, token and time left (worqr.leases)")
    command("schedules", "every periodic schedule: its queue, due times, next due and last run (worqr.schedules)")
    command("streams", "every stream subscribed to: its length, groups, lag, pending and dead letters (worqr.streams)")
    one_stream = command("stream", "one stream: its length, dead letters, and each group's consumers, pending and lag")
    one_stream.add_argument("name", metavar="NAME")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="worqr", description="worqr: a typed, distributed work queue on Redis.")
    _common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        _common(sub, suppress=True)
        return sub

    command("status", "the queues and the workers in one view")
    queues = command("queues", "each queue's counts and exact counters")
    queues.add_argument("queue", nargs="*", metavar="QUEUE", help="these queues only (default: all)")
    command("workers", "every worker: live, being reaped, or declared dead in the last day")
    processes = command("processes", "the tasks in flight")
    processes.add_argument("--queue", metavar="Q", help="of this queue only")
    processes.add_argument("--worker", metavar="W", help="of this worker only")

    _family(command)
    dead = command("dead", "a queue's dead letters: list, requeue or purge them")
    actions = dead.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("list", "list the dead letters"),
        ("requeue", "put dead letters back at the end of their queue (no ids: all)"),
        ("purge", "delete dead letters for good (no ids: all)"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        _common(action, suppress=True)
        action.add_argument("queue", metavar="QUEUE")
        if name != "list":
            action.add_argument("ids", nargs="*", metavar="ID")
        if name == "purge":
            _destructive(action)

    reap = command("reap", "declare a worker dead now and requeue its tasks (no worker: every expired one)")
    reap.add_argument("worker", nargs="?", metavar="WORKER")
    _destructive(reap)
    cancel = command("cancel", "remove a waiting task (every copy of it) and tell its workers")
    cancel.add_argument("queue", metavar="QUEUE")
    cancel.add_argument("task", metavar="TASK")
    delete = command("delete", "delete a queue's waiting and delayed tasks (tasks in flight stay)")
    delete.add_argument("queue", metavar="QUEUE")
    _destructive(delete)
    for name, text in (
        ("pause", "pause a queue: it takes tasks and hands none out"),
        ("resume", "hand out a paused queue's tasks again"),
    ):
        command(name, text).add_argument("queue", metavar="QUEUE")
    watch = command("watch", "print events as they happen, one JSON object a line, until interrupted")
    watch.add_argument("queue", nargs="*", metavar="QUEUE", help="these queues (default: all)")
    command("check", "exit 0 if the server answers and no worker's heartbeat is overdue, 3 otherwise")
    worker = command("worker", "run a worker process: a handler or a Functions registry (SIGTERM stops it gracefully)")
    worker.add_argument("target", metavar="MODULE:ATTR")
    worker.add_argument("--queue", action="append", default=[], metavar="Q", help="a queue of the handler (repeat)")
    worker.add_argument("--concurrency", type=int, default=1, metavar="N", help="tasks at once (default 1)")
    metrics = command("metrics", "serve /metrics in the Prometheus text format (needs worqr[metrics])")
    metrics.add_argument(
        "--port", type=_port, default=DEFAULT_METRICS_PORT, metavar="P", help="default %(default)s; 0: any"
    )
    metrics.add_argument("--host", default="127.0.0.1", metavar="H", help="address to bind (default %(default)s)")
    dashboard = command("dashboard", "serve the web dashboard (needs worqr[web])")
    dashboard.add_argument(
        "--port", type=_port, default=DEFAULT_DASHBOARD_PORT, metavar="P", help="default %(default)s; 0: any"
    )
    dashboard.add_argument("--host", default="127.0.0.1", metavar="H", help="address to bind (default %(default)s)")
    dashboard.add_argument("--allow-actions", action="store_true", help="offer requeue, purge, reap, pause, resume")
    _demo_commands(commands)
    return parser


def _demo_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    demo.add_argument(
        "--redis", dest="demo_redis", metavar="URL", help="use this server instead of starting an embedded one"
    )

    worker = commands.add_parser("demo-worker", help="one worker process of the demo (started by `worqr demo`)")
    worker.add_argument("--redis", metavar="URL", required=True)
    worker.add_argument("--prefix", required=True)
    worker.add_argument("--queue", required=True)
    worker.add_argument("--worker-id", required=True)
    worker.add_argument("--work-time", type=_seconds, default=0.004)
    worker.add_argument(
        "--hold-after", type=int, default=None, metavar="K", help="after K tasks, take one more and hold it forever"
    )
