"""The producer side shared by the asyncio peers (arq, saq, taskiq, streaq, BullMQ): a private event loop, one
enqueue call per task, and a fill in gathered groups of 100."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from bench.timing import Rate, async_timed_loop

P = TypeVar("P", bound="AsyncProducer")


class AsyncProducer:
    """Subclasses connect in ``__init__`` (on ``self.loop``) and say how to enqueue one
    no-op task and how to disconnect."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    async def enqueue_one(self, index: int = -1) -> None:
        """Enqueue one no-op task; ``index`` >= 0: the task carries it."""
        raise NotImplementedError

    async def disconnect(self) -> None:
        raise NotImplementedError

    def enqueue(self, total: int, seconds: float) -> Rate:
        async def one(_i: int) -> int:
            await self.enqueue_one()
            return 1

        return self.loop.run_until_complete(async_timed_loop(total, seconds, one))

    def enqueue_batches(self, _total: int, _size: int, _seconds: float) -> Rate | None:
        return None  # neither library has a batch call

    def fill(self, total: int, *, marked: bool = False) -> None:
        async def fill() -> None:
            for start in range(0, total, 100):
                indices = range(start, min(total, start + 100))
                await asyncio.gather(*(self.enqueue_one(i if marked else -1) for i in indices))

        self.loop.run_until_complete(fill())

    def close(self) -> None:
        self.loop.run_until_complete(self.disconnect())
        self.loop.close()


@contextmanager
def opened(made: P) -> Iterator[P]:
    """``made``, closed when the block ends."""
    try:
        yield made
    finally:
        made.close()
