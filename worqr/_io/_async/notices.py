"""`AsyncChannelNotices`: waiters on pub/sub channels of one kind of notice (a lease's
``released`` channel, a stream's ``published`` channel), counted per channel, so that a
waiter never misses a notice: it subscribes (and Redis confirms) before it reads what it
waits for, notes how many notices it has heard, and waits for one more. This file is the
asyncio client's; its generated twin (``_sync/notices.py``) the threaded one's."""

from __future__ import annotations

from worqr._io._async.listener import AsyncListener
from worqr._io.flavors import AsyncLock, AsyncNotice
from worqr._protocol.models import Event, EventType


class AsyncChannelNotices:
    """The notices of type ``kind`` (or of any of several kinds) heard on the channels some
    waiter listens to. After a broken connection the listener delivers ``resync`` on each
    channel (a notice may have passed unheard meanwhile): the waiters look again."""

    def __init__(self, listener: AsyncListener, kind: EventType | frozenset[EventType], resync: bytes) -> None:
        self._listener = listener
        self._kinds = frozenset([kind]) if isinstance(kind, str) else kind
        self._resync = resync
        self._lock = AsyncLock()
        self._notice = AsyncNotice(self._lock)
        self._heard: dict[str, int] = {}
        self._listening: dict[str, int] = {}

    async def listen(self, channel: str) -> None:
        """Subscribe to ``channel`` (counted: `unlisten` undoes one call), and return once
        Redis confirmed it."""
        with self._lock:
            self._listening[channel] = self._listening.get(channel, 0) + 1
            first = self._listening[channel] == 1
        if first:
            self._listener.want(channel, channel, self._on_notice, resync=self._resync, polled=False)
        await self._listener.confirm(channel)

    def unlisten(self, channel: str) -> None:
        with self._lock:
            self._listening[channel] -= 1
            last = self._listening[channel] == 0
            if last:
                del self._listening[channel]
                self._heard.pop(channel, None)
        if last:
            self._listener.remove(channel, channel, self._on_notice)

    def heard(self, channel: str) -> int:
        """How many notices were heard on ``channel`` so far."""
        with self._lock:
            return self._heard.get(channel, 0)

    async def wait(self, channel: str, heard: int, timeout: float) -> bool:
        """Wait until a notice beyond the first ``heard`` arrives (True), or ``timeout``."""
        return await self._notice.wait_for(lambda: self._heard.get(channel, 0) > heard, timeout)

    async def wait_any(self, heard: dict[str, int], timeout: float) -> bool:
        """Wait until a notice arrives on any of the channels beyond the number heard of it
        (``heard``: channel to count), True; or ``timeout``, False."""
        return await self._notice.wait_for(lambda: any(self._heard.get(c, 0) > n for c, n in heard.items()), timeout)

    async def _on_notice(self, event: Event) -> None:
        if event.type not in self._kinds:
            return
        with self._lock:
            self._heard[event.queue] = self._heard.get(event.queue, 0) + 1
        await self._notice.notify_all()
