"""Events: work, cancel, delete and done reach callbacks; pub/sub survives a reconnect and
polling covers a missed message."""

from __future__ import annotations

import base64
import json
import queue as queue_module
from collections.abc import Callable

import pytest
import redis

from worqr import BytesCodec, Event, Worqr
from worqr._protocol.keys import QueueKeys

MakeWorqr = Callable[..., Worqr]


class Inbox:
    """A callback that collects events and lets a test wait for the next one of a type."""

    def __init__(self) -> None:
        self.events: queue_module.Queue[Event] = queue_module.Queue()

    def __call__(self, event: Event) -> None:
        self.events.put(event)

    def next(self, type_: str, timeout: float = 10.0) -> Event:
        while True:
            event = self.events.get(timeout=timeout)
            if event.type == type_:
                return event


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def test_enqueue_publishes_work_with_the_count(make_worqr: MakeWorqr, inbox: Inbox) -> None:
    listener, producer = make_worqr(), make_worqr()
    listener.on("jobs", inbox)
    producer.enqueue("jobs", ["a", "b", "c"])
    event = inbox.next("work")
    assert (event.queue, event.message) == ("jobs", "3")


def test_finish_publishes_done_with_worker_task_and_result(make_worqr: MakeWorqr, inbox: Inbox) -> None:
    worker = make_worqr()
    worker.on("jobs", inbox)
    worker.start_worker()
    worker.start_work("jobs")
    worker.enqueue("jobs", "payload")
    process = worker.dequeue("jobs")
    assert process is not None
    worker.finish_process(process.id, {"answer": 42})
    message = json.loads(inbox.next("done").message)
    assert message == {
        "worker_id": worker.worker_id,
        "process_id": process.id,
        "task": "payload",
        "result": {"answer": 42},
        "outcome": "succeeded",
    }


def test_cancel_and_delete_are_published(make_worqr: MakeWorqr, inbox: Inbox) -> None:
    wq = make_worqr()
    wq.on("jobs", inbox)
    wq.enqueue("jobs", "x")
    wq.cancel_tasks("jobs", "x")
    assert inbox.next("cancel").message == "x"
    wq.delete_queue("jobs")
    assert inbox.next("delete").queue == "jobs"


def test_binary_payloads_travel_as_base64(make_worqr: MakeWorqr, inbox: Inbox) -> None:
    wq = make_worqr()
    wq.on("bin", inbox)
    wq.start_worker()
    wq.start_work("bin")
    blobs = wq.queue("bin", BytesCodec())
    blobs.enqueue(b"\xff\x00\xfe")
    blobs.cancel(b"\xff\x00\xfe")
    cancel = inbox.next("cancel")
    assert cancel.task_encoding == "base64"
    assert base64.b64decode(cancel.message) == b"\xff\x00\xfe"
    blobs.enqueue(b"\x80")
    process = blobs.dequeue()
    assert process is not None
    wq.finish_process(process.id)
    done = json.loads(inbox.next("done").message)
    assert done["task_encoding"] == "base64"
    assert base64.b64decode(done["task"]) == b"\x80"


def test_start_work_emits_work_at_once_when_tasks_wait(make_worqr: MakeWorqr, inbox: Inbox) -> None:
    worker = make_worqr()
    worker.enqueue("jobs", ["a", "b"])
    worker.on("jobs", inbox)
    worker.start_worker()
    worker.start_work("jobs")
    assert inbox.next("work").message == "2"


def test_off_stops_delivery(make_worqr: MakeWorqr, inbox: Inbox) -> None:
    wq = make_worqr()
    other = Inbox()
    wq.on("jobs", inbox)
    wq.on("jobs", other)
    wq.off("jobs", inbox)
    wq.enqueue("jobs", "a")
    assert other.next("work").message == "1"
    assert inbox.events.empty()


def test_events_of_other_prefixes_are_not_seen(make_worqr: MakeWorqr, inbox: Inbox, redis_url: str) -> None:
    mine = make_worqr()
    mine.on("jobs", inbox)
    with Worqr(redis=redis_url, prefix=mine.prefix + "-other") as stranger:
        stranger.enqueue("jobs", "theirs")
    mine.enqueue("jobs", "mine")
    assert inbox.next("work").message == "1"
    assert inbox.events.empty()


def test_events_survive_a_pubsub_reconnect(make_worqr: MakeWorqr, inbox: Inbox, raw: redis.Redis) -> None:
    wq = make_worqr()
    wq.on("jobs", inbox)
    wq.start_worker()
    wq.start_work("jobs")
    raw.client_kill_filter(_type="pubsub")
    wq.enqueue("jobs", "after")
    assert inbox.next("work").message == "1"  # published after the resubscribe, or found by the check after it


def test_polling_finds_work_whose_message_was_missed(make_worqr: MakeWorqr, inbox: Inbox, raw: redis.Redis) -> None:
    worker = make_worqr(poll_interval=0.2)
    worker.on("jobs", inbox)
    worker.start_worker()
    worker.start_work("jobs")
    raw.rpush(QueueKeys(worker.prefix, "jobs").pending, "sneaked in")  # no work message published
    assert inbox.next("work").message == "1"
    process = worker.dequeue("jobs")
    assert process is not None and process.task == "sneaked in"


def test_a_failing_callback_does_not_stop_the_others(make_worqr: MakeWorqr, inbox: Inbox) -> None:
    wq = make_worqr()

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    wq.on("jobs", broken)
    wq.on("jobs", inbox)
    wq.enqueue("jobs", "a")
    wq.enqueue("jobs", "b")
    assert inbox.next("work").message == "1"
    assert inbox.next("work").message == "1"
