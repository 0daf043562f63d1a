"""What a client's event listener knows, apart from its I/O: the channels it wants, the
requests other threads or tasks leave for it, and how a pub/sub message becomes the events
delivered to the callbacks registered with ``on``. The listener itself, one pub/sub
connection per client in an asyncio task (`AsyncListener`) or a thread (its twin
`SyncListener`), is in ``_async/listener.py``.

The listener owns its pub/sub connection outright: other threads or tasks hand it requests
instead of touching the connection, because a redis-py PubSub is not safe to share. After a
reconnect it subscribes again and checks the queues for waiting work, and every
``poll_interval`` it checks the queues this worker works on, so a ``work`` message lost
while disconnected never stalls a worker. Its connections come from an `AsyncPubSubs` (and
the twin `SyncPubSubs`): one server's (`AsyncPoolPubSubs`), or a cluster's
(``worqr._io.cluster.pubsub``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis

from worqr._io.replies import refused
from worqr._protocol.events import Callback, Subscriptions
from worqr._protocol.models import Event
from worqr._protocol.session import Session
from worqr.errors import WorqrError

log = logging.getLogger("worqr")

#: How long the listener blocks reading pub/sub before it looks at new requests (seconds).
READ_TIMEOUT = 0.05
#: How long ``on``/``start_work`` wait for Redis to confirm a subscription (seconds).
SUBSCRIBE_TIMEOUT = 15.0
ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


def backoff(failures: int) -> float:
    return float(min(2.0, 0.05 * 2**failures))


class Requests:
    """What the listener must do next: (un)subscribe channels, deliver local events."""

    def __init__(self) -> None:
        self.subscribe: set[str] = set()
        self.unsubscribe: set[str] = set()
        self.events: list[Event] = []
        self.check: set[str] = set()


class Health:
    """Whether the pub/sub connection still carries anything: a half-open connection (no FIN
    or RST reached this side) delivers nothing and fails nothing, so the listener sends a
    PING now and then and takes the connection for broken when no PONG came back in time.

    A PING goes out every ``heartbeat_interval`` while the connection is subscribed (a
    connection in subscribe mode answers PING with a ``pong`` message); the answer must come
    within ``worker_timeout`` (3 heartbeat intervals for a permanent worker). With several
    connections (a Redis Cluster's shards), every one must answer.
    """

    def __init__(self, session: Session) -> None:
        self.every = session.heartbeat_interval
        self.deadline = session.worker_timeout or 3 * session.heartbeat_interval
        self._sent = 0
        self.token: str | None = None
        self.left = 0
        self.sent_at = 0.0
        self.next_at = time.monotonic() + self.every

    def due(self, now: float) -> str | None:
        """The token of the PING to send now, if one is due."""
        if self.token is not None or now < self.next_at:
            return None
        self._sent += 1
        return f"worqr-health-{self._sent}"

    def sent(self, token: str, connections: int, now: float) -> None:
        if connections <= 0:  # nothing subscribed to ask
            self.next_at = now + self.every
            return
        self.token, self.left, self.sent_at = token, connections, now

    def pong(self, data: object, now: float) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        if self.token is None or text != self.token:
            return
        self.left -= 1
        if self.left <= 0:
            self.token, self.next_at = None, now + self.every

    def overdue(self, now: float) -> float | None:
        """Seconds a PING has waited for its PONG, when that is past the deadline."""
        waited = now - self.sent_at
        return waited if self.token is not None and waited > self.deadline else None

    def reset(self, now: float) -> None:
        """A new connection: nothing is awaited."""
        self.token, self.left, self.next_at = None, 0, now + self.every


class ListenerCore:
    """The part of a listener that is the same in both hosts: bookkeeping, no I/O."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.subs = Subscriptions()
        self.lock = threading.Lock()
        self.requests = Requests()
        self.ever_confirmed: set[str] = set()
        #: Channels Redis refused to subscribe (an ACL without them), with the error to raise.
        self.refused: dict[str, WorqrError] = {}
        self.next_poll = time.monotonic() + session.poll_interval
        self.health = Health(session)
        #: Channels with a message to deliver when they are subscribed again (see `want`).
        self.resync: dict[str, bytes] = {}
        #: Channels that name no queue to check for missed work when subscribed again.
        self.unpolled: set[str] = set()

    def want(
        self,
        queue: str,
        channel: str,
        callback: Callback | None,
        *,
        working: bool,
        quiet: bool = False,
        resync: bytes | None = None,
        polled: bool = True,
    ) -> bool:
        """Record interest; True if the caller must wait for a SUBSCRIBE confirmation.
        ``quiet``: the channel gets no events this client makes itself (see `Subscriptions`).
        ``resync``: a message delivered to the channel's callbacks, as if published on it,
        each time it is subscribed again after a broken connection (messages published
        meanwhile were lost: call notices use it to read their records again).
        ``polled``: False for a channel whose ``queue`` is only a label (a lease's), so that
        a reconnect does not check it for waiting work."""
        with self.lock:
            self.subs.queue_of[channel] = queue
            if not polled:
                self.unpolled.add(channel)
            if quiet:
                self.subs.quiet.add(channel)
            if resync is not None:
                self.resync[channel] = resync
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
                self.resync.pop(channel, None)

    def emit(self, event: Event) -> None:
        with self.lock:
            self.requests.events.append(event)

    def take_requests(self) -> Requests:
        with self.lock:
            taken, self.requests = self.requests, Requests()
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
            self.health.reset(time.monotonic())
            return self.subs.channels()

    def ping_due(self, now: float) -> str | None:
        """The token of a health PING to send now: due, and the connection is subscribed
        (only then does Redis answer PING with a pong message)."""
        with self.lock:
            return self.health.due(now) if self.subs.confirmed else None

    def on_message(self, message: dict[str, Any]) -> tuple[list[tuple[Callback, Event]], str | None]:
        """Deliveries for one pub/sub message, and the channel confirmed by it, if any."""
        if message["type"] in ("pong", b"pong"):
            with self.lock:
                self.health.pong(message["data"], time.monotonic())
            return [], None
        channel = message["channel"]
        channel = channel.decode("utf-8", "surrogateescape") if isinstance(channel, bytes) else channel
        with self.lock:
            if message["type"] == "subscribe":
                again = channel in self.ever_confirmed
                if again and channel in self.subs.queue_of and channel not in self.unpolled:
                    self.requests.check.add(self.subs.queue_of[channel])  # reconnected: look for missed work
                self.subs.confirmed.add(channel)
                self.ever_confirmed.add(channel)
                resync = self.resync.get(channel) if again else None
                return ([] if resync is None else self.subs.deliveries(channel, resync)), channel
            if message["type"] == "unsubscribe":
                self.subs.confirmed.discard(channel)
                return [], None
            if message["type"] != "message":
                return [], None
            data = message["data"]
            return self.subs.deliveries(channel, data if isinstance(data, bytes) else str(data).encode()), None

    def queues_to_check(self, taken: Requests, now: float) -> list[str]:
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


def pubsub_pool_kwargs(pool: Any) -> dict[str, Any]:
    # Payloads in events are bytes: read them undecoded whatever the caller's client does.
    return {**pool.connection_kwargs, "decode_responses": False}
