"""Streams with durable consumer groups: an "orders" stream, two groups ("billing" and
"audit") that each get every order, a billing consumer that leaves holding orders and a
peer that gets them (delivered a second time) while the first one's late ack is refused,
and a late reader that replays the stream from its first message.

    python examples/streams.py

Uses the server at WORQR_REDIS_URL if set, else starts a private one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from worqr import JsonCodec, Message, Subscription, Worqr
from worqr.testing import server_url


@dataclass
class Order:
    order: int
    cents: int


ORDERS = JsonCodec(Order)


def received(sub: Subscription[Order]) -> Message[Order]:
    message = sub.next(timeout=10)
    if message is None:
        raise SystemExit(f"no message for group {sub.group!r} within 10 s")
    return message


with server_url() as url:
    prefix = f"streams-{uuid.uuid4().hex[:8]}"
    producer, doomed, survivor = (Worqr(redis=url, prefix=prefix) for _ in range(3))
    doomed.start_worker()
    survivor.start_worker()

    billing = doomed.stream("orders", ORDERS).subscribe("billing", start="first")
    audit = survivor.stream("orders", ORDERS).subscribe("audit", start="first")
    rescuer = survivor.stream("orders", ORDERS).subscribe("billing")
    ids = producer.stream("orders", ORDERS).publish_many([Order(n, 100 * n) for n in (1, 2, 3)])

    held = [received(billing) for _ in ids]  # the doomed consumer holds all three, unacknowledged
    audited = []
    for _ in ids:
        message = received(audit)
        message.ack()
        audited.append(message.data.order)

    doomed.fail_worker()  # it leaves as a dead worker is reaped: its billing orders are handed on
    billed = []
    for _ in ids:
        message = received(rescuer)
        billed.append((message.data.order, message.deliveries))
        message.ack()
    late = held[0].ack()  # the first consumer's ack, after its orders went on: refused

    replay = [m.data.order for m in producer.stream("orders", ORDERS).read(after="0")]
    for client in (producer, doomed, survivor):
        client.close()
    print(
        f"streams: audit saw {audited}; billing got {billed} after its first consumer left; "
        f"late ack accepted: {late}; replay from the first id: {replay}"
    )
