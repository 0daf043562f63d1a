"""Every operation of streams as a flow (see `worqr._protocol.flows`): publish and read,
subscribe, take, ack, leave and the reads of groups, pending messages and dead letters (the
hand-over of a dead worker's messages is a step of reaping it:
``worqr._protocol.flows.workers.release_streams``). Pure: the clients (``_async/streams.py``)
drive them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from worqr._protocol.codec import Codec
from worqr._protocol.flows.drive import Flow
from worqr._protocol.flows.steps import batch, one
from worqr._protocol.keys import StreamKeys
from worqr._protocol.session import Session
from worqr.errors import PayloadTooLargeError, WorkerLostError
from worqr.leases.flows import check_worker
from worqr.streams import ops
from worqr.streams.messages import Consumer, StreamDeadLetter, StreamMessage, message_time, parse_dead

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


def publish(keys: StreamKeys, payloads: Sequence[bytes], max_len: int | None) -> Flow[list[str]]:
    if not payloads:
        return []
    return (yield from one(ops.publish(keys, payloads, max_len)))


def decode(keys: StreamKeys, codec: Codec[T], message_id: str, data: bytes, deliveries: int) -> StreamMessage[T]:
    return StreamMessage(keys.name, message_id, codec.decode(data), message_time(message_id), deliveries)


def subscribe(session: Session, keys: StreamKeys, group: str, start: str, *, retain: bool) -> Flow[Consumer]:
    """Join the group (creating it at ``start`` if it does not exist; ``retain``: the stream
    keeps each message until every group acknowledged it), then list the stream among the
    worker's, so that a reap hands its messages on; the membership it made."""
    incarnation = check_worker(session, f"subscribing to stream {keys.name!r}")
    consumer = Consumer(group, session.worker_id, incarnation)
    yield from one(ops.join(keys, consumer, start, retain=retain))
    alive = yield from one(ops.register(session.registry, session.worker_id, keys.name))
    if not alive:
        yield from one(ops.leave(keys, consumer))
        session.state.mark_lost(incarnation=incarnation)
        msg = f"worker {session.worker_id!r} was declared dead; call start_worker() again, then subscribe"
        raise WorkerLostError(msg)
    return consumer


def take(keys: StreamKeys, consumer: Consumer, count: int, max_deliveries: int) -> Flow[list[tuple[str, bytes, int]]]:
    taken = yield from one(ops.take(keys, consumer, count, max_deliveries))
    if taken is None:
        msg = (
            f"worker {consumer.worker_id!r} is no longer a consumer of group {consumer.group!r} of stream "
            f"{keys.name!r}: it was declared dead (its messages went to the group's live consumers); "
            "start_worker() and subscribe again"
        )
        raise WorkerLostError(msg)
    return taken[0]


def read(keys: StreamKeys, codec: Codec[T], after: str, count: int) -> Flow[list[StreamMessage[T]]]:
    entries = yield from one(ops.read(keys, after, count))
    return [decode(keys, codec, message_id, data, 0) for message_id, data in entries]


def dead_letters(keys: StreamKeys, codec: Codec[T], count: int) -> Flow[list[StreamDeadLetter[T]]]:
    reply = yield from one(ops.read_dead(keys, count))
    return [
        StreamDeadLetter(message_id, group, deliveries, reason, codec.decode(data), dead_at)
        for message_id, group, deliveries, reason, data, dead_at in parse_dead(reply)
    ]


def lengths(keys: StreamKeys) -> Flow[tuple[int, int]]:
    """The stream's length and its dead letters' count, in one round trip."""
    length, dead = yield from batch([ops.length(keys), ops.dead_length(keys)])
    return length, dead
