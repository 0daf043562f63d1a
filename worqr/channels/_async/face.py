"""The method of channels on the clients, one line over `AsyncChannel`. This file gives it
to the asyncio client; its generated twin (``_sync/face.py``) to the threaded one."""

from __future__ import annotations

from typing import Any, TypeVar, overload

from worqr._io._async.core import AsyncCore
from worqr._protocol.codec import Codec, StrCodec
from worqr.channels._async.channels import AsyncChannel
from worqr.leases._async.leases import AsyncLeases

T = TypeVar("T")
_TEXT = StrCodec()


class AsyncChannelsFace:
    """Two-way channels between two peers (docs/streams.md, "Channels")."""

    _core: AsyncCore
    _leases: AsyncLeases

    @overload
    def channel(self, name: str, codec: None = None) -> AsyncChannel[str]: ...
    @overload
    def channel(self, name: str, codec: Codec[T]) -> AsyncChannel[T]: ...
    def channel(self, name: str, codec: Codec[Any] | None = None) -> AsyncChannel[Any]:
        """A handle on the channel ``name`` (no I/O): messages of the codec's type (text
        without one) between two ends, the client (``connect()``) and the server
        (``listen()``), each held by one started worker at a time. Each end gets the other's
        messages in order, at least once, including those sent while it was away, and
        ``remote:connect`` / ``remote:disconnect`` / ``end`` notices between them."""
        return AsyncChannel(self._core, self._leases, name, _TEXT if codec is None else codec)
