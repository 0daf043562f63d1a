"""Every operation of streams as a flow (see `worqr._protocol.flows`): publish and read,
subscribe, take, ack, leave and the reads of groups, pending messages and dead letters (the
hand-over of a dead worker's messages is a step of reaping it:
``worqr._protocol.flows.workers.release_streams``). Pure: the clients (``_async/streams.py``)
drive them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, NoReturn, TypeVar

from worqr._protocol.call import Call
from worqr._protocol.codec import Codec
from worqr._protocol.flows.drive import Flow
from worqr._protocol.flows.steps import batch, one
from worqr._protocol.keys import StreamKeys
from worqr._protocol.registry_ops import members
from worqr._protocol.session import Session
from worqr.errors import PayloadTooLargeError, WorkerLostError
from worqr.leases.flows import check_worker
from worqr.streams import ops
from worqr.streams.messages import (
    Consumer,
    GroupInfo,
    PendingMessage,
    StreamDeadLetter,
    StreamInfo,
    StreamMessage,
    id_order,
    merge_groups,
    parse_dead,
    parse_groups,
)
from worqr.streams.partitions import qualify

T = TypeVar("T")


def encode(session: Session, keys: StreamKeys, codec: Codec[T], items: Iterable[T]) -> list[bytes]:
    """Encode and check every message before anything is written."""
    payloads = []
    for item in items:
        payload = codec.encode(item)
        if len(payload) > session.max_payload_size:
            msg = (
                f"message of {len(payload)} bytes for stream {keys.name!r} is over the limit of "
                f"{session.max_payload_size} bytes (max_payload_size); store large data elsewhere and publish a reference"
            )
            raise PayloadTooLargeError(msg)
        payloads.append(payload)
    return payloads


def publish(
    keys: StreamKeys, payloads: Sequence[bytes], max_len: int | None, partitions: int, routes: Sequence[int]
) -> Flow[list[str]]:
    """Append the messages, in order; to their partitions (``routes``) for an ordered stream,
    one script per partition in one round trip. Their ids, in the order given."""
    if not payloads:
        return []
    if partitions == 0:
        return (yield from one(ops.publish(keys, payloads, max_len, 0)))
    by_partition: dict[int, list[int]] = {}
    for position, partition in enumerate(routes):
        by_partition.setdefault(partition, []).append(position)
    calls = [
        ops.publish(keys.of_partition(p), [payloads[i] for i in positions], max_len, partitions)
        for p, positions in by_partition.items()
    ]
    ids = [""] * len(payloads)
    for (p, positions), got in zip(by_partition.items(), (yield from batch(calls)), strict=True):
        for position, message_id in zip(positions, got, strict=True):
            ids[position] = qualify(p, message_id)
    return ids


def decode(keys: StreamKeys, codec: Codec[T], message_id: str, data: bytes, deliveries: int) -> StreamMessage[T]:
    return StreamMessage(keys.name, message_id, codec.decode(data), deliveries)


def subscribe(
    session: Session, keys: StreamKeys, group: str, start: str, *, retain: bool, partitions: int
) -> Flow[Consumer]:
    """List the stream among the worker's (so that a reap hands its messages on), join the
    group (creating it at ``start`` if it does not exist; ``retain``: the stream keeps each
    message until every group acknowledged it), then check the worker is still alive; the
    membership it made. Listed first, a worker killed at any point leaves nothing a reap
    does not clean (a listed stream it never joined is released as a no-op); the check after
    the join catches a worker declared dead meanwhile, whose reap may have come first."""
    incarnation = check_worker(session, f"subscribing to stream {keys.name!r}")
    consumer = Consumer(group, session.worker_id, incarnation)
    parts = [keys] if partitions == 0 else [keys.of_partition(i) for i in range(partitions)]
    register = ops.register(session.registry, session.worker_id, keys.name, partitions)
    if not (yield from one(register)):
        _lost(session, incarnation)
    yield from batch([ops.join(part, consumer, start, retain=retain, partitions=partitions) for part in parts])
    if not (yield from one(register)):
        yield from one(ops.leave(keys, consumer, partitions))
        _lost(session, incarnation)
    return consumer


def _lost(session: Session, incarnation: str) -> NoReturn:
    session.state.mark_lost(incarnation=incarnation)
    msg = f"worker {session.worker_id!r} was declared dead; call start_worker() again, then subscribe"
    raise WorkerLostError(msg)


def take(
    session: Session, keys: StreamKeys, consumer: Consumer, partitions: int, *, count: int, max_deliveries: int
) -> Flow[list[tuple[int | None, str, bytes, int]]]:
    """Up to ``count`` messages for ``consumer``. In an ordered stream a member that took
    within three poll intervals (it takes at least once per ``poll_interval`` while it
    waits) counts as a live consumer for the fair share."""
    window_ms = max(1000, round(3000 * session.poll_interval))
    if partitions == 0:
        taken = yield from one(ops.take(keys, consumer, count, max_deliveries))
    else:
        taken = yield from one(ops.take_ordered(keys, consumer, partitions, count, max_deliveries, window_ms=window_ms))
    if taken is None:
        msg = (
            f"worker {consumer.worker_id!r} is no longer a consumer of group {consumer.group!r} of stream "
            f"{keys.name!r}: it was declared dead (its messages went to the group's live consumers); "
            "start_worker() and subscribe again"
        )
        raise WorkerLostError(msg)
    return taken[0]


def ack(keys: StreamKeys, consumer: Consumer, ids: Sequence[tuple[int | None, str]]) -> Flow[list[bool]]:
    """Acknowledge (partition, id) pairs: one script per partition, in one round trip."""
    by_partition: dict[int | None, list[int]] = {}
    for position, (partition, _) in enumerate(ids):
        by_partition.setdefault(partition, []).append(position)
    calls = [
        ops.ack(keys if p is None else keys.of_partition(p), consumer, [ids[i][1] for i in positions])
        for p, positions in by_partition.items()
    ]
    acked = [False] * len(ids)
    for positions, got in zip(by_partition.values(), (yield from batch(calls)), strict=True):
        for position, ok in zip(positions, got, strict=True):
            acked[position] = ok
    return acked


def read(keys: StreamKeys, codec: Codec[T], after: str, count: int, partitions: int) -> Flow[list[StreamMessage[T]]]:
    """Up to ``count`` messages after ``after``, oldest first; of an ordered stream, from
    every partition, merged by id (the server's clock)."""
    if partitions == 0:
        entries = yield from one(ops.read(keys, after, count))
        return [decode(keys, codec, message_id, data, 0) for message_id, data in entries]
    replies = yield from batch([ops.read(keys.of_partition(p), after, count) for p in range(partitions)])
    merged = sorted(
        ((p, message_id, data) for p, entries in enumerate(replies) for message_id, data in entries),
        key=lambda entry: id_order(entry[1]),
    )[:count]
    return [decode(keys, codec, qualify(p, message_id), data, 0) for p, message_id, data in merged]


def dead_letters(keys: StreamKeys, codec: Codec[T], count: int) -> Flow[list[StreamDeadLetter[T]]]:
    reply = yield from one(ops.read_dead(keys, count))
    return [
        StreamDeadLetter(message_id, group, deliveries, reason, codec.decode(data), dead_at)
        for message_id, group, deliveries, reason, data, dead_at in parse_dead(reply)
    ]


def lengths(keys: StreamKeys, partitions: int) -> Flow[tuple[int, int]]:
    """The stream's length (over its partitions) and its dead letters' count, in one round trip."""
    parts = [keys] if partitions == 0 else [keys.of_partition(i) for i in range(partitions)]
    *lengths, dead = yield from batch([*(ops.length(part) for part in parts), ops.dead_length(keys)])
    return sum(lengths), dead


def inspect_streams(session: Session, names: Sequence[str] | None) -> Flow[list[StreamInfo]]:
    """Each stream (default: every one subscribed to) as it is now, ordered ones too: two
    round trips, whatever the number of streams (their settings, then everything else)."""
    if names is None:
        names = yield from one(members(session.registry.streams))
    all_keys = [StreamKeys(session.prefix, name) for name in names]
    shapes = yield from batch([ops.partitions(keys) for keys in all_keys])
    calls: list[Call[Any]] = []
    for keys, shape in zip(all_keys, shapes, strict=True):
        parts = [keys] if shape == 0 else [keys.of_partition(i) for i in range(shape)]
        calls += [ops.dead_length(keys), ops.counters(keys)]
        calls += [ops.length(part) for part in parts]
        calls += [call for part in parts for call in ops.groups(part)]
    replies = iter((yield from batch(calls)))
    found = []
    for keys, shape in zip(all_keys, shapes, strict=True):
        n = max(shape, 1)
        dead, counted = next(replies), next(replies)
        length = sum(next(replies) for _ in range(n))
        groups = merge_groups([parse_groups(next(replies), next(replies)) for _ in range(n)])
        found.append(StreamInfo(keys.name, shape, length, dead, groups, counted))
    return found


def groups(keys: StreamKeys, partitions: int) -> Flow[list[GroupInfo]]:
    """Every group; of an ordered stream, summed over its partitions."""
    parts = [keys] if partitions == 0 else [keys.of_partition(i) for i in range(partitions)]
    calls = [call for part in parts for call in ops.groups(part)]
    replies = yield from batch(calls)
    found = [parse_groups(replies[2 * i], replies[2 * i + 1]) for i in range(len(parts))]
    return merge_groups(found)


def pending(keys: StreamKeys, group: str, count: int, partitions: int) -> Flow[list[PendingMessage]]:
    parts = [keys] if partitions == 0 else [keys.of_partition(p) for p in range(partitions)]
    replies = yield from batch([ops.pending(part, group, count) for part in parts])
    found = [ops.check_pending(part, group, got) for part, got in zip(parts, replies, strict=True)]
    if partitions == 0:
        return found[0]
    merged = [replace(m, id=qualify(p, m.id)) for p, held in enumerate(found) for m in held]
    return sorted(merged, key=lambda m: id_order(m.id))[:count]


def trim(keys: StreamKeys, how: str, bound: int | str, partitions: int) -> Flow[int]:
    """Trim the stream, or each partition of an ordered one (``max_len`` bounds each)."""
    parts = [keys] if partitions == 0 else [keys.of_partition(i) for i in range(partitions)]
    return sum((yield from batch([ops.trim(part, how, bound) for part in parts])))


def delete_group(keys: StreamKeys, group: str, partitions: int) -> Flow[bool]:
    parts = [keys] if partitions == 0 else [keys.of_partition(i) for i in range(partitions)]
    return any((yield from batch([ops.delete_group(part, group) for part in parts])))
