"""One round of a runtime worker's loop, the same in both workers: record the results its
handlers left and take work into its free capacity, in one round trip; then judge what came
back and how long to wait before the next round."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from worqr._protocol import flows
from worqr._protocol.session import Session
from worqr._runtime.jobs import Job
from worqr._runtime.options import QueueSpec
from worqr._runtime.outcomes import Context, succeed_many
from worqr.errors import RedisCommandError, RedisUnavailableError, WorkerLostError

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
        return ERROR_PAUSE
    if isinstance(outcome, BaseException):
        raise outcome
    assert isinstance(outcome, Taken)  # noqa: S101 (take_work's result)
    return outcome


def idle_wait(session: Session, next_due: float | None, next_deadline: float | None, now: float) -> float:
    """How long the loop may sleep: until the poll, a delayed task or a deadline is due."""
    waits = [session.poll_interval]
    if next_due is not None:
        waits.append(next_due + 0.001)
    if next_deadline is not None:
        waits.append(next_deadline - now)
    return max(0.0, min(waits))
