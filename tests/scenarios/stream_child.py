"""An OS process consuming a stream in several groups, driven by
tests/scenarios/test_stream_processes.py.

    python stream_child.py URL PREFIX STREAM GROUPS JOURNAL NAME

One client (a worker, id NAME) subscribes to each group of GROUPS (comma-separated) of
STREAM from the first message, and to the group ORDERED_GROUP of the ordered stream
ORDERED (PARTITIONS partitions, each message's key the text before its ":"), and loops over
the subscriptions: take the next message of each, note it, acknowledge it, note the
answer (when none of them has one, it waits up to 20 ms on one of them, in turn). A worker found declared dead (it was paused past
its timeout) starts again and subscribes anew, as a runtime would. The journal is a shared
file of JSON lines, each written with one ``os.write`` on an O_APPEND descriptor (a SIGKILL
loses nothing written before it), times on CLOCK_MONOTONIC, which every process shares:
    {"ev": "got", "who", "group", "id", "deliveries", "t"}  a message delivered to it
    {"ev": "ack", "who", "group", "id", "ok", "t"}          its ack, accepted or refused
    {"ev": "lost", "who", "t"}                              it found itself declared dead
Between the two, it works on the message for WORK seconds.
Prints "ready" once every subscription is made.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from worqr import Message, Subscription, WorkerLostError, Worqr

#: The children's timings: a paused child is declared dead after WORKER_TIMEOUT and reaped
#: within a CLEANUP_INTERVAL more (the test's bound).
WORKER_TIMEOUT, CLEANUP_INTERVAL = 1.0, 0.3
#: Seconds of work per message.
WORK = 0.002
#: The ordered stream, its partitions and its group.
ORDERED, PARTITIONS, ORDERED_GROUP = "orders", 4, "ordered"


def order_key(message: str) -> str:
    return message.partition(":")[0]


class Journal:
    def __init__(self, path: str, who: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.who = who

    def write(self, ev: str, **record: Any) -> None:
        line = json.dumps({"ev": ev, "who": self.who, **record, "t": time.monotonic()}) + "\n"
        os.write(self._fd, line.encode())


def subscribe_all(client: Worqr, stream: str, groups: list[str]) -> list[Subscription[str]]:
    client.start_worker()
    ordered = client.stream(ORDERED, ordered=True, partitions=PARTITIONS, key=order_key)
    return [
        *(client.stream(stream).subscribe(group, start="first", max_deliveries=1000) for group in groups),
        ordered.subscribe(ORDERED_GROUP, start="first", max_deliveries=1000),
    ]


def handle(journal: Journal, sub: Subscription[str], message: Message[str]) -> None:
    journal.write("got", group=sub.group, id=message.id, deliveries=message.deliveries, data=message.data)
    time.sleep(WORK)  # the work a consumer does with a message, during which it holds it
    journal.write("ack", group=sub.group, id=message.id, ok=message.ack())


def main() -> None:
    url, prefix, stream, groups, journal_path, name = sys.argv[1:7]
    journal = Journal(journal_path, name)
    client = Worqr(
        redis=url,
        prefix=prefix,
        worker_id=name,
        heartbeat_interval=0.2,
        worker_timeout=WORKER_TIMEOUT,
        cleanup_interval=CLEANUP_INTERVAL,
        poll_interval=0.5,
    )
    group_names = groups.split(",")
    subscriptions = subscribe_all(client, stream, group_names)
    print("ready", flush=True)
    while True:
        try:
            idle = True
            for sub in subscriptions:
                message = sub.next(timeout=0)
                if message is not None:
                    idle = False
                    handle(journal, sub, message)
            if idle:  # nothing anywhere: wait a little for one of them, in turn
                subscriptions.append(subscriptions.pop(0))
                message = subscriptions[0].next(timeout=0.02)
                if message is not None:
                    handle(journal, subscriptions[0], message)
        except WorkerLostError:
            journal.write("lost")
            while True:
                try:
                    subscriptions = subscribe_all(client, stream, group_names)
                    break
                except WorkerLostError:
                    time.sleep(0.05)  # declared dead again meanwhile: start once more


if __name__ == "__main__":
    main()
