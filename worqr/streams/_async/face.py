"""The methods of streams on the clients, one line each over the client's streams. This file
gives them to the asyncio client; its generated twin (``_sync/face.py``) to the threaded one."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from worqr._io._async.core import AsyncCore
from worqr._protocol.codec import Codec, StrCodec
from worqr._protocol.flows.steps import one
from worqr._protocol.registry_ops import members
from worqr.streams import flows
from worqr.streams._async.streams import AsyncStream, AsyncStreams
from worqr.streams.messages import StreamInfo, check_stream_name
from worqr.streams.partitions import check_shape

T = TypeVar("T")
_TEXT = StrCodec()


class AsyncStreamsFace:
    """Ordered message streams with durable consumer groups (docs/streams.md)."""

    _core: AsyncCore

    @functools.cached_property
    def _streams(self) -> AsyncStreams:
        """The client's streams, made at first use (they hold only the published notices,
        so two made by a race would both be correct)."""
        return AsyncStreams(self._core)

    @overload
    def stream(
        self,
        name: str,
        codec: None = None,
        *,
        max_len: int | None = None,
        ordered: bool = False,
        partitions: int | None = None,
        key: Callable[[str], str] | None = None,
    ) -> AsyncStream[str]: ...
    @overload
    def stream(
        self,
        name: str,
        codec: Codec[T],
        *,
        max_len: int | None = None,
        ordered: bool = False,
        partitions: int | None = None,
        key: Callable[[T], str] | None = None,
    ) -> AsyncStream[T]: ...
    def stream(
        self,
        name: str,
        codec: Codec[Any] | None = None,
        *,
        max_len: int | None = None,
        ordered: bool = False,
        partitions: int | None = None,
        key: Callable[[Any], str] | None = None,
    ) -> AsyncStream[Any]:
        """A handle on the stream ``name`` (no I/O): messages of the codec's type (text
        without one), kept at most ``max_len`` at a time (None: until you trim). Publish
        and read from any client; subscribe as a group from a started worker, whose death
        hands its unacknowledged messages to the group's live consumers. ``ordered=True``:
        each message goes by its ordering key (``key(message)``, or ``publish(...,
        key=...)``) to one of ``partitions`` partitions (default 8), each consumed in a
        group by one live consumer at a time, so a group handles each key's messages in
        order, across failover too; every client must open the stream with the same
        partitions."""
        shape = (check_shape(ordered, partitions, key), key)
        return self._streams.stream(name, _TEXT if codec is None else codec, max_len, shape)

    async def inspect_streams(self, names: Iterable[str] | None = None) -> list[StreamInfo]:
        """Each stream (default: every one some worker subscribed to) as it is now: its
        partitions, length, dead letters, groups (consumers, pending, lag) and exact
        counters; ordered streams summed over their partitions. Two round trips."""
        chosen = None if names is None else [check_stream_name(name) for name in names]
        return await self._core.drive(flows.inspect_streams(self._core.session, chosen))

    async def get_streams(self) -> list[str]:
        """The names of the streams some worker subscribed to under this prefix (what
        ``worqr streams`` lists; a stream only published to is not listed, but
        ``stream(name)`` reaches it all the same)."""
        return await self._core.drive(one(members(self._core.session.registry.streams)))
