"""`AsyncWorker`: the asyncio runtime (``await handler(process)``, each in a task of its
own); `Worker`, generated from this file, is the threaded one (handlers on a pool of
``concurrency`` daemon threads). One loop takes work, enforces timeouts, and shuts down
cleanly. Every decision about a job's outcome is a flow in ``worqr._runtime.outcomes``.

A worker reaches its client only through an `AsyncHost` (the client's core, see
``worqr._io._async.core``): what it lists is all a worker needs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from worqr._io.flavors import AsyncBackground, AsyncCancelled, AsyncEvent, AsyncLock, async_sleep
from worqr._protocol import checks, flows
from worqr._protocol.models import Event, Process
from worqr._runtime import outcomes, rounds
from worqr._runtime._async.host import AsyncHost
from worqr._runtime.hosting import AsyncHandlerFailure, AsyncHandlers, async_catch_signals
from worqr._runtime.jobs import Job, Jobs, bind_job, release_order
from worqr._runtime.options import Pace, QueueSpec, Settings
from worqr._runtime.stats import Counters, WorkerStats
from worqr.errors import RedisCommandError, RedisUnavailableError, WorkerLostError, WorqrError
from worqr.schedules._async.ticker import AsyncTicker

T = TypeVar("T")
log = logging.getLogger("worqr")


class AsyncWorker(Generic[T]):
    """Runs ``handler`` on the tasks of one or more queues, with up to ``concurrency``
    handlers at a time, until stopped. Built by the client's ``worker`` / ``persistent_worker``.

    `run` waits until shutdown (SIGINT/SIGTERM when the event loop runs in the main thread);
    `start` and `stop` embed the worker in an application. Also a context manager (start / stop).
    """

    def __init__(
        self,
        host: AsyncHost,
        specs: list[QueueSpec],
        handler: Callable[[Process[T]], Awaitable[object]],
        settings: Settings,
    ) -> None:
        self._host = host
        self._specs = specs
        self._handler = handler
        self.settings = settings
        self._ctx = outcomes.Context(host.session, settings, Counters())
        self._jobs = Jobs()
        self._grace = settings.grace
        name = host.worker_id[:8]
        self._handlers = AsyncHandlers(settings.concurrency, self._execute, f"worqr-handler-{name}")
        self._background = AsyncBackground(f"worqr-runtime-{name}")
        self._wake = AsyncEvent()
        self._stopped = AsyncEvent()
        self._stop_requested = False
        self._hurry = False
        self._started = False
        self._error: BaseException | None = None
        #: Guards what the handlers hand the loop: results to record, outcomes to retry.
        self._lock = AsyncLock()
        #: Jobs whose handler returned, with the result, for the loop to finish in a batch.
        self._succeeded: list[tuple[Job[Any], object]] = []
        self._retries: list[Callable[[], flows.Flow[None]]] = []
        #: Undo functions of the subscriptions `_join_queues` made (see the host's ``watch``).
        self._watching: list[Callable[[], None]] = []
        self._pace = Pace()
        #: A take failed after its dequeue was sent: see what this worker holds before the next.
        self._unsure = False
        self._rejoins = rounds.RetryLog("join again")
        #: Fires the schedules of this worker's queues (worqr.schedules), from `start`.
        self._ticker: AsyncTicker | None = None

    # What the caller sees ----------------------------------------------------------------

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

    # Lifetime ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register the worker (if the client is not started yet), join the queues and start
        taking work in the background. Returns once subscribed to every queue."""
        if self._started:
            msg = f"this {type(self).__name__} was already started; build a new one with the client's worker()"
            raise WorqrError(msg)
        self._host.claim_runtime(self)
        self._started = True
        self._host.session.worker_details["concurrency"] = str(self.settings.concurrency)  # in its record
        try:
            await self._host.start_worker()
            await self._join_queues()
        except BaseException:
            self._host.release_runtime(self)
            self._stopped.set()
            raise
        self._wake.bind()
        self._host.session.state.lost_callbacks.append(self._on_lost)
        self._handlers.start()
        self._background.start(self._loop)
        self._ticker = AsyncTicker(self._host.session, self._host.runner.run, self.queues)
        self._ticker.start()
        log.info("worker %s serving %s (concurrency %d)", self._host.worker_id, self.queues, self.settings.concurrency)

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking work, give running handlers ``grace`` seconds (default: the worker's
        ``grace``) to finish, then give what is left back to the front of its queue (the
        asyncio worker cancels their tasks). Returns when shutdown is complete; a second
        call with ``grace=0`` hurries it."""
        self.request_stop(grace)
        if self._started and not (self._background.is_current() or self._handlers.is_current()):
            await self._stopped.wait()

    def request_stop(self, grace: float | None = None) -> None:
        """Begin shutdown without waiting for it (safe from signal handlers and callbacks)."""
        if grace is not None:
            self._grace = float(checks.check_seconds("grace", grace) or 0.0)
        if grace == 0:  # only an explicit 0 hurries: stop() after request_stop() keeps the grace
            self._hurry = True
        self._stop_requested = True
        self._wake.set_threadsafe()

    async def run(self) -> None:
        """Start, then wait until the worker stops. From the main thread, the first SIGINT
        or SIGTERM stops it gracefully and a second one at once (work is still given back).

        Raises:
            WorkerLostError: the worker was lost (declared dead by its peers, or fenced
                itself when it could not reach Redis) and ``restart_on_loss`` is off.
        """
        restore = async_catch_signals(self._on_signal)  # first: a signal during start() is not lost
        try:
            await self.start()
            while not await self._stopped.wait(1.0):
                pass
        finally:
            restore()
        if self._error is not None:
            raise self._error

    async def __aenter__(self) -> AsyncWorker[T]:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "idle"
        return f"<{type(self).__name__} {self.queues} of {self._host.worker_id!r} {state}>"

    def _on_signal(self, signum: int) -> None:
        log.info("worker %s: %s received, stopping", self._host.worker_id, signal.Signals(signum).name)
        self.request_stop(0 if self._stop_requested else None)  # the second signal: at once

    # The loop ------------------------------------------------------------------------------

    async def _join_queues(self) -> None:
        self._unwatch()  # after a restart: the wake channels named the old worker id
        names = [spec.name for spec in self._specs]
        self._watching.append(await self._host.watch(names, self._on_event, self._on_wake))
        await self._host.start_work_many(names)

    def _unwatch(self) -> None:
        watching, self._watching = self._watching, []
        for unwatch in watching:
            unwatch()

    def _on_event(self, event: Event) -> None:
        """An event of a queue. Broadcast ``work`` events go to a channel this worker does not
        hear (the scripts wake idle workers one by one, `_on_wake`, so that one task does not
        wake every worker); a ``work`` event that arrives is the client's own (its listener's
        poll, or joining a queue with waiting tasks) and wakes the loop."""
        if event.type == "cancel":
            for job in self._jobs.cancelled_by(event):
                self._handlers.cancel(job)
        elif event.type in ("scheduled", "work"):
            self._wake.set_threadsafe()
            if self._ticker is not None:
                self._ticker.poke()  # a schedule may have changed

    def _on_wake(self, _event: Event) -> None:
        self._wake.set_threadsafe()

    def _on_lost(self) -> None:
        """The worker was lost (from whichever thread or task noticed): its handlers are told
        at once, and none of their outcomes will be recorded."""
        self._tell_handlers()
        self._wake.set_threadsafe()

    def _tell_handlers(self) -> None:
        told = self._jobs.claim("lost", "worker lost")
        for job in told:
            self._handlers.cancel(job)
        if told:
            reason = self._host.session.state.lost_reason
            log.error("worker %s %s; told %d handler(s) to stop", self._host.worker_id, reason, len(told))

    async def _loop(self) -> None:
        try:
            while not self._stop_requested:
                self._wake.clear()
                state = self._host.session.state
                if state.lost and not await self._recover():
                    break
                if state.missing(spec.name for spec in self._specs):
                    await self._rejoin()
                await self._retry_settlements()
                for job in self._jobs.expired(time.monotonic()):
                    self._handlers.cancel(job)
                    await self._settle(functools.partial(outcomes.time_out, self._ctx, job))
                if not state.is_live() or state.missing(spec.name for spec in self._specs):
                    continue  # not (re)joined yet: the steps above waited before trying again
                if self._unsure and not await self._reconcile():
                    await self._wake.wait(rounds.ERROR_PAUSE)
                    continue
                wait = await self._take()
                if self._retries or self._unsure:  # outcomes to record again, holdings to check
                    wait = min(wait, rounds.ERROR_PAUSE)
                await self._wake.wait(wait)
        except BaseException as exc:
            log.exception("worker %s: runtime loop failed", self._host.worker_id)
            self._error = exc
        finally:
            await self._shutdown()

    async def _take(self) -> float:
        """One round trip: record the results handlers left (`_succeeded`) and take work into
        the free capacity, together. Returns how long to sleep."""
        with self._lock:
            succeeded, self._succeeded = self._succeeded, []
        free = self.settings.capacity(self._pace) - self._jobs.busy()
        plan = rounds.plan_round(self._ctx, self._specs, succeeded, free, self._jobs.reporting())
        results = await flows.adrive_together(plan.flows, self._host.runner.run, async_sleep)
        for make_flow, outcome in zip(plan.settling, results[plan.takes :], strict=True):
            self._after_settle(make_flow, outcome)
        for job, _ in succeeded:
            self._jobs.remove(job)
        session = self._host.session
        self._unsure = self._unsure or (plan.takes and rounds.maybe_took(results[0]))
        if not plan.takes:
            return rounds.idle_wait(session, None, self._jobs.next_deadline(), time.monotonic())
        taken = rounds.taken_or_wait(self._host.worker_id, results[0])
        if isinstance(taken, float):
            return taken
        for undecodable in taken.undecodable:
            await self._settle(functools.partial(outcomes.dead_letter_undecodable, self._ctx, undecodable))
        for job in taken.jobs:
            if outcomes.over_limit(self._ctx, job):
                await self._settle(functools.partial(outcomes.dead_letter_over_limit, self._ctx, job))
                continue
            job.on_report = self._wake.set_threadsafe
            self._jobs.add(job)
            self._handlers.submit(job)
        if len(taken.jobs) + len(taken.undecodable) == free:
            return 0.0  # every slot filled: there may be more waiting once one frees
        return rounds.idle_wait(session, taken.next_due, self._jobs.next_deadline(), time.monotonic())

    async def _execute(self, job: Job[Any]) -> None:
        """Run one job's handler (in a handler slot) and settle what it did."""
        bind_job(job)  # each job runs in a context of its own
        result: object = None
        error: BaseException | None = None
        external = False
        try:
            if job.begin():  # else claimed (cancelled, released, lost) while it waited
                if job.deadline is not None:
                    self._wake.set_threadsafe()  # the loop now has a deadline to watch
                result = await self._handler(job.process)
        except AsyncCancelled as exc:
            error = exc
            external = job.claim("released")  # cancelled from outside worqr: give the task back
            if external:
                job.token.cancel("shutdown")
        except AsyncHandlerFailure as exc:
            error = exc
        if job.begun:
            self._pace.add(time.monotonic() - job.started)
        job.returned = True
        with self._lock:
            batched = not external and error is None and job.claim("settling")
            if batched:  # the common case: the loop records it with others in one round trip
                self._succeeded.append((job, result))
        if batched:
            self._wake.set()
            return
        outcome = (
            outcomes.release if external else functools.partial(outcomes.after_handler, result=result, error=error)
        )
        try:
            await self._settle(functools.partial(outcome, self._ctx, job))
        finally:
            self._jobs.remove(job)
            self._wake.set()
        if external:
            raise AsyncCancelled

    async def _flush_succeeded(self) -> None:
        """Record the results still waiting for the loop (on shutdown)."""
        with self._lock:
            succeeded, self._succeeded = self._succeeded, []
        if succeeded:
            make_flow = functools.partial(outcomes.succeed_many, self._ctx, succeeded)
            (outcome,) = await flows.adrive_together([make_flow()], self._host.runner.run, async_sleep)
            self._after_settle(make_flow, outcome)
        for job, _ in succeeded:
            self._jobs.remove(job)

    def _after_settle(self, make_flow: Callable[[], flows.Flow[None]], outcome: object) -> None:
        if rounds.outcome_failed(self._host.worker_id, outcome):
            with self._lock:
                self._retries.append(make_flow)

    async def _settle(self, make_flow: Callable[[], flows.Flow[None]]) -> None:
        """Run an outcome flow; if Redis cannot take it now, keep it to retry from the loop."""
        try:
            await flows.adrive(make_flow(), self._host.runner.run, async_sleep)
        except (RedisUnavailableError, RedisCommandError) as exc:
            log.warning("worker %s: could not record an outcome, will retry: %s", self._host.worker_id, exc)
            with self._lock:
                self._retries.append(make_flow)
        except Exception:
            log.exception("worker %s: could not record an outcome", self._host.worker_id)

    async def _retry_settlements(self) -> None:
        with self._lock:
            pending, self._retries = self._retries, []
        for make_flow in pending:
            await self._settle(make_flow)

    async def _recover(self) -> bool:
        """The worker was lost: its handlers were told to stop (`_on_lost`). Register again
        under the same worker id, as a new incarnation, unless ``restart_on_loss`` is off;
        keep trying, with backoff, for as long as the worker runs. Returns whether the loop
        goes on."""
        self._tell_handlers()  # a loss noticed before this worker started listening for it
        state = self._host.session.state
        if not self.settings.restart_on_loss:
            self._error = WorkerLostError(f"worker {self._host.worker_id!r} {state.lost_reason}")
            return False
        try:
            await self._host.rejoin()
        except WorqrError as exc:
            await self._wake.wait(self._rejoins.failed(self._host.worker_id, exc, time.monotonic()))
            return True
        self._rejoins.succeeded(self._host.worker_id, time.monotonic())
        self._unsure = True  # what did the earlier incarnation leave? (nothing, once reaped)
        log.warning("worker %s registered again, as a new incarnation", self._host.worker_id)
        return True

    async def _rejoin(self) -> None:
        """Join the queues this worker should serve but does not (after registering again)."""
        try:
            await self._join_queues()
        except WorqrError as exc:
            await self._wake.wait(self._rejoins.failed(self._host.worker_id, exc, time.monotonic()))

    async def _reconcile(self) -> bool:
        """After a take whose reply was lost: give back what this worker holds and does not
        know of (see `rounds.reconcile`). False if Redis could not be asked yet."""
        known = {job.process.id for job in self._jobs.all()}
        try:
            await flows.adrive(rounds.reconcile(self._ctx, self._specs, known), self._host.runner.run, async_sleep)
        except WorqrError as exc:
            log.warning("worker %s could not check what it holds yet, will retry: %s", self._host.worker_id, exc)
            return False
        self._unsure = False
        return True

    async def _release_unstarted(self, *, lost: bool) -> None:
        """Give prefetched jobs whose handler has not begun back at once, not after grace."""
        self._handlers.stop_starting()
        early = [] if lost else self._jobs.claim_unstarted("released", "shutdown")
        for job in release_order(early):
            await self._settle(functools.partial(outcomes.release, self._ctx, job))
            self._jobs.remove(job)
        for job in self._handlers.unstarted():  # never begun: released above, or cancelled or lost
            if job not in early:
                await self._settle(functools.partial(outcomes.after_handler, self._ctx, job, None, None))
            self._jobs.remove(job)

    async def _shutdown(self) -> None:
        try:
            if self._ticker is not None:
                await self._ticker.stop()
            lost = self._host.session.state.lost
            released = [] if lost or not self.settings.persistent else self._jobs.claim("released", "shutdown")
            for job in released:
                self._handlers.cancel(job)
            await self._release_unstarted(lost=lost)
            deadline = time.monotonic() + self._grace
            while True:
                await self._flush_succeeded()
                if not self._jobs.unsettled() or self._hurry or (left := deadline - time.monotonic()) <= 0:
                    break
                await self._wake.wait(left)
                self._wake.clear()
            if not lost:
                with self._lock:  # a handler that won its claim has its result listed
                    late = self._jobs.claim("released", "shutdown")
                for job in late:
                    self._handlers.cancel(job)
                await self._flush_succeeded()
                for job in release_order(released + late):
                    await self._settle(functools.partial(outcomes.release, self._ctx, job))
                await self._retry_settlements()
            self._unwatch()
            for spec in self._specs:
                if not lost:
                    with contextlib.suppress(WorqrError):
                        await self._host.stop_work(spec.name)
        finally:
            self._handlers.close()
            if self._on_lost in self._host.session.state.lost_callbacks:
                self._host.session.state.lost_callbacks.remove(self._on_lost)
            self._host.release_runtime(self)
            self._stopped.set()
            log.info("worker %s stopped: %s", self._host.worker_id, self.stats)
