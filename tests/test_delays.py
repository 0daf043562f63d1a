"""Delayed and scheduled enqueue: a task waits in the queue's delayed set until its due time
by the server's clock, then the next dequeue moves it to the back of the queue, once, however
many workers race. Against a real server, sync and async."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
import redis

from tests.dequeue_helpers import delayed_entries, dequeue_once_due, server_ms, snapshot, take, working
from tests.helpers import wait_until
from worqr import AsyncWorqr, BytesCodec, DuplicateTaskError, Event, InvalidArgumentError, JsonCodec, Worqr
from worqr._protocol import flows
from worqr._protocol.codec import StrCodec

MakeWorqr = Callable[..., Worqr]
MakeAsyncWorqr = Callable[..., AsyncWorqr]


@dataclass(frozen=True)
class Reminder:
    to: str
    minutes: int


@pytest.fixture
def wq(make_worqr: MakeWorqr) -> Worqr:
    return make_worqr()


@pytest.fixture
def worker(make_worqr: MakeWorqr) -> Worqr:
    return working(make_worqr())


def server_now(raw: redis.Redis) -> datetime:
    return datetime.fromtimestamp(server_ms(raw) / 1000, tz=timezone.utc)


def next_due(client: Worqr, queue: str = "jobs") -> float | None:
    """The seconds until the queue's next delayed task is due, as a dequeue reports them
    (it takes nothing here: the queue must be empty)."""
    batch = client._drive(flows.take(client._session, queue, StrCodec(), 1))
    assert not batch.processes
    return batch.next_due


@pytest.mark.parametrize("mode", ["delay", "at"])
def test_a_delayed_task_waits_for_its_due_time_by_the_server_clock(
    wq: Worqr, worker: Worqr, raw: redis.Redis, mode: str
) -> None:
    when: dict[str, Any] = {"delay": 0.4} if mode == "delay" else {"at": server_now(raw) + timedelta(seconds=0.4)}
    assert wq.enqueue("jobs", "later", **when) == 1
    ((member, due),) = delayed_entries(raw, wq)
    assert member.endswith(b":later")
    assert (wq.count_delayed("jobs"), wq.count_queue("jobs"), wq.get_tasks("jobs")) == (1, 0, [])
    assert "jobs" in wq.get_queues()
    process = dequeue_once_due(worker, raw, due)
    assert (process.task, process.attempt) == ("later", 1)
    assert (wq.count_delayed("jobs"), wq.count_queue("jobs")) == (0, 0)


def test_a_past_time_or_zero_delay_is_due_at_once(wq: Worqr, worker: Worqr) -> None:
    wq.enqueue("jobs", "old", at=datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=5))))
    wq.enqueue("jobs", "now", delay=0)
    assert wq.count_delayed("jobs") == 2
    assert [take(worker).task, take(worker).task] == ["old", "now"]


def test_due_tasks_join_the_back_of_the_queue_in_due_order_and_batch_order(
    wq: Worqr, worker: Worqr, raw: redis.Redis
) -> None:
    start = server_now(raw)
    wq.enqueue("jobs", "late", at=start - timedelta(seconds=1))
    wq.enqueue("jobs", "early", at=start - timedelta(seconds=2))
    batch = [f"b{i}" for i in range(25)]  # more than 9 and 99 entries: order must not be by text
    wq.enqueue("jobs", batch, at=start - timedelta(seconds=1))
    wq.enqueue("jobs", "waiting")
    assert [take(worker).task for _ in range(28)] == ["waiting", "early", "late", *batch]


def test_dequeue_reports_when_the_next_delayed_task_is_due(wq: Worqr, worker: Worqr) -> None:
    assert next_due(worker) is None
    wq.enqueue("jobs", "far", delay=60)
    wq.enqueue("jobs", "near", delay=30)
    due = next_due(worker)
    assert due is not None and 0 < due <= 30
    wq.cancel_tasks("jobs", "near")
    wq.cancel_tasks("jobs", "far")
    assert next_due(worker) is None


def test_scheduled_events_carry_the_due_time(wq: Worqr, raw: redis.Redis) -> None:
    events: list[Event] = []
    wq.on("jobs", events.append)
    wq.enqueue("jobs", "a", delay=5)
    wq.enqueue("jobs", "b", delay=0)
    wq.enqueue("jobs", "c", at=datetime(2000, 1, 1, tzinfo=timezone.utc))
    wq.enqueue("jobs", "d", at=server_now(raw) + timedelta(seconds=10))
    wait_until(lambda: len(events) == 4)
    assert [(e.type, e.queue) for e in events] == [("scheduled", "jobs")] * 4
    assert [e.message for e in events[:3]] == ["5000", "0", "0"]
    assert 0 < int(events[3].message) <= 10_000


def test_promotion_announces_the_due_tasks_this_dequeue_did_not_take(wq: Worqr, worker: Worqr) -> None:
    events: list[Event] = []
    wq.on("jobs", events.append)
    wq.enqueue("jobs", ["a", "b", "c"], delay=0)
    take(worker)
    wait_until(lambda: any(e.type == "work" for e in events))
    assert [e for e in events if e.type == "work"] == [Event("work", "jobs", "2")]


def test_racing_workers_promote_and_take_each_due_task_once(wq: Worqr, make_worqr: MakeWorqr, raw: redis.Redis) -> None:
    start = server_now(raw)
    crowd = [f"c{i}" for i in range(1050)]  # due at one instant: a dequeue promotes at most 1000
    wq.enqueue("jobs", crowd, at=start + timedelta(seconds=0.2))
    trickle = [f"t{i}" for i in range(200)]
    for i in range(0, len(trickle), 10):
        wq.enqueue("jobs", trickle[i : i + 10], at=start + timedelta(seconds=0.01 * i / 10))
    expected = len(crowd) + len(trickle)
    workers = [working(make_worqr()) for _ in range(4)]
    taken: list[list[str]] = [[] for _ in workers]
    done = threading.Event()
    barrier = threading.Barrier(len(workers))

    def run(client: Worqr, mine: list[str]) -> None:
        barrier.wait()
        while not done.is_set():
            process = client.dequeue("jobs")
            if process is not None:
                mine.append(process.task)
            if sum(len(t) for t in taken) >= expected:
                done.set()

    threads = [threading.Thread(target=run, args=(c, t)) for c, t in zip(workers, taken, strict=True)]
    for thread in threads:
        thread.start()
    try:
        wait_until(done.is_set, timeout=30)
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
    everything = [task for mine in taken for task in mine]
    assert sorted(everything) == sorted(crowd + trickle)  # each exactly once
    assert sum(1 for mine in taken if mine) > 1  # they did race
    assert (wq.count_delayed("jobs"), wq.count_queue("jobs")) == (0, 0)


# Unique, cancel and delete -----------------------------------------------------------------


def test_a_delayed_unique_task_blocks_a_duplicate(wq: Worqr, worker: Worqr, raw: redis.Redis) -> None:
    wq.enqueue("jobs", "u", unique=True, delay=60)
    before = snapshot(raw, wq.prefix)
    with pytest.raises(DuplicateTaskError):
        wq.enqueue("jobs", "u", unique=True)
    with pytest.raises(DuplicateTaskError):
        wq.enqueue("jobs", ["v", "u"], unique=True, delay=1)
    with pytest.raises(DuplicateTaskError):
        wq.enqueue("jobs", ["w", "w"], unique=True, delay=1)
    assert snapshot(raw, wq.prefix) == before  # not even the counter moved
    assert wq.enqueue("jobs", "u", delay=60) == 1  # without unique=True it is allowed
    assert wq.cancel_tasks("jobs", "u") == 2
    wq.enqueue("jobs", "u", unique=True, delay=0)
    worker.finish_process(take(worker).id)
    assert wq.enqueue("jobs", "u", unique=True) == 1  # finish cleared the marker


def test_cancel_removes_every_delayed_copy(wq: Worqr) -> None:
    wq.enqueue("jobs", ["a", "b"])
    wq.enqueue("jobs", ["a", "x:a", "b"], delay=60)
    wq.enqueue("jobs", "a", delay=120)
    assert wq.cancel_tasks("jobs", "a") == 3
    assert wq.get_tasks("jobs") == ["b"]
    assert wq.count_delayed("jobs") == 2  # "x:a" is another payload


def test_delete_queue_drops_delayed_tasks_and_their_markers(wq: Worqr) -> None:
    wq.enqueue("jobs", "queued", unique=True)
    wq.enqueue("jobs", ["d1", "d2"], unique=True, delay=60)
    assert wq.delete_queue("jobs") == 3
    assert (wq.count_queue("jobs"), wq.count_delayed("jobs")) == (0, 0)
    assert wq.enqueue("jobs", ["queued", "d1", "d2"], unique=True) == 3


# Typed views -------------------------------------------------------------------------------


def test_binary_payloads_with_colons_and_digits_survive_the_delay(wq: Worqr, worker: Worqr) -> None:
    worker.start_work("bin")
    blobs = worker.queue("bin", BytesCodec())
    payloads = [b"12:34", b"\x00:\xff\n", b":", b"7", b"1:1:1"]
    assert blobs.enqueue_many(payloads, delay=0) == len(payloads)
    assert blobs.count_delayed() == len(payloads)
    got = []
    while (process := blobs.dequeue()) is not None:
        got.append(process.task)
    assert got == payloads


def test_json_view_schedules_typed_tasks(worker: Worqr) -> None:
    reminders = worker.queue("reminders", JsonCodec(Reminder))
    worker.start_work("reminders")
    reminders.enqueue(Reminder("ann", 5), at=datetime(2000, 1, 1, tzinfo=timezone.utc))
    reminders.enqueue(Reminder("bob", 10), delay=60)
    assert reminders.count_delayed() == 2
    process = reminders.dequeue()
    assert process is not None and process.task == Reminder("ann", 5)
    assert reminders.dequeue() is None


# Bad input ---------------------------------------------------------------------------------

NAIVE = datetime(2030, 1, 1)  # no tzinfo: refused
BAD_WHEN: list[tuple[dict[str, object], str]] = [
    ({"delay": -1}, "delay"),
    ({"delay": -0.001}, "delay"),
    ({"delay": float("nan")}, "delay"),
    ({"delay": float("inf")}, "delay"),
    ({"delay": True}, "delay"),
    ({"delay": "5"}, "delay"),
    ({"delay": timedelta(seconds=5)}, "delay"),
    ({"at": NAIVE}, "timezone-aware"),
    ({"at": date(2030, 1, 1)}, "timezone-aware"),
    ({"at": "2030-01-01T00:00:00Z"}, "timezone-aware"),
    ({"at": 1893456000}, "timezone-aware"),
    ({"delay": 5, "at": datetime(2030, 1, 1, tzinfo=timezone.utc)}, "not both"),
]


def test_bad_delays_and_times_are_refused_before_any_write(wq: Worqr, raw: redis.Redis) -> None:
    for kwargs, match in BAD_WHEN:
        with pytest.raises(InvalidArgumentError, match=match):
            wq.enqueue("jobs", "a", **kwargs)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match=match):
            wq.queue("jobs", JsonCodec()).enqueue_many([1, 2], **kwargs)  # type: ignore[arg-type]
        assert snapshot(raw, wq.prefix) == {}, kwargs


# asyncio -----------------------------------------------------------------------------------


async def test_async_delayed_and_scheduled_enqueue(make_async_worqr: MakeAsyncWorqr, raw: redis.Redis) -> None:
    worker = make_async_worqr()
    events: list[Event] = []
    await worker.on("jobs", events.append)
    await worker.start_worker()
    await worker.start_work("jobs")
    assert await worker.enqueue("jobs", "later", delay=60) == 1
    assert await worker.enqueue("jobs", ["past1", "past2"], at=server_now(raw) - timedelta(seconds=1)) == 2
    assert await worker.count_delayed("jobs") == 3
    first, second = await worker.dequeue("jobs"), await worker.dequeue("jobs")
    assert first is not None and second is not None
    assert (first.task, second.task) == ("past1", "past2")
    assert await worker.dequeue("jobs") is None
    assert await worker.queue("jobs").count_delayed() == 1
    with pytest.raises(DuplicateTaskError):
        await worker.enqueue("jobs", ["x", "x"], unique=True, delay=1)
    with pytest.raises(InvalidArgumentError, match="timezone-aware"):
        await worker.enqueue("jobs", "a", at=NAIVE)
    assert await worker.count_delayed("jobs") == 1
    for _ in range(1000):  # the listener task runs on this loop: yield to it, up to 10 s
        if len(events) >= 2:
            break
        await asyncio.sleep(0.01)
    assert [e.message for e in events if e.type == "scheduled"] == ["60000", "0"]
