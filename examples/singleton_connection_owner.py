"""A persistent singleton: exactly one live process owns "the connection", and a peer takes it over
when the owner dies.

    python examples/singleton_connection_owner.py

The singleton is one task, enqueued with ``unique=True``, that is never finished. Each
candidate is a `Worqr.persistent_worker` on the queue: the one that takes the task runs the
handler, which holds it for as long as the worker lives; the others stand by. When the owner
process dies (here: SIGKILL), its heartbeat expires and a peer reaps it within about
``worker_timeout + cleanup_interval``: the task goes back to the front of the queue, a
``work`` event wakes a standby, and it takes the task over. When an owner stops cleanly, its
handler is told (its cancellation token) and the task goes back at once.

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

from worqr import DuplicateTaskError, Process, Worqr, cancel_token
from worqr.testing import server_url

QUEUE = "connection-owner"
TASK = "primary-db-connection"
WORKER_TIMEOUT = 1.0
HEARTBEAT_INTERVAL = 0.25
CLEANUP_INTERVAL = 0.5


# A candidate owner (one OS process) -------------------------------------------------------------


def candidate(url: str, prefix: str, name: str) -> None:
    def own(process: Process[str]) -> None:
        """Holds the singleton for as long as this worker lives: open the connection here and serve it
        until the worker says stop (shutdown, or it was declared dead and a peer may take over)."""
        print("owner", name, process.id, flush=True)
        token = cancel_token()
        token.wait()
        print("released", name, process.id, token.reason, flush=True)  # close the connection here

    with Worqr(
        redis=url,
        prefix=prefix,
        worker_id=name,
        worker_timeout=WORKER_TIMEOUT,
        heartbeat_interval=HEARTBEAT_INTERVAL,
        cleanup_interval=CLEANUP_INTERVAL,
    ) as wq:
        # A candidate that stalled past worker_timeout stops its handler on its own clock ("worker
        # lost"), registers again under its id (restart_on_loss, the default) and stands by once more.
        worker = wq.persistent_worker(QUEUE, own)
        worker.start()  # heartbeat, reaping of dead peers, and taking the singleton when it is free
        print("standby", name, flush=True)
        sys.stdin.read()  # returns at EOF: the parent closed our stdin, or died
        worker.stop()  # the handler is told at once; the task goes back to the front of the queue


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
