"""Each ``worqr`` command: what it asks the client, and the answer as a JSON document plus
the text a person reads. `CliError` is an error of the command's input (an unknown queue,
a missing confirmation): one line on stderr, exit 1."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from worqr import Event, Functions, PartialReadError, Worqr
from worqr.cli import render
from worqr.cli.answers import Answer
from worqr.cli.streams import stream, streams
from worqr.leases.documents import lease_document
from worqr.operations.documents import (
    dead_letter_document,
    dumps,
    process_document,
    queue_document,
    unknown_queue,
    worker_document,
)
from worqr.schedules.documents import schedule_document

#: Exit status of `check` when it finds a problem.
CHECK_FAILED = 3


class CliError(Exception):
    """A bad command line input: its message is the one line printed."""


T = TypeVar("T")


class _Partial:
    """The reads of one command on a Redis Cluster with nodes down: each read gives what the
    other nodes served (`PartialReadError.value`), and the answer says so and exits 1."""

    def __init__(self) -> None:
        self.unreachable: set[str] = set()
        self.first: str | None = None

    def read(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except PartialReadError as exc:
            self.unreachable |= set(exc.unreachable)
            self.first = self.first or str(exc)
            return cast("T", exc.value)

    def answer(self, document: Any, text: str, *, key: str) -> Answer:
        if not self.unreachable:
            return Answer(document, text)
        nodes = sorted(self.unreachable)
        whole = document if isinstance(document, dict) else {key: document}
        return Answer({**whole, "partial": True, "unreachable": nodes}, text, 1, self.first)


QUEUE_COLUMNS = ("name", "queued", "delayed", "in_flight", "dead_letters", "workers", "paused", "enqueued", "finished")
WORKER_COLUMNS = ("id", "state", "host", "pid", "queues", "in_flight", "heartbeat_age", "started_at")


def _queues_text(rows: list[dict[str, Any]]) -> str:
    flat = [{**row, **row["counters"]} for row in rows]
    return render.table(flat, QUEUE_COLUMNS, empty="no queues")


def _known_queues(wq: Worqr, queues: list[str]) -> list[str]:
    msg = unknown_queue(queues, wq.get_queues(), wq.prefix)
    if msg is not None:
        raise CliError(msg)
    return queues


def queues(wq: Worqr, args: argparse.Namespace) -> Answer:
    chosen = _known_queues(wq, args.queue) if args.queue else None
    partial = _Partial()
    rows = [queue_document(info) for info in partial.read(lambda: wq.inspect_queues(chosen))]
    return partial.answer(rows, _queues_text(rows), key="queues")


def workers(wq: Worqr, args: argparse.Namespace) -> Answer:
    del args
    partial = _Partial()
    rows = [worker_document(info) for info in partial.read(wq.inspect_workers)]
    return partial.answer(rows, render.table(rows, WORKER_COLUMNS, empty="no workers"), key="workers")


def status(wq: Worqr, args: argparse.Namespace) -> Answer:
    del args
    partial = _Partial()
    queue_rows = [queue_document(info) for info in partial.read(wq.inspect_queues)]
    worker_rows = [worker_document(info) for info in partial.read(wq.inspect_workers)]
    text = "\n\n".join([_queues_text(queue_rows), render.table(worker_rows, WORKER_COLUMNS, empty="no workers")])
    return partial.answer({"queues": queue_rows, "workers": worker_rows}, text, key="status")


def processes(wq: Worqr, args: argparse.Namespace) -> Answer:
    if args.queue is not None:
        _known_queues(wq, [args.queue])
    partial = _Partial()
    found = partial.read(lambda: wq.inspect_processes(args.queue, args.worker))
    rows = [process_document(p, full=args.show_tasks) for p in found]
    shown = [{**row, "task": row.get("task", row.get("task_base64"))} for row in rows]
    text = render.table(shown, ("id", "queue", "worker_id", "attempt", "task"), empty="no tasks in flight")
    return partial.answer(rows, text, key="processes")


LEASE_COLUMNS = ("name", "holder", "token", "expires_in", "last_token")


def leases(wq: Worqr, args: argparse.Namespace) -> Answer:
    del args
    rows = [lease_document(info) for info in wq.inspect_leases()]
    shown = [{**row, "holder": row["holder"] or "-", "expires_in": _seconds(row["expires_in_ms"])} for row in rows]
    return Answer(rows, render.table(shown, LEASE_COLUMNS, empty="no leases"))


SCHEDULE_COLUMNS = ("name", "queue", "spec", "next_due", "last_fired", "runs", "skipped", "missed")


def schedules(wq: Worqr, args: argparse.Namespace) -> Answer:
    del args
    rows = [schedule_document(found) for found in wq.get_schedules()]
    shown = [{**row, "next_due": row["next_due"] or "-", "last_fired": row["last_fired"] or "-"} for row in rows]
    return Answer(rows, render.table(shown, SCHEDULE_COLUMNS, empty="no schedules"))


def _seconds(ms: int | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f}s"


def _ids(args: argparse.Namespace) -> list[str] | None:
    return list(args.ids) or None


def dead(wq: Worqr, args: argparse.Namespace) -> Answer:
    _known_queues(wq, [args.queue])
    if args.action == "list":
        rows = [dead_letter_document(letter, full=args.show_tasks) for letter in wq.get_dead_letters(args.queue)]
        shown = [{**row, "task": row.get("task", row.get("task_base64"))} for row in rows]
        columns = ("id", "attempts", "failed_at", "error_type", "error", "task")
        return Answer(rows, render.table(shown, columns, empty="no dead letters"))
    if args.action == "requeue":
        n = wq.requeue_dead_letters(args.queue, _ids(args))
        return Answer({"requeued": n}, f"requeued {n} dead letter(s) of {args.queue!r}")
    ids = _ids(args)
    present = {letter.id for letter in wq.get_dead_letters(args.queue)}
    would = len(present) if ids is None else len(present & set(ids))
    if args.dry_run:
        return Answer({"purged": 0, "would_purge": would, "dry_run": True}, f"would purge {would} dead letter(s)")
    confirm(args, f"purge {would} dead letter(s) of {args.queue!r} for good")
    n = wq.purge_dead_letters(args.queue, ids)
    return Answer({"purged": n}, f"purged {n} dead letter(s) of {args.queue!r}")


def confirm(args: argparse.Namespace, action: str) -> None:
    """Ask on a terminal before a destructive action; refuse without one unless --yes."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        msg = f"refusing to {action} without confirmation: pass --yes (or --dry-run to see what would happen)"
        raise CliError(msg)
    reply = input(f"{action}? [y/N] ").strip().lower()
    if reply not in ("y", "yes"):
        msg = f"not confirmed: did not {action}"
        raise CliError(msg)


def reap(wq: Worqr, args: argparse.Namespace) -> Answer:
    infos = {info.id: info for info in wq.inspect_workers()}
    if args.worker is None:
        expired = [w for w, info in infos.items() if info.state in ("overdue", "reaping")]
        if args.dry_run:
            return Answer(
                {"reaped": [], "would_reap": expired, "dry_run": True}, f"would reap {len(expired)} worker(s)"
            )
        reaped = wq.cleanup_workers()
        return Answer({"reaped": reaped}, f"reaped {len(reaped)} worker(s): {', '.join(reaped) or 'none expired'}")
    info = infos.get(args.worker)
    if info is None or info.state == "ended":
        msg = f"no registered worker {args.worker!r} under prefix {wq.prefix!r} (see `worqr workers`)"
        raise CliError(msg)
    if args.dry_run:
        text = f"would reap {args.worker!r} ({info.state}) and requeue its {info.in_flight} task(s)"
        return Answer({"reaped": [], "would_reap": [args.worker], "dry_run": True}, text)
    if info.alive:
        confirm(args, f"reap the live worker {args.worker!r} and requeue its {info.in_flight} task(s)")
    wq.fail_worker(args.worker)
    return Answer({"reaped": [args.worker]}, f"reaped {args.worker!r}")


def cancel(wq: Worqr, args: argparse.Namespace) -> Answer:
    _known_queues(wq, [args.queue])
    n = wq.cancel_tasks(args.queue, args.task)
    return Answer({"cancelled": n}, f"cancelled {n} waiting task(s) of {args.queue!r}")


def delete(wq: Worqr, args: argparse.Namespace) -> Answer:
    _known_queues(wq, [args.queue])
    if args.dry_run:
        (info,) = wq.inspect_queues([args.queue])
        would = info.queued + info.delayed
        return Answer({"deleted": 0, "would_delete": would, "dry_run": True}, f"would delete {would} task(s)")
    confirm(args, f"delete queue {args.queue!r} and its waiting and delayed tasks")
    n = wq.delete_queue(args.queue)
    return Answer({"deleted": n}, f"deleted {args.queue!r} and {n} waiting task(s)")


def pause(wq: Worqr, args: argparse.Namespace) -> Answer:
    _known_queues(wq, [args.queue])
    was = wq.pause_queue(args.queue)
    return Answer({"queue": args.queue, "paused": True, "was_paused": was}, f"paused {args.queue!r}")


def resume(wq: Worqr, args: argparse.Namespace) -> Answer:
    _known_queues(wq, [args.queue])
    was = wq.resume_queue(args.queue)
    return Answer({"queue": args.queue, "paused": False, "was_paused": was}, f"resumed {args.queue!r}")


def check(wq: Worqr, args: argparse.Namespace) -> Answer:
    del args
    problems = [
        f"worker {info.id} ({info.host or '?'} pid {info.pid or '?'}) is registered but its heartbeat expired: "
        "it is not reaped yet (run `worqr reap`)"
        for info in wq.inspect_workers()
        if info.state == "overdue"
    ]
    ok = not problems
    text = "ok: the server answers and no worker's heartbeat is overdue" if ok else "\n".join(problems)
    return Answer({"ok": ok, "problems": problems}, text, 0 if ok else CHECK_FAILED)


def watch(wq: Worqr, args: argparse.Namespace) -> Answer:
    chosen = _known_queues(wq, args.queue) if args.queue else wq.get_queues()

    def show(event: Event) -> None:
        line = {"queue": event.queue, "type": event.type, "message": event.message}
        print(dumps(line), flush=True)

    for queue in chosen:
        wq.on(queue, show)
    print(dumps({"watching": chosen}), flush=True)
    _wait_for_a_signal()
    return Answer(None, "")


def _wait_for_a_signal() -> None:
    """Block until SIGTERM or an interrupt (Ctrl-C)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


def _extra(module: str, command: str, needs: str, extra: str) -> Any:
    """``module`` of an optional extra, or the one line that says what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        msg = f"worqr {command} needs {needs} ({exc}): pip install 'worqr[{extra}]'"
        raise CliError(msg) from exc


def metrics(wq: Worqr, args: argparse.Namespace) -> Answer:
    prometheus = _extra("worqr.metrics.prometheus", "metrics", "prometheus-client", "metrics")
    host, port = prometheus.serve(wq, args.port, args.host)
    url = f"http://{host}:{port}/metrics"
    print(dumps({"metrics": url}) if args.json else f"serving {url} (Ctrl-C or SIGTERM stops)", flush=True)
    _wait_for_a_signal()
    return Answer(None, "")


def dashboard(wq: Worqr, args: argparse.Namespace) -> Answer:
    serve = _extra("worqr.web.serve", "dashboard", "Starlette and uvicorn", "web")
    wq.get_queues()  # the server answers and the credentials work, before anything listens

    def announce(url: str) -> None:
        actions = "with actions" if args.allow_actions else "read-only (--allow-actions to act)"
        print(dumps({"dashboard": url}) if args.json else f"serving {url} {actions} (Ctrl-C stops)", flush=True)

    serve.serve(
        args.redis, args.prefix, host=args.host, port=args.port, allow_actions=args.allow_actions, announce=announce
    )
    return Answer(None, "")


def _load(target: str) -> object:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        msg = f"the worker target must be MODULE:ATTR (like 'app.tasks:functions'), got {target!r}"
        raise CliError(msg)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: object = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"cannot import {module_name!r}: {exc}"
        raise CliError(msg) from exc
    for part in attr.split("."):
        if not hasattr(found, part):
            msg = f"{module_name!r} has no attribute {attr!r}"
            raise CliError(msg)
        found = getattr(found, part)
    return found


def worker(wq: Worqr, args: argparse.Namespace) -> Answer:
    target = _load(args.target)
    if args.concurrency < 1:
        msg = f"--concurrency must be at least 1, got {args.concurrency}"
        raise CliError(msg)
    if isinstance(target, Functions):
        if args.queue:
            msg = "a Functions registry serves the queues of its functions: drop --queue"
            raise CliError(msg)
        wq.serve(target, concurrency=args.concurrency).run()
    elif callable(target):
        if not args.queue:
            msg = f"{args.target} is a handler: name its queues with --queue Q (repeat for more)"
            raise CliError(msg)
        wq.worker(args.queue, target, concurrency=args.concurrency).run()
    else:
        msg = f"{args.target} is neither a Functions registry nor a handler (a callable taking a Process)"
        raise CliError(msg)
    return Answer(None, "")


COMMANDS: dict[str, Callable[[Worqr, argparse.Namespace], Answer]] = {
    "status": status,
    "queues": queues,
    "workers": workers,
    "processes": processes,
    "leases": leases,
    "schedules": schedules,
    "streams": streams,
    "stream": stream,
    "dead": dead,
    "reap": reap,
    "cancel": cancel,
    "delete": delete,
    "pause": pause,
    "resume": resume,
    "watch": watch,
    "check": check,
    "worker": worker,
    "metrics": metrics,
    "dashboard": dashboard,
}
