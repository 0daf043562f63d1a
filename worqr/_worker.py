"""`Worker`: the synchronous runtime. Handlers run on a pool of ``concurrency`` daemon
threads; one loop thread takes work, enforces timeouts, and shuts down cleanly. Every
decision about a job's outcome is a flow in `worqr._runtime`, shared with `AsyncWorker`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from worqr import _runtime as rt
from worqr._protocol import checks, flows
from worqr._protocol.models import Event, Process
from worqr.errors import RedisCommandError, RedisUnavailableError, WorkerLostError, WorqrError

if TYPE_CHECKING:
    from worqr._client import Worqr

T = TypeVar("T")
log = logging.getLogger("worqr")

#: Seconds to wait before taking work again after Redis failed or refused a command.
ERROR_PAUSE = 0.5


class Worker(rt.WorkerFace, Generic[T]):
    """Runs ``handler`` on the tasks of one or more queues, with up to ``concurrency``
    handlers at a time, until stopped. Built by `Worqr.worker` / `Worqr.persistent_worker`.

    `run` blocks until shutdown (SIGINT/SIGTERM when called from the main thread); `start`
    and `stop` embed the worker in an application. Also a context manager (start / stop).
    """

    def __init__(
        self,
        client: Worqr,
        specs: list[rt.QueueSpec],
        handler: Callable[[Process[T]], object],
        settings: rt.Settings,
    ) -> None:
        super().__init__(client._session, specs, settings)
        self._client = client
        self._handler = handler
        self._pool: queue.SimpleQueue[rt.Job[Any] | None] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop_requested = threading.Event()
        self._hurry = threading.Event()
        self._stopped: threading.Event = threading.Event()
        self._retries_lock = threading.Lock()
        #: Jobs whose handler returned, with the result, for the loop to finish in a batch.
        self._succeeded: list[tuple[rt.Job[Any], object]] = []
        self._succeeded_lock = threading.Lock()
        self._pace = rt.Pace()
        self._threads: list[threading.Thread] = []

    # Lifetime ------------------------------------------------------------------------------

    def start(self) -> None:
        """Register the worker (if the client is not started yet), join the queues and start
        taking work in background threads. Returns once subscribed to every queue."""
        if self._started:
            msg = "this Worker was already started; build a new one with Worqr.worker()"
            raise WorqrError(msg)
        self._client._claim_runtime(self)
        self._started = True
        try:
            self._client.start_worker()
            self._join_queues()
        except BaseException:
            self._client._release_runtime(self)
            self._stopped.set()
            raise
        self._client._session.state.lost_callbacks.append(self._wake.set)
        names = f"worqr-handler-{self._client.worker_id[:8]}"
        self._threads = [
            threading.Thread(target=self._serve, name=f"{names}-{i}", daemon=True)
            for i in range(self.settings.concurrency)
        ]
        self._threads.append(
            threading.Thread(target=self._loop, name=f"worqr-runtime-{self._client.worker_id[:8]}", daemon=True)
        )
        for thread in self._threads:
            thread.start()
        log.info(
            "worker %s serving %s (concurrency %d)", self._client.worker_id, self.queues, self.settings.concurrency
        )

    def stop(self, grace: float | None = None) -> None:
        """Stop taking work, give running handlers ``grace`` seconds (default: the worker's
        ``grace``) to finish, then give what is left back to the front of its queue.
        Returns when shutdown is complete. A second call with ``grace=0`` hurries it."""
        self.request_stop(grace)
        if self._started and threading.current_thread() not in self._threads:
            self._stopped.wait()

    def request_stop(self, grace: float | None = None) -> None:
        """Begin shutdown without waiting for it (safe from signal handlers and callbacks)."""
        if grace is not None:
            self._grace = float(checks.check_seconds("grace", grace) or 0.0)
        if grace == 0:  # only an explicit 0 hurries: stop() after request_stop() keeps the grace
            self._hurry.set()
        self._stop_requested.set()
        self._wake.set()

    def run(self) -> None:
        """Start, then block until the worker stops. From the main thread, the first SIGINT
        or SIGTERM stops it gracefully and a second one at once (work is still given back).

        Raises:
            WorkerLostError: the worker was declared dead and ``restart_on_loss`` is off.
        """
        previous = self._install_signal_handlers()  # first: a signal during start() is not lost
        try:
            self.start()
            while not self._stopped.wait(1.0):
                pass
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Worker[T]:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Worker {self.queues} of {self._client.worker_id!r} {'running' if self.running else 'idle'}>"

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("worker %s: %s received, stopping", self._client.worker_id, signal.Signals(signum).name)
            self.request_stop(0 if self._stop_requested.is_set() else None)  # the second signal: at once

        return {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    # The loop ------------------------------------------------------------------------------

    def _join_queues(self) -> None:
        self._unwatch()  # after a restart: the wake channels named the old worker id
        for spec in self._specs:
            self._watching.append(self._client._watch(spec.name, self._on_event, self._on_wake))
            self._client.start_work(spec.name)

    def _on_event(self, event: Event) -> None:
        """A queue's broadcast event. ``work`` is not for us: the scripts wake idle workers one
        by one on their own channels (`_on_wake`), so one task does not wake every worker."""
        if event.type == "cancel":
            self._jobs.cancelled_by(event)
        elif event.type == "scheduled":
            self._wake.set()

    def _on_wake(self, _event: Event) -> None:
        self._wake.set()

    def _loop(self) -> None:
        try:
            while not self._stop_requested.is_set():
                self._wake.clear()
                if self._client._session.state.lost and not self._recover():
                    break
                if rt.missing_queues(self._client._session, self._specs):
                    self._rejoin()
                self._retry_settlements()
                for job in self._jobs.expired(time.monotonic()):
                    self._settle(functools.partial(rt.time_out, self._ctx, job))
                self._wake.wait(self._take())
        except BaseException as exc:
            log.exception("worker %s: runtime loop failed", self._client.worker_id)
            self._error = exc
        finally:
            self._shutdown()

    def _take(self) -> float:
        """One round trip: record the results handlers left (`_succeeded`) and take work into
        the free capacity, together. Returns how long to sleep."""
        with self._succeeded_lock:
            succeeded, self._succeeded = self._succeeded, []
        free = self.settings.capacity(self._pace) - self._jobs.busy()
        plan = rt.plan_round(self._ctx, self._specs, succeeded, free)
        outcomes = flows.drive_together(plan.flows, self._client._runner.run)
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
            self._settle(functools.partial(rt.dead_letter_undecodable, self._ctx, undecodable))
        for job in taken.jobs:
            if rt.over_limit(self._ctx, job):
                self._settle(functools.partial(rt.dead_letter_over_limit, self._ctx, job))
                continue
            self._jobs.add(job)
            self._pool.put(job)
        if len(taken.jobs) + len(taken.undecodable) == free:
            return 0.0  # every slot filled: there may be more waiting once one frees
        return rt.idle_wait(self._client._session, taken.next_due, self._jobs.next_deadline(), time.monotonic())

    def _serve(self) -> None:
        while (job := self._pool.get()) is not None:
            result: object = None
            error: BaseException | None = None
            if job.begin():  # else claimed (cancelled, released, lost) while it waited
                try:
                    result = rt.run_with_token(job.token, functools.partial(self._handler, job.process))
                except BaseException as exc:  # noqa: BLE001 (a handler's failure is the task's, not the worker's)
                    error = exc
                self._pace.add(time.monotonic() - job.started)
            job.returned = True
            with self._succeeded_lock:
                batched = error is None and job.claim("settling")
                if batched:  # the common case: the loop records it with others in one round trip
                    self._succeeded.append((job, result))
            if batched:
                self._wake.set()
                continue
            try:
                self._settle(functools.partial(rt.after_handler, self._ctx, job, result, error))
            finally:
                self._jobs.remove(job)
                self._wake.set()

    def _flush_succeeded(self) -> None:
        """Record the results still waiting for the loop (on shutdown)."""
        with self._succeeded_lock:
            succeeded, self._succeeded = self._succeeded, []
        if succeeded:
            make_flow = functools.partial(rt.succeed_many, self._ctx, succeeded)
            self._after_settle(make_flow, flows.drive_together([make_flow()], self._client._runner.run)[0])
        for job, _ in succeeded:
            self._jobs.remove(job)

    def _after_settle(self, make_flow: Callable[[], flows.Flow[None]], outcome: object) -> None:
        if rt.outcome_failed(self._client.worker_id, outcome):
            with self._retries_lock:
                self._retries.append(make_flow)

    def _settle(self, make_flow: Callable[[], flows.Flow[None]]) -> None:
        """Run an outcome flow; if Redis cannot take it now, keep it to retry from the loop."""
        try:
            flows.drive(make_flow(), self._client._runner.run)
        except (RedisUnavailableError, RedisCommandError) as exc:
            log.warning("worker %s: could not record an outcome, will retry: %s", self._client.worker_id, exc)
            with self._retries_lock:
                self._retries.append(make_flow)
        except Exception:
            log.exception("worker %s: could not record an outcome", self._client.worker_id)

    def _retry_settlements(self) -> None:
        with self._retries_lock:
            pending, self._retries = self._retries, []
        for make_flow in pending:
            self._settle(make_flow)

    def _recover(self) -> bool:
        """The worker was declared dead: stop its handlers; restart under a new id if
        configured to. Returns whether the loop goes on."""
        told = self._jobs.claim("lost", "worker lost")
        if told:
            log.error("worker %s was declared dead; told %d handler(s) to stop", self._client.worker_id, len(told))
        if not self.settings.restart_on_loss:
            self._error = WorkerLostError(f"worker {self._client.worker_id!r} was declared dead by its peers")
            return False
        try:
            self._client._renew_identity()
        except WorqrError as exc:
            log.warning("worker could not restart yet, will retry: %s", exc)
            self._wake.wait(ERROR_PAUSE)
        return True

    def _rejoin(self) -> None:
        """Join the queues this worker should serve but does not (after a restart)."""
        try:
            self._join_queues()
        except WorqrError as exc:
            log.warning("worker %s could not join its queues yet, will retry: %s", self._client.worker_id, exc)
            self._wake.wait(ERROR_PAUSE)

    def _shutdown(self) -> None:
        try:
            lost = self._client._session.state.lost
            released = [] if lost else self._jobs.claim("released", "shutdown", self._persistent_jobs())
            self._release_unstarted(lost=lost)
            deadline = time.monotonic() + self._grace
            while True:
                self._flush_succeeded()
                if not self._jobs.unsettled() or self._hurry.is_set() or (left := deadline - time.monotonic()) <= 0:
                    break
                self._wake.wait(left)
                self._wake.clear()
            if not lost:
                with self._succeeded_lock:  # a handler that won its claim has its result listed
                    released += self._jobs.claim("released", "shutdown")
                self._flush_succeeded()
                for job in rt.release_order(released):
                    self._settle(functools.partial(rt.release, self._ctx, job))
                self._retry_settlements()
            self._unwatch()
            for spec in self._specs:
                if not lost:
                    with contextlib.suppress(WorqrError):
                        self._client.stop_work(spec.name)
        finally:
            for _ in range(self.settings.concurrency):
                self._pool.put(None)
            with contextlib.suppress(ValueError):
                self._client._session.state.lost_callbacks.remove(self._wake.set)
            self._client._release_runtime(self)
            self._stopped.set()
            log.info("worker %s stopped: %s", self._client.worker_id, self.stats)

    def _release_unstarted(self, *, lost: bool) -> None:
        """Give prefetched jobs whose handler has not begun back at once, not after grace."""
        early = [] if lost else self._jobs.claim_unstarted("released", "shutdown")
        for job in rt.release_order(early):
            self._settle(functools.partial(rt.release, self._ctx, job))
            self._jobs.remove(job)

    def _persistent_jobs(self) -> list[rt.Job[Any]]:
        return self._jobs.all() if self.settings.persistent else []
