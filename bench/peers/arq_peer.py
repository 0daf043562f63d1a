"""arq: asyncio; a job is a key, the queue a sorted set of job ids, polled every
``poll_delay`` (0.5 s by default), up to ``queue_read_limit`` ids a poll, ``max_jobs`` (10)
running at once. Burst mode: the worker exits when the queue is empty. A job whose worker
died runs again once its in-progress key expires: the job's timeout (300 s) plus 10 s."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AbstractContextManager
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker, func

from bench.children import Shared, async_tally, at_start_line, signal_on_stop
from bench.faults import Recovery
from bench.peers import Peer, Producer, Setup
from bench.peers.async_producer import AsyncProducer, opened

QUEUE = "bench:arq"
_shared: Shared | None = None


async def noop(_ctx: dict[str, Any], index: int = -1) -> None:
    await async_tally(_shared, index)


class ArqProducer(AsyncProducer):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.pool: ArqRedis = self.loop.run_until_complete(
            create_pool(RedisSettings.from_dsn(url), default_queue_name=QUEUE)
        )

    async def enqueue_one(self, index: int = -1) -> None:
        await (self.pool.enqueue_job("noop") if index < 0 else self.pool.enqueue_job("noop", index))

    async def disconnect(self) -> None:
        await self.pool.aclose()


def producer(url: str) -> AbstractContextManager[Producer]:
    return opened(ArqProducer(url))


def _work(url: str, shared: Shared, *, burst: bool = True, **options: Any) -> None:
    global _shared  # noqa: PLW0603 (the job runs in this process)
    _shared = shared
    asyncio.set_event_loop(asyncio.new_event_loop())
    worker = Worker(
        functions=[func(noop, name="noop")],
        queue_name=QUEUE,
        redis_settings=RedisSettings.from_dsn(url),
        burst=burst,
        log_results=False,
        **options,
    )
    if not at_start_line(shared):
        return
    signal_on_stop(shared, signal.SIGTERM)
    worker.run()


def run_default(url: str, shared: Shared) -> None:
    _work(url, shared)


def run_fast_poll(url: str, shared: Shared) -> None:
    _work(url, shared, poll_delay=0.005, max_jobs=100)


def run_victim(url: str, shared: Shared) -> None:
    _work(url, shared, burst=False, max_jobs=50)


def run_rescuer(url: str, shared: Shared) -> None:
    _work(url, shared, burst=False)


PEER = Peer(
    name="arq",
    distribution="arq",
    producer=producer,
    setups=(
        Setup("defaults (max_jobs 10, poll_delay 0.5 s), burst", run_default),
        Setup("max_jobs 100, poll_delay 5 ms, burst", run_fast_poll, "poll 5 ms"),
    ),
    notes="no batch enqueue call; the drain's queue is filled with 100 concurrent enqueue_job calls at a time",
    recovery=Recovery(run_victim, run_rescuer, note="victim max_jobs 50"),
)
