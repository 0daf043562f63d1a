"""``python -m worqr demo``: a producer, two worker OS processes, and one of them killed mid-task.

The parent starts a private server (`worqr.testing.RedisServer`), starts two workers
(``python -m worqr demo-worker``), waits until both are subscribed, and enqueues the tasks.
Worker A finishes a few tasks, then takes one more and holds it, as if that task hung; it
prints ``holding <process id> <task>`` and the parent SIGKILLs it. Worker B keeps working;
its supervisor reaps A once A's heartbeat expires (``worker_timeout`` + up to
``cleanup_interval``), which puts A's task back at the front of the queue and publishes a
``work`` event, and B finishes it. The parent counts ``done`` events and prints a summary.

Protocol between the parent and a worker: the worker prints ``ready``, ``holding <process id>
<task>`` and ``exit finished=<n>`` on stdout; it stops when its stdin closes (so workers also
stop if the parent dies).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from worqr import Event, ProcessLostError, WorkerLostError, Worqr, WorqrError
from worqr.testing import RedisServer, ServerNotFoundError

QUEUE = "demo"
#: The whole demo must end well within this many seconds, or it fails.
DEADLINE = 25.0
WORKER_TIMEOUT = 1.0
HEARTBEAT_INTERVAL = 0.25
CLEANUP_INTERVAL = 0.5


def _say(*parts: object) -> None:
    print(*parts, flush=True)


class DemoError(Exception):
    """The demo could not run its scenario (a worker exited early, a deadline passed)."""


# The worker process ----------------------------------------------------------------------------


def run_worker(
    *, redis_url: str, prefix: str, queue: str, worker_id: str, work_time: float, hold_after: int | None
) -> int:
    """One demo worker: drain ``queue`` until stdin closes; with ``hold_after``, after that many
    tasks take one more and never finish it (the parent kills this process then)."""
    logging.basicConfig(level=logging.WARNING, format=f"  [{worker_id} log] %(levelname)s %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    stop = threading.Event()
    wake = threading.Event()

    def on_event(event: Event) -> None:
        if event.type == "work":
            wake.set()

    def watch_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()
        wake.set()

    finished = 0
    try:
        with Worqr(
            redis=redis_url,
            prefix=prefix,
            worker_id=worker_id,
            worker_timeout=WORKER_TIMEOUT,
            heartbeat_interval=HEARTBEAT_INTERVAL,
            cleanup_interval=CLEANUP_INTERVAL,
        ) as wq:
            wq.on(queue, on_event)  # before start_work, so the first work event reaches us
            wq.start_worker()
            wq.start_work(queue)
            threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
            _say("ready")
            while not stop.is_set():
                wake.clear()  # before dequeue: a work event that comes after an empty dequeue wakes us
                process = wq.dequeue(queue)
                if process is None:
                    wake.wait(0.5)
                    continue
                if hold_after is not None and finished >= hold_after:
                    _say("holding", process.id, process.task)
                    stop.wait()  # a task that never ends: the parent SIGKILLs this process here
                    break
                time.sleep(work_time)  # the "work"
                try:
                    wq.finish_process(process.id, {"length": len(process.task)})
                    finished += 1
                except ProcessLostError:
                    _say("lost", process.id)  # reaped meanwhile: a peer owns the task now
    except WorkerLostError as exc:
        _say("worker lost:", exc)
        return 1
    _say(f"exit finished={finished}")
    return 0


# The parent ------------------------------------------------------------------------------------


@dataclass
class _Tally:
    """What the parent learns from ``done`` events."""

    expected: int
    finished_by: dict[str, list[str]] = field(default_factory=dict)  # task -> worker ids
    process_of: dict[str, str] = field(default_factory=dict)  # task -> process id of the last finish
    lock: threading.Lock = field(default_factory=threading.Lock)
    all_done: threading.Event = field(default_factory=threading.Event)

    def on_event(self, event: Event) -> None:
        if event.type != "done":
            return
        done = json.loads(event.message)
        with self.lock:
            self.finished_by.setdefault(done["task"], []).append(done["worker_id"])
            self.process_of[done["task"]] = done["process_id"]
            if len(self.finished_by) >= self.expected:
                self.all_done.set()

    def snapshot(self) -> dict[str, list[str]]:
        with self.lock:
            return {task: list(workers) for task, workers in self.finished_by.items()}


@dataclass
class _Child:
    worker_id: str
    process: subprocess.Popen[str]
    exit_line: str = ""


def _pump(worker_id: str, stream: IO[str], lines: queue.Queue[tuple[str, str | None]]) -> None:
    for line in stream:
        lines.put((worker_id, line.rstrip("\n")))
    lines.put((worker_id, None))


def _spawn(args: list[str], worker_id: str, lines: queue.Queue[tuple[str, str | None]]) -> _Child:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)  # `-m worqr` works even uninstalled
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        [sys.executable, "-m", "worqr", "demo-worker", "--worker-id", worker_id, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
        env=env,
    )
    assert process.stdout is not None  # noqa: S101 (stdout=PIPE)
    threading.Thread(target=_pump, args=(worker_id, process.stdout, lines), daemon=True).start()
    return _Child(worker_id, process)


def _kill_all(children: list[_Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=5)
        for stream in (child.process.stdin, child.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _next_line(lines: queue.Queue[tuple[str, str | None]], timeout: float) -> tuple[str, str | None] | None:
    try:
        return lines.get(timeout=max(0.0, timeout))
    except queue.Empty:
        return None


def run_demo(*, tasks: int = 200, work_time: float = 0.004, redis_url: str | None = None) -> int:
    """Run the demo; returns the exit code (0 if every task was finished and none was lost)."""
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:  # closes, in reverse: the client, the workers, the server
            if redis_url is None:
                server = RedisServer()
                stack.callback(server.close)
                server.start()
                redis_url = server.url
                where = f"embedded {Path(server.binary).name} on {redis_url}"
            else:
                where = redis_url
            prefix = f"worqr-demo-{uuid.uuid4().hex[:8]}"
            _say(f"worqr demo: {where}, prefix {prefix!r}, queue {QUEUE!r}")
            children: list[_Child] = []
            stack.callback(_kill_all, children)
            wq = stack.enter_context(Worqr(redis=redis_url, prefix=prefix))
            demo = _Demo(wq, redis_url, children, tasks=tasks, work_time=work_time, started=started)
            demo.run()
            code = demo.report()
            wq.delete_queue(QUEUE)  # the prefix is this run's own: leave nothing queued behind
            return code
    except (DemoError, WorqrError, ServerNotFoundError) as exc:
        _say(f"demo failed: {type(exc).__name__}: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("interrupted; the workers and the server were stopped")
        return 130


class _Demo:
    """The parent's side of the scenario."""

    def __init__(
        self, wq: Worqr, redis_url: str, children: list[_Child], *, tasks: int, work_time: float, started: float
    ) -> None:
        self.wq = wq
        self.redis_url = redis_url
        self.children = children
        self.names = [f"task-{i:04d}" for i in range(tasks)]
        self.work_time = work_time
        self.started = started
        self.deadline = started + DEADLINE
        self.tally = _Tally(expected=tasks)
        self.lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.held_process: str | None = None
        self.held_task: str | None = None
        self.killed_at: float | None = None
        self.reaped_at: float | None = None
        self.survivor_code: int | None = None

    @property
    def victim(self) -> _Child:
        return self.children[0]

    @property
    def survivor(self) -> _Child:
        return self.children[1]

    def _left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self) -> None:
        self.wq.on(QUEUE, self.tally.on_event)  # live before anything is enqueued: no done event is missed
        common = ["--redis", self.redis_url, "--prefix", self.wq.prefix, "--queue", QUEUE]
        common += ["--work-time", str(self.work_time)]
        hold_after = min(10, len(self.names) // 20)
        self.children.append(_spawn([*common, "--hold-after", str(hold_after)], "worker-A", self.lines))
        self.children.append(_spawn(common, "worker-B", self.lines))
        self._wait_ready()
        self.wq.enqueue(QUEUE, self.names)
        _say(f"enqueued {len(self.names)} tasks")
        next_check = 0.0
        while not self.tally.all_done.is_set():
            if self._left() < 0:
                raise DemoError(f"only {len(self.tally.snapshot())} of {len(self.names)} tasks were finished in time")
            got = _next_line(self.lines, 0.05)
            if got is not None:
                self._on_line(*got)
            if self.killed_at is not None and self.reaped_at is None and time.monotonic() >= next_check:
                next_check = time.monotonic() + 0.05
                self._check_reaped()
        self._stop_survivor()

    def _wait_ready(self) -> None:
        ready: set[str] = set()
        by_id = {c.worker_id: c for c in self.children}
        while len(ready) < len(self.children):
            got = _next_line(self.lines, self._left())
            if got is None:
                raise DemoError("the workers did not start in time")
            worker_id, line = got
            if line is None:
                code = by_id[worker_id].process.wait()
                raise DemoError(f"{worker_id} exited with code {code} before it was ready")
            if line == "ready":
                ready.add(worker_id)
        a, b = self.victim, self.survivor
        _say(f"workers {a.worker_id} (pid {a.process.pid}) and {b.worker_id} (pid {b.process.pid}) are ready")

    def _on_line(self, worker_id: str, line: str | None) -> None:
        if line is None:
            if worker_id == self.survivor.worker_id:
                code = self.survivor.process.wait()
                raise DemoError(f"{worker_id} exited with code {code} while tasks remained")
        elif line.startswith("holding ") and worker_id == self.victim.worker_id:
            _, self.held_process, self.held_task = line.split(" ", 2)
            self.victim.process.send_signal(signal.SIGKILL)
            self.victim.process.wait()
            self.killed_at = time.monotonic()
            _say(f"killed {worker_id} (SIGKILL) while it held process {self.held_process} ({self.held_task})")
        elif line.startswith("exit "):
            next(c for c in self.children if c.worker_id == worker_id).exit_line = line
        else:
            _say(f"  {worker_id}: {line}")

    def _check_reaped(self) -> None:
        if self.killed_at is None or self.victim.worker_id in self.wq.get_workers():
            return
        self.reaped_at = time.monotonic()
        _say(
            f"{self.survivor.worker_id} reaped {self.victim.worker_id} {self.reaped_at - self.killed_at:.2f} s "
            f"after the kill (worker_timeout {WORKER_TIMEOUT} s, cleanup_interval "
            f"{CLEANUP_INTERVAL} s); its task went back to the front of the queue"
        )

    def _stop_survivor(self) -> None:
        """Every task is finished: let the survivor leave cleanly (its stdin closes)."""
        survivor = self.survivor
        if survivor.process.stdin is not None:
            survivor.process.stdin.close()
        try:
            self.survivor_code = survivor.process.wait(timeout=max(1.0, self._left()))
        except subprocess.TimeoutExpired as exc:
            raise DemoError(f"{survivor.worker_id} did not stop when asked") from exc
        while (got := _next_line(self.lines, 1.0)) is not None and got != (survivor.worker_id, None):
            self._on_line(*got)
        if self.reaped_at is None:
            self._check_reaped()

    def report(self) -> int:
        """Print the summary; returns the exit code."""
        finished_by = self.tally.snapshot()
        queued = set(self.wq.get_tasks(QUEUE))
        lost = sorted(set(self.names) - set(finished_by) - queued)
        duplicates = sorted(task for task, workers in finished_by.items() if len(workers) > 1)
        per_worker = Counter(w for workers in finished_by.values() for w in workers)
        reaped = [self.victim.worker_id] if self.reaped_at is not None else []
        _say("")
        _say("summary:")
        _say(f"  enqueued {len(self.names)}, finished {len(finished_by)}, lost {len(lost)}")
        _say("  finished per worker: " + ", ".join(f"{w} {n}" for w, n in sorted(per_worker.items())))
        _say(f"  reaped workers: {reaped}")
        if self.held_task is None:
            _say(f"  killed worker's task: none ({self.victim.worker_id} never held a task; try more --tasks)")
        else:
            who = ", ".join(finished_by.get(self.held_task, [])) or "nobody"
            again = self.tally.process_of.get(self.held_task, "-")
            _say(
                f"  killed worker's task: {self.held_task} (was process {self.held_process}), "
                f"finished by {who} as process {again}"
            )
        _say(
            f"  still queued: {len(queued)}, finished twice: {len(duplicates)}, "
            f"workers still registered: {self.wq.get_workers()}"
        )
        if lost:
            _say(f"  LOST: {lost[:10]}{' ...' if len(lost) > 10 else ''}")
        exit_line = self.survivor.exit_line or "no exit line"
        _say(f"  {self.survivor.worker_id} exited with code {self.survivor_code} ({exit_line})")
        _say(f"  elapsed: {time.monotonic() - self.started:.1f} s")
        ok = not lost and len(finished_by) == len(self.names) and not duplicates and self.held_task is not None
        ok = ok and bool(reaped) and self.survivor_code == 0
        _say("OK" if ok else "FAILED")
        return 0 if ok else 1
