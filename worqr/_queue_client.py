"""`Queue`: the threaded client's typed view of one queue (`AsyncQueue`, in
``_async_queue_client.py``, is the asyncio client's). One-line methods over the flows, run by the
client that made the view."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Generic, Protocol, TypeVar, overload

from worqr._protocol import flows
from worqr._protocol.checks import bound_codec
from worqr._protocol.codec import Codec
from worqr._protocol.models import DeadLetter, Process
from worqr._protocol.session import Session

T = TypeVar("T")
R = TypeVar("R")


class ViewClient(Protocol):
    """What a `Queue` view needs of the `Worqr` that made it."""

    @property
    def prefix(self) -> str: ...
    @property
    def _session(self) -> Session: ...
    def _drive(self, flow: flows.Flow[R]) -> R: ...


class Queue(Generic[T]):
    """A typed view of one queue: tasks are encoded and decoded by the queue's codec.

    Processes are finished and stopped through the client, as usual.
    """

    def __init__(self, client: ViewClient, name: str, codec: Codec[T]) -> None:
        self.client = client
        self.name = name
        # A codec that binds itself to its queue (worqr.crypto.AeadCodec) is bound here.
        self.codec = bound_codec(codec, client.prefix, name)

    # Text and bytes views take an iterable as a batch; other views take one task (a JSON
    # list is one task: use enqueue_many for a batch).
    @overload
    def enqueue(
        self: Queue[str],
        task_or_tasks: str | Iterable[str],
        *,
        unique: bool = False,
        delay: float | None = None,
        at: datetime | None = None,
    ) -> int: ...
    @overload
    def enqueue(
        self: Queue[bytes],
        task_or_tasks: bytes | Iterable[bytes],
        *,
        unique: bool = False,
        delay: float | None = None,
        at: datetime | None = None,
    ) -> int: ...
    @overload
    def enqueue(
        self, task_or_tasks: T, *, unique: bool = False, delay: float | None = None, at: datetime | None = None
    ) -> int: ...
    def enqueue(
        self, task_or_tasks: object, *, unique: bool = False, delay: float | None = None, at: datetime | None = None
    ) -> int:
        """Enqueue one task; with a text or bytes codec an ordered iterable of them (not a
        mapping or a set) is a batch. ``delay``/``at`` as for `Worqr.enqueue`."""
        tasks = flows.as_batch(self.codec, task_or_tasks)
        flow = flows.enqueue(self.client._session, self.name, self.codec, tasks, unique=unique, delay=delay, at=at)
        return self.client._drive(flow)

    def enqueue_many(
        self, tasks: Iterable[T], *, unique: bool = False, delay: float | None = None, at: datetime | None = None
    ) -> int:
        """Enqueue a batch of tasks (an ordered iterable, not a mapping or a set) atomically, in order."""
        batch = flows.as_batch(self.codec, tasks, many=True)
        flow = flows.enqueue(self.client._session, self.name, self.codec, batch, unique=unique, delay=delay, at=at)
        return self.client._drive(flow)

    def dequeue(self) -> Process[T] | None:
        """Move the next task into a new process of this worker, decoded; None if empty."""
        return self.client._drive(flows.dequeue(self.client._session, self.name, self.codec))

    def peek(self) -> T | None:
        """The next task to be dequeued, or None."""
        flow = flows.peek_queue(self.client._session, self.name, self.codec)
        return self.client._drive(flow)

    def tasks(self) -> list[T]:
        """The waiting tasks, in dequeue order."""
        return self.client._drive(flows.get_tasks(self.client._session, self.name, self.codec))

    def count(self) -> int:
        """How many tasks wait."""
        return self.client._drive(flows.count_queue(self.client._session, self.name))

    def cancel(self, task: T) -> int:
        """Remove every waiting copy of ``task``; returns how many."""
        return self.client._drive(flows.cancel_tasks(self.client._session, self.name, self.codec, task))

    def count_delayed(self) -> int:
        """How many tasks wait for their due time."""
        return self.client._drive(flows.count_delayed(self.client._session, self.name))

    def dead_letters(self) -> list[DeadLetter[T]]:
        """The dead letters, oldest first, decoded by the view's codec.

        A letter whose payload does not decode (its type changed since) is listed in its
        place all the same, with ``decode_error`` set; reading its ``task`` raises that
        `CodecError` (see `DeadLetter`).
        """
        return self.client._drive(flows.get_dead_letters(self.client._session, self.name, self.codec))

    def count_dead_letters(self) -> int:
        """How many dead letters the queue has."""
        return self.client._drive(flows.count_dead_letters(self.client._session, self.name))

    def requeue_dead_letters(self, ids: str | Iterable[str] | None = None) -> int:
        """Move dead letters (one id, several, or all) back to the queue; returns how many."""
        return self.client._drive(flows.requeue_dead_letters(self.client._session, self.name, ids))

    def purge_dead_letters(self, ids: str | Iterable[str] | None = None) -> int:
        """Drop dead letters (one id, several, or all) for good; returns how many."""
        return self.client._drive(flows.purge_dead_letters(self.client._session, self.name, ids))

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} codec={self.codec!r}>"
