"""The life of one job (a process a worker runs) and the bookkeeping of all of a worker's
jobs. `Job.claim` moves a job from running to its outcome exactly once, so that a handler
returning, its timeout, a cancel event, shutdown and loss never settle a process twice."""

from __future__ import annotations

import base64
import contextvars
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, Literal, TypeVar

from worqr._protocol.events import DigestCancel
from worqr._protocol.models import Event, Process, parse_process_id
from worqr._runtime.cancel import CancelReason, CancelToken, bind_token

T = TypeVar("T")


#: running: the handler runs; then exactly one of the others, set by whoever claims first.
JobState = Literal["running", "settling", "cancelled", "timed_out", "released", "lost"]


class Job(Generic[T]):
    """One process a worker runs: the handler's state, its token and its deadline.

    ``claim`` moves the state from running to an outcome exactly once, so that a handler
    returning, its timeout, a cancel event, shutdown and loss never settle a process twice.
    """

    def __init__(
        self,
        process: Process[T],
        payload: bytes,
        timeout: float | None,
        *,
        max_attempts: int | None = None,
        backoff: Any = None,
        report: Callable[[Any, Process[Any], str], Any] | None = None,
    ) -> None:
        self.process = process
        self.payload = payload
        self.token = CancelToken()
        self.timeout = timeout
        #: This task's own limits (the worker's when its queue does not plan tasks).
        self.max_attempts = max_attempts
        self.backoff = backoff
        #: How a value the handler reports is recorded (a flow maker; None: it cannot report),
        #: and the value waiting to be recorded (the loop sends the latest in its next round).
        self.report = report
        self.reported: str | None = None
        self.on_report: Callable[[], None] | None = None
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

    def report_value(self, value_json: str) -> None:
        """Keep ``value_json`` to be recorded in the loop's next round (only the latest is)."""
        if self.report is None:
            msg = "this task cannot report progress (only a call served by Worqr.serve can)"
            raise RuntimeError(msg)
        with self._lock:
            self.reported = value_json
        if self.on_report is not None:
            self.on_report()

    def take_reported(self) -> str | None:
        with self._lock:
            value, self.reported = self.reported, None
            return value

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

    def reporting(self) -> list[Job[Any]]:
        """The running jobs with a reported value waiting to be recorded."""
        return [job for job in self.all() if job.reported is not None and job.state == "running"]

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


_current_job: contextvars.ContextVar[Job[Any]] = contextvars.ContextVar("worqr_job")


def bind_job(job: Job[Any]) -> None:
    """Make ``job`` the current one of this thread's or task's context (its own: each job
    runs in a context of its own), and its token the current cancellation token."""
    _current_job.set(job)
    bind_token(job.token)


def current_job() -> Job[Any] | None:
    """The job whose handler runs in this context, if any."""
    return _current_job.get(None)
