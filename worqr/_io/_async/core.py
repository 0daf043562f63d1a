"""`AsyncCore`: everything an `AsyncWorqr` is apart from its face (`SyncCore`, generated
from this file, is `Worqr`'s): the session, the runner, the event listener, the supervisor
(heartbeat and reaper) once the worker started, and the runtime worker it runs, if any.

The faces are tables of one-line methods over the flows, run by `drive`; what is more than
one flow (joining a queue: subscribe, then join; closing: stop the runtime worker and the
heartbeat, then leave cleanly) is written here, once. A runtime worker reaches its client
only through this object (see ``worqr._runtime``'s host), never through the face.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from worqr._io._async.connect import AsyncBackend
from worqr._io._async.listener import AsyncListener
from worqr._io._async.supervisor import AsyncSupervisor
from worqr._io.flavors import AsyncCancelled, AsyncLock, async_sleep
from worqr._protocol import flows
from worqr._protocol.events import Callback
from worqr._protocol.models import Event
from worqr._protocol.session import Session
from worqr.errors import ClientClosedError, WorqrError

R = TypeVar("R")
log = logging.getLogger("worqr")


class AsyncStoppable(Protocol):
    """A runtime worker, as its client sees it: something to stop when the client closes."""

    async def stop(self, grace: float | None = None) -> None: ...


class AsyncCore:
    def __init__(self, session: Session, backend: AsyncBackend, face: str) -> None:
        self.session = session
        self.backend = backend
        self.runner = backend.runner
        self.listener = AsyncListener(session, backend.pubsubs, backend.runner.run)
        self.supervisor: AsyncSupervisor | None = None
        self.runtime: AsyncStoppable | None = None
        #: What else closes with the client, after the runtime worker and before the
        #: heartbeat (a capability's background work: the lease keeper).
        self.parts: list[AsyncStoppable] = []
        self.closed = False
        self._face = face
        self._lock = AsyncLock()

    @property
    def worker_id(self) -> str:
        return self.session.worker_id

    async def drive(self, flow: flows.Flow[R]) -> R:
        """Run one flow of an operation (the body of every face method)."""
        if self.closed:
            msg = f"this {self._face} client is closed"
            raise ClientClosedError(msg)
        return await flows.adrive(flow, self.runner.run, async_sleep)

    # Workers and queues ------------------------------------------------------------------

    async def start_worker(self) -> None:
        await self.drive(flows.start_worker(self.session))
        with self._lock:
            if self.supervisor is None or not self.supervisor.running:
                self.supervisor = AsyncSupervisor(self.session, self.runner.run)
                self.supervisor.start()
            else:
                self.supervisor.registered()

    async def start_work(self, queue: str) -> None:
        await self.start_work_many([queue])

    async def start_work_many(self, queues: Sequence[str]) -> None:
        """Subscribe to the queues' events and join them: all at once, a few round trips
        whatever their number. Returns once the subscriptions are live; queues with waiting
        tasks get a local ``work`` event."""
        all_keys = [self.session.queue(queue) for queue in queues]
        for keys in all_keys:
            self.session.state.check_started(keys.queue, self.worker_id)
        channels = [keys.channel for keys in all_keys if self.listener.want(keys.queue, keys.channel, working=True)]
        try:
            await self.confirm(channels)
            pending = await self.drive(flows.start_work_many(self.session, [keys.queue for keys in all_keys]))
        except BaseException:
            for keys in all_keys:
                self.listener.remove(keys.queue, keys.channel, working=True)
            raise
        for queue, count in pending.items():
            if count:
                self.listener.emit(Event("work", queue, str(count)))

    async def stop_work(self, queue: str) -> None:
        keys = self.session.queue(queue)
        await self.drive(flows.stop_work(self.session, keys.queue))
        self.listener.remove(keys.queue, keys.channel, working=True)

    # Events ------------------------------------------------------------------------------

    def on(self, queue: str, callback: Callback) -> list[str]:
        """Register ``callback`` for every event of ``queue`` at once; the channels whose
        subscription Redis must still confirm (see `confirm`)."""
        keys = self.session.queue(queue)
        channels = ((keys.channel, False), (keys.work_channel, False), (keys.done_channel, True))
        return [
            channel for channel, quiet in channels if self.listener.want(keys.queue, channel, callback, quiet=quiet)
        ]

    async def confirm(self, channels: Iterable[str]) -> None:
        """Wait until Redis confirms the subscription to each of ``channels``."""
        for channel in channels:
            await self.listener.confirm(channel)

    def off(self, queue: str, callback: Callback) -> None:
        keys = self.session.queue(queue)
        for channel in (keys.channel, keys.work_channel, keys.done_channel):
            self.listener.remove(keys.queue, channel, callback)

    async def watch(self, queues: Sequence[str], on_event: Callback, on_wake: Callback) -> Callable[[], None]:
        """For the runtime: hear the queues' events but their ``work`` and ``done`` ones
        (``on_event``), and the wake-ups the scripts send this worker alone when it is idle
        (``on_wake``; see ``lua/include/wake.lua``); all subscribed at once. Returns the
        function that stops it."""
        wanted = []
        for queue in queues:
            keys = self.session.queue(queue)
            wanted += [(keys.queue, keys.channel, on_event), (keys.queue, keys.wake_channel(self.worker_id), on_wake)]

        def unwatch() -> None:
            for queue, channel, callback in wanted:
                self.listener.remove(queue, channel, callback)

        try:
            await self.confirm(
                [channel for queue, channel, callback in wanted if self.listener.want(queue, channel, callback)]
            )
        except BaseException:
            unwatch()
            raise
        return unwatch

    # The runtime worker ------------------------------------------------------------------

    def claim_runtime(self, worker: AsyncStoppable) -> None:
        """Make ``worker`` the one runtime worker of this client, or raise."""
        with self._lock:
            if self.runtime is not None and self.runtime is not worker:
                msg = "this client already runs a Worker; stop it first, or use one client per worker"
                raise WorqrError(msg)
            self.runtime = worker

    def release_runtime(self, worker: AsyncStoppable) -> None:
        with self._lock:
            if self.runtime is worker:
                self.runtime = None

    async def rejoin(self) -> None:
        """After this worker was lost: give back what an earlier incarnation may still hold
        (a worker that fenced itself is still registered), then register again under the
        same worker id, as a new incarnation. The caller joins its queues again."""
        await self.drive(flows.reap(self.session, [self.session.worker_id], force=True))
        await self.start_worker()

    # Lifetime ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the runtime worker if one runs, the heartbeat and the listener; a started
        worker is failed cleanly first, so its processes go back to the front of their
        queues. Idempotent."""
        if self.closed:
            return
        runtime = self.runtime
        if runtime is not None:
            await runtime.stop()
        for part in list(self.parts):
            await part.stop()
        with self._lock:
            supervisor, self.supervisor = self.supervisor, None
        if supervisor is not None:
            await supervisor.stop()
        if self.session.state.is_live():
            try:
                await self.drive(flows.fail_worker(self.session, None))
            except (WorqrError, AsyncCancelled) as exc:
                log.warning("worker %s could not release its processes on close: %s", self.worker_id, exc)
        self.closed = True
        await self.listener.close()
        await self.backend.close()
