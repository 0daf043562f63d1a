"""`AsyncStream`, a handle on one stream (`AsyncStreams`: those of one client): publish,
read, trim, inspect, and subscribe (``_async/subscriptions.py``). This file is the asyncio
client's; its generated twin (``_sync/streams.py``) the threaded one's (`Stream`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from worqr._io._async.core import AsyncCore
from worqr._io._async.notices import AsyncChannelNotices
from worqr._protocol.checks import check_int
from worqr._protocol.codec import Codec
from worqr._protocol.flows.steps import one
from worqr._protocol.keys import StreamKeys
from worqr.errors import InvalidArgumentError
from worqr.streams import flows, ops
from worqr.streams._async.subscriptions import AsyncSubscription
from worqr.streams.messages import (
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_PREFETCH,
    GroupInfo,
    PendingMessage,
    StreamDeadLetter,
    StreamMessage,
    check_group,
    check_max_len,
    check_message_id,
    check_start,
    check_stream_name,
)
from worqr.streams.partitions import route

T = TypeVar("T")

#: Delivered on a stream's channel after a broken connection: its subscribers take again.
RESYNC = b"published\n"


class AsyncStreams:
    """The streams of one client: the published notices its subscriptions wait for."""

    def __init__(self, core: AsyncCore) -> None:
        self.core = core
        self.notices = AsyncChannelNotices(core.listener, "published", RESYNC)

    def stream(self, name: str, codec: Codec[T], max_len: int | None, shape: tuple[int, Any]) -> AsyncStream[T]:
        return AsyncStream(self, name, codec, max_len, shape)


class AsyncStream(Generic[T]):
    """A stream of messages of type ``T`` (see `Worqr.stream`): publish, read from any
    retained id, trim, and subscribe as a consumer group. ``partitions``: 0, or those of an
    ordered stream."""

    def __init__(
        self, streams: AsyncStreams, name: str, codec: Codec[T], max_len: int | None, shape: tuple[int, Any]
    ) -> None:
        self.name = check_stream_name(name)
        self.codec = codec
        self.max_len = check_max_len(max_len)
        self.partitions, self._key = shape
        self.keys = StreamKeys(streams.core.session.prefix, self.name)
        self._streams = streams
        self._core = streams.core

    async def publish(self, data: T, *, key: str | None = None) -> str:
        """Append one message; its id (ids increase in publish order). ``key``: the
        message's ordering key in an ordered stream (default: the stream's ``key(data)``)."""
        (message_id,) = await self.publish_many([data], key=key)
        return message_id

    async def publish_many(self, items: Iterable[T], *, key: str | None = None) -> list[str]:
        """Append the messages in order, in one round trip; their ids. Every message is
        encoded and checked first: one that cannot be is refused and none is written. In
        an ordered stream each goes to the partition of its key (``key``: one for all)."""
        batch_ = list(items)
        if self.partitions == 0 and key is not None:
            msg = "key= orders the messages of an ordered stream: open it with ordered=True"
            raise InvalidArgumentError(msg)
        routes = route(batch_, self.partitions, self._key, key) if self.partitions else []
        payloads = flows.encode(self._core.session, self.keys, self.codec, batch_)
        return await self._core.drive(flows.publish(self.keys, payloads, self.max_len, self.partitions, routes))

    async def read(self, after: str = "0", count: int = 100) -> list[StreamMessage[T]]:
        """Up to ``count`` retained messages after the id ``after`` ("0": from the first),
        oldest first. Reading changes nothing: replay as often as you like. Of an ordered
        stream: from every partition, merged by id (the server's clock); ``after`` may be a
        message's id or a plain stream id."""
        start = check_message_id("after", after.rpartition("/")[2] if isinstance(after, str) else after)
        check_int("count", count, 1)
        return await self._core.drive(flows.read(self.keys, self.codec, start, count, self.partitions))

    async def length(self) -> int:
        """Messages retained (in all partitions of an ordered stream)."""
        return (await self._core.drive(flows.lengths(self.keys, self.partitions)))[0]

    async def trim(self, max_len: int | None = None, min_id: str | None = None) -> int:
        """Drop the oldest messages: keep the ``max_len`` newest, or those from ``min_id``
        on (exactly one of the two; in an ordered stream, in each partition); how many were
        dropped. A dropped message that a group had not acknowledged is dropped for it too."""
        if (max_len is None) == (min_id is None):
            msg = f"trim takes exactly one of max_len and min_id, got max_len={max_len!r}, min_id={min_id!r}"
            raise InvalidArgumentError(msg)
        if min_id is not None:
            how, bound = "MINID", check_message_id("min_id", min_id)
        else:
            how, bound = "MAXLEN", str(check_max_len(max_len, allow_none=False))
        return await self._core.drive(flows.trim(self.keys, how, bound, self.partitions))

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
        the stream from then on, whichever client subscribes. In an ordered stream each
        partition is consumed, in the group, by one live consumer at a time (each takes its
        fair share, and a dead one's go to the others with its messages first), so the
        group handles each key's messages in publish order."""
        name = check_group(group)
        begin = check_start(start)
        check_int("max_deliveries", max_deliveries, 1)
        check_int("prefetch", prefetch, 1)
        retain: object = retain_until_acked  # checked at run time: callers are not always type-checked
        if not isinstance(retain, bool):
            msg = f"retain_until_acked must be True or False, got {retain!r}"
            raise InvalidArgumentError(msg)
        options = (max_deliveries, prefetch)
        return await join(
            self, self._streams.notices, group=name, start=begin, retain=retain_until_acked, options=options
        )

    async def groups(self) -> list[GroupInfo]:
        """Every consumer group of the stream: its live consumers, pending count, last
        delivered id and lag."""
        return await self._core.drive(flows.groups(self.keys, self.partitions))

    async def pending(self, group: str, count: int = 100) -> list[PendingMessage]:
        """The messages of ``group`` delivered and not acknowledged, oldest first: who
        holds each (None: its worker died and it waits for a live consumer), how long,
        how many deliveries. Raises `GroupNotFoundError` for a group that does not exist."""
        flow = flows.pending(self.keys, check_group(group), check_int("count", count, 1), self.partitions)
        return await self._core.drive(flow)

    async def delete_group(self, group: str) -> bool:
        """Remove ``group`` with its position and pending list; True if it existed. Its
        subscriptions raise `GroupNotFoundError` at their next take."""
        return await self._core.drive(flows.delete_group(self.keys, check_group(group), self.partitions))

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
        return (await self._core.drive(flows.lengths(self.keys, self.partitions)))[1]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


async def join(
    stream: AsyncStream[T],
    notices: AsyncChannelNotices,
    *,
    group: str,
    start: str,
    retain: bool,
    options: tuple[int, int],
) -> AsyncSubscription[T]:
    """``stream.subscribe`` with its arguments checked, the subscription waiting on
    ``notices`` (a channel's end waits on its remote's lease as well)."""
    await notices.listen(stream.keys.published)
    try:
        flow = flows.subscribe(
            stream._core.session, stream.keys, group, start, retain=retain, partitions=stream.partitions
        )
        consumer = await stream._core.drive(flow)
    except BaseException:
        notices.unlisten(stream.keys.published)
        raise
    return AsyncSubscription(stream, stream._core, notices, consumer, options)
