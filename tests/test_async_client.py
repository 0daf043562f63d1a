"""The main flows through `AsyncWorqr`, against a real server: queues, processes, unique
tasks, workers and supervision, events with async and sync callbacks, typed views, the
context manager, and the fence that stops a reaped (zombie) worker."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from worqr import (
    AsyncWorqr,
    DuplicateTaskError,
    Event,
    InvalidTaskTypeError,
    JsonCodec,
    NotWorkingError,
    ProcessLostError,
    WorkerLostError,
    WorkerNotStartedError,
)

MakeAsyncWorqr = Callable[..., AsyncWorqr]
TIMEOUT = 10.0


class AsyncInbox:
    """An async callback that collects events; a test awaits the next one of a type."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    async def __call__(self, event: Event) -> None:
        await self.events.put(event)

    async def next(self, type_: str, timeout: float = TIMEOUT) -> Event:
        while True:
            event = await asyncio.wait_for(self.events.get(), timeout)
            if event.type == type_:
                return event


class SyncInbox(AsyncInbox):
    """The same, as a plain (non-async) callback."""

    def __call__(self, event: Event) -> None:  # type: ignore[override]
        self.events.put_nowait(event)


@dataclasses.dataclass(frozen=True)
class Order:
    id: int
    items: list[str]


@pytest.fixture
def wq(make_async_worqr: MakeAsyncWorqr) -> AsyncWorqr:
    return make_async_worqr()


@pytest.fixture
async def worker(make_async_worqr: MakeAsyncWorqr) -> AsyncWorqr:
    client = make_async_worqr()
    await client.start_worker()
    await client.start_work("jobs")
    return client


# Queues -------------------------------------------------------------------------------------


async def test_enqueue_count_peek_and_get_tasks(wq: AsyncWorqr) -> None:
    assert await wq.enqueue("jobs", "a") == 1
    assert await wq.enqueue("jobs", ["b", "c"]) == 2
    assert await wq.count_queue("jobs") == 3
    assert await wq.peek_queue("jobs") == "a"
    assert await wq.get_tasks("jobs") == ["a", "b", "c"]
    assert await wq.peek_queue("empty") is None
    assert await wq.get_tasks("empty") == []


async def test_bad_tasks_are_refused_before_any_write(wq: AsyncWorqr) -> None:
    with pytest.raises(InvalidTaskTypeError):
        await wq.enqueue("jobs", ["fine", 42])  # type: ignore[list-item]
    assert await wq.count_queue("jobs") == 0
    assert await wq.get_queues() == []


async def test_get_queues_and_delete_queue(wq: AsyncWorqr, worker: AsyncWorqr) -> None:
    await wq.enqueue("emails", ["x", "y"])
    assert await wq.get_queues() == ["emails", "jobs"]
    assert await wq.delete_queue("emails") == 2
    assert await wq.get_queues() == ["jobs"]
    assert await wq.count_queue("emails") == 0


async def test_cancel_removes_every_queued_copy(wq: AsyncWorqr) -> None:
    await wq.enqueue("jobs", ["a", "b", "a"])
    assert await wq.cancel_tasks("jobs", "a") == 2
    assert await wq.get_tasks("jobs") == ["b"]
    assert await wq.cancel_tasks("jobs", "zzz") == 0


async def test_unique_refuses_a_duplicate_and_writes_nothing(wq: AsyncWorqr, worker: AsyncWorqr) -> None:
    await wq.enqueue("jobs", "a", unique=True)
    with pytest.raises(DuplicateTaskError) as caught:
        await wq.enqueue("jobs", ["b", "a"], unique=True)
    assert (caught.value.queue, caught.value.task) == ("jobs", b"a")
    assert await wq.get_tasks("jobs") == ["a"]
    process = await worker.dequeue("jobs")
    assert process is not None
    with pytest.raises(DuplicateTaskError):
        await wq.enqueue("jobs", "a", unique=True)  # still unique while in process
    await worker.finish_process(process.id)
    assert await wq.enqueue("jobs", "a", unique=True) == 1


# Workers and processes ----------------------------------------------------------------------


async def test_start_work_requires_start_worker(wq: AsyncWorqr) -> None:
    with pytest.raises(WorkerNotStartedError):
        await wq.start_work("jobs")


async def test_dequeue_requires_start_work(wq: AsyncWorqr) -> None:
    await wq.start_worker()
    with pytest.raises(NotWorkingError):
        await wq.dequeue("jobs")


async def test_dequeue_finish_and_stop(wq: AsyncWorqr, worker: AsyncWorqr) -> None:
    assert await worker.dequeue("jobs") is None
    await wq.enqueue("jobs", ["a", "b", "c"])
    first = await worker.dequeue("jobs")
    assert first is not None
    assert (first.task, first.queue, first.worker_id) == ("a", "jobs", worker.worker_id)
    await worker.finish_process(first.id, {"ok": True})
    second = await worker.dequeue("jobs")
    assert second is not None and second.task == "b"
    await worker.stop_process(second.id)
    assert await wq.get_tasks("jobs") == ["b", "c"]
    assert await wq.get_matching_processes("b") == []


async def test_finish_twice_raises_process_lost(wq: AsyncWorqr, worker: AsyncWorqr) -> None:
    await wq.enqueue("jobs", "a")
    process = await worker.dequeue("jobs")
    assert process is not None
    await worker.finish_process(process.id)
    with pytest.raises(ProcessLostError) as caught:
        await worker.finish_process(process.id)
    assert caught.value.process_id == process.id
    with pytest.raises(ProcessLostError):
        await worker.stop_process(process.id)


async def test_stop_work_requeues_and_forbids_dequeue(wq: AsyncWorqr, worker: AsyncWorqr) -> None:
    await wq.enqueue("jobs", ["a", "b"])
    assert await worker.dequeue("jobs") is not None
    await worker.stop_work("jobs")
    assert await wq.get_tasks("jobs") == ["a", "b"]
    assert await worker.get_working_queues() == []
    with pytest.raises(NotWorkingError):
        await worker.dequeue("jobs")


async def test_get_workers_and_working_queues(wq: AsyncWorqr, worker: AsyncWorqr) -> None:
    await worker.start_work("other")
    assert worker.worker_id in await wq.get_workers()
    assert wq.worker_id not in await wq.get_workers()  # never started
    assert sorted(await wq.get_working_queues(worker.worker_id)) == ["jobs", "other"]
    assert sorted(await worker.get_working_queues()) == ["jobs", "other"]


async def test_fail_worker_of_a_peer_requeues_to_the_front_in_order(
    wq: AsyncWorqr, make_async_worqr: MakeAsyncWorqr
) -> None:
    victim = make_async_worqr()
    await victim.start_worker()
    await victim.start_work("jobs")
    await victim.start_work("other")
    await wq.enqueue("jobs", ["a", "b", "c", "d"])
    await wq.enqueue("other", ["x", "y"])
    taken = [await victim.dequeue("jobs"), await victim.dequeue("jobs"), await victim.dequeue("other")]
    assert [p.task for p in taken if p is not None] == ["a", "b", "x"]
    await wq.enqueue("jobs", "e")
    await wq.fail_worker(victim.worker_id)
    assert await wq.get_tasks("jobs") == ["a", "b", "c", "d", "e"]
    assert await wq.get_tasks("other") == ["x", "y"]
    assert victim.worker_id not in await wq.get_workers()
    assert await wq.get_working_queues(victim.worker_id) == []


async def test_zombie_is_fenced_after_a_peer_fails_it(wq: AsyncWorqr, make_async_worqr: MakeAsyncWorqr) -> None:
    victim = make_async_worqr()
    peer = make_async_worqr()
    await victim.start_worker()
    await victim.start_work("jobs")
    await peer.start_worker()
    await peer.start_work("jobs")
    await wq.enqueue("jobs", ["a", "b"])
    held = await victim.dequeue("jobs")
    assert held is not None and held.task == "a"

    await peer.fail_worker(victim.worker_id)

    with pytest.raises(ProcessLostError) as lost:
        await victim.finish_process(held.id, "too late")
    assert lost.value.process_id == held.id
    with pytest.raises(WorkerLostError):
        await victim.dequeue("jobs")
    # The task went back to the front, for the live peer to take.
    retaken = await peer.dequeue("jobs")
    assert retaken is not None and retaken.task == "a"
    await peer.finish_process(retaken.id)
    with pytest.raises(WorkerLostError):
        await victim.dequeue("jobs")  # still fenced until it starts again
    await victim.start_worker()
    await victim.start_work("jobs")
    process = await victim.dequeue("jobs")
    assert process is not None and process.task == "b"


async def test_async_with_closes_a_started_worker_cleanly(wq: AsyncWorqr, make_async_worqr: MakeAsyncWorqr) -> None:
    async with make_async_worqr() as leaving:
        await leaving.start_worker()
        await leaving.start_work("jobs")
        await wq.enqueue("jobs", ["a", "b", "c"])
        assert await leaving.dequeue("jobs") is not None
        assert await leaving.dequeue("jobs") is not None
        leaving_id = leaving.worker_id
        assert leaving_id in await wq.get_workers()
    assert await wq.get_tasks("jobs") == ["a", "b", "c"]
    assert leaving_id not in await wq.get_workers()
    assert await wq.get_working_queues(leaving_id) == []
    await leaving.close()  # idempotent


# Events -------------------------------------------------------------------------------------


async def test_on_with_async_and_sync_callbacks_receives_work_and_done(make_async_worqr: MakeAsyncWorqr) -> None:
    worker = make_async_worqr()
    async_inbox, sync_inbox = AsyncInbox(), SyncInbox()
    await worker.on("jobs", async_inbox)
    await worker.on("jobs", sync_inbox)
    await worker.start_worker()
    await worker.start_work("jobs")
    await worker.enqueue("jobs", ["payload", "other"])
    for inbox in (async_inbox, sync_inbox):
        work = await inbox.next("work")
        assert (work.queue, work.message) == ("jobs", "2")
    process = await worker.dequeue("jobs")
    assert process is not None
    await worker.finish_process(process.id, {"answer": 42})
    expected = {
        "worker_id": worker.worker_id,
        "process_id": process.id,
        "task": "payload",
        "result": {"answer": 42},
        "outcome": "succeeded",
    }
    for inbox in (async_inbox, sync_inbox):
        done = await inbox.next("done")
        assert done.queue == "jobs"
        assert json.loads(done.message) == expected


async def test_on_delivers_events_published_by_another_client(make_async_worqr: MakeAsyncWorqr) -> None:
    listener, producer = make_async_worqr(), make_async_worqr()
    inbox = AsyncInbox()
    await listener.on("jobs", inbox)
    await producer.enqueue("jobs", "x")
    assert (await inbox.next("work")).message == "1"
    await producer.cancel_tasks("jobs", "x")
    assert (await inbox.next("cancel")).message == "x"
    await producer.delete_queue("jobs")
    assert (await inbox.next("delete")).queue == "jobs"


async def test_off_stops_delivery(make_async_worqr: MakeAsyncWorqr) -> None:
    wq = make_async_worqr()
    kept, dropped = AsyncInbox(), AsyncInbox()
    await wq.on("jobs", kept)
    await wq.on("jobs", dropped)
    wq.off("jobs", dropped)
    await wq.enqueue("jobs", "a")
    assert (await kept.next("work")).message == "1"
    assert dropped.events.empty()


async def test_start_work_emits_work_at_once_when_tasks_wait(make_async_worqr: MakeAsyncWorqr) -> None:
    worker = make_async_worqr()
    await worker.enqueue("jobs", ["a", "b"])
    inbox = AsyncInbox()
    await worker.on("jobs", inbox)
    await worker.start_worker()
    await worker.start_work("jobs")
    assert (await inbox.next("work")).message == "2"


# Typed views --------------------------------------------------------------------------------


async def test_typed_async_queue_with_json_codec(wq: AsyncWorqr, worker: AsyncWorqr) -> None:
    orders = wq.queue("jobs", JsonCodec(Order))
    mine = worker.queue("jobs", JsonCodec(Order))
    first, second = Order(1, ["tea"]), Order(2, ["milk", "bread"])
    assert await orders.enqueue(first) == 1
    assert await orders.enqueue_many([second, first]) == 2
    assert await orders.count() == 3
    assert await orders.peek() == first
    assert await orders.tasks() == [first, second, first]
    assert await orders.cancel(first) == 2
    process = await mine.dequeue()
    assert process is not None
    assert process.task == second
    assert isinstance(process.task, Order)
    await worker.finish_process(process.id)
    assert await mine.dequeue() is None
    not_an_order: Any = {"id": 3, "items": []}
    with pytest.raises(InvalidTaskTypeError):
        await orders.enqueue(not_an_order)
    assert await orders.count() == 0
