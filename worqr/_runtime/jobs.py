"""The life of one job (a process a worker runs) and the bookkeeping of all of a worker's
jobs. `Job.claim` moves a job from running to its outcome exactly once, so that a handler
returning, its timeout, a cancel event, shutdown and loss never settle a process twice."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterable
from typing import Any, Generic, Literal, TypeVar

from worqr._protocol.events import DigestCancel
from worqr._protocol.models import Event, Process, parse_process_id
from worqr._runtime.cancel import CancelReason, CancelToken

T = TypeVar("T")


#: running: the handler runs; then exactly one of the others, set by whoever claims first.
JobState = Literal["running", "settling", "cancelled", "timed_out", "released", "lost"]


class Job(Generic[T]):
    """One process a worker runs: the handler's state, its token and its deadline.

    ``claim`` moves the state from running to an outcome exactly once, so that a handler
    returning, its timeout, a cancel event, shutdown and loss never settle a process twice.
    """

    def __init__(self, process: Process[T], payload: bytes, timeout: float | None) -> None:
        self.process = process
        self.payload = payload
        self.token = CancelToken()
        self.timeout = timeout
        self.started = time.monotonic()
        #: None until the handler begins: a prefetched job's timeout starts with its handler.
        self.deadline: float | None = None
        self.begun = False
        self.state: JobState = "running"
        self.returned = False
        #: Set once the timeout's failure is recorded: a late result waits for it, so that
        #: the fence meets a failed process (see `reject_late`).
        self.timeout_recorded = False
        self._lock = threading.Lock()

    def claim(self, state: JobState) -> bool:
        with self._lock:
            if self.state != "running":
                return False
            self.state = state
            return True

    def claim_unstarted(self, state: JobState) -> bool:
        """`claim`, only if the handler has not begun (a prefetched job still waiting)."""
        with self._lock:
            if self.state != "running" or self.begun:
                return False
            self.state = state
            return True

    def begin(self) -> bool:
        """Mark the handler as starting now; False if the job was claimed meanwhile."""
        with self._lock:
            if self.state != "running":
                return False
            self.begun = True
            self.started = time.monotonic()
            self.deadline = None if self.timeout is None else self.started + self.timeout
            return True


class Jobs:
    """The jobs of one worker, by process id. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job[Any]] = {}

    def add(self, job: Job[Any]) -> None:
        with self._lock:
            self._jobs[job.process.id] = job

    def remove(self, job: Job[Any]) -> None:
        with self._lock:
            if self._jobs.get(job.process.id) is job:
                del self._jobs[job.process.id]

    def all(self) -> list[Job[Any]]:
        with self._lock:
            return list(self._jobs.values())

    def busy(self) -> int:
        """How many jobs have not returned yet, waiting (prefetched) or running: each holds
        a unit of the worker's capacity."""
        with self._lock:
            return sum(1 for job in self._jobs.values() if not job.returned)

    def running(self) -> int:
        """How many handlers run now."""
        with self._lock:
            return sum(1 for job in self._jobs.values() if job.begun and not job.returned)

    def unsettled(self) -> int:
        """How many jobs are running or still recording their outcome. Shutdown waits for
        these too: a finish still on its way when ``stop_work`` requeues the process would
        be refused, and the task run again."""
        with self._lock:
            return len(self._jobs)

    def claim(self, state: JobState, reason: CancelReason, jobs: Iterable[Job[Any]] | None = None) -> list[Job[Any]]:
        """Claim every running job (of ``jobs``, default all) for ``state`` and tell its handler."""
        claimed = [job for job in (self.all() if jobs is None else jobs) if job.claim(state)]
        for job in claimed:
            job.token.cancel(reason)
        return claimed

    def claim_unstarted(self, state: JobState, reason: CancelReason) -> list[Job[Any]]:
        """Claim the jobs whose handler has not begun (prefetched, still waiting)."""
        claimed = [job for job in self.all() if job.claim_unstarted(state)]
        for job in claimed:
            job.token.cancel(reason)
        return claimed

    def expired(self, now: float) -> list[Job[Any]]:
        """Claim the jobs past their deadline as timed out."""
        late = [job for job in self.all() if job.deadline is not None and job.deadline <= now]
        return self.claim("timed_out", "timeout", late)

    def cancelled_by(self, event: Event) -> list[Job[Any]]:
        """Claim the jobs whose task a ``cancel`` event names: by the payload itself, or by
        its SHA1 for a payload too long to travel in an event (`DigestCancel`)."""
        if isinstance(event, DigestCancel):
            named = [job for job in self.all() if job.process.queue == event.queue and event.names(job.payload)]
        else:
            payload = event_payload(event)
            named = [job for job in self.all() if job.process.queue == event.queue and job.payload == payload]
        return self.claim("cancelled", "cancelled", named)

    def next_deadline(self) -> float | None:
        deadlines = [job.deadline for job in self.all() if job.deadline is not None and job.state == "running"]
        return min(deadlines, default=None)


def release_order(jobs: Iterable[Job[Any]]) -> list[Job[Any]]:
    """Jobs to give back on shutdown, the latest taken first: each release pushes its task to
    the front of its queue, so the earliest taken ends in front (the order a reap keeps)."""
    return sorted(jobs, key=lambda job: parse_process_id(job.process.id)[0], reverse=True)


def event_payload(event: Event) -> bytes:
    """The payload a ``cancel`` event carries whole (one of at most ``EVENT_TASK_PREVIEW``
    bytes), as bytes."""
    if event.task_encoding == "base64":
        return base64.b64decode(event.message)
    return event.message.encode("utf-8")
