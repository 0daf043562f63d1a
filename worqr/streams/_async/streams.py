"""`AsyncStream`, a handle on one stream; `AsyncSubscription`, one worker's place in a
consumer group of it; `AsyncMessage`, a message delivered to a subscription (acknowledged
with ``await message.ack()``). This file is the asyncio client's; its generated twin
(``_sync/streams.py``) the threaded one's (`Stream`, `Subscription`, `Message`).

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
from typing import Generic, TypeVar

from worqr._io._async.core import AsyncCore
from worqr._io._async.notices import AsyncChannelNotices
from worqr._protocol.checks import check_int, check_seconds
from worqr._protocol.codec import Codec
from worqr._protocol.flows.steps import batch, one
from worqr._protocol.keys import StreamKeys
from worqr.errors import ClientClosedError, CodecError, InvalidArgumentError
from worqr.streams import flows, ops
from worqr.streams.messages import (
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_PREFETCH,
    Consumer,
    GroupInfo,
    PendingMessage,
    StreamDeadLetter,
    StreamMessage,
    check_group,
    check_max_len,
    check_message_id,
    check_start,
    check_stream_name,
    parse_groups,
)

T = TypeVar("T")
log = logging.getLogger("worqr")

#: Delivered on a stream's channel after a broken connection: its subscribers take again.
RESYNC = b"published\n"


class AsyncStreams:
    """The streams of one client: the published notices its subscriptions wait for."""

    def __init__(self, core: AsyncCore) -> None:
        self.core = core
        self.notices = AsyncChannelNotices(core.listener, "published", RESYNC)

    def stream(self, name: str, codec: Codec[T], max_len: int | None) -> AsyncStream[T]:
        return AsyncStream(self, name, codec, max_len)


class AsyncStream(Generic[T]):
    """A stream of messages of type ``T`` (see `Worqr.stream`): publish, read from any
    retained id, trim, and subscribe as a consumer group."""

    def __init__(self, streams: AsyncStreams, name: str, codec: Codec[T], max_len: int | None) -> None:
        self.name = check_stream_name(name)
        self.codec = codec
        self.max_len = check_max_len(max_len)
        self.keys = StreamKeys(streams.core.session.prefix, self.name)
        self._streams = streams
        self._core = streams.core

    async def publish(self, data: T) -> str:
        """Append one message; its id (ids increase in publish order)."""
        (message_id,) = await self.publish_many([data])
        return message_id

    async def publish_many(self, items: Iterable[T]) -> list[str]:
        """Append the messages in order, in one round trip; their ids. Every message is
        encoded and checked first: one that cannot be is refused and none is written."""
        payloads = flows.encode(self._core.session, self.keys, self.codec, list(items))
        return await self._core.drive(flows.publish(self.keys, payloads, self.max_len))

    async def read(self, after: str = "0", count: int = 100) -> list[StreamMessage[T]]:
        """Up to ``count`` retained messages after the id ``after`` ("0": from the first),
        oldest first. Reading changes nothing: replay as often as you like."""
        start = check_message_id("after", after)
        check_int("count", count, 1)
        return await self._core.drive(flows.read(self.keys, self.codec, start, count))

    async def length(self) -> int:
        """Messages retained."""
        return (await self._core.drive(flows.lengths(self.keys)))[0]

    async def trim(self, max_len: int | None = None, min_id: str | None = None) -> int:
        """Drop the oldest messages: keep the ``max_len`` newest, or those from ``min_id``
        on (exactly one of the two); how many were dropped. A dropped message that a group
        had not acknowledged is dropped for it too."""
        if (max_len is None) == (min_id is None):
            msg = f"trim takes exactly one of max_len and min_id, got max_len={max_len!r}, min_id={min_id!r}"
            raise InvalidArgumentError(msg)
        if min_id is not None:
            call = ops.trim(self.keys, "MINID", check_message_id("min_id", min_id))
        else:
            call = ops.trim(self.keys, "MAXLEN", check_max_len(max_len, allow_none=False) or 0)
        return await self._core.drive(one(call))

    async def subscribe(
        self,
        group: str,
        *,
        start: str = "new",
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        prefetch: int = DEFAULT_PREFETCH,
        retain_until_acked: bool = False,
    ) -> AsyncSubscription[T]:
        """This client's worker as a consumer of ``group`` (call ``start_worker()`` first).
        Every group gets every message; within a group each message goes to one consumer
        and stays with it until it is acknowledged or its worker dies (then a live consumer
        of the group gets it). A group that does not exist is created, starting at
        ``start``: "new" (messages published from now on), "first" (every retained one)
        or after a message id; an existing group keeps its position. A message delivered
        ``max_deliveries`` times goes to the stream's dead letters instead of a further
        consumer; a take hands at most ``prefetch`` messages to the subscription at once.
        ``retain_until_acked=True`` makes the stream keep each message until every group
        has acknowledged it, and drop it then (resolute's semantics): ``max_len`` and
        ``trim`` stop at the oldest message some group has not acknowledged. It holds for
        the stream from then on, whichever client subscribes."""
        name = check_group(group)
        begin = check_start(start)
        check_int("max_deliveries", max_deliveries, 1)
        check_int("prefetch", prefetch, 1)
        retain: object = retain_until_acked  # checked at run time: callers are not always type-checked
        if not isinstance(retain, bool):
            msg = f"retain_until_acked must be True or False, got {retain!r}"
            raise InvalidArgumentError(msg)
        await self._streams.notices.listen(self.keys.published)
        try:
            flow = flows.subscribe(self._core.session, self.keys, name, begin, retain=retain_until_acked)
            consumer = await self._core.drive(flow)
        except BaseException:
            self._streams.notices.unlisten(self.keys.published)
            raise
        return AsyncSubscription(self, consumer, max_deliveries, prefetch)

    async def groups(self) -> list[GroupInfo]:
        """Every consumer group of the stream: its live consumers, pending count, last
        delivered id and lag."""
        return parse_groups(*await self._core.drive(batch(ops.groups(self.keys))))

    async def pending(self, group: str, count: int = 100) -> list[PendingMessage]:
        """The messages of ``group`` delivered and not acknowledged, oldest first: who
        holds each (None: its worker died and it waits for a live consumer), how long,
        how many deliveries. Raises `GroupNotFoundError` for a group that does not exist."""
        call = ops.pending(self.keys, check_group(group), check_int("count", count, 1))
        return await self._core.drive(one(call))

    async def delete_group(self, group: str) -> bool:
        """Remove ``group`` with its position and pending list; True if it existed. Its
        subscriptions raise `GroupNotFoundError` at their next take."""
        return await self._core.drive(one(ops.delete_group(self.keys, check_group(group))))

    async def dead_letters(self, count: int = 100) -> list[StreamDeadLetter[T]]:
        """The messages taken out of a group (delivered ``max_deliveries`` times, or not
        decodable), oldest first."""
        return await self._core.drive(flows.dead_letters(self.keys, self.codec, check_int("count", count, 1)))

    async def counters(self) -> dict[str, int]:
        """The stream's exact totals, over all its groups: ``published``, ``delivered``
        (first deliveries), ``redelivered`` (after a consumer died), ``acked`` (accepted
        acks) and ``dead_lettered``; each changed in the script that does what it counts."""
        return await self._core.drive(one(ops.counters(self.keys)))

    async def count_dead_letters(self) -> int:
        """How many dead letters the stream keeps."""
        return (await self._core.drive(flows.lengths(self.keys)))[1]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


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

    def __init__(self, stream: AsyncStream[T], consumer: Consumer, max_deliveries: int, prefetch: int) -> None:
        self.stream = stream
        self.group = consumer.group
        self._consumer = consumer
        self._max_deliveries = max_deliveries
        self._prefetch = prefetch
        self._core = stream._core
        self._notices = stream._streams.notices
        self._buffer: deque[tuple[str, bytes, int]] = deque()
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
            if not self._buffer:
                self._buffer.extend(await self._take())
            while self._buffer:
                message = await self._decode(*self._buffer.popleft())
                if message is not None:
                    return message
            now = time.monotonic()
            if now >= deadline:
                return None
            wait = min(deadline - now, self._core.session.poll_interval)
            await self._notices.wait(channel, heard, max(0.001, wait))

    async def _take(self) -> list[tuple[str, bytes, int]]:
        return await self._core.drive(
            flows.take(self.stream.keys, self._consumer, self._prefetch, self._max_deliveries)
        )

    async def _decode(self, message_id: str, data: bytes, deliveries: int) -> AsyncMessage[T] | None:
        stream = self.stream
        try:
            return AsyncMessage(flows.decode(stream.keys, stream.codec, message_id, data, deliveries), self)
        except CodecError as exc:
            log.warning(
                "stream %r: message %s cannot be decoded, sent to the dead letters: %s", stream.name, message_id, exc
            )
            await self._core.drive(one(ops.bury(stream.keys, self._consumer, message_id, f"cannot decode: {exc}")))
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
        is unknown to the group."""
        checked = [check_message_id("id", i) for i in ids]
        if not checked:
            return []
        return await self._core.drive(one(ops.ack(self.stream.keys, self._consumer, checked)))

    async def ack_through(self, message_id: str) -> int:
        """Acknowledge every message this consumer holds up to and including
        ``message_id`` (busmq's cumulative ack); how many. 0 once this worker was declared
        dead."""
        checked = check_message_id("id", message_id)
        acked = await self._core.drive(one(ops.ack_through(self.stream.keys, self._consumer, checked)))
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
        return await self._core.drive(one(ops.leave(self.stream.keys, self._consumer)))

    async def __aenter__(self) -> AsyncSubscription[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.stream.name!r} group={self.group!r}>"
