"""A persistent singleton: exactly one live process owns "the connection", and a peer takes it over
when the owner dies.

    python examples/singleton_connection_owner.py

The singleton is one task, enqueued with ``unique=True``, that is never finished: its owner
dequeues it and holds it for as long as it lives. Candidates are worker processes working on
the queue; the task waits in the queue until one of them takes it. When the owner process
dies (here: SIGKILL), its heartbeat expires and a peer reaps it within about
``worker_timeout + cleanup_interval``: the task goes back to the front of the queue, a
``work`` event wakes the standby, and it takes the task over. When an owner leaves cleanly,
the task goes back at once.

The script plays both parts: without arguments it is the parent (starts a server unless
WORQR_REDIS_URL is set, two owner processes, kills the first); ``owner URL PREFIX NAME`` is
one candidate. A candidate prints ``standby NAME`` once it waits, ``owner NAME PROCESS_ID``
when it holds the task, and stops when its stdin closes.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack, suppress
from typing import IO

from worqr import DuplicateTaskError, Event, Worqr
from worqr.testing import server_url

QUEUE = "connection-owner"
TASK = "primary-db-connection"
WORKER_TIMEOUT = 1.0
HEARTBEAT_INTERVAL = 0.25
CLEANUP_INTERVAL = 0.5


# A candidate owner (one OS process) -------------------------------------------------------------


def candidate(url: str, prefix: str, name: str) -> None:
    stop = threading.Event()
    wake = threading.Event()

    def on_event(event: Event) -> None:
        if event.type == "work":  # the singleton is free: it was enqueued, or its owner was reaped
            wake.set()

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed our stdin, or died
        stop.set()
        wake.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    with Worqr(
        redis=url,
        prefix=prefix,
        worker_id=name,
        worker_timeout=WORKER_TIMEOUT,
        heartbeat_interval=HEARTBEAT_INTERVAL,
        cleanup_interval=CLEANUP_INTERVAL,
    ) as wq:
        wq.on(QUEUE, on_event)
        wq.start_worker()  # from here on, our heartbeat says we are alive, and we reap dead peers
        wq.start_work(QUEUE)
        print("standby", name, flush=True)
        while not stop.is_set():
            wake.clear()
            process = wq.dequeue(QUEUE)
            if process is None:
                wake.wait(1.0)
                continue
            print("owner", name, process.id, flush=True)
            # Open the connection here and serve it until we stop. The task is never finished: holding
            # it is what makes us the owner. Check now and then that we still hold it: a process that
            # stalled for longer than worker_timeout was reaped, and must let go of the connection.
            while not stop.wait(HEARTBEAT_INTERVAL):
                if process.id not in wq.get_matching_processes(TASK):
                    print("lost", name, process.id, flush=True)  # close the connection here
                    wq.start_worker()  # declared dead: register again and stand by once more
                    wq.start_work(QUEUE)
                    break
    # Leaving the block failed this worker cleanly: the task went back to the front of the queue.


# The parent ----------------------------------------------------------------------------------


class Candidate:
    """A candidate process and the lines it prints."""

    def __init__(self, url: str, prefix: str, name: str) -> None:
        self.name = name
        self.lines: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(  # noqa: S603 (this very script, with our own arguments)
            [sys.executable, __file__, "owner", url, prefix, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str] | None) -> None:
        for line in stream or ():
            self.lines.put(line.strip())

    def expect(self, word: str, timeout: float = 10.0) -> list[str]:
        """Wait for the next line that starts with ``word``; return its fields."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fields = self.lines.get(timeout=max(0.0, deadline - time.monotonic())).split()
            except queue.Empty:
                raise TimeoutError(f"{self.name} did not print {word!r} within {timeout} s") from None
            if fields and fields[0] == word:
                return fields

    def leave(self) -> int:
        """Close stdin (the candidate leaves cleanly) and wait for it."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        return self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdin is not None:
            with suppress(OSError):
                self.process.stdin.close()


def main() -> int:
    prefix = f"example-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        url = stack.enter_context(server_url())
        admin = stack.enter_context(Worqr(redis=url, prefix=prefix))  # not a worker: it only looks
        admin.enqueue(QUEUE, TASK, unique=True)
        try:
            admin.enqueue(QUEUE, TASK, unique=True)
        except DuplicateTaskError:
            print(f"{TASK!r} is enqueued once; a second copy is refused (unique)")

        first = Candidate(url, prefix, "owner-1")
        stack.callback(first.kill)
        _, _, before = first.expect("owner")
        second = Candidate(url, prefix, "owner-2")
        stack.callback(second.kill)
        second.expect("standby")
        print(f"before: owner-1 owns {TASK!r} (process {before}); owner-2 stands by")

        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        killed = time.monotonic()
        _, _, after = second.expect("owner", timeout=WORKER_TIMEOUT + CLEANUP_INTERVAL + 8)
        took = time.monotonic() - killed
        print(
            f"after: owner-1 was killed (SIGKILL); owner-2 reaped it and owns {TASK!r} (process {after}) "
            f"{took:.2f} s later (worker_timeout {WORKER_TIMEOUT} s + cleanup_interval {CLEANUP_INTERVAL} s)"
        )
        workers = admin.get_workers()
        owners = admin.get_matching_processes(TASK)

        code = second.leave()
        waiting = admin.get_tasks(QUEUE)
        print(f"owner-2 left cleanly (exit {code}); the task is queued again for the next owner: {waiting}")
        admin.delete_queue(QUEUE)

    ok = workers == ["owner-2"] and owners == [after] and waiting == [TASK] and code == 0
    print("singleton_connection_owner: " + ("one owner at a time, taken over after a crash" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["owner"]:
        candidate(*sys.argv[2:5])
    else:
        sys.exit(main())
