"""Each Redis operation of streams as data (see `worqr._protocol.ops`): the scripts in
``worqr/streams/lua`` and the plain reads. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worqr import errors
from worqr._protocol.call import Arg, Call, read_call
from worqr._protocol.keys import RegistryKeys, StreamKeys
from worqr._protocol.models import reply_text
from worqr.streams.messages import (
    COUNTERS,
    DEAD_MAX_LEN,
    Consumer,
    PendingMessage,
    id_order,
    parse_entries,
    parse_pending,
)

#: One consumer's take: (partition, id, data, deliveries) of each message handed to it
#: (partition None: not ordered), and how many messages went to the dead letters on the way;
#: None when its worker was declared dead.
Taken = tuple[list[tuple[int | None, str, bytes, int]], int] | None


def stream_keys(keys: StreamKeys, partitions: int) -> list[str]:
    """The Redis streams of a stream: its messages, or each partition of an ordered one."""
    if partitions == 0:
        return [keys.messages]
    return [keys.of_partition(i).messages for i in range(partitions)]


def _script(name: str, keys: Sequence[str], args: Sequence[Arg], parse: Any, *, idempotent: bool) -> Call[Any]:
    return Call(tuple(keys), tuple(args), parse, idempotent, script=f"streams/{name}", durable=True)


def _no_group(keys: StreamKeys, group: str) -> errors.GroupNotFoundError:
    msg = f"stream {keys.name!r} has no group {group!r}; stream.subscribe({group!r}) creates it"
    return errors.GroupNotFoundError(msg, stream=keys.name, group=group)


def _raise_for(reply: list[Any], keys: StreamKeys, group: str) -> None:
    status = reply[0]
    if status == errors.STATUS_UNKNOWN_GROUP:
        raise _no_group(keys, group)
    if status == errors.STATUS_UNKNOWN_MESSAGE:
        message_id = reply_text(reply[1])
        msg = (
            f"group {group!r} of stream {keys.name!r} was never delivered message {message_id!r}: "
            "ack the ids that next() returned"
        )
        raise errors.MessageNotFoundError(msg, stream=keys.name, group=group, message_id=message_id)
    if status == errors.STATUS_PARTITIONS:
        stored = int(reply[1])
        shape = "is not ordered" if stored == 0 else f"is ordered with {stored} partitions"
        right = "stream(name)" if stored == 0 else f"stream(name, ordered=True, partitions={stored}, key=...)"
        msg = f"stream {keys.name!r} {shape}; open it as {right}"
        raise errors.InvalidArgumentError(msg)
    if status != errors.STATUS_OK:
        raise errors.status_error(status, f"a status stream {keys.name!r} does not expect")


def publish(keys: StreamKeys, data: Sequence[bytes], max_len: int | None, partitions: int) -> Call[list[str]]:
    """Append to ``keys.messages`` (a partition's, for an ordered stream of ``partitions``)."""

    def parse(reply: list[Any]) -> list[str]:
        _raise_for(reply, keys, "")
        return [reply_text(i) for i in reply[1]]

    args = (keys.published, "" if max_len is None else max_len, partitions, *data)
    return _script("publish", (keys.messages, keys.meta, keys.counters), args, parse, idempotent=False)


def join(keys: StreamKeys, consumer: Consumer, start: str, *, retain: bool, partitions: int) -> Call[bool]:
    """Parses to True if the call created the group (in ``keys.messages``: one partition's, for
    an ordered stream)."""

    def parse(reply: list[Any]) -> bool:
        _raise_for(reply, keys, consumer.group)
        return int(reply[1]) == 1

    args = (*consumer.args, start, "1" if retain else "0", partitions)
    return _script("join", (keys.messages, keys.consumers, keys.meta), args, parse, idempotent=True)


def register(registry: RegistryKeys, worker_id: str, name: str, partitions: int) -> Call[bool]:
    """Parses to False when the worker has been declared dead."""

    def parse(reply: list[Any]) -> bool:
        if reply[0] == errors.STATUS_WORKER_LOST:
            return False
        _raise_for(reply, StreamKeys(registry.prefix, name), "")
        return True

    key_list = (registry.workers, registry.heartbeat(worker_id), registry.streams_of(worker_id), registry.streams)
    return _script("register", key_list, (worker_id, name, partitions), parse, idempotent=True)


def take(keys: StreamKeys, consumer: Consumer, count: int, max_deliveries: int) -> Call[Taken]:
    def parse(reply: list[Any]) -> Taken:
        if reply[0] == errors.STATUS_WORKER_LOST:
            return None
        _raise_for(reply, keys, consumer.group)
        return [(None, reply_text(i), bytes(d), int(n)) for i, d, n in reply[1]], int(reply[2])

    args = (*consumer.args, count, max_deliveries, DEAD_MAX_LEN)
    key_list = (keys.messages, keys.consumers, keys.dead, keys.meta, keys.counters)
    return _script("take", key_list, args, parse, idempotent=False)


def take_ordered(
    keys: StreamKeys, consumer: Consumer, partitions: int, count: int, max_deliveries: int, *, window_ms: int
) -> Call[Taken]:
    """`take` for an ordered stream: from the partitions this consumer owns (claimed or
    given up to keep each live consumer's fair share; a member counts as live if it owns a
    partition or took within ``window_ms``)."""

    def parse(reply: list[Any]) -> Taken:
        if reply[0] == errors.STATUS_WORKER_LOST:
            return None
        _raise_for(reply, keys, consumer.group)
        return [(int(p), reply_text(i), bytes(d), int(n)) for p, i, d, n in reply[1]], int(reply[2])

    args = (*consumer.args, count, max_deliveries, DEAD_MAX_LEN, window_ms)
    key_list = (keys.consumers, keys.dead, keys.meta, keys.counters, keys.owners, *stream_keys(keys, partitions))
    return _script("take_ordered", key_list, args, parse, idempotent=False)


def ack(keys: StreamKeys, consumer: Consumer, ids: Sequence[str]) -> Call[list[bool]]:
    """Parses to one bool per id: False where the ack was refused (not this consumer's
    message, any more or ever; or its worker was declared dead)."""

    order = sorted(range(len(ids)), key=lambda i: id_order(ids[i]))  # the script wants stream order

    def parse(reply: list[Any]) -> list[bool]:
        if reply[0] == errors.STATUS_WORKER_LOST:
            return [False] * len(ids)
        _raise_for(reply, keys, consumer.group)
        acked = [False] * len(ids)
        for position, n in zip(order, reply[1], strict=True):
            acked[position] = int(n) == 1
        return acked

    args = (*consumer.args, *(ids[i] for i in order))
    return _script("ack", (keys.messages, keys.consumers, keys.meta, keys.counters), args, parse, idempotent=True)


def ack_through(keys: StreamKeys, consumer: Consumer, message_id: str) -> Call[int | None]:
    """Parses to the count acknowledged, None when the worker was declared dead."""

    def parse(reply: list[Any]) -> int | None:
        if reply[0] == errors.STATUS_WORKER_LOST:
            return None
        _raise_for(reply, keys, consumer.group)
        return int(reply[1])

    args = (*consumer.args, message_id)
    key_list = (keys.messages, keys.consumers, keys.meta, keys.counters)
    return _script("ack_through", key_list, args, parse, idempotent=True)


def leave(keys: StreamKeys, consumer: Consumer, partitions: int) -> Call[int]:
    """A subscription's close: hand the messages it holds in its group to the group's live
    consumers and leave the group; parses to how many (the reap of a dead worker does the
    same for every group: `worqr._protocol.registry_ops.release_stream`)."""

    def parse(reply: list[Any]) -> int:
        _raise_for(reply, keys, consumer.group)
        return int(reply[1])

    args = (consumer.worker_id, consumer.incarnation, consumer.group, keys.published)
    return _script("reap", (keys.consumers, *stream_keys(keys, partitions)), args, parse, idempotent=True)


def trim(keys: StreamKeys, how: str, bound: Arg) -> Call[int]:
    def parse(reply: list[Any]) -> int:
        _raise_for(reply, keys, "")
        return int(reply[1])

    return _script("trim", (keys.messages, keys.meta), (how, bound), parse, idempotent=True)


def delete_group(keys: StreamKeys, group: str) -> Call[bool]:
    def parse(reply: list[Any]) -> bool:
        _raise_for(reply, keys, group)
        return int(reply[1]) == 1

    key_list = (keys.messages, keys.consumers, keys.meta)
    return _script("delete_group", key_list, (group, keys.published), parse, idempotent=True)


def pending(keys: StreamKeys, group: str, count: int) -> Call[list[PendingMessage]]:
    """A group's pending list, oldest first: a plain ``XPENDING`` (its extended form), so
    that a read-only user may run it. Advisory: a group that does not exist comes back as
    the server's NOGROUP refusal, which `check_pending` turns into `GroupNotFoundError`."""
    return Call((keys.messages,), (group, "-", "+", count), parse_pending, True, command="XPENDING", advisory=True)


def check_pending(
    keys: StreamKeys, group: str, got: list[PendingMessage] | errors.RedisCommandError
) -> list[PendingMessage]:
    """The result of `pending`, or the error it stands for."""
    if isinstance(got, errors.RedisCommandError):
        raise _no_group(keys, group) if "NOGROUP" in str(got) else got
    return got


def read(keys: StreamKeys, after: str, count: int) -> Call[list[tuple[str, bytes]]]:
    """The messages after ``after`` (exclusive), oldest first."""
    return read_call("XRANGE", keys.messages, ("(" + after, "+", "COUNT", count), parse_entries)


def read_dead(keys: StreamKeys, count: int) -> Call[Any]:
    return read_call("XRANGE", keys.dead, ("-", "+", "COUNT", count), lambda reply: reply)


def counters(keys: StreamKeys) -> Call[dict[str, int]]:
    """The stream's exact totals, each 0 until it first counted (see `COUNTERS`)."""

    def parse(reply: Any) -> dict[str, int]:
        found = {reply_text(k): int(v) for k, v in (reply.items() if isinstance(reply, dict) else [])}
        return {name: found.get(name, 0) for name in COUNTERS}

    return read_call("HGETALL", keys.counters, (), parse)


def partitions(keys: StreamKeys) -> Call[int]:
    """The partitions the stream was first used with (0: not ordered, or never used)."""
    return Call((keys.meta,), ("partitions",), lambda reply: int(reply or 0), True, command="HGET")


def length(keys: StreamKeys) -> Call[int]:
    return read_call("XLEN", keys.messages, (), int)


def dead_length(keys: StreamKeys) -> Call[int]:
    return read_call("XLEN", keys.dead, (), int)


def groups(keys: StreamKeys) -> list[Call[Any]]:
    """Plain reads sent together, so that a read-only user may run them: XINFO GROUPS
    (advisory: a stream that does not exist answers with an error, read as no groups) and
    the consumers hash; `worqr.streams.messages.parse_groups` reads the two replies."""
    return [
        Call((keys.messages,), (), lambda reply: reply, True, command="XINFO GROUPS", advisory=True),
        Call((keys.consumers,), (), lambda reply: list(reply or []), True, command="HKEYS"),
    ]


def bury(keys: StreamKeys, consumer: Consumer, message_id: str, reason: str) -> Call[bool]:
    """Move a message this consumer holds to the dead letters (it cannot be decoded, say);
    parses to False if it was not this consumer's."""

    def parse(reply: list[Any]) -> bool:
        if reply[0] == errors.STATUS_WORKER_LOST:
            return False
        _raise_for(reply, keys, consumer.group)
        return int(reply[1]) == 1

    args = (*consumer.args, message_id, reason, DEAD_MAX_LEN)
    key_list = (keys.messages, keys.consumers, keys.dead, keys.meta, keys.counters)
    return _script("bury", key_list, args, parse, idempotent=True)
