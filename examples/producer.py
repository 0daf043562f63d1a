"""A producer: plain text tasks, unique tasks, and a typed queue of dataclasses.

    python examples/producer.py

Uses the server at WORQR_REDIS_URL if set, else starts a private one for the run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from worqr import DuplicateTaskError, JsonCodec, Worqr
from worqr.testing import server_url


@dataclass(frozen=True)
class Resize:
    """A typed task: JsonCodec(Resize) stores it as JSON and hands back a Resize on dequeue."""

    image: str
    width: int


def produce(wq: Worqr) -> None:
    # Text tasks: a str is one task, any other iterable of str is a batch (enqueued atomically, in order).
    wq.enqueue("emails", "alice@example.com")
    wq.enqueue("emails", ["bob@example.com", "carol@example.com"])

    # Unique tasks: a payload that is already queued (or in process) on the queue is refused.
    wq.enqueue("reports", "daily-2024-06-01", unique=True)
    try:
        wq.enqueue("reports", "daily-2024-06-01", unique=True)
    except DuplicateTaskError:
        print("reports: the second daily-2024-06-01 was refused (unique)")

    # A typed view: tasks are dataclasses, checked by mypy and encoded as JSON.
    resizes = wq.queue("resizes", JsonCodec(Resize))
    resizes.enqueue(Resize("cat.png", 640))
    resizes.enqueue_many([Resize("dog.png", 320), Resize("owl.png", 1024)])
    upcoming: Resize | None = resizes.peek()

    print(f"emails: {wq.count_queue('emails')} queued, next {wq.peek_queue('emails')!r}")
    print(f"reports: {wq.get_tasks('reports')}")
    print(f"resizes: {resizes.count()} queued, next {upcoming!r}")
    print(f"queues: {sorted(wq.get_queues())}")


def main() -> None:
    with server_url() as url, Worqr(redis=url, prefix=f"example-{uuid.uuid4().hex[:8]}") as wq:
        produce(wq)
        for name in wq.get_queues():  # this run's prefix is private: leave nothing behind
            wq.delete_queue(name)
    print("producer: done")


if __name__ == "__main__":
    main()
