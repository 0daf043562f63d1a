"""`AsyncWorker`: the asyncio runtime. Each handler runs in its own task, at most
``concurrency`` at a time; one loop task takes work, enforces timeouts (by cancelling the
handler), and shuts down cleanly. The decisions are the flows of `worqr._runtime`, shared
with the threaded `Worker`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from worqr import _runtime as rt
from worqr._protocol import checks, flows
from worqr._protocol.models import Event, Process
from worqr._worker import ERROR_PAUSE
from worqr.errors import RedisCommandError, RedisUnavailableError, WorkerLostError, WorqrError

if TYPE_CHECKING:
    from worqr._async_client import AsyncWorqr

T = TypeVar("T")
log = logging.getLogger("worqr")


class AsyncWorker(rt.WorkerFace, Generic[T]):
    """Runs the coroutine ``handler`` on the tasks of one or more queues, with up to
    ``concurrency`` handlers at a time, until stopped. Built by `AsyncWorqr.worker` /
    `AsyncWorqr.persistent_worker`.

    ``await run()`` returns at shutdown (SIGINT/SIGTERM when the loop runs in the main
    thread); ``start`` and ``stop`` embed it in an application. Also an async context manager.
    """

    def __init__(
        self,
        client: AsyncWorqr,
        specs: list[rt.QueueSpec],
        handler: Callable[[Process[T]], Awaitable[object]],
        settings: rt.Settings,
    ) -> None:
        super().__init__(client._session, specs, settings)
        self._client = client
        self._handler = handler
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stop_requested = False
        self._hurry = False
        self._stopped: asyncio.Event = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._lost_callback: Callable[[], None] | None = None
        #: Prefetched jobs waiting for a free handler, in the order they were taken.
        self._waiting: collections.deque[rt.Job[Any]] = collections.deque()
        #: Jobs whose handler returned, with the result, for the loop to finish in a batch.
        self._succeeded: list[tuple[rt.Job[Any], object]] = []
        self._pace = rt.Pace()

    # Lifetime ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register the worker (if the client is not started yet), join the queues and start
        taking work in a background task. Returns once subscribed to every queue."""
        if self._started:
            msg = "this AsyncWorker was already started; build a new one with AsyncWorqr.worker()"
            raise WorqrError(msg)
        self._client._claim_runtime(self)
        self._started = True
        try:
            await self._client.start_worker()
            await self._join_queues()
        except BaseException:
            self._client._release_runtime(self)
            self._stopped.set()
            raise
        loop = asyncio.get_running_loop()

        def on_lost() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        self._lost_callback = on_lost
        self._client._session.state.lost_callbacks.append(on_lost)
        self._loop_task = loop.create_task(self._loop(), name=f"worqr-runtime-{self._client.worker_id[:8]}")
        log.info(
            "worker %s serving %s (concurrency %d)", self._client.worker_id, self.queues, self.settings.concurrency
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking work, give running handlers ``grace`` seconds (default: the worker's
        ``grace``) to finish, then cancel them and give their tasks back to the front of
        their queues. Returns when shutdown is complete; ``grace=0`` hurries it."""
        self.request_stop(grace)
        if self._started and asyncio.current_task() is not self._loop_task:
            await self._stopped.wait()

    def request_stop(self, grace: float | None = None) -> None:
        """Begin shutdown without waiting for it (safe from signal handlers and callbacks)."""
        if grace is not None:
            self._grace = float(checks.check_seconds("grace", grace) or 0.0)
        if grace == 0:  # only an explicit 0 hurries: stop() after request_stop() keeps the grace
            self._hurry = True
        self._stop_requested = True
        self._wake.set()

    async def run(self) -> None:
        """Start, then wait until the worker stops. With the event loop in the main thread,
        the first SIGINT or SIGTERM stops it gracefully and a second one at once.

        Raises:
            WorkerLostError: the worker was declared dead and ``restart_on_loss`` is off.
        """
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
        for signum in signals:  # first: a signal during start() is not lost
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            await self.start()
            await self._stopped.wait()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
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
        return f"<AsyncWorker {self.queues} of {self._client.worker_id!r} {'running' if self.running else 'idle'}>"

    def _on_signal(self, signum: int) -> None:
        log.info("worker %s: %s received, stopping", self._client.worker_id, signal.Signals(signum).name)
        self.request_stop(0 if self._stop_requested else None)  # the second signal: at once

    # The loop ------------------------------------------------------------------------------

    async def _join_queues(self) -> None:
        self._unwatch()  # after a restart: the wake channels named the old worker id
        for spec in self._specs:
            self._watching.append(await self._client._watch(spec.name, self._on_event, self._on_wake))
            await self._client.start_work(spec.name)

    def _on_event(self, event: Event) -> None:
        """A queue's broadcast event; ``work`` is not for us (see `Worker._on_event`)."""
        if event.type == "cancel":
            for job in self._jobs.cancelled_by(event):
                self._cancel_task(job)
        elif event.type == "scheduled":
            self._wake.set()

    def _on_wake(self, _event: Event) -> None:
        self._wake.set()

    def _cancel_task(self, job: rt.Job[Any]) -> None:
        task = self._tasks.get(job.process.id)
        if task is not None:
            task.cancel()

    async def _loop(self) -> None:
        try:
            while not self._stop_requested:
                self._wake.clear()
                if self._client._session.state.lost and not await self._recover():
                    break
                if rt.missing_queues(self._client._session, self._specs):
                    await self._rejoin()
                await self._retry_settlements()
                for job in self._jobs.expired(time.monotonic()):
                    self._cancel_task(job)
                    await self._settle(functools.partial(rt.time_out, self._ctx, job))
                wait = await self._take()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
        except BaseException as exc:
            log.exception("worker %s: runtime loop failed", self._client.worker_id)
            self._error = exc
        finally:
            await self._shutdown()

    async def _take(self) -> float:
        """One round trip: record the results handlers left (`_succeeded`) and take work into
        the free capacity, together. Returns how long to sleep."""
        succeeded, self._succeeded = self._succeeded, []
        free = self.settings.capacity(self._pace) - self._jobs.busy()
        plan = rt.plan_round(self._ctx, self._specs, succeeded, free)
        outcomes = await flows.adrive_together(plan.flows, self._client._runner.run, asyncio.sleep)
        for make_flow, outcome in zip(plan.settling, outcomes[plan.takes :], strict=True):
            self._after_settle(make_flow, outcome)
        for job, _ in succeeded:
            self._jobs.remove(job)
        if not plan.takes:
            return rt.idle_wait(self._client._session, None, self._jobs.next_deadline(), time.monotonic())
        taken = rt.taken_or_wait(self._client.worker_id, outcomes[0])
        if isinstance(taken, float):
            return taken
        for undecodable in taken.undecodable:
            await self._settle(functools.partial(rt.dead_letter_undecodable, self._ctx, undecodable))
        for job in taken.jobs:
            if rt.over_limit(self._ctx, job):
                await self._settle(functools.partial(rt.dead_letter_over_limit, self._ctx, job))
                continue
            self._jobs.add(job)
            self._waiting.append(job)
        self._start_waiting()
        if len(taken.jobs) + len(taken.undecodable) == free:
            return 0.0  # every slot filled: there may be more waiting once one frees
        return rt.idle_wait(self._client._session, taken.next_due, self._jobs.next_deadline(), time.monotonic())

    def _start_waiting(self) -> None:
        """Start handlers for waiting jobs, up to ``concurrency`` running at once."""
        while self._waiting and len(self._tasks) < self.settings.concurrency and not self._stop_requested:
            job = self._waiting.popleft()
            self._tasks[job.process.id] = asyncio.get_running_loop().create_task(self._execute(job))

    async def _execute(self, job: rt.Job[Any]) -> None:
        rt.bind_token(job.token)  # this task's own context
        result: object = None
        error: BaseException | None = None
        external = False
        try:
            if job.begin():  # else claimed (cancelled, released, lost) while it waited
                result = await self._handler(job.process)
                self._pace.add(time.monotonic() - job.started)
        except asyncio.CancelledError as exc:
            error = exc
            external = job.claim("released")  # cancelled from outside worqr: give the task back
            if external:
                job.token.cancel("shutdown")
        except Exception as exc:  # noqa: BLE001 (a handler's failure is the task's, not the worker's)
            error = exc
        job.returned = True
        if not external and error is None and job.claim("settling"):
            # The common case: the loop records it with others in its next round trip.
            self._succeeded.append((job, result))
            self._tasks.pop(job.process.id, None)
            self._start_waiting()
            self._wake.set()
            return
        outcome = rt.release if external else functools.partial(rt.after_handler, result=result, error=error)
        try:
            await self._settle(functools.partial(outcome, self._ctx, job))
        finally:
            self._jobs.remove(job)
            self._tasks.pop(job.process.id, None)
            self._start_waiting()
            self._wake.set()
        if external:
            raise asyncio.CancelledError

    def _after_settle(self, make_flow: Callable[[], flows.Flow[None]], outcome: object) -> None:
        if rt.outcome_failed(self._client.worker_id, outcome):
            self._retries.append(make_flow)

    async def _flush_succeeded(self) -> None:
        """Record the results still waiting for the loop (on shutdown)."""
        succeeded, self._succeeded = self._succeeded, []
        if succeeded:
            make_flow = functools.partial(rt.succeed_many, self._ctx, succeeded)
            self._after_settle(
                make_flow, (await flows.adrive_together([make_flow()], self._client._runner.run, asyncio.sleep))[0]
            )
        for job, _ in succeeded:
            self._jobs.remove(job)

    async def _settle(self, make_flow: Callable[[], flows.Flow[None]]) -> None:
        """Run an outcome flow; if Redis cannot take it now, keep it to retry from the loop."""
        try:
            await flows.adrive(make_flow(), self._client._runner.run, asyncio.sleep)
        except (RedisUnavailableError, RedisCommandError) as exc:
            log.warning("worker %s: could not record an outcome, will retry: %s", self._client.worker_id, exc)
            self._retries.append(make_flow)
        except Exception:
            log.exception("worker %s: could not record an outcome", self._client.worker_id)

    async def _retry_settlements(self) -> None:
        pending, self._retries = self._retries, []
        for make_flow in pending:
            await self._settle(make_flow)

    async def _recover(self) -> bool:
        """The worker was declared dead: cancel its handlers; restart under a new id if
        configured to. Returns whether the loop goes on."""
        told = self._jobs.claim("lost", "worker lost")
        for job in told:
            self._cancel_task(job)
        if told:
            log.error("worker %s was declared dead; cancelled %d handler(s)", self._client.worker_id, len(told))
        if not self.settings.restart_on_loss:
            self._error = WorkerLostError(f"worker {self._client.worker_id!r} was declared dead by its peers")
            return False
        try:
            await self._client._renew_identity()
        except WorqrError as exc:
            log.warning("worker could not restart yet, will retry: %s", exc)
            await asyncio.sleep(ERROR_PAUSE)
        return True

    async def _rejoin(self) -> None:
        """Join the queues this worker should serve but does not (after a restart)."""
        try:
            await self._join_queues()
        except WorqrError as exc:
            log.warning("worker %s could not join its queues yet, will retry: %s", self._client.worker_id, exc)
            await asyncio.sleep(ERROR_PAUSE)

    async def _release_unstarted(self, *, lost: bool) -> None:
        """Give prefetched jobs whose handler has not begun back at once, not after grace."""
        early = [] if lost else self._jobs.claim_unstarted("released", "shutdown")
        for job in rt.release_order(early):
            await self._settle(functools.partial(rt.release, self._ctx, job))
        for job in self._waiting:  # never begun: released above, or cancelled or lost
            if job not in early:
                await self._settle(functools.partial(rt.after_handler, self._ctx, job, None, None))
            self._jobs.remove(job)
        self._waiting.clear()

    async def _shutdown(self) -> None:
        try:
            lost = self._client._session.state.lost
            released = [] if lost or not self.settings.persistent else self._jobs.claim("released", "shutdown")
            for job in released:
                self._cancel_task(job)
            await self._release_unstarted(lost=lost)
            deadline = time.monotonic() + self._grace
            while True:
                await self._flush_succeeded()
                if not self._jobs.unsettled() or self._hurry or (left := deadline - time.monotonic()) <= 0:
                    break
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), left)
            if not lost:
                late = self._jobs.claim("released", "shutdown")
                for job in late:
                    self._cancel_task(job)
                await self._flush_succeeded()
                for job in rt.release_order(released + late):
                    await self._settle(functools.partial(rt.release, self._ctx, job))
                await self._retry_settlements()
            self._unwatch()
            for spec in self._specs:
                if not lost:
                    with contextlib.suppress(WorqrError):
                        await self._client.stop_work(spec.name)
        finally:
            if self._lost_callback is not None:
                with contextlib.suppress(ValueError):
                    self._client._session.state.lost_callbacks.remove(self._lost_callback)
            self._client._release_runtime(self)
            self._stopped.set()
            log.info("worker %s stopped: %s", self._client.worker_id, self.stats)
