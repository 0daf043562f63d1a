"""taskiq with taskiq-redis' `RedisStreamBroker` (the broker its README shows first, the one
with acknowledgements): a task is a stream entry read by a consumer group and acknowledged
once it ran. An entry its consumer never acknowledged is claimed by another consumer once
it has been idle ``idle_timeout`` (10 minutes) by default. The worker is
`taskiq.api.run_receiver_task` in one process (the `taskiq worker` command starts two by
default), with its defaults: up to 100 async tasks at once."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from typing import Any

from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

from bench.children import Shared, async_at_start_line, async_tally, run_until_stop
from bench.faults import Recovery
from bench.peers import Peer, Producer, Setup
from bench.peers.async_producer import AsyncProducer, opened

QUEUE = "bench"
_shared: Shared | None = None


def make(url: str) -> tuple[RedisStreamBroker, Any]:
    """The broker and its no-op task, declared the same way in every process."""
    broker = RedisStreamBroker(url=url, queue_name=QUEUE)

    async def noop(index: int = -1) -> None:
        await async_tally(_shared, index)

    return broker, broker.task(task_name="noop")(noop)


class TaskiqProducer(AsyncProducer):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.broker, self.task = make(url)
        self.loop.run_until_complete(self.broker.startup())  # creates the consumer group

    def fill(self, total: int, *, marked: bool = False) -> None:
        # The group reads from "$" when it is created: declare it again before filling a
        # queue the benchmark emptied since (FLUSHALL), as a producer's startup does.
        self.loop.run_until_complete(self.broker.startup())
        super().fill(total, marked=marked)

    async def enqueue_one(self, index: int = -1) -> None:
        await (self.task.kiq() if index < 0 else self.task.kiq(index))

    async def disconnect(self) -> None:
        await self.broker.shutdown()


def producer(url: str) -> AbstractContextManager[Producer]:
    return opened(TaskiqProducer(url))


def _work(url: str, shared: Shared, **options: Any) -> None:
    global _shared  # noqa: PLW0603 (the task runs in this process)
    _shared = shared

    async def work() -> None:
        broker, _task = make(url)
        await broker.startup()
        if not await async_at_start_line(shared):
            return
        await run_until_stop(run_receiver_task(broker, **options), shared)
        await broker.shutdown()

    asyncio.run(work())


def run_default(url: str, shared: Shared) -> None:
    _work(url, shared)


PEER = Peer(
    name="taskiq",
    distribution="taskiq",
    producer=producer,
    setups=(Setup("RedisStreamBroker, run_receiver_task defaults (100 async tasks)", run_default),),
    notes="no batch enqueue call; the drain's queue is filled with 100 concurrent kiq calls at a time",
    recovery=Recovery(run_default, run_default),
)
