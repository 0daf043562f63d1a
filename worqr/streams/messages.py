"""What streams are made of, as plain values: the checks of every argument (before anything
is written), a message as it was published (`StreamMessage`), a group as a read finds it
(`GroupInfo`), a pending message (`PendingMessage`), a dead letter (`StreamDeadLetter`), and
how each is read from Redis' replies. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from worqr._protocol.checks import MAX_QUEUE_NAME_LENGTH, _check_text, check_int
from worqr._protocol.models import reply_text, server_time
from worqr.errors import InvalidArgumentError, WorqrError

T = TypeVar("T")

#: Messages one take hands a subscription at most (kept in its buffer until ``next``).
DEFAULT_PREFETCH = 10
#: Deliveries of one message to a group before it goes to the dead letters: each delivery
#: after the first follows the death of the consumer that held it.
DEFAULT_MAX_DELIVERIES = 5
#: Dead letters a stream keeps (the oldest go first; trimmed approximately).
DEAD_MAX_LEN = 10_000
#: The totals a stream counts, each in the script that does what it counts: messages
#: published, first deliveries to a group, deliveries again after a consumer died, accepted
#: acks, and messages moved to the dead letters.
COUNTERS = ("published", "delivered", "redelivered", "acked", "dead_lettered")
#: Where a new group starts: "new" (messages published from now on) or "first" (every
#: retained message); any other start is a message id.
STARTS = {"new": "$", "first": "0"}

_ID = re.compile(r"\d{1,20}(-\d{1,20})?")


def check_stream_name(name: object) -> str:
    return _check_text("stream name", name, MAX_QUEUE_NAME_LENGTH)


def check_group(group: object) -> str:
    return _check_text("group name", group, MAX_QUEUE_NAME_LENGTH)


def check_message_id(name: str, value: object) -> str:
    """A stream id: ``<ms>-<seq>``, or ``<ms>`` (the first id of that millisecond)."""
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        msg = f"{name} must be a message id such as '1733500000000-0' (as publish returns it), got {value!r}"
        raise InvalidArgumentError(msg)
    return value if "-" in value else value + "-0"


def check_start(start: object) -> str:
    """The id a new group starts after: "new", "first", or a message id."""
    if isinstance(start, str) and start in STARTS:
        return STARTS[start]
    try:
        return check_message_id("start", start)
    except InvalidArgumentError:
        msg = f"start must be 'new', 'first' or a message id such as '1733500000000-0', got {start!r}"
        raise InvalidArgumentError(msg) from None


def check_max_len(max_len: object, *, allow_none: bool = True) -> int | None:
    if max_len is None and allow_none:
        return None
    return check_int("max_len", max_len, 1, what="a positive int (the messages the stream keeps)")


def message_time(message_id: str) -> datetime:
    """When the message was published: the server's clock, which its id starts with (UTC)."""
    return server_time(id_order(message_id)[0])


@dataclass(frozen=True, slots=True)
class Consumer:
    """One worker incarnation's membership of a group: what every take and ack names."""

    group: str
    worker_id: str
    incarnation: str

    @property
    def args(self) -> tuple[str, str, str]:
        """The scripts' first three arguments."""
        return self.group, self.worker_id, self.incarnation


@dataclass(frozen=True, slots=True)
class StreamMessage(Generic[T]):
    """One message of a stream: ``id`` (ordered: later messages have greater ids),
    ``data``, ``published_at`` (server time, UTC), and ``deliveries``: how many times it
    was delivered to the subscription's group (1, or more once a consumer that held it died;
    0 for a message read with ``stream.read``)."""

    stream: str
    id: str
    data: T
    deliveries: int = 0

    @property
    def published_at(self) -> datetime:
        """When it was published (server time, UTC), which its id starts with."""
        return message_time(self.id)


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group of a stream as a read finds it: ``consumers`` (live workers in it),
    ``pending`` (delivered, not acknowledged), ``last_delivered_id``, and ``lag``
    (messages not yet delivered to it; None when the server cannot tell)."""

    name: str
    consumers: int
    pending: int
    last_delivered_id: str
    lag: int | None


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A stream as ``inspect_streams`` reads it: ``partitions`` (0: not ordered), the
    messages it keeps (``length``), its ``dead_letters``, its ``groups`` and its exact
    ``counters`` (see `COUNTERS`)."""

    name: str
    partitions: int
    length: int
    dead_letters: int
    groups: list[GroupInfo]
    counters: dict[str, int]


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """A delivered message not yet acknowledged: who holds it (a worker id, or None once
    its worker was reaped and it waits for a live consumer), for how long (ms) and how many
    times it was delivered."""

    id: str
    consumer: str | None
    idle_ms: int
    deliveries: int


@dataclass(frozen=True, slots=True)
class StreamDeadLetter(Generic[T]):
    """A message taken out of a group after ``deliveries`` deliveries: its ``id`` in the
    stream, the ``group``, the ``reason`` and the ``data``; ``dead_at`` (server time, UTC)."""

    id: str
    group: str
    deliveries: int
    reason: str
    data: T
    dead_at: datetime


ORPHANS = "\norphans"


def _fields(value: Any) -> dict[str, Any]:
    """An entry's fields, whether redis-py parsed them into a dict or left the flat list."""
    if isinstance(value, dict):
        return {reply_text(k): v for k, v in value.items()}
    return {reply_text(value[i]): value[i + 1] for i in range(0, len(value), 2)}


def parse_entries(reply: Any) -> list[tuple[str, bytes]]:
    """(id, data) of each entry of an XRANGE reply."""
    return [(reply_text(entry_id), bytes(_fields(fields).get("d", b""))) for entry_id, fields in reply or []]


def parse_groups(reply: Any, consumers: list[Any]) -> list[GroupInfo]:
    """XINFO GROUPS, with the live consumers of each group from the stream's consumers hash.
    A refusal because the stream does not exist reads as no groups; any other is raised."""
    if isinstance(reply, WorqrError):
        if "no such key" in str(reply).lower():
            return []
        raise reply
    live: dict[str, int] = {}
    for field in consumers:
        group = reply_text(field).rpartition("\n")[0]
        live[group] = live.get(group, 0) + 1
    out = []
    for raw in reply or []:
        info = _fields(raw)
        name = reply_text(info["name"])
        lag = info.get("lag")
        out.append(
            GroupInfo(
                name,
                live.get(name, 0),
                int(info["pending"]),
                reply_text(info["last-delivered-id"]),
                None if lag is None else int(lag),
            )
        )
    return out


def merge_groups(found: list[list[GroupInfo]]) -> list[GroupInfo]:
    """The groups of several partitions as one list: pending and lag summed (lag None if any
    partition cannot tell), the greatest last delivered id; consumers are the stream's."""
    if len(found) == 1:
        return found[0]
    merged: dict[str, GroupInfo] = {}
    for infos in found:
        for info in infos:
            seen = merged.get(info.name)
            if seen is None:
                merged[info.name] = info
                continue
            last = max(seen.last_delivered_id, info.last_delivered_id, key=id_order)
            lag = None if seen.lag is None or info.lag is None else seen.lag + info.lag
            merged[info.name] = GroupInfo(info.name, seen.consumers, seen.pending + info.pending, last, lag)
    return list(merged.values())


def id_order(message_id: str) -> tuple[int, int]:
    """A sort key for stream ids (``"<ms>-<seq>"``, optionally after ``"<partition>/"``)."""
    ms, _, seq = message_id.rpartition("/")[2].partition("-")
    return int(ms), int(seq or 0)


def parse_pending(reply: list[Any]) -> list[PendingMessage]:
    return [
        PendingMessage(
            reply_text(entry_id),
            None if reply_text(consumer) == ORPHANS else reply_text(consumer),
            int(idle),
            int(deliveries),
        )
        for entry_id, consumer, idle, deliveries in reply
    ]


def parse_dead(reply: Any) -> list[tuple[str, str, int, str, bytes, datetime]]:
    out = []
    for entry_id, raw in reply or []:
        fields = _fields(raw)
        out.append(
            (
                reply_text(fields["id"]),
                reply_text(fields["group"]),
                int(fields["deliveries"]),
                reply_text(fields["reason"]),
                bytes(fields["d"]),
                message_time(reply_text(entry_id)),
            )
        )
    return out
