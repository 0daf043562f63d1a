"""A two-way channel between a customer (the client end) and a support desk (the server
end): the customer writes before any desk listens, a desk answers, the desk's worker dies
before it is done with the message (the customer is told), the customer writes while no
desk is there, a second desk takes over the end and gets both messages (the first a second
time: at least once), in order, and the customer ends the channel.

    python examples/channels.py

Uses the server at WORQR_REDIS_URL if set, else starts a private one.
"""

from __future__ import annotations

import uuid

from worqr import Channel, ChannelEvent, ChannelMessage, Worqr
from worqr.testing import server_url


def received(end: Channel[str]) -> ChannelEvent[str]:
    event = end.next(timeout=10)
    if event is None:
        raise SystemExit(f"nothing on the {end.side} end within 10 s")
    return event


def said(event: ChannelEvent[str]) -> str:
    if isinstance(event, ChannelMessage):
        return f"{event.data!r}" + (f" (delivery {event.deliveries})" if event.deliveries > 1 else "")
    return f"<{event.type}>"


with server_url() as url:
    prefix = f"channels-{uuid.uuid4().hex[:8]}"
    customer_side, first_desk, second_desk = (Worqr(redis=url, prefix=prefix) for _ in range(3))
    for client in (customer_side, first_desk, second_desk):
        client.start_worker()  # an end belongs to a live worker

    customer = customer_side.channel("ticket-7").connect()
    customer.send("hello?")  # no desk listens yet: kept for the server end

    desk = first_desk.channel("ticket-7").listen()
    first = [said(received(desk)) for _ in range(2)]  # the customer's connect, then its message
    desk.send("hi, how can I help?")
    replies = [said(received(customer)) for _ in range(2)]  # the desk's connect, then its reply

    # The desk's worker dies before its next read, which would have marked "hello?" done:
    # peers give its end up at once, and the message waits for the next desk.
    first_desk.fail_worker()
    gone = said(received(customer))
    customer.send("are you there?")  # nobody at the desk: kept until one comes back

    desk = second_desk.channel("ticket-7").listen()  # another process takes over the end
    second = [said(received(desk)) for _ in range(3)]
    customer.end()
    last = said(received(desk))

    for client in (customer_side, first_desk, second_desk):
        client.close()
    print(
        f"channels: first desk got {first}; customer got {replies}, then {gone}; second desk got {second}, then {last}"
    )
