"""`AsyncListener`: a client's event listener in an asyncio task (its twin `SyncListener`, a
daemon thread), delivering events to the callbacks registered with ``on``. See
`worqr._io.listening` for what it guarantees."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import redis
import redis.asyncio
import redis.asyncio.client

from worqr._io import listening
from worqr._io.flavors import AsyncBackground, AsyncEvent, AsyncLock, AsyncNotice, async_deliver, async_sleep
from worqr._io.listening import ERRORS, ListenerCore, backoff, pubsub_pool_kwargs
from worqr._io.redis_flavors import async_ping
from worqr._protocol import flows
from worqr._protocol.call import Call
from worqr._protocol.events import Callback
from worqr._protocol.models import Event
from worqr._protocol.session import Session
from worqr.errors import RedisUnavailableError, WorqrError

log = logging.getLogger("worqr")


class AsyncPubSubs(Protocol):
    """Where an `AsyncListener` gets its pub/sub connection: ``open`` returns an object with
    redis-py PubSub's ``subscribe``, ``unsubscribe``, ``get_message`` and ``aclose``."""

    async def open(self) -> Any: ...
    async def close(self) -> None: ...


class AsyncPoolPubSubs:
    """Pub/sub connections to the server of ``pool``, from a pool of their own."""

    def __init__(self, pool: redis.asyncio.ConnectionPool) -> None:
        self._pool = redis.asyncio.ConnectionPool(connection_class=pool.connection_class, **pubsub_pool_kwargs(pool))

    async def open(self) -> redis.asyncio.client.PubSub:
        return redis.asyncio.client.PubSub(self._pool)

    async def close(self) -> None:
        await self._pool.aclose()


class AsyncListener:
    """Hosts the listener in the background; callbacks may be coroutine functions (the
    threaded twin calls them and ignores what they return)."""

    def __init__(
        self, session: Session, pubsubs: AsyncPubSubs, run: Callable[[Sequence[Call[Any]]], Awaitable[list[Any]]]
    ) -> None:
        self.core = ListenerCore(session)
        self._pubsubs = pubsubs
        self._run = run
        self._stop = AsyncEvent()
        self._confirmed = AsyncNotice(self.core.lock)
        self._background = AsyncBackground("worqr-listener")
        self._start_lock = AsyncLock()

    def want(
        self,
        queue: str,
        channel: str,
        callback: Callback | None = None,
        *,
        working: bool = False,
        quiet: bool = False,
        resync: bytes | None = None,
        polled: bool = True,
    ) -> bool:
        """Record interest at once; True if Redis must still confirm the subscription (see
        `confirm`). ``quiet``: the channel gets no events this client makes itself;
        ``resync``, ``polled``: see `ListenerCore.want`."""
        must_wait = self.core.want(queue, channel, callback, working=working, quiet=quiet, resync=resync, polled=polled)
        self._ensure_running()
        return must_wait

    async def confirm(self, channel: str) -> None:
        """Wait until Redis confirms the subscription to ``channel``."""
        if not await self._confirmed.wait_for(lambda: self.core.outcome(channel), listening.SUBSCRIBE_TIMEOUT):
            msg = f"Redis did not confirm the subscription to {channel!r} within {listening.SUBSCRIBE_TIMEOUT} s"
            raise RedisUnavailableError(msg)

    def confirmed(self, channel: str) -> bool:
        """True once Redis confirmed the subscription to ``channel`` on the current connection."""
        return self.core.outcome(channel)

    async def add(
        self, queue: str, channel: str, callback: Callback | None = None, *, working: bool = False, quiet: bool = False
    ) -> None:
        """`want`, then `confirm`: returns once the subscription is live."""
        if self.want(queue, channel, callback, working=working, quiet=quiet):
            await self.confirm(channel)

    def remove(self, queue: str, channel: str, callback: Callback | None = None, *, working: bool = False) -> None:
        self.core.unwant(queue, channel, callback, working=working)

    def emit(self, event: Event) -> None:
        self.core.emit(event)
        self._ensure_running()

    async def close(self) -> None:
        self._stop.set()
        await self._background.join(5.0)
        await self._pubsubs.close()

    def _ensure_running(self) -> None:
        with self._start_lock:
            if not self._background.started:
                self._background.start(self._loop)

    async def _loop(self) -> None:
        pubsub: Any = None
        failures = 0
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = await self._pubsubs.open()
                    channels = self.core.reset_connection()
                    if channels:
                        await pubsub.subscribe(*channels)
                await self._step(pubsub)
                failures = 0
            except redis.exceptions.ResponseError as exc:  # a SUBSCRIBE refused (ACL)
                self.core.refuse(exc)
                await self._confirmed.notify_all()
                await self._discard(pubsub)
                pubsub = None
            except ERRORS as exc:
                failures += 1
                log.warning("event listener lost its connection (%s); reconnecting", exc)
                await self._discard(pubsub)
                pubsub = None
                await self._stop.wait(backoff(failures))
        await self._discard(pubsub)

    async def _step(self, pubsub: Any) -> None:
        taken = self.core.take_requests()
        if taken.subscribe:
            await pubsub.subscribe(*taken.subscribe)
        if taken.unsubscribe:
            await pubsub.unsubscribe(*taken.unsubscribe)
        deliveries = self.core.local(taken.events)
        await self._check_health(pubsub)
        message = await pubsub.get_message(timeout=listening.READ_TIMEOUT)
        if message is not None:
            found, confirmed = self.core.on_message(message)
            deliveries += found
            if confirmed is not None:
                await self._confirmed.notify_all()
        queues = self.core.queues_to_check(taken, time.monotonic())
        if queues:
            try:
                counts = await flows.adrive(flows.pending_counts(self.core.session, queues), self._run, async_sleep)
                deliveries += self.core.local(self.core.work_events(counts))
            except WorqrError as exc:
                log.warning("could not poll queues %s for waiting work: %s", queues, exc)
        for callback, event in deliveries:
            try:
                await async_deliver(callback, event)
            except Exception:
                log.exception("event callback %r failed on %s event of queue %r", callback, event.type, event.queue)

    async def _check_health(self, pubsub: Any) -> None:
        """Send a health PING when one is due; a connection that did not answer the last one
        in time is broken (half-open): raise, so that the loop opens a new one."""
        now = time.monotonic()
        waited = self.core.health.overdue(now)
        if waited is not None:
            msg = f"no answer to a PING on the pub/sub connection for {waited:.1f} s (a half-open connection)"
            raise redis.ConnectionError(msg)
        token = self.core.ping_due(now)
        if token is not None:
            self.core.health.sent(token, await async_ping(pubsub, token), now)

    @staticmethod
    async def _discard(pubsub: Any) -> None:
        if pubsub is not None:
            with contextlib.suppress(*ERRORS):
                await pubsub.aclose()
