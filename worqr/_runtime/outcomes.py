"""Every decision about a job's outcome, each written once as a flow (see
``worqr._protocol.flows``): succeed (one or many at once), fail (retry or dead-letter),
finish as cancelled, release on shutdown, refuse a late result after a timeout, and
dead-letter a task that cannot run. Both runtime workers drive them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from worqr._protocol import flows
from worqr._protocol.models import parse_process_id
from worqr._protocol.session import Session
from worqr._runtime.jobs import Job
from worqr._runtime.options import Settings
from worqr._runtime.stats import Counters, log_extra, preview
from worqr.errors import InvalidTaskTypeError, ProcessLostError, ReplicationTimeoutError, WorqrError

log = logging.getLogger("worqr")
#: Most seconds a late result waits for its timeout's failure to be recorded.
LATE_RESULT_WAIT = 10.0


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
        _finished(ctx, job, owned=False)
        return
    _finished(ctx, job, owned=True)


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
        _finished(ctx, job, owned=ok)


def _finished(ctx: Context, job: Job[Any], *, owned: bool) -> None:
    """Count a finish and say so; ``owned``: the process was still this worker's."""
    if not owned:
        log.warning(
            "process %s: finished, but it no longer belonged to this worker; result dropped",
            job.process.id,
            extra=ctx.extra(job),
        )
        return
    ctx.counters.add("processed")
    if log.isEnabledFor(logging.DEBUG):
        log.debug("process %s finished", job.process.id, extra=ctx.extra(job))


def _unconfirmed(jobs: Sequence[Job[Any]], error: ReplicationTimeoutError) -> None:
    ids = ", ".join(job.process.id for job in jobs)
    log.warning("process(es) %s finished on the primary, but replicas did not confirm it in time: %s", ids, error)


def fail(ctx: Context, job: Job[Any], error: BaseException, *, counted: bool = True) -> flows.Flow[None]:
    """Record a failed attempt: retry after the backoff, or dead-letter at the limit."""
    settings = ctx.settings
    delay = (job.backoff or settings.backoff).delay(job.process.attempt)
    try:
        failure = yield from flows.fail_process(
            ctx.session, job.process.id, error, max_attempts=job.max_attempts, retry_delay=delay, counted=counted
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
        yield from flows.finish_process(ctx.session, job.process.id, None, outcome="cancelled")
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
    yield from fail(ctx, job, TimeoutError(f"the handler ran longer than its timeout of {job.timeout} s"))
    job.timeout_recorded = True


def over_limit(ctx: Context, job: Job[Any]) -> bool:
    """True for a task that used up its attempts in workers that died while running it:
    it goes to the dead letters instead of killing one more worker."""
    limit = job.max_attempts
    return limit is not None and not ctx.settings.persistent and job.process.attempt > limit


def dead_letter_over_limit(ctx: Context, job: Job[Any]) -> flows.Flow[None]:
    attempts = job.process.attempt - 1
    error = WorqrError(
        f"the task used up its {attempts} attempt(s) (max_attempts={job.max_attempts}); "
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
