"""What the sync and asyncio worker runtimes share: settings, backoff, counters, the
cancellation token, the life of one job, and every decision about a job's outcome written
once as a flow (see `worqr._flows`). `worqr._worker` and `worqr._async_worker` only add
concurrency (threads or tasks), waiting and signals.
"""

from __future__ import annotations

import base64
import contextvars
import functools
import hashlib
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Generic, Literal, Protocol, TypedDict, TypeVar

from worqr._protocol import checks, flows
from worqr._protocol.checks import check_queue_name
from worqr._protocol.codec import Codec, StrCodec
from worqr._protocol.models import Event, Process, parse_process_id
from worqr._protocol.session import Session
from worqr.errors import (
    InvalidArgumentError,
    InvalidTaskTypeError,
    ProcessLostError,
    RedisCommandError,
    RedisUnavailableError,
    ReplicationTimeoutError,
    TaskCancelledError,
    WorkerLostError,
    WorqrError,
)

T = TypeVar("T")
log = logging.getLogger("worqr")
_TEXT = StrCodec()
#: Seconds to wait before taking work again after Redis failed or refused a command.
TAKE_ERROR_PAUSE = 0.5
#: Most seconds a late result waits for its timeout's failure to be recorded.
LATE_RESULT_WAIT = 10.0


# Settings ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff:
    """The delay before retrying a failed task: ``base * factor ** (attempt - 1)`` seconds,
    at most ``max``, minus a random share of up to ``jitter`` (0 to 1) of it, so that tasks
    that failed together don't all come back together."""

    base: float = 1.0
    factor: float = 2.0
    max: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        for name in ("base", "max"):
            checks.check_seconds(f"Backoff.{name}", getattr(self, name))
        factor: object = self.factor
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 1 <= factor < math.inf:
            msg = f"Backoff.factor must be a finite number >= 1, got {factor!r}"
            raise InvalidArgumentError(msg)
        jitter: object = self.jitter
        if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter <= 1:
            msg = f"Backoff.jitter must be a number from 0 to 1, got {jitter!r}"
            raise InvalidArgumentError(msg)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        exponent = min(attempt - 1, 64)  # beyond this the cap applies anyway; no overflow
        full = min(self.max, self.base * self.factor**exponent)
        return full * (1 - self.jitter * random.random())  # noqa: S311 (jitter, not security)


class PersistentOptions(TypedDict, total=False):
    """Options of `Worqr.persistent_worker` (see `WorkerOptions`; there is no timeout, and
    ``max_attempts`` defaults to None: a persistent task outlives the workers that die)."""

    concurrency: int
    max_attempts: int | None
    backoff: Backoff
    restart_on_loss: bool
    grace: float


class WorkerOptions(PersistentOptions, total=False):
    """Options of `Worqr.worker` and `AsyncWorqr.worker`.

    concurrency: most handlers running at once (threads, or asyncio tasks); default 1.
    max_attempts: attempts before a task goes to the dead letters (a worker that dies while
        running it uses one); None: retry forever. Default 3.
    backoff: the delay before each retry; default `Backoff()`.
    timeout: seconds a handler may run before its attempt counts as failed; default None.
    restart_on_loss: when peers declare this worker dead, register again under a new worker
        id and go on (default False: stop, and `run` raises WorkerLostError).
    grace: seconds running handlers get to finish on shutdown before their tasks are given
        back to the front of their queues; default 30.
    prefetch: tasks taken ahead of free handlers, in one dequeue, so that short tasks do not
        each wait a round trip. They are this worker's processes while they wait (a crash
        gives them back like running ones; shutdown gives them back at once). None (the
        default): adapt, holding about `PREFETCH_WINDOW` seconds of work going by the
        handlers' recent run times, so slow handlers get none; 0: never.
    """

    timeout: float | None
    prefetch: int | None


_DEFAULTS: dict[str, object] = {
    "concurrency": 1,
    "backoff": Backoff(),
    "timeout": None,
    "restart_on_loss": False,
    "grace": 30.0,
    "prefetch": None,
}

#: Adaptive prefetch holds about this many seconds of work per handler, at most
#: `MAX_PREFETCH` tasks per handler.
PREFETCH_WINDOW = 0.002
MAX_PREFETCH = 100


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated options of one runtime worker."""

    concurrency: int
    max_attempts: int | None
    backoff: Backoff
    timeout: float | None
    persistent: bool
    restart_on_loss: bool
    grace: float
    prefetch: int | None = 0

    @classmethod
    def from_options(cls, options: PersistentOptions | WorkerOptions, *, persistent: bool) -> Settings:
        """Validate the keyword arguments of ``worker`` / ``persistent_worker``."""
        kind = PersistentOptions if persistent else WorkerOptions
        allowed = kind.__required_keys__ | kind.__optional_keys__
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            msg = f"unknown option(s) {', '.join(unknown)}; the options are: {', '.join(sorted(allowed))}"
            raise InvalidArgumentError(msg)
        values: dict[str, Any] = {**_DEFAULTS, "max_attempts": None if persistent else 3, **options}
        return cls.check(persistent=persistent, **values)

    @classmethod
    def check(
        cls,
        *,
        concurrency: object,
        max_attempts: object,
        backoff: object,
        timeout: object,
        persistent: bool,
        restart_on_loss: object,
        grace: object,
        prefetch: object = 0,
    ) -> Settings:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= checks.MAX_TAKE:
            msg = f"concurrency must be an int from 1 to {checks.MAX_TAKE}, got {concurrency!r}"
            raise InvalidArgumentError(msg)
        if not isinstance(backoff, Backoff):
            msg = f"backoff must be a worqr.Backoff, got {backoff!r}"
            raise InvalidArgumentError(msg)
        limit = checks.check_max_attempts(max_attempts)
        seconds = checks.check_seconds("timeout", timeout, allow_none=True)
        if seconds == 0:
            msg = "timeout must be positive (or None for no timeout), got 0"
            raise InvalidArgumentError(msg)
        if prefetch is not None and (
            isinstance(prefetch, bool) or not isinstance(prefetch, int) or not 0 <= prefetch <= checks.MAX_TAKE
        ):
            msg = f"prefetch must be None (adapt) or an int from 0 to {checks.MAX_TAKE}, got {prefetch!r}"
            raise InvalidArgumentError(msg)
        return cls(
            concurrency=concurrency,
            max_attempts=limit or None,
            backoff=backoff,
            timeout=seconds,
            persistent=persistent,
            restart_on_loss=checks.check_flag("restart_on_loss", restart_on_loss),
            grace=float(checks.check_seconds("grace", grace) or 0.0),
            prefetch=0 if persistent else prefetch,
        )

    def capacity(self, pace: Pace) -> int:
        """How many tasks the worker may hold: one per handler, plus the prefetch."""
        extra = pace.prefetch(self.concurrency) if self.prefetch is None else self.prefetch
        return min(checks.MAX_TAKE, self.concurrency + extra)


class Pace:
    """The handlers' recent run time (a moving average), for the adaptive prefetch."""

    def __init__(self) -> None:
        self.seconds: float | None = None

    def add(self, seconds: float) -> None:
        self.seconds = seconds if self.seconds is None else 0.9 * self.seconds + 0.1 * seconds

    def prefetch(self, concurrency: int) -> int:
        if self.seconds is None:
            return 0  # nothing known yet: the first tasks tell
        per_handler = PREFETCH_WINDOW / max(self.seconds, 1e-6)
        return concurrency * min(MAX_PREFETCH, int(per_handler))


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One queue a worker serves, with the codec its handler's tasks are decoded by."""

    name: str
    codec: Codec[Any]


def queue_specs(queues: object) -> list[QueueSpec]:
    """The queues of ``worker(queues, ...)``: one name or typed view, or a sequence of them
    in priority order (earlier queues are drained first)."""
    if isinstance(queues, str) or hasattr(queues, "codec"):
        items: list[object] = [queues]
    elif isinstance(queues, Iterable):
        items = list(queues)
    else:
        msg = f"queues must be a queue name, a Queue view, or a sequence of them, got {queues!r}"
        raise InvalidArgumentError(msg)
    specs: list[QueueSpec] = []
    for item in items:
        name, codec = (
            (item, _TEXT) if isinstance(item, str) else (getattr(item, "name", None), getattr(item, "codec", None))
        )
        if codec is None:
            msg = f"queues must hold queue names or Queue views, got {item!r}"
            raise InvalidArgumentError(msg)
        checked = check_queue_name(name)
        if any(s.name == checked for s in specs):
            msg = f"queue {checked!r} is listed twice; list each queue once, in priority order"
            raise InvalidArgumentError(msg)
        specs.append(QueueSpec(checked, codec))
    if not specs:
        msg = "queues is empty: name at least one queue to work on"
        raise InvalidArgumentError(msg)
    return specs


# Observability -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """Counters of one runtime worker since it was built.

    ``processed``: finished by their handler; ``failed``: attempts that raised or timed out;
    ``retried``: failures scheduled for another attempt; ``dead_lettered``: tasks moved to
    the dead letters; ``cancelled``: finished as cancelled; ``released``: given back to
    their queue on shutdown; ``in_flight``: handlers running now.
    """

    processed: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    cancelled: int = 0
    released: int = 0
    in_flight: int = 0


@dataclass
class Counters:
    """The counters of `WorkerStats` (all but ``in_flight``), thread-safe."""

    values: dict[str, int] = field(
        default_factory=lambda: {f.name: 0 for f in fields(WorkerStats) if f.name != "in_flight"}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.values[name] += n

    def snapshot(self, in_flight: int) -> WorkerStats:
        with self.lock:
            return WorkerStats(**self.values, in_flight=in_flight)


#: Set to 1 to let log records show the first bytes of each task (``worqr_task``); by
#: default they show only its size and a digest, so logs never carry payloads unasked.
LOG_TASKS_VARIABLE = "WORQR_LOG_TASKS"


def preview(payload: bytes, limit: int = 48) -> str:
    """How log records name a task: its size and a short digest, or, when the environment
    variable ``WORQR_LOG_TASKS`` is 1, its first ``limit`` bytes."""
    if os.environ.get(LOG_TASKS_VARIABLE) == "1":
        text = payload[:limit].decode("utf-8", "replace")
        return repr(text) + ("..." if len(payload) > limit else "")
    return f"<{len(payload)} bytes, sha256 {hashlib.sha256(payload).hexdigest()[:12]}>"


def log_extra(worker_id: str, process: Process[Any], payload: bytes) -> dict[str, str]:
    """The fields every runtime log record about a process carries."""
    return {
        "worqr_worker": worker_id,
        "worqr_queue": process.queue,
        "worqr_process": process.id,
        "worqr_task": preview(payload),
    }


# Cancellation ------------------------------------------------------------------------------

CancelReason = Literal["cancelled", "timeout", "shutdown", "worker lost"]


_TOKENS_LOCK = threading.Lock()


class CancelToken:
    """Tells a running handler that it should stop: its task was cancelled, it ran past its
    timeout, the worker is shutting down (a persistent task is being released), or the
    worker was declared dead. Thread-safe; `worqr.cancel_token()` gives the current one."""

    def __init__(self) -> None:
        self._cancelled = False
        #: Made by the first `wait` only: most handlers never wait, and an Event costs.
        self._event: threading.Event | None = None
        self.reason: CancelReason | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self, reason: CancelReason) -> None:
        with _TOKENS_LOCK:
            if self._cancelled:
                return
            self.reason = reason
            self._cancelled = True
            event = self._event
        if event is not None:
            event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled (True) or ``timeout`` seconds pass (False). Sync handlers only."""
        with _TOKENS_LOCK:
            if self._cancelled:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        """Raise `TaskCancelledError` if the handler should stop."""
        if self._cancelled:
            msg = f"the task's handler was told to stop ({self.reason})"
            raise TaskCancelledError(msg)

    def __repr__(self) -> str:
        return f"<CancelToken {self.reason or 'active'}>"


_current_token: contextvars.ContextVar[CancelToken] = contextvars.ContextVar("worqr_cancel_token")


def cancel_token() -> CancelToken:
    """The cancellation token of the handler that is running in this thread or task.

    Raises:
        RuntimeError: called outside a handler run by a worqr worker.
    """
    try:
        return _current_token.get()
    except LookupError:
        msg = "cancel_token() is only available inside a handler run by a worqr worker"
        raise RuntimeError(msg) from None


def bind_token(token: CancelToken) -> None:
    """Make ``token`` the current cancellation token of this asyncio task (its own context)."""
    _current_token.set(token)


def run_with_token(token: CancelToken, call: Callable[[], T]) -> T:
    """Run ``call`` with ``token`` as the current cancellation token."""
    reset = _current_token.set(token)
    try:
        return call()
    finally:
        _current_token.reset(reset)


def event_payload(event: Event) -> bytes:
    """The payload a ``cancel`` event names, as bytes."""
    if event.task_encoding == "base64":
        return base64.b64decode(event.message)
    return event.message.encode("utf-8")


# One job -----------------------------------------------------------------------------------

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


# Outcomes, each one flow ---------------------------------------------------------------------


@dataclass
class Context:
    """What the outcome flows need: the client's session, the settings and the counters."""

    session: Session
    settings: Settings
    counters: Counters

    def extra(self, job: Job[Any]) -> dict[str, str]:
        return log_extra(self.session.worker_id, job.process, job.payload)


def succeed(ctx: Context, job: Job[Any], result: object) -> flows.Flow[None]:
    try:
        yield from flows.finish_process(ctx.session, job.process.id, result)
    except InvalidTaskTypeError as exc:  # the result is not JSON: the attempt failed
        yield from fail(ctx, job, exc)
        return
    except ReplicationTimeoutError as exc:
        _unconfirmed([job], exc)  # applied on the primary: a retry would find it gone
    except ProcessLostError:
        log.warning(
            "process %s: finished, but it no longer belonged to this worker; result dropped",
            job.process.id,
            extra=ctx.extra(job),
        )
        return
    ctx.counters.add("processed")
    if log.isEnabledFor(logging.DEBUG):
        log.debug("process %s finished", job.process.id, extra=ctx.extra(job))


def succeed_many(ctx: Context, done: Sequence[tuple[Job[Any], object]]) -> flows.Flow[None]:
    """`succeed` for many jobs at once: their finishes go out together (one script call per
    queue, one round trip), and each job's outcome is what `succeed` would make of it."""
    encoded: list[tuple[Job[Any], str]] = []
    for job, result in done:
        try:
            encoded.append((job, flows.result_json(result)))
        except InvalidTaskTypeError as exc:  # the result is not JSON: the attempt failed
            yield from fail(ctx, job, exc)
    if not encoded:
        return
    try:
        finished = yield from flows.finish_processes(ctx.session, [(job.process.id, text) for job, text in encoded])
    except ReplicationTimeoutError as exc:  # applied on the primary: a retry would find them gone
        _unconfirmed([job for job, _ in encoded], exc)
        finished = [True] * len(encoded)
    for (job, _), ok in zip(encoded, finished, strict=True):
        if not ok:
            log.warning(
                "process %s: finished, but it no longer belonged to this worker; result dropped",
                job.process.id,
                extra=ctx.extra(job),
            )
            continue
        ctx.counters.add("processed")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("process %s finished", job.process.id, extra=ctx.extra(job))


def _unconfirmed(jobs: Sequence[Job[Any]], error: ReplicationTimeoutError) -> None:
    ids = ", ".join(job.process.id for job in jobs)
    log.warning("process(es) %s finished on the primary, but replicas did not confirm it in time: %s", ids, error)


def fail(ctx: Context, job: Job[Any], error: BaseException, *, counted: bool = True) -> flows.Flow[None]:
    """Record a failed attempt: retry after the backoff, or dead-letter at the limit."""
    settings = ctx.settings
    delay = settings.backoff.delay(job.process.attempt)
    try:
        failure = yield from flows.fail_process(
            ctx.session, job.process.id, error, max_attempts=settings.max_attempts, retry_delay=delay, counted=counted
        )
    except ProcessLostError:
        log.warning("process %s failed, but it no longer belonged to this worker", job.process.id, extra=ctx.extra(job))
        return
    if counted:
        ctx.counters.add("failed")
    kind = type(error).__qualname__
    if failure.dead_letter_id is not None:
        ctx.counters.add("dead_lettered")
        log.error(
            "process %s: %s after %d attempt(s); moved to dead letter %s: %s",
            job.process.id, kind, failure.attempts, failure.dead_letter_id, error, extra=ctx.extra(job),
        )  # fmt: skip
    else:
        ctx.counters.add("retried")
        log.warning(
            "process %s: %s on attempt %d; retrying in %.2f s: %s",
            job.process.id, kind, failure.attempts, delay, error, extra=ctx.extra(job),
        )  # fmt: skip


def finish_cancelled(ctx: Context, job: Job[Any]) -> flows.Flow[None]:
    try:
        yield from flows.finish_process(ctx.session, job.process.id, None)
    except ProcessLostError:
        return
    ctx.counters.add("cancelled")
    log.info("process %s cancelled", job.process.id, extra=ctx.extra(job))


def release(ctx: Context, job: Job[Any]) -> flows.Flow[None]:
    """Give the task back to the front of its queue (shutdown)."""
    try:
        yield from flows.stop_process(ctx.session, job.process.id)
    except ProcessLostError:
        return
    ctx.counters.add("released")
    log.info("process %s released to the front of %s", job.process.id, job.process.queue, extra=ctx.extra(job))


def reject_late(ctx: Context, job: Job[Any], result: object) -> flows.Flow[None]:
    """A handler that returned after its timeout failed the process: offer the result to the
    fence, which must refuse it, and say so.

    The handler may return (told by its token, or by itself) while the loop is still recording
    the timeout's failure; offered first, the late result would be accepted. So wait for that
    record, for at most `LATE_RESULT_WAIT` seconds (Redis may be unreachable meanwhile)."""
    waited = 0.0
    while not job.timeout_recorded and waited < LATE_RESULT_WAIT:
        yield flows.Pause(0.005)
        waited += 0.005
    try:
        yield from flows.finish_process(ctx.session, job.process.id, result)
    except ProcessLostError:
        log.warning("process %s: late result after the timeout was rejected", job.process.id, extra=ctx.extra(job))
        return
    log.error(
        "process %s: a late result was accepted; the timeout's failure did not apply",
        job.process.id,
        extra=ctx.extra(job),
    )


def after_handler(ctx: Context, job: Job[Any], result: object, error: BaseException | None) -> flows.Flow[None]:
    """Settle a job whose handler returned ``result`` or raised ``error``."""
    if job.claim("settling"):
        if error is None:
            yield from succeed(ctx, job, result)
        else:
            yield from fail(ctx, job, error)
    elif job.state == "cancelled":
        yield from finish_cancelled(ctx, job)
    elif job.state == "timed_out" and error is None:
        yield from reject_late(ctx, job, result)


def time_out(ctx: Context, job: Job[Any]) -> flows.Flow[None]:
    """Fail a job that ran past its timeout (the caller claimed it as timed_out)."""
    timeout = ctx.settings.timeout
    yield from fail(ctx, job, TimeoutError(f"the handler ran longer than its timeout of {timeout} s"))
    job.timeout_recorded = True


def over_limit(ctx: Context, job: Job[Any]) -> bool:
    """True for a task that used up its attempts in workers that died while running it:
    it goes to the dead letters instead of killing one more worker."""
    limit = ctx.settings.max_attempts
    return limit is not None and not ctx.settings.persistent and job.process.attempt > limit


def dead_letter_over_limit(ctx: Context, job: Job[Any]) -> flows.Flow[None]:
    attempts = job.process.attempt - 1
    error = WorqrError(
        f"the task used up its {attempts} attempt(s) (max_attempts={ctx.settings.max_attempts}); "
        "the last ended when the worker running it died"
    )
    yield from fail(ctx, job, error, counted=False)


def dead_letter_undecodable(ctx: Context, undecodable: flows.Undecodable) -> flows.Flow[None]:
    try:
        yield from flows.fail_process(
            ctx.session, undecodable.process_id, undecodable.error, max_attempts=1, retry_delay=0
        )
    except ProcessLostError:
        return
    ctx.counters.add("dead_lettered")
    extra = {
        "worqr_worker": ctx.session.worker_id,
        "worqr_queue": parse_process_id(undecodable.process_id)[1],
        "worqr_process": undecodable.process_id,
        "worqr_task": preview(undecodable.payload),
    }
    log.error("process %s: %s; moved to the dead letters", undecodable.process_id, undecodable.error, extra=extra)


@dataclass(frozen=True, slots=True)
class Taken:
    """What one round of taking work got: jobs to run, undecodable processes, and the
    seconds until a delayed task is due on any of the queues (None: none is)."""

    jobs: list[Job[Any]]
    undecodable: list[flows.Undecodable]
    next_due: float | None


def take_work(ctx: Context, specs: Sequence[QueueSpec], free: int) -> flows.Flow[Taken]:
    """Take up to ``free`` tasks, draining earlier queues first."""
    jobs: list[Job[Any]] = []
    undecodable: list[flows.Undecodable] = []
    dues: list[float] = []
    timeout = None if ctx.settings.persistent else ctx.settings.timeout
    for spec in specs:
        wanted = free - len(jobs) - len(undecodable)
        if wanted <= 0:
            break
        try:
            batch = yield from flows.take(ctx.session, spec.name, spec.codec, wanted)
        except RedisCommandError as exc:
            # Redis refused this queue (a clobbered key, an ACL): serve the others meanwhile.
            log.warning("worker %s: could not take work from %s, will retry: %s", ctx.session.worker_id, spec.name, exc)
            continue
        jobs.extend(Job(process, payload, timeout) for process, payload in batch.processes)
        undecodable.extend(batch.undecodable)
        if batch.next_due is not None:
            dues.append(batch.next_due)
    return Taken(jobs, undecodable, min(dues, default=None))


# One round trip of a worker's loop, shared by both shells -----------------------------------


@dataclass
class Round:
    """What one round trip of a runtime worker's loop sends: the results its handlers left
    (``settling``, to keep for a retry if Redis cannot take them) and a take of work into the
    free capacity, as flows to drive together (`flows.drive_together`)."""

    settling: list[Callable[[], flows.Flow[None]]]
    flows: list[flows.Flow[Any]]
    takes: bool


def plan_round(
    ctx: Context, specs: Sequence[QueueSpec], succeeded: Sequence[tuple[Job[Any], object]], free: int
) -> Round:
    settling: list[Callable[[], flows.Flow[None]]] = []
    if succeeded:
        settling.append(functools.partial(succeed_many, ctx, list(succeeded)))
    take = [take_work(ctx, specs, free)] if free > 0 else []
    return Round(settling, [*take, *(make_flow() for make_flow in settling)], bool(take))


def outcome_failed(worker_id: str, outcome: object) -> bool:
    """Log an outcome that could not be recorded; True if it is worth retrying (Redis could
    not take it now)."""
    if isinstance(outcome, RedisUnavailableError | RedisCommandError):
        log.warning("worker %s: could not record an outcome, will retry: %s", worker_id, outcome)
        return True
    if isinstance(outcome, BaseException):
        log.error("worker %s: could not record an outcome", worker_id, exc_info=outcome)
    return False


def taken_or_wait(worker_id: str, outcome: object) -> Taken | float:
    """The work a round's take got, or the seconds to wait before the next round."""
    if isinstance(outcome, WorkerLostError):
        return 0.0
    if isinstance(outcome, RedisUnavailableError | RedisCommandError):
        log.warning("worker %s: could not take work, will retry: %s", worker_id, outcome)
        return TAKE_ERROR_PAUSE
    if isinstance(outcome, BaseException):
        raise outcome
    assert isinstance(outcome, Taken)  # noqa: S101 (take_work's result)
    return outcome


# Bookkeeping of the running jobs, shared by both shells -------------------------------------


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
        """Claim the jobs whose task a ``cancel`` event names."""
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


class _Flag(Protocol):
    def is_set(self) -> bool: ...


class WorkerFace:
    """What the sync and asyncio runtime workers hold and show their caller alike."""

    _stopped: _Flag  # a threading.Event or an asyncio.Event

    def __init__(self, session: Session, specs: list[QueueSpec], settings: Settings) -> None:
        self._specs = specs
        self.settings = settings
        self._ctx = Context(session, settings, Counters())
        self._jobs = Jobs()
        self._grace = settings.grace
        self._retries: list[Callable[[], flows.Flow[None]]] = []
        self._error: BaseException | None = None
        self._started = False
        #: Undo functions of the subscriptions `_watch` made (see `Worqr._watch`).
        self._watching: list[Callable[[], None]] = []

    def _unwatch(self) -> None:
        watching, self._watching = self._watching, []
        for unwatch in watching:
            unwatch()

    @property
    def stats(self) -> WorkerStats:
        """A snapshot of this worker's counters."""
        return self._ctx.counters.snapshot(self._jobs.running())

    @property
    def running(self) -> bool:
        """True from `start` until shutdown has completed."""
        return self._started and not self._stopped.is_set()

    @property
    def queues(self) -> list[str]:
        """The queues this worker serves, in priority order."""
        return [spec.name for spec in self._specs]


def missing_queues(session: Session, specs: Sequence[QueueSpec]) -> bool:
    """True when the worker is registered but not working on all of its queues (a restart
    under a new id registered it; joining the queues is still to do, or failed half-way)."""
    state = session.state
    with state.lock:
        return state.started and not state.lost and any(spec.name not in state.working for spec in specs)


def idle_wait(session: Session, next_due: float | None, next_deadline: float | None, now: float) -> float:
    """How long the loop may sleep: until the poll, a delayed task or a deadline is due."""
    waits = [session.poll_interval]
    if next_due is not None:
        waits.append(next_due + 0.001)
    if next_deadline is not None:
        waits.append(next_deadline - now)
    return max(0.0, min(waits))
