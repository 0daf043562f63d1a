"""`AsyncWorqr`: the asyncio client. The same methods as `Worqr`, as coroutines, running
the same flows through the client's core (``worqr._io._async.core``); docstrings are copied
from `Worqr` so they cannot drift."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import redis.asyncio
import redis.asyncio.cluster
from typing_extensions import Unpack

from worqr._async_queue_client import AsyncQueue
from worqr._client import Worqr
from worqr._docs import docs_from
from worqr._io._async.connect import async_backend
from worqr._io._async.core import AsyncCore
from worqr._io._async.supervisor import AsyncSupervisor
from worqr._io.durability import Durability
from worqr._io.flavors import async_face
from worqr._io.urls import resolve_prefix
from worqr._protocol import flows
from worqr._protocol.codec import Codec, StrCodec
from worqr._protocol.models import DeadLetter, Event, Failure, Process
from worqr._protocol.session import DEFAULT_MAX_PAYLOAD_SIZE, Session
from worqr._runtime._async.worker import AsyncWorker
from worqr._runtime.options import PersistentOptions, QueueSpec, Settings, WorkerOptions, check_handler, queue_specs
from worqr.calls._async.calls import AsyncCalls
from worqr.calls._async.face import AsyncCallsFace
from worqr.channels._async.face import AsyncChannelsFace
from worqr.leases._async.face import AsyncLeasesFace
from worqr.leases._async.leases import AsyncLeases
from worqr.operations._async.face import AsyncOperationsFace
from worqr.schedules._async.face import AsyncSchedulesFace
from worqr.streams._async.face import AsyncStreamsFace

T = TypeVar("T")
R = TypeVar("R")
C = TypeVar("C", bound=type)
log = logging.getLogger("worqr")
_TEXT = StrCodec()


@docs_from(Worqr)
class AsyncWorqr(
    AsyncCallsFace, AsyncChannelsFace, AsyncLeasesFace, AsyncOperationsFace, AsyncSchedulesFace, AsyncStreamsFace
):
    def __init__(
        self,
        *,
        redis: str | redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster | None = None,
        prefix: str | None = None,
        worker_id: str | None = None,
        heartbeat_interval: float = 1.0,
        worker_timeout: float | None = 3.0,
        cleanup_interval: float = 10.0,
        poll_interval: float = 5.0,
        max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE,
        durability: Durability | Literal["replicated"] | None = None,
    ) -> None:
        self._session = Session(
            prefix=resolve_prefix(prefix),
            worker_id=str(uuid.uuid4()) if worker_id is None else worker_id,
            heartbeat_interval=heartbeat_interval,
            worker_timeout=worker_timeout,
            cleanup_interval=cleanup_interval,
            poll_interval=poll_interval,
            max_payload_size=max_payload_size,
            lock=threading.Lock(),
        )
        self._core = AsyncCore(
            self._session, async_backend(redis, durability, self._session.worker_timeout), async_face
        )
        self._backend = self._core.backend
        self._runner = self._core.runner
        self._listener = self._core.listener
        self._calls = AsyncCalls(self._core)
        self._leases = AsyncLeases(self._core)

    @property
    def _supervisor(self) -> AsyncSupervisor | None:
        return self._core.supervisor

    @property
    def worker_id(self) -> str:
        return self._session.worker_id

    @property
    def prefix(self) -> str:
        return self._session.prefix

    async def _drive(self, flow: flows.Flow[R]) -> R:
        return await self._core.drive(flow)

    # Queues ---------------------------------------------------------------------------------

    async def enqueue(
        self,
        queue: str,
        task_or_tasks: str | Iterable[str],
        *,
        unique: bool = False,
        delay: float | None = None,
        at: datetime | None = None,
    ) -> int:
        tasks = flows.as_batch(_TEXT, task_or_tasks)
        return await self._drive(flows.enqueue(self._session, queue, _TEXT, tasks, unique=unique, delay=delay, at=at))

    async def count_queue(self, queue: str) -> int:
        return await self._drive(flows.count_queue(self._session, queue))

    async def peek_queue(self, queue: str) -> str | None:
        flow = flows.peek_queue(self._session, queue, _TEXT)
        return await self._drive(flow)

    async def get_tasks(self, queue: str) -> list[str]:
        return await self._drive(flows.get_tasks(self._session, queue, _TEXT))

    async def count_delayed(self, queue: str) -> int:
        return await self._drive(flows.count_delayed(self._session, queue))

    async def get_dead_letters(self, queue: str) -> list[DeadLetter[str]]:
        return await self._drive(flows.get_dead_letters(self._session, queue, _TEXT))

    async def count_dead_letters(self, queue: str) -> int:
        return await self._drive(flows.count_dead_letters(self._session, queue))

    async def requeue_dead_letters(self, queue: str, ids: str | Iterable[str] | None = None) -> int:
        return await self._drive(flows.requeue_dead_letters(self._session, queue, ids))

    async def purge_dead_letters(self, queue: str, ids: str | Iterable[str] | None = None) -> int:
        return await self._drive(flows.purge_dead_letters(self._session, queue, ids))

    async def get_queues(self) -> list[str]:
        return await self._drive(flows.get_queues(self._session))

    async def delete_queue(self, queue: str) -> int:
        return await self._drive(flows.delete_queue(self._session, queue))

    async def cancel_tasks(self, queue: str, task: str) -> int:
        return await self._drive(flows.cancel_tasks(self._session, queue, _TEXT, task))

    @overload
    def queue(self, name: str) -> AsyncQueue[str]: ...
    @overload
    def queue(self, name: str, codec: Codec[T]) -> AsyncQueue[T]: ...
    def queue(self, name: str, codec: Codec[Any] = _TEXT) -> AsyncQueue[Any]:
        self._session.queue(name)
        return AsyncQueue(self, name, codec)

    # Workers and processes ------------------------------------------------------------------

    async def start_worker(self) -> None:
        await self._core.start_worker()

    async def start_work(self, queue: str) -> None:
        await self._core.start_work(queue)

    async def stop_work(self, queue: str) -> None:
        await self._core.stop_work(queue)

    async def dequeue(self, queue: str) -> Process[str] | None:
        return await self._drive(flows.dequeue(self._session, queue, _TEXT))

    async def finish_process(self, process_id: str, result: object = None) -> None:
        await self._drive(flows.finish_process(self._session, process_id, result))

    async def fail_process(
        self,
        process_id: str,
        error: BaseException | str,
        *,
        max_attempts: int | None = 3,
        retry_delay: float = 0.0,
    ) -> Failure:
        flow = flows.fail_process(self._session, process_id, error, max_attempts=max_attempts, retry_delay=retry_delay)
        return await self._drive(flow)

    async def stop_process(self, process_id: str) -> None:
        await self._drive(flows.stop_process(self._session, process_id))

    async def get_workers(self) -> list[str]:
        return await self._drive(flows.get_workers(self._session))

    async def get_working_queues(self, worker_id: str | None = None) -> list[str]:
        return await self._drive(flows.get_working_queues(self._session, worker_id))

    async def get_matching_processes(self, task: str) -> list[str]:
        return await self._drive(flows.get_matching_processes(self._session, _TEXT, task))

    async def fail_worker(self, worker_id: str | None = None) -> None:
        await self._drive(flows.fail_worker(self._session, worker_id))

    async def cleanup_workers(self) -> list[str]:
        return await self._drive(flows.cleanup_workers(self._session))

    # The runtime ------------------------------------------------------------------------------

    @overload
    def worker(
        self,
        queues: str | Sequence[str],
        handler: Callable[[Process[str]], Awaitable[object]],
        **options: Unpack[WorkerOptions],
    ) -> AsyncWorker[str]: ...
    @overload
    def worker(
        self,
        queues: AsyncQueue[T] | Sequence[AsyncQueue[T]],
        handler: Callable[[Process[T]], Awaitable[object]],
        **options: Unpack[WorkerOptions],
    ) -> AsyncWorker[T]: ...
    def worker(
        self, queues: Any, handler: Callable[[Process[Any]], Awaitable[object]], **options: Unpack[WorkerOptions]
    ) -> AsyncWorker[Any]:
        """An `AsyncWorker` that awaits ``handler(process)`` (an ``async def``) on the tasks of
        ``queues`` (a name or a typed `AsyncQueue` view, or a sequence of them in priority
        order). A timeout or a ``cancel`` event cancels the handler's task. Otherwise as
        `Worqr.worker`; options: `WorkerOptions`."""
        return AsyncWorker(
            self._core, *_async_runtime_parts(queues, handler), Settings.from_options(options, persistent=False)
        )

    @overload
    def persistent_worker(
        self,
        queues: str | Sequence[str],
        handler: Callable[[Process[str]], Awaitable[object]],
        **options: Unpack[PersistentOptions],
    ) -> AsyncWorker[str]: ...
    @overload
    def persistent_worker(
        self,
        queues: AsyncQueue[T] | Sequence[AsyncQueue[T]],
        handler: Callable[[Process[T]], Awaitable[object]],
        **options: Unpack[PersistentOptions],
    ) -> AsyncWorker[T]: ...
    def persistent_worker(
        self, queues: Any, handler: Callable[[Process[Any]], Awaitable[object]], **options: Unpack[PersistentOptions]
    ) -> AsyncWorker[Any]:
        """An `AsyncWorker` for tasks that never finish (see `Worqr.persistent_worker`); on
        shutdown the handler's task is cancelled and the task given back at once."""
        return AsyncWorker(
            self._core, *_async_runtime_parts(queues, handler), Settings.from_options(options, persistent=True)
        )

    # Events ---------------------------------------------------------------------------------

    def on(self, queue: str, callback: Callable[[Event], Any]) -> asyncio.Future[None]:
        """Call ``callback(event)`` for every event of ``queue``; ``callback`` may be async.

        Registers at once (a plain method); await the returned future to wait until the
        subscription is live. Callbacks run one at a time on the client's listener task.
        """
        return asyncio.ensure_future(self._core.confirm(self._core.on(queue, callback)))

    def off(self, queue: str, callback: Callable[[Event], Any]) -> None:
        self._core.off(queue, callback)

    # Lifetime -------------------------------------------------------------------------------

    async def close(self) -> None:
        await self._core.close()

    async def aclose(self) -> None:
        """The same as `close` (the asyncio spelling)."""
        await self.close()

    async def __aenter__(self) -> AsyncWorqr:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<AsyncWorqr prefix={self.prefix!r} worker_id={self.worker_id!r} at {self._runner.where}>"


def _async_runtime_parts(queues: object, handler: object) -> tuple[list[QueueSpec], Any]:
    """The checked queues and handler of ``AsyncWorqr.worker()`` / ``persistent_worker()``."""
    checked = check_handler(handler, asyncio=True)
    return queue_specs(queues), checked
