"""What a channel is made of, without I/O: its names (two streams, one per direction, and
one lease per end), the frames its streams carry (a message, or an end's connect,
disconnect or end, in band with the messages), the events an end sees, and `RemoteEnd`,
which turns frames and reads of the remote end's lease into those events, each once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

from worqr._protocol.checks import MAX_QUEUE_NAME_LENGTH, _check_text
from worqr._protocol.codec import Codec
from worqr.errors import CodecError

T = TypeVar("T")

Side = Literal["client", "server"]
NoticeType = Literal["remote:connect", "remote:disconnect", "end"]
SIDES: tuple[Side, Side] = ("client", "server")

#: A channel's streams and leases are named ``channel:<name>:<side>``.
_PREFIX = "channel:"
MAX_CHANNEL_NAME_LENGTH = MAX_QUEUE_NAME_LENGTH - len(_PREFIX) - len(":server")


def check_channel_name(name: object) -> str:
    return _check_text("channel name", name, MAX_CHANNEL_NAME_LENGTH)


def other(side: Side) -> Side:
    return "server" if side == "client" else "client"


def end_name(channel: str, side: Side) -> str:
    """The name of the stream that carries frames *to* the ``side`` end (consumed by its
    group ``side``), and of the lease that end holds while it is connected."""
    return f"{_PREFIX}{channel}:{side}"


# Frames --------------------------------------------------------------------------------

FrameKind = Literal["message", "connect", "disconnect", "end"]
_KIND_BYTE: dict[FrameKind, bytes] = {"message": b"m", "connect": b"c", "disconnect": b"d", "end": b"e"}
_BYTE_KIND: dict[int, FrameKind] = {byte[0]: kind for kind, byte in _KIND_BYTE.items()}


@dataclass(frozen=True, slots=True)
class Frame(Generic[T]):
    """One entry of a channel's stream: a ``message`` (its ``data``), or a ``connect``,
    ``disconnect`` or ``end`` of the sending end's session (``token``: its lease's
    fencing token, which grows with every session of that end; ``worker``: its worker id)."""

    kind: FrameKind
    data: T | None = None
    token: int = 0
    worker: str = ""


class FrameCodec(Generic[T]):
    """A channel's frames as stream payloads: one byte for the kind, then the message
    encoded by the channel's codec, or ``<token>\\n<worker id>`` for the others."""

    def __init__(self, inner: Codec[T]) -> None:
        self.inner = inner

    def encode(self, task: Frame[T]) -> bytes:
        if task.kind == "message":
            return b"m" + self.inner.encode(task.data)  # type: ignore[arg-type]  # a message frame carries a T
        return _KIND_BYTE[task.kind] + f"{task.token}\n{task.worker}".encode()

    def decode(self, payload: bytes) -> Frame[T]:
        kind = _BYTE_KIND.get(payload[0]) if payload else None
        if kind is None:
            msg = f"not a channel frame: {payload[:40]!r}"
            raise CodecError(msg, payload=payload)
        if kind == "message":
            return Frame("message", self.inner.decode(payload[1:]))
        token, _, worker = payload[1:].decode("utf-8", "replace").partition("\n")
        if not token.isdigit():
            msg = f"not a channel {kind} frame: {payload[:40]!r}"
            raise CodecError(msg, payload=payload)
        return Frame(kind, token=int(token), worker=worker)

    def __repr__(self) -> str:
        return f"FrameCodec({self.inner!r})"


# Events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelMessage(Generic[T]):
    """A message from the other end: ``data`` (decoded by the channel's codec), its ``id``
    in the channel's stream, when it was sent (``sent_at``, server time, UTC) and how many
    times it was handed to this end (``deliveries``: more than 1 after an end that had it
    died before it was done with it)."""

    data: T
    id: str
    sent_at: datetime
    deliveries: int = 1
    type: Literal["message"] = "message"


@dataclass(frozen=True, slots=True)
class ChannelNotice:
    """A change of the other end: ``type`` is ``"remote:connect"`` (it connected: ``remote``
    is its worker id), ``"remote:disconnect"`` (it disconnected, or its worker died or lost
    its hold on the end) or ``"end"`` (it ended the channel: this end is disconnected)."""

    type: NoticeType
    remote: str


ChannelEvent = ChannelMessage[T] | ChannelNotice


@dataclass(slots=True)
class _Session:
    token: int
    worker: str


class RemoteEnd:
    """What one end knows of the other: the session (lease token) it last saw connect, if
    that one is still connected. Frames come in order from the remote's stream; reads of the
    remote's lease come between them. Each session gives at most one ``remote:connect`` and
    one ``remote:disconnect``, whichever of the two sources tells first."""

    def __init__(self) -> None:
        self.connected: _Session | None = None
        self._last_token = 0

    @property
    def worker(self) -> str | None:
        """The remote end's worker id while it is connected."""
        return None if self.connected is None else self.connected.worker

    def on_frame(self, frame: Frame[object]) -> ChannelNotice | None:
        """The notice a control frame gives, if any (a stale session's frame gives none)."""
        if frame.kind == "connect":
            return self._connect(frame.token, frame.worker)
        if frame.kind == "disconnect":
            return self.lost(frame.token)
        if frame.kind == "end":
            self.connected = None
            self._last_token = max(self._last_token, frame.token)
            return ChannelNotice("end", frame.worker)
        return None

    def on_holding(self, worker: str | None, token: int | None) -> tuple[int | None, ChannelNotice | None]:
        """A read of the remote end's lease: (the token of the connected session if that
        session no longer holds the lease, a connect). For a session gone, the caller reads
        the stream to its end first (the messages that session sent come before its
        disconnect), then calls `lost`. A new session holding the lease is a connect at once
        (its in-band connect, read later, then gives nothing)."""
        current = self.connected
        if current is not None and current.token != token:
            return current.token, None
        if current is None and worker is not None and token is not None:
            return None, self._connect(token, worker)
        return None, None

    def lost(self, token: int) -> ChannelNotice | None:
        """The session ``token`` is gone: a ``remote:disconnect`` if it was the connected one."""
        current = self.connected
        if current is None or current.token != token:
            return None
        self.connected = None
        return ChannelNotice("remote:disconnect", current.worker)

    def _connect(self, token: int, worker: str) -> ChannelNotice | None:
        if token <= self._last_token:
            return None
        self._last_token = token
        self.connected = _Session(token, worker)
        return ChannelNotice("remote:connect", worker)
