"""One round of a runtime worker's loop, the same in both workers: record the results its
handlers left and take work into its free capacity, in one round trip; then judge what came
back and how long to wait before the next round."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from worqr._protocol import flows, ops
from worqr._protocol.flows.steps import batch
from worqr._protocol.models import make_process_id
from worqr._protocol.session import Session
from worqr._runtime.jobs import Job
from worqr._runtime.options import QueueSpec, TaskPlan
from worqr._runtime.outcomes import Context, succeed_many
from worqr.errors import NotWorkingError, ProcessLostError, RedisCommandError, RedisUnavailableError, WorkerLostError

log = logging.getLogger("worqr")
#: Seconds to wait before taking work again after Redis failed or refused a command.
ERROR_PAUSE = 0.5


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
    settings = ctx.settings
    timeout = None if settings.persistent else settings.timeout
    for spec in specs:
        wanted = free - len(jobs) - len(undecodable)
        if wanted <= 0:
            break
        try:
            batch = yield from flows.take(ctx.session, spec.name, spec.codec, wanted)
        except NotWorkingError:
            continue  # not joined (again) yet: the loop joins it before its next round
        except RedisCommandError as exc:
            # Redis refused this queue (a clobbered key, an ACL): serve the others meanwhile.
            log.warning("worker %s: could not take work from %s, will retry: %s", ctx.session.worker_id, spec.name, exc)
            continue
        for process, payload in batch.processes:
            plan = spec.plan(process, payload) if spec.plan is not None else TaskPlan()
            jobs.append(
                Job(
                    process,
                    payload,
                    timeout if plan.timeout is None or settings.persistent else plan.timeout,
                    max_attempts=settings.max_attempts if plan.max_attempts is None else (plan.max_attempts or None),
                    backoff=settings.backoff if plan.backoff is None else plan.backoff,
                    report=plan.report,
                )
            )
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
    ctx: Context,
    specs: Sequence[QueueSpec],
    succeeded: Sequence[tuple[Job[Any], object]],
    free: int,
    reporting: Sequence[Job[Any]] = (),
) -> Round:
    settling: list[Callable[[], flows.Flow[None]]] = []
    if succeeded:
        settling.append(functools.partial(succeed_many, ctx, list(succeeded)))
    for job in reporting:
        value = job.take_reported()
        if value is not None and job.report is not None:
            settling.append(functools.partial(job.report, ctx.session, job.process, value))
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
    if isinstance(outcome, WorkerLostError | NotWorkingError):
        return 0.0
    if isinstance(outcome, RedisUnavailableError | RedisCommandError):
        log.warning("worker %s: could not take work, will retry: %s", worker_id, outcome)
        return ERROR_PAUSE
    if isinstance(outcome, BaseException):
        raise outcome
    assert isinstance(outcome, Taken)  # noqa: S101 (take_work's result)
    return outcome


#: An idle worker is woken by events: its own wake-ups, ``scheduled`` events, and the
#: ``work`` events its client's listener makes when its poll (every ``poll_interval``, one
#: round trip for all queues) finds waiting tasks that an event missed. It also looks by
#: itself, every this many poll intervals, in case the listener cannot (one round trip a queue).
IDLE_LOOK_EVERY = 6


def idle_wait(session: Session, next_due: float | None, next_deadline: float | None, now: float) -> float:
    """How long the loop may sleep: until an event, a delayed task or a deadline is due."""
    waits = [IDLE_LOOK_EVERY * session.poll_interval]
    if next_due is not None:
        waits.append(next_due + 0.001)
    if next_deadline is not None:
        waits.append(next_deadline - now)
    return max(0.0, min(waits))


def maybe_took(outcome: object) -> bool:
    """Whether a round's take failed after its dequeue was sent: Redis may have moved tasks
    into this worker's processes that the worker does not know of (see `reconcile`)."""
    return isinstance(outcome, RedisUnavailableError) and outcome.maybe_applied


def reconcile(ctx: Context, specs: Sequence[QueueSpec], known: set[str]) -> flows.Flow[int]:
    """Give back to the front of their queues the processes this worker holds in Redis but
    does not know of (a dequeue whose reply was lost), latest first, so that the earliest
    ends in front; nothing this worker holds stays unknown. Returns how many it gave back."""
    session = ctx.session
    tables = yield from batch([ops.processes(session.queue(spec.name), session.worker_id) for spec in specs])
    unknown = sorted(
        (
            (seq, spec.name)
            for spec, table in zip(specs, tables, strict=True)
            for seq in table
            if make_process_id(seq, spec.name) not in known
        ),
        reverse=True,
    )
    given = 0
    for seq, queue in unknown:
        process_id = make_process_id(seq, queue)
        try:
            yield from flows.stop_process(session, process_id)
        except ProcessLostError:
            continue  # a reaper (or this worker's rejoin) gave it back already
        given += 1
    if given:
        log.warning(
            "worker %s held %d process(es) it did not know of (a dequeue whose reply was lost); "
            "gave them back to the front of their queues",
            session.worker_id,
            given,
        )
    return given


class RetryLog:
    """Logs a step that keeps failing at a sensible rate: the first failure, then at most one
    line every `EVERY` seconds with how long it has been failing; and the backoff to wait."""

    EVERY = 30.0

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0
        self._first = 0.0
        self._logged = 0.0

    def failed(self, worker_id: str, error: BaseException, now: float) -> float:
        """Record a failure; the seconds to wait before the next try."""
        if self.failures == 0:
            self._first = now
        self.failures += 1
        if self.failures == 1 or now - self._logged >= self.EVERY:
            self._logged = now
            log.warning(
                "worker %s could not %s yet (%d tries in %.0f s), will retry: %s",
                worker_id, self.what, self.failures, now - self._first, error,
            )  # fmt: skip
        return float(min(5.0, ERROR_PAUSE * 2 ** min(self.failures - 1, 4)))

    def succeeded(self, worker_id: str, now: float) -> None:
        if self.failures:
            log.info("worker %s could %s again after %.1f s", worker_id, self.what, now - self._first)
        self.failures = 0
