"""An ordered stream: each customer's orders are billed in the order they were placed, by
whichever consumer owns the customer's partition; when that consumer dies holding orders,
the next owner gets them first, then the rest, in order.

    python examples/ordered_streams.py

Uses the server at WORQR_REDIS_URL if set, else starts a private one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from worqr import JsonCodec, Message, Stream, Subscription, Worqr
from worqr.testing import server_url


@dataclass
class Order:
    customer: str
    order: int


ORDERS = JsonCodec(Order)


def customer(order: Order) -> str:
    return order.customer


def orders_of(client: Worqr) -> Stream[Order]:
    """The stream as every client opens it: ordered by customer, one partition (one owner at a time)."""
    return client.stream("orders", ORDERS, ordered=True, partitions=1, key=customer)


def received(sub: Subscription[Order]) -> Message[Order]:
    message = sub.next(timeout=10)
    if message is None:
        raise SystemExit(f"no order for group {sub.group!r} within 10 s")
    return message


with server_url() as url:
    prefix = f"ordered-{uuid.uuid4().hex[:8]}"
    first, second = Worqr(redis=url, prefix=prefix), Worqr(redis=url, prefix=prefix)
    first.start_worker()
    second.start_worker()
    orders = orders_of(first)
    billing = orders.subscribe("billing", start="first", prefetch=2)
    orders.publish_many([Order("ada", n) for n in (1, 2, 3)])

    held = [received(billing), received(billing)]  # the first consumer holds orders 1 and 2
    standby = orders_of(second).subscribe("billing")
    waited = standby.next(timeout=0.5)  # order 3 waits: the partition is the first consumer's
    first.fail_worker()  # it goes: its peers hand orders 1 and 2 on, and the partition with them
    billed = []
    for _ in range(3):
        message = received(standby)
        billed.append((message.data.order, message.deliveries))
        message.ack()
    for client in (first, second):
        client.close()
    print(
        f"ordered_streams: while the first owner held {[m.data.order for m in held]}, the standby got "
        f"{waited}; after it left, the standby billed {billed} (order, deliveries)"
    )
