"""`AsyncQueue`: the asyncio client's typed view of one queue, the same methods as `Queue` as
coroutines; docstrings are copied from `Queue` so they cannot drift."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import Generic, Protocol, TypeVar, overload

from worqr._docs import docs_from
from worqr._protocol import flows
from worqr._protocol.checks import bound_codec
from worqr._protocol.codec import Codec
from worqr._protocol.models import DeadLetter, Process
from worqr._protocol.session import Session
from worqr._queue_client import Queue

T = TypeVar("T")
R = TypeVar("R")


class AsyncViewClient(Protocol):
    """What an `AsyncQueue` view needs of the `AsyncWorqr` that made it."""

    @property
    def prefix(self) -> str: ...
    @property
    def _session(self) -> Session: ...
    def _drive(self, flow: flows.Flow[R]) -> Awaitable[R]: ...


@docs_from(Queue)
class AsyncQueue(Generic[T]):
    def __init__(self, client: AsyncViewClient, name: str, codec: Codec[T]) -> None:
        self.client = client
        self.name = name
        # A codec that binds itself to its queue (worqr.crypto.AeadCodec) is bound here.
        self.codec = bound_codec(codec, client.prefix, name)

    # Text and bytes views take an iterable as a batch; other views take one task (a JSON
    # list is one task: use enqueue_many for a batch).
    @overload
    async def enqueue(
        self: AsyncQueue[str],
        task_or_tasks: str | Iterable[str],
        *,
        unique: bool = False,
        delay: float | None = None,
        at: datetime | None = None,
    ) -> int: ...
    @overload
    async def enqueue(
        self: AsyncQueue[bytes],
        task_or_tasks: bytes | Iterable[bytes],
        *,
        unique: bool = False,
        delay: float | None = None,
        at: datetime | None = None,
    ) -> int: ...
    @overload
    async def enqueue(
        self, task_or_tasks: T, *, unique: bool = False, delay: float | None = None, at: datetime | None = None
    ) -> int: ...
    async def enqueue(
        self, task_or_tasks: object, *, unique: bool = False, delay: float | None = None, at: datetime | None = None
    ) -> int:
        tasks = flows.as_batch(self.codec, task_or_tasks)
        flow = flows.enqueue(self.client._session, self.name, self.codec, tasks, unique=unique, delay=delay, at=at)
        return await self.client._drive(flow)

    async def enqueue_many(
        self, tasks: Iterable[T], *, unique: bool = False, delay: float | None = None, at: datetime | None = None
    ) -> int:
        batch = flows.as_batch(self.codec, tasks, many=True)
        flow = flows.enqueue(self.client._session, self.name, self.codec, batch, unique=unique, delay=delay, at=at)
        return await self.client._drive(flow)

    async def dequeue(self) -> Process[T] | None:
        return await self.client._drive(flows.dequeue(self.client._session, self.name, self.codec))

    async def peek(self) -> T | None:
        flow = flows.peek_queue(self.client._session, self.name, self.codec)
        return await self.client._drive(flow)

    async def tasks(self) -> list[T]:
        return await self.client._drive(flows.get_tasks(self.client._session, self.name, self.codec))

    async def count(self) -> int:
        return await self.client._drive(flows.count_queue(self.client._session, self.name))

    async def cancel(self, task: T) -> int:
        return await self.client._drive(flows.cancel_tasks(self.client._session, self.name, self.codec, task))

    async def count_delayed(self) -> int:
        return await self.client._drive(flows.count_delayed(self.client._session, self.name))

    async def dead_letters(self) -> list[DeadLetter[T]]:
        return await self.client._drive(flows.get_dead_letters(self.client._session, self.name, self.codec))

    async def count_dead_letters(self) -> int:
        return await self.client._drive(flows.count_dead_letters(self.client._session, self.name))

    async def requeue_dead_letters(self, ids: str | Iterable[str] | None = None) -> int:
        return await self.client._drive(flows.requeue_dead_letters(self.client._session, self.name, ids))

    async def purge_dead_letters(self, ids: str | Iterable[str] | None = None) -> int:
        return await self.client._drive(flows.purge_dead_letters(self.client._session, self.name, ids))

    def __repr__(self) -> str:
        return f"<AsyncQueue {self.name!r} codec={self.codec!r}>"
