"""`AsyncChannel`, one end of a two-way channel between two peers (docs/streams.md,
"Channels"). This file is the asyncio client's; its generated twin (``_sync/channels.py``)
the threaded one's (`Channel`).

A channel is two streams, one per direction, each consumed by one group (that of the end
it goes to) whose messages are kept until that end acknowledges them, and two leases, one
per end, held while the end is connected. An end's connect, disconnect and end travel in
band, as frames of its outgoing stream; its death (or a pause past its lease) shows as its
lease released or run out, which the other end reads when its remote's lease says so: a
``released`` notice, or the time the lease would run out, whichever comes first.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from worqr._io._async.core import AsyncCore
from worqr._io._async.notices import AsyncChannelNotices
from worqr._protocol.checks import check_seconds
from worqr._protocol.codec import Codec
from worqr._protocol.keys import LeaseKeys
from worqr.channels.frames import (
    ChannelEvent,
    ChannelMessage,
    Frame,
    FrameCodec,
    FrameKind,
    RemoteEnd,
    Side,
    check_channel_name,
    end_name,
    other,
)
from worqr.errors import (
    ChannelBusyError,
    ChannelNotConnectedError,
    GroupNotFoundError,
    InvalidArgumentError,
    WorkerLostError,
)
from worqr.leases import flows as lease_flows
from worqr.leases._async.leases import AsyncLease, AsyncLeases, AsyncTerm
from worqr.leases.flows import check_worker
from worqr.leases.terms import DEFAULT_TTL
from worqr.streams._async.streams import RESYNC, AsyncStream, AsyncStreams, join
from worqr.streams._async.subscriptions import AsyncMessage, AsyncSubscription
from worqr.streams.messages import DEFAULT_MAX_DELIVERIES

T = TypeVar("T")

#: An end takes one message at a time: one that peers declared dead is handed nothing more
#: (its next take says so), and nothing waits in its buffer for a process that died.
PREFETCH = 1


@dataclass(eq=False)
class _Connected(Generic[T]):
    """An end while it is connected: its lease and term, its subscription to its incoming
    stream, what it knows of the remote end, and the events read but not handed out yet."""

    side: Side
    lease: AsyncLease
    term: AsyncTerm
    subscription: AsyncSubscription[Frame[T]]
    remote_lease: LeaseKeys
    remote: RemoteEnd = field(default_factory=RemoteEnd)
    events: deque[ChannelEvent[T]] = field(default_factory=deque)
    #: Ids read and done with (control frames at once, a message once handed out): acked
    #: before the next read, or at disconnect.
    done: list[str] = field(default_factory=list)
    #: The remote session found gone, whose disconnect waits until the stream is read out.
    lost: int | None = None
    released_heard: int = 0
    check_at: float = 0.0
    dropped: bool = False


class AsyncChannel(Generic[T]):
    """A two-way channel between two peers (see `Worqr.channel`): ``connect()`` makes this
    object the client end, ``listen()`` the server end; then ``send``, ``next`` and
    iteration over the events (`ChannelMessage`, or a `ChannelNotice` of type
    ``remote:connect``, ``remote:disconnect`` or ``end``), ``disconnect``, ``end``. A context
    manager that disconnects."""

    def __init__(self, core: AsyncCore, leases: AsyncLeases, name: str, codec: Codec[T]) -> None:
        self.name = check_channel_name(name)
        self.codec = codec
        self._core = core
        self._leases = leases
        streams = AsyncStreams(core)
        frames = FrameCodec(codec)
        self._to: dict[Side, AsyncStream[Frame[T]]] = {
            side: streams.stream(end_name(self.name, side), frames, None, (0, None)) for side in ("client", "server")
        }
        self._notices = AsyncChannelNotices(core.listener, frozenset({"published", "released"}), RESYNC)
        self._connected: _Connected[T] | None = None

    @property
    def side(self) -> Side | None:
        """``"client"`` after ``connect()``, ``"server"`` after ``listen()``; None when not
        connected."""
        return None if self._connected is None else self._connected.side

    @property
    def remote(self) -> str | None:
        """The worker id of the other end, as far as the events handed out so far tell
        (None: not connected, as far as this end knows)."""
        return None if self._connected is None else self._connected.remote.worker

    async def connect(self, timeout: float | None = None) -> AsyncChannel[T]:
        """Become the client end (this client's worker must be started). Waits while
        another worker holds the client end, up to ``timeout`` seconds (None: until it is
        free; a dead holder's hold ends when peers reap it or within ``worker_timeout``),
        then raises `ChannelBusyError`. Messages the server end sent meanwhile come first,
        in order. Returns this channel."""
        await self._attach("client", timeout)
        return self

    async def listen(self, timeout: float | None = None) -> AsyncChannel[T]:
        """Become the server end: as ``connect`` for the other side."""
        await self._attach("server", timeout)
        return self

    async def send(self, data: T) -> str:
        """Send ``data`` to the other end; the message's id. It is kept until the other end
        has it and is done with it, across the other end's absence or crash: it is
        delivered, in order, when that end comes back. Encoded first: a value the codec
        cannot encode is refused and nothing is sent."""
        connected = await self._live("send")
        return await self._to[other(connected.side)].publish(Frame("message", data))

    async def next(self, timeout: float | None = None) -> ChannelEvent[T] | None:
        """The next event, waiting up to ``timeout`` seconds (None: until one comes); None
        if none came in time. A message handed out is acknowledged at the next ``next`` or
        at ``disconnect``: if this end dies before that, the message comes again when the
        end is back (at least once). After an ``end`` notice this end is disconnected."""
        check_seconds("timeout", timeout, allow_none=True)
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while True:
            connected = await self._live("receive")
            if connected.events:
                return await self._hand_out(connected, connected.events.popleft())
            try:
                if not await self._read(connected, deadline):
                    return None
            except WorkerLostError:
                await self._drop(connected)
                raise
            except GroupNotFoundError as exc:  # deleted by hand, or Redis lost its data
                await self._drop(connected)
                msg = (
                    f"channel {self.name!r} lost its {connected.side} end's stream group (deleted, or the server "
                    f"lost its data): {self._again(connected.side)} again to go on"
                )
                raise ChannelNotConnectedError(msg) from exc

    async def _read(self, connected: _Connected[T], deadline: float) -> bool:
        """Read the incoming stream (or, once it is read out, the remote's lease) until an
        event comes (True) or ``deadline`` passes (False)."""
        subscription = connected.subscription
        if connected.done:
            done, connected.done = connected.done, []
            await subscription.ack_many(done)
        published, released = subscription.stream.keys.published, connected.remote_lease.released
        heard = {published: self._notices.heard(published), released: self._notices.heard(released)}
        message = await subscription.next(timeout=0)
        if message is not None:
            self._receive(connected, message)
            return True
        if connected.lost is not None:  # read out: the lost session's disconnect comes now
            notice = connected.remote.lost(connected.lost)
            connected.lost = None
            if notice is not None:
                connected.events.append(notice)
            return True
        now = time.monotonic()
        if heard[released] > connected.released_heard or now >= connected.check_at:
            await self._check_remote(connected)
            return True
        if now >= deadline:
            return False
        await self._notices.wait_any(heard, max(0.001, min(deadline, connected.check_at) - now))
        return True

    def _receive(self, connected: _Connected[T], message: AsyncMessage[Frame[T]]) -> None:
        frame = message.data
        if frame.kind == "message":
            sent = ChannelMessage(frame.data, message.id, message.published_at, message.deliveries)
            connected.events.append(sent)  # type: ignore[arg-type]  # a message frame carries a T
            return
        connected.done.append(message.id)
        notice = connected.remote.on_frame(frame)  # type: ignore[arg-type]  # frames of any T carry the same controls
        if notice is not None:
            connected.events.append(notice)

    async def _hand_out(self, connected: _Connected[T], event: ChannelEvent[T]) -> ChannelEvent[T]:
        if isinstance(event, ChannelMessage):
            connected.done.append(event.id)
        elif event.type == "end":
            await self._detach(connected, None)
        return event

    async def _check_remote(self, connected: _Connected[T]) -> None:
        """Read the remote's lease: a new session is a connect, the connected one gone a
        disconnect (once the stream is read out). Read again when that lease would run out."""
        connected.released_heard = self._notices.heard(connected.remote_lease.released)
        holding = await self._core.drive(lease_flows.holding(connected.remote_lease))
        lost, connect = connected.remote.on_holding(holding.holder, holding.token)
        if connect is not None:
            connected.events.append(connect)
        if lost is not None:
            connected.lost = lost
        wait = self._core.session.poll_interval
        if holding.expires_in_ms is not None:
            wait = min(wait, holding.expires_in_ms / 1000 + 0.01)
        connected.check_at = time.monotonic() + wait

    def __aiter__(self) -> AsyncIterator[ChannelEvent[T]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ChannelEvent[T]]:
        while self._connected is not None:
            event = await self.next()
            if event is not None:
                yield event

    async def disconnect(self) -> None:
        """Leave this end: the other end gets ``remote:disconnect``; what it sends from now
        on waits for this end's return (``connect``/``listen`` again, from any process). The
        last message handed out is acknowledged; those read but not handed out come again.
        Idempotent."""
        connected = self._connected
        if connected is not None:
            await self._detach(connected, "disconnect")

    async def end(self) -> None:
        """End the channel: the other end gets an ``end`` notice (and is disconnected by
        it), then this end disconnects."""
        connected = await self._live("end")
        await self._detach(connected, "end")

    @staticmethod
    def _again(side: Side) -> str:
        return "connect()" if side == "client" else "listen()"

    async def _live(self, what: str) -> _Connected[T]:
        connected = self._connected
        if connected is None:
            msg = f"cannot {what} on channel {self.name!r}: not connected; call connect() or listen() first"
            raise ChannelNotConnectedError(msg)
        if not connected.term.alive:
            await self._drop(connected)
            msg = (
                f"cannot {what} on channel {self.name!r}: this {connected.side} end lost its hold on the end "
                "(its worker was declared dead, or paused past worker_timeout); connect again"
            )
            raise ChannelNotConnectedError(msg)
        return connected

    async def _attach(self, side: Side, timeout: float | None) -> None:
        check_seconds("timeout", timeout, allow_none=True)
        if self._connected is not None:
            if self._connected.side == side:
                return
            msg = f"channel {self.name!r} is already this client's {self._connected.side} end; use another channel() for the {side} end"
            raise InvalidArgumentError(msg)
        session = self._core.session
        check_worker(session, f"taking the {side} end of channel {self.name!r}")
        lease = self._leases.lease(end_name(self.name, side), session.worker_timeout or DEFAULT_TTL)
        term = await lease.acquire(timeout)
        if term is None:
            holder = await lease.holder()
            msg = f"the {side} end of channel {self.name!r} is held by worker {holder!r}: not free within {timeout} s"
            raise ChannelBusyError(msg, channel=self.name, side=side, holder=holder)
        remote_lease = LeaseKeys(session.prefix, end_name(self.name, other(side)))
        try:
            await self._notices.listen(remote_lease.released)
            try:
                options = (DEFAULT_MAX_DELIVERIES, PREFETCH)
                subscription = await join(
                    self._to[side], self._notices, group=side, start="0", retain=True, options=options
                )
                connected = _Connected(side, lease, term, subscription, remote_lease)
                await self._to[other(side)].publish(Frame("connect", token=term.token, worker=session.worker_id))
            except BaseException:
                self._notices.unlisten(remote_lease.released)
                raise
        except BaseException:
            await lease.release()
            raise
        self._connected = connected
        await self._check_remote(connected)

    async def _detach(self, connected: _Connected[T], frame: FrameKind | None) -> None:
        """Send ``frame`` (if any) while still holding the end, acknowledge what was handed
        out, then leave the group (what was read and not handed out goes back to it) and
        release the end."""
        self._connected = None
        try:
            if frame is not None:
                control: Frame[T] = Frame(frame, token=connected.term.token, worker=self._core.session.worker_id)
                await self._to[other(connected.side)].publish(control)
            if connected.done:
                await connected.subscription.ack_many(connected.done)
        finally:
            await self._drop(connected)

    async def _drop(self, connected: _Connected[T]) -> None:
        """Let go of the end without a word (its worker is lost, or detaching is done)."""
        self._connected = None
        if connected.dropped:
            return
        connected.dropped = True
        self._notices.unlisten(connected.remote_lease.released)
        try:
            await connected.subscription.close()
        finally:
            await connected.lease.release()

    async def __aenter__(self) -> AsyncChannel[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} side={self.side!r}>"
