"""The event listeners: one pub/sub connection per client, in a thread (`SyncListener`) or
an asyncio task (`AsyncListener`), that delivers events to the callbacks registered with ``on``.

The listener owns its pub/sub connection outright: other threads or tasks hand it requests
instead of touching the connection, because a redis-py PubSub is not safe to share. After a
reconnect it subscribes again and checks the queues for waiting work, and every
``poll_interval`` it checks the queues this worker works on, so a ``work`` message lost
while disconnected never stalls a worker. Its connections come from a `SyncPubSubs` /
`AsyncPubSubs`: one server's (`SyncPoolPubSubs`), or a cluster's (`worqr._cluster_pubsub`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import redis
import redis.asyncio
import redis.asyncio.client
import redis.client

from worqr._io.runner import refused
from worqr._protocol import flows
from worqr._protocol.events import Callback, Subscriptions
from worqr._protocol.models import Event
from worqr._protocol.ops import Call
from worqr._protocol.session import Session
from worqr.errors import RedisUnavailableError, WorqrError

log = logging.getLogger("worqr")

#: How long the listener blocks reading pub/sub before it looks at new requests (seconds).
READ_TIMEOUT = 0.05
#: How long ``on``/``start_work`` wait for Redis to confirm a subscription (seconds).
SUBSCRIBE_TIMEOUT = 15.0
_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


def _backoff(failures: int) -> float:
    return float(min(2.0, 0.05 * 2**failures))


class _Requests:
    """What the listener must do next: (un)subscribe channels, deliver local events."""

    def __init__(self) -> None:
        self.subscribe: set[str] = set()
        self.unsubscribe: set[str] = set()
        self.events: list[Event] = []
        self.check: set[str] = set()


class _ListenerCore:
    """The part of a listener that is the same in both hosts: bookkeeping, no I/O."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.subs = Subscriptions()
        self.lock = threading.Lock()
        self.requests = _Requests()
        self.ever_confirmed: set[str] = set()
        #: Channels Redis refused to subscribe (an ACL without them), with the error to raise.
        self.refused: dict[str, WorqrError] = {}
        self.next_poll = time.monotonic() + session.poll_interval

    def want(self, queue: str, channel: str, callback: Callback | None, *, working: bool, quiet: bool = False) -> bool:
        """Record interest; True if the caller must wait for a SUBSCRIBE confirmation.
        ``quiet``: the channel gets no events this client makes itself (see `Subscriptions`)."""
        with self.lock:
            self.subs.queue_of[channel] = queue
            if quiet:
                self.subs.quiet.add(channel)
            if callback is not None:
                self.subs.callbacks.setdefault(channel, []).append(callback)
            if working:
                self.subs.working.add(channel)
            self.requests.unsubscribe.discard(channel)
            if channel in self.subs.confirmed:
                return False
            self.requests.subscribe.add(channel)
            return True

    def unwant(self, _queue: str, channel: str, callback: Callback | None, *, working: bool) -> None:
        with self.lock:
            if callback is not None and callback in self.subs.callbacks.get(channel, []):
                self.subs.callbacks[channel].remove(callback)
            if working:
                self.subs.working.discard(channel)
            if not self.subs.wanted(channel):
                self.requests.subscribe.discard(channel)
                self.requests.unsubscribe.add(channel)

    def emit(self, event: Event) -> None:
        with self.lock:
            self.requests.events.append(event)

    def take_requests(self) -> _Requests:
        with self.lock:
            taken, self.requests = self.requests, _Requests()
            return taken

    def refuse(self, exc: redis.exceptions.ResponseError) -> None:
        """Redis refused a SUBSCRIBE: fail every subscription still waiting for confirmation
        (its waiter raises the error) and stop asking for them."""
        with self.lock:
            waiting = [c for c in self.subs.channels() if c not in self.subs.confirmed]
            for channel in waiting:
                self.refused[channel] = refused(f"SUBSCRIBE {channel}", exc)
                self.subs.callbacks.pop(channel, None)
                self.subs.working.discard(channel)
            self.requests.subscribe.difference_update(waiting)
        log.error("Redis refused to subscribe to %s: %s", waiting, exc)

    def outcome(self, channel: str) -> bool:
        """True once ``channel`` is confirmed; raises the error if Redis refused it."""
        error = self.refused.pop(channel, None)
        if error is not None:
            raise error
        return channel in self.subs.confirmed

    def reset_connection(self) -> list[str]:
        """Forget confirmations (new connection); return the channels to subscribe."""
        with self.lock:
            self.subs.confirmed.clear()
            self.requests.subscribe.clear()
            self.requests.unsubscribe.clear()
            return self.subs.channels()

    def on_message(self, message: dict[str, Any]) -> tuple[list[tuple[Callback, Event]], str | None]:
        """Deliveries for one pub/sub message, and the channel confirmed by it, if any."""
        channel = message["channel"]
        channel = channel.decode("utf-8", "surrogateescape") if isinstance(channel, bytes) else channel
        with self.lock:
            if message["type"] == "subscribe":
                if channel in self.ever_confirmed and channel in self.subs.queue_of:
                    self.requests.check.add(self.subs.queue_of[channel])  # reconnected: look for missed work
                self.subs.confirmed.add(channel)
                self.ever_confirmed.add(channel)
                return [], channel
            if message["type"] == "unsubscribe":
                self.subs.confirmed.discard(channel)
                return [], None
            if message["type"] != "message":
                return [], None
            data = message["data"]
            return self.subs.deliveries(channel, data if isinstance(data, bytes) else str(data).encode()), None

    def queues_to_check(self, taken: _Requests, now: float) -> list[str]:
        queues = set(taken.check)
        if now >= self.next_poll:
            self.next_poll = now + self.session.poll_interval
            with self.lock:
                queues |= self.subs.working_queues()
        return sorted(queues)

    def local(self, events: Sequence[Event]) -> list[tuple[Callback, Event]]:
        with self.lock:
            return [d for event in events for d in self.subs.local(event)]

    def work_events(self, counts: dict[str, int]) -> list[Event]:
        return [Event("work", q, str(n)) for q, n in counts.items() if n > 0]


def _pubsub_pool_kwargs(pool: Any) -> dict[str, Any]:
    # Payloads in events are bytes: read them undecoded whatever the caller's client does.
    return {**pool.connection_kwargs, "decode_responses": False}


class SyncPubSubs(Protocol):
    """Where a `SyncListener` gets its pub/sub connection: ``open`` returns an object with
    redis-py PubSub's ``subscribe``, ``unsubscribe``, ``get_message`` and ``close``."""

    def open(self) -> Any: ...
    def close(self) -> None: ...


class AsyncPubSubs(Protocol):
    """The asyncio twin of `SyncPubSubs` (``open`` and ``close`` are coroutines)."""

    async def open(self) -> Any: ...
    async def close(self) -> None: ...


class SyncPoolPubSubs:
    """Pub/sub connections to the server of ``pool``, from a pool of their own."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = redis.ConnectionPool(connection_class=pool.connection_class, **_pubsub_pool_kwargs(pool))

    def open(self) -> redis.client.PubSub:
        return redis.client.PubSub(self._pool)

    def close(self) -> None:
        self._pool.disconnect()


class AsyncPoolPubSubs:
    """The asyncio twin of `SyncPoolPubSubs`."""

    def __init__(self, pool: redis.asyncio.ConnectionPool) -> None:
        self._pool = redis.asyncio.ConnectionPool(connection_class=pool.connection_class, **_pubsub_pool_kwargs(pool))

    async def open(self) -> redis.asyncio.client.PubSub:
        return redis.asyncio.client.PubSub(self._pool)

    async def close(self) -> None:
        await self._pool.aclose()


class SyncListener:
    """Hosts the listener in a daemon thread."""

    def __init__(self, session: Session, pubsubs: SyncPubSubs, run: Callable[[Sequence[Call[Any]]], list[Any]]) -> None:
        self.core = _ListenerCore(session)
        self._pubsubs = pubsubs
        self._run = run
        self._stop = threading.Event()
        self._confirmed = threading.Condition(self.core.lock)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def add(
        self, queue: str, channel: str, callback: Callback | None = None, *, working: bool = False, quiet: bool = False
    ) -> None:
        if not self.core.want(queue, channel, callback, working=working, quiet=quiet):
            return
        self._ensure_thread()
        with self._confirmed:
            if not self._confirmed.wait_for(lambda: self.core.outcome(channel), SUBSCRIBE_TIMEOUT):
                msg = f"Redis did not confirm the subscription to {channel!r} within {SUBSCRIBE_TIMEOUT} s"
                raise RedisUnavailableError(msg)

    def remove(self, queue: str, channel: str, callback: Callback | None = None, *, working: bool = False) -> None:
        self.core.unwant(queue, channel, callback, working=working)

    def emit(self, event: Event) -> None:
        self.core.emit(event)
        self._ensure_thread()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._pubsubs.close()

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="worqr-listener", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        pubsub: Any = None
        failures = 0
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = self._pubsubs.open()
                    channels = self.core.reset_connection()
                    if channels:
                        pubsub.subscribe(*channels)
                self._step(pubsub)
                failures = 0
            except redis.exceptions.ResponseError as exc:  # a SUBSCRIBE refused (ACL)
                self.core.refuse(exc)
                with self._confirmed:
                    self._confirmed.notify_all()
                self._discard(pubsub)
                pubsub = None
            except _ERRORS as exc:
                failures += 1
                log.warning("event listener lost its connection (%s); reconnecting", exc)
                self._discard(pubsub)
                pubsub = None
                self._stop.wait(_backoff(failures))
        self._discard(pubsub)

    def _step(self, pubsub: Any) -> None:
        taken = self.core.take_requests()
        if taken.subscribe:
            pubsub.subscribe(*taken.subscribe)
        if taken.unsubscribe:
            pubsub.unsubscribe(*taken.unsubscribe)
        deliveries = self.core.local(taken.events)
        message = pubsub.get_message(timeout=READ_TIMEOUT)
        if message is not None:
            found, confirmed = self.core.on_message(message)
            deliveries += found
            if confirmed is not None:
                with self._confirmed:
                    self._confirmed.notify_all()
        queues = self.core.queues_to_check(taken, time.monotonic())
        if queues:
            try:
                counts = flows.drive(flows.pending_counts(self.core.session, queues), self._run)
                deliveries += self.core.local(self.core.work_events(counts))
            except WorqrError as exc:
                log.warning("could not poll queues %s for waiting work: %s", queues, exc)
        for callback, event in deliveries:
            try:
                callback(event)
            except Exception:
                log.exception("event callback %r failed on %s event of queue %r", callback, event.type, event.queue)

    @staticmethod
    def _discard(pubsub: Any) -> None:
        if pubsub is not None:
            with contextlib.suppress(*_ERRORS):
                pubsub.close()


class AsyncListener:
    """Hosts the listener in an asyncio task; callbacks may be coroutine functions."""

    def __init__(self, session: Session, pubsubs: AsyncPubSubs, run: Callable[[Sequence[Call[Any]]], Any]) -> None:
        self.core = _ListenerCore(session)
        self._pubsubs = pubsubs
        self._run = run
        self._stop = asyncio.Event()
        self._confirmed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def add(
        self, queue: str, channel: str, callback: Callback | None = None, *, working: bool = False, quiet: bool = False
    ) -> None:
        await self.add_nowait(queue, channel, callback, working=working, quiet=quiet)

    def add_nowait(
        self, queue: str, channel: str, callback: Callback | None = None, *, working: bool = False, quiet: bool = False
    ) -> asyncio.Future[None]:
        """Record interest at once; the returned future resolves when the subscription is live."""
        must_wait = self.core.want(queue, channel, callback, working=working, quiet=quiet)
        self._ensure_task()
        if not must_wait:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return asyncio.ensure_future(self._confirmation(channel))

    async def _confirmation(self, channel: str) -> None:
        async with self._confirmed:
            try:
                await asyncio.wait_for(self._confirmed.wait_for(lambda: self.core.outcome(channel)), SUBSCRIBE_TIMEOUT)
            except asyncio.TimeoutError as exc:
                msg = f"Redis did not confirm the subscription to {channel!r} within {SUBSCRIBE_TIMEOUT} s"
                raise RedisUnavailableError(msg) from exc

    def remove(self, queue: str, channel: str, callback: Callback | None = None, *, working: bool = False) -> None:
        self.core.unwant(queue, channel, callback, working=working)

    def emit(self, event: Event) -> None:
        self.core.emit(event)
        self._ensure_task()

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None and self._task is not asyncio.current_task():
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except asyncio.TimeoutError:
                self._task.cancel()
        await self._pubsubs.close()

    def _ensure_task(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="worqr-listener")

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
                async with self._confirmed:
                    self._confirmed.notify_all()
                await self._discard(pubsub)
                pubsub = None
            except _ERRORS as exc:
                failures += 1
                log.warning("event listener lost its connection (%s); reconnecting", exc)
                await self._discard(pubsub)
                pubsub = None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), _backoff(failures))
        await self._discard(pubsub)

    async def _step(self, pubsub: Any) -> None:
        taken = self.core.take_requests()
        if taken.subscribe:
            await pubsub.subscribe(*taken.subscribe)
        if taken.unsubscribe:
            await pubsub.unsubscribe(*taken.unsubscribe)
        deliveries = self.core.local(taken.events)
        message = await pubsub.get_message(timeout=READ_TIMEOUT)
        if message is not None:
            found, confirmed = self.core.on_message(message)
            deliveries += found
            if confirmed is not None:
                async with self._confirmed:
                    self._confirmed.notify_all()
        queues = self.core.queues_to_check(taken, time.monotonic())
        if queues:
            try:
                counts = await flows.adrive(flows.pending_counts(self.core.session, queues), self._run, asyncio.sleep)
                deliveries += self.core.local(self.core.work_events(counts))
            except WorqrError as exc:
                log.warning("could not poll queues %s for waiting work: %s", queues, exc)
        for callback, event in deliveries:
            try:
                outcome = callback(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("event callback %r failed on %s event of queue %r", callback, event.type, event.queue)

    @staticmethod
    async def _discard(pubsub: Any) -> None:
        if pubsub is not None:
            with contextlib.suppress(*_ERRORS):
                await pubsub.aclose()
