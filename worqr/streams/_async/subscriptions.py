"""`AsyncSubscription`, one worker's place in a consumer group of a stream, and
`AsyncMessage`, a message delivered to it (acknowledged with ``await message.ack()``).
This file is the asyncio client's; its generated twin (``_sync/subscriptions.py``) the
threaded one's (`Subscription`, `Message`).

A subscription never polls in a loop for messages: it subscribes to the stream's published
channel, and Redis confirms the subscription, before its first take, so a message published
after a take that found nothing cannot pass unheard; it waits for that notice (or, as a
fallback, the client's ``poll_interval``) and takes again.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from worqr._io._async.core import AsyncCore
from worqr._io._async.notices import AsyncChannelNotices
from worqr._protocol.checks import check_seconds
from worqr._protocol.codec import Codec
from worqr._protocol.flows.steps import one
from worqr._protocol.keys import StreamKeys
from worqr.errors import ClientClosedError, CodecError, WorkerLostError
from worqr.leases.terms import worker_alive_until
from worqr.streams import flows, ops
from worqr.streams.messages import Consumer, PendingMessage, StreamMessage
from worqr.streams.partitions import qualify, split_id

T = TypeVar("T")
log = logging.getLogger("worqr")


class AsyncSubscribedStream(Protocol[T]):
    """What a subscription needs of its stream (an `AsyncStream`)."""

    name: str
    codec: Codec[T]
    keys: StreamKeys
    partitions: int

    async def pending(self, group: str, count: int = 100) -> list[PendingMessage]: ...


@dataclass(frozen=True, slots=True)
class AsyncMessage(Generic[T]):
    """A message delivered to a subscription: ``id``, ``data``, ``published_at``,
    ``deliveries``; its ``ack()`` acknowledges it."""

    message: StreamMessage[T]
    subscription: AsyncSubscription[T]

    @property
    def id(self) -> str:
        """The message's id in the stream (ordered)."""
        return self.message.id

    @property
    def data(self) -> T:
        """The message, decoded by the stream's codec."""
        return self.message.data

    @property
    def published_at(self) -> datetime:
        """When it was published (server time, UTC)."""
        return self.message.published_at

    @property
    def deliveries(self) -> int:
        """Deliveries of this message to the group so far, this one included (more than 1
        once a consumer that held it died)."""
        return self.message.deliveries

    async def ack(self) -> bool:
        """Acknowledge this message: see the subscription's ``ack``."""
        return await self.subscription.ack(self.message.id)


class AsyncSubscription(Generic[T]):
    """One worker's place in a consumer group of a stream (see ``stream.subscribe``):
    ``next``, iteration over its messages, ``ack``, ``ack_through``, ``pending``,
    ``close``; a context manager that closes it."""

    def __init__(
        self,
        stream: AsyncSubscribedStream[T],
        core: AsyncCore,
        notices: AsyncChannelNotices,
        consumer: Consumer,
        options: tuple[int, int],
    ) -> None:
        self.stream = stream
        self.group = consumer.group
        self._consumer = consumer
        self._max_deliveries, self._prefetch = options
        self._core = core
        self._notices = notices
        self._buffer: deque[tuple[int | None, str, bytes, int]] = deque()
        self._closed = False

    async def next(self, timeout: float | None = None) -> AsyncMessage[T] | None:
        """The next message for this consumer, waiting up to ``timeout`` seconds (None:
        until one comes); None if none came in time. A message a dead consumer of the
        group held comes before new ones. One that the codec cannot decode goes to the dead
        letters (and the next is returned)."""
        check_seconds("timeout", timeout, allow_none=True)
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        channel = self.stream.keys.published
        while True:
            if self._closed:
                msg = f"subscription to group {self.group!r} of stream {self.stream.name!r} is closed"
                raise ClientClosedError(msg)
            heard = self._notices.heard(channel)
            if not self._buffer or (self.stream.partitions and not self._surely_live()):
                # For an ordered stream in doubt whether peers reaped this worker, the take
                # (whose script checks the membership) decides: still a consumer, the buffered
                # messages are still its own; declared dead, they went to others.
                try:
                    self._buffer.extend(await self._take())
                except WorkerLostError:
                    self._buffer.clear()
                    raise
            while self._buffer:
                message = await self._decode(*self._buffer.popleft())
                if message is not None:
                    return message
            now = time.monotonic()
            if now >= deadline:
                return None
            wait = min(deadline - now, self._core.session.poll_interval)
            await self._notices.wait(channel, heard, max(0.001, wait))

    def _surely_live(self) -> bool:
        """True while this worker's heartbeat was confirmed recently enough that peers cannot
        have reaped it: an ordered stream's buffered message is handed out without a take
        only then, so that a worker thawed after a long pause does not work on messages
        another consumer has taken over (its take says it was declared dead)."""
        return time.monotonic() < worker_alive_until(self._core.session, self._consumer.incarnation)

    async def _take(self) -> list[tuple[int | None, str, bytes, int]]:
        stream = self.stream
        flow = flows.take(
            self._core.session,
            stream.keys,
            self._consumer,
            stream.partitions,
            count=self._prefetch,
            max_deliveries=self._max_deliveries,
        )
        return await self._core.drive(flow)

    async def _decode(
        self, partition: int | None, message_id: str, data: bytes, deliveries: int
    ) -> AsyncMessage[T] | None:
        stream = self.stream
        qualified = qualify(partition, message_id)
        try:
            return AsyncMessage(flows.decode(stream.keys, stream.codec, qualified, data, deliveries), self)
        except CodecError as exc:
            log.warning(
                "stream %r: message %s cannot be decoded, sent to the dead letters: %s", stream.name, qualified, exc
            )
            part = stream.keys if partition is None else stream.keys.of_partition(partition)
            await self._core.drive(one(ops.bury(part, self._consumer, message_id, f"cannot decode: {exc}")))
            return None

    def __aiter__(self) -> AsyncIterator[AsyncMessage[T]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AsyncMessage[T]]:
        while not self._closed:
            message = await self.next()
            if message is not None:
                yield message

    async def ack(self, message_id: str) -> bool:
        """Acknowledge a message this consumer was delivered: it is never delivered again.
        False when the ack is refused: the message is not this consumer's (any more), as
        when this worker was declared dead and the message went to another consumer (a
        zombie's late ack), or it was acknowledged already. Raises `MessageNotFoundError`
        for an id the group was never delivered."""
        (acked,) = await self.ack_many([message_id])
        return acked

    async def ack_many(self, ids: Iterable[str]) -> list[bool]:
        """`ack` for several ids in one round trip; nothing is acknowledged if one of them
        is unknown to the group (in an ordered stream: to that id's partition)."""
        stream = self.stream
        checked = [split_id("id", i, stream.partitions) for i in ids]
        if not checked:
            return []
        return await self._core.drive(flows.ack(stream.keys, self._consumer, checked))

    async def ack_through(self, message_id: str) -> int:
        """Acknowledge every message this consumer holds up to and including
        ``message_id`` (busmq's cumulative ack; in an ordered stream, of that id's
        partition); how many. 0 once this worker was declared dead."""
        partition, checked = split_id("id", message_id, self.stream.partitions)
        part = self.stream.keys if partition is None else self.stream.keys.of_partition(partition)
        acked = await self._core.drive(one(ops.ack_through(part, self._consumer, checked)))
        return 0 if acked is None else acked

    async def pending(self, count: int = 100) -> list[PendingMessage]:
        """The messages this consumer holds, delivered and not acknowledged."""
        held = await self.stream.pending(self.group, count)
        return [p for p in held if p.consumer == self._core.session.worker_id]

    async def close(self) -> int:
        """Leave the group: the messages this consumer holds, delivered or buffered and not
        acknowledged, go to the group's live consumers; how many. Idempotent."""
        if self._closed:
            return 0
        self._closed = True
        self._buffer.clear()
        self._notices.unlisten(self.stream.keys.published)
        return await self._core.drive(one(ops.leave(self.stream.keys, self._consumer, self.stream.partitions)))

    async def __aenter__(self) -> AsyncSubscription[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.stream.name!r} group={self.group!r}>"
