"""`Worqr`: the synchronous client, a table of one-line methods: each runs one flow of
``worqr._protocol.flows`` through the client's core (``worqr._io._sync.core``)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import redis
import redis.cluster
from typing_extensions import Unpack

from worqr._io._sync.connect import sync_backend
from worqr._io._sync.core import SyncCore
from worqr._io._sync.supervisor import SyncSupervisor
from worqr._io.durability import Durability
from worqr._io.flavors import sync_face
from worqr._io.urls import resolve_prefix
from worqr._protocol import flows
from worqr._protocol.codec import Codec, StrCodec
from worqr._protocol.models import DeadLetter, Event, Failure, Process
from worqr._protocol.session import DEFAULT_MAX_PAYLOAD_SIZE, Session
from worqr._queue_client import Queue
from worqr._runtime._sync.worker import Worker
from worqr._runtime.options import PersistentOptions, QueueSpec, Settings, WorkerOptions, check_handler, queue_specs
from worqr.calls._sync.calls import SyncCalls
from worqr.calls._sync.face import SyncCallsFace
from worqr.channels._sync.face import SyncChannelsFace
from worqr.leases._sync.face import SyncLeasesFace
from worqr.leases._sync.leases import SyncLeases
from worqr.operations._sync.face import SyncOperationsFace
from worqr.schedules._sync.face import SyncSchedulesFace
from worqr.streams._sync.face import SyncStreamsFace

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("worqr")
_TEXT = StrCodec()


class Worqr(SyncCallsFace, SyncChannelsFace, SyncLeasesFace, SyncOperationsFace, SyncSchedulesFace, SyncStreamsFace):
    """A client of a worqr queue system on one Redis: producer, worker, or both.

    Safe to share between threads. Use it as a context manager, or call `close`: leaving
    fails this worker cleanly (its processes go back to the front of their queues).

    Args:
        redis: a ``redis://`` / ``rediss://`` / ``unix://`` URL, a Sentinel URL
            (``redis+sentinel://host:port[,host:port...]/<service>[/<db>]``, or ``rediss+sentinel://``),
            a Redis Cluster URL (``redis+cluster://host:port[,host:port...]``, or ``rediss+cluster://``),
            or a ``redis.Redis`` client (``Sentinel.master_for(...)`` works too) or
            ``redis.cluster.RedisCluster`` client.
            Default: the ``WORQR_REDIS_URL`` environment variable, else ``redis://localhost:6379/0``.
        prefix: the namespace of every key and channel; two prefixes never see each other.
            Default: the ``WORQR_PREFIX`` environment variable, else ``"worqr"`` (as for
            the ``worqr`` command line).
        worker_id: this worker's id (default: a fresh UUID4). Must be unique among live workers.
        heartbeat_interval: seconds between heartbeats.
        worker_timeout: seconds without a heartbeat after which peers reap this worker;
            None makes a permanent worker that never expires.
        cleanup_interval: seconds between reaps of expired peers (with jitter).
        poll_interval: seconds between checks for waiting work that a lost event missed.
        max_payload_size: largest encoded task accepted, in bytes.
        durability: ``"replicated"`` or a `Durability`: each acknowledged state change
            (enqueue, finish, fail, stop, cancel, ...) first waits until replicas confirm it,
            else raises `ReplicationTimeoutError` (see docs/scaling.md). Default: no wait.
    """

    def __init__(
        self,
        *,
        redis: str | redis.Redis | redis.cluster.RedisCluster | None = None,
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
        self._core = SyncCore(self._session, sync_backend(redis, durability, self._session.worker_timeout), sync_face)
        self._runner = self._core.runner
        self._calls = SyncCalls(self._core)
        self._leases = SyncLeases(self._core)

    @property
    def _supervisor(self) -> SyncSupervisor | None:
        return self._core.supervisor

    @property
    def worker_id(self) -> str:
        """This client's worker id."""
        return self._session.worker_id

    @property
    def prefix(self) -> str:
        """The namespace of every key and channel of this client."""
        return self._session.prefix

    def _drive(self, flow: flows.Flow[R]) -> R:
        return self._core.drive(flow)

    # Queues ---------------------------------------------------------------------------------

    def enqueue(
        self,
        queue: str,
        task_or_tasks: str | Iterable[str],
        *,
        unique: bool = False,
        delay: float | None = None,
        at: datetime | None = None,
    ) -> int:
        """Append a task (a str) or a batch (an ordered iterable of str: a list, a tuple, a
        generator; not a mapping or a set) to the back of ``queue``.

        The batch is enqueued atomically, in order, and a ``work`` event announces it.
        With ``delay`` (seconds) or ``at`` (a timezone-aware datetime) the tasks wait until
        then by the server's clock, then join the back of the queue (a ``scheduled`` event
        announces them). Returns how many tasks were enqueued.

        Raises:
            DuplicateTaskError: ``unique`` and a payload is already queued, delayed or in
                process on ``queue`` (or repeats in the batch); nothing was enqueued.
            InvalidArgumentError, InvalidTaskTypeError: bad name, task, batch, delay or
                time; nothing was written.
        """
        tasks = flows.as_batch(_TEXT, task_or_tasks)
        return self._drive(flows.enqueue(self._session, queue, _TEXT, tasks, unique=unique, delay=delay, at=at))

    def count_queue(self, queue: str) -> int:
        """How many tasks wait in ``queue``."""
        return self._drive(flows.count_queue(self._session, queue))

    def peek_queue(self, queue: str) -> str | None:
        """The task that would be dequeued next from ``queue``, or None if it is empty."""
        flow = flows.peek_queue(self._session, queue, _TEXT)
        return self._drive(flow)

    def get_tasks(self, queue: str) -> list[str]:
        """The tasks waiting in ``queue``, in dequeue order."""
        return self._drive(flows.get_tasks(self._session, queue, _TEXT))

    def count_delayed(self, queue: str) -> int:
        """How many tasks of ``queue`` wait for their due time (delayed, scheduled or retried)."""
        return self._drive(flows.count_delayed(self._session, queue))

    def get_dead_letters(self, queue: str) -> list[DeadLetter[str]]:
        """The dead letters of ``queue`` (tasks that used up their attempts), oldest first.

        Their tasks are read as text. A letter whose payload is not UTF-8 is listed all the
        same: its ``decode_error`` says so, its ``payload`` holds the bytes, and reading its
        ``task`` raises the `CodecError` (see `DeadLetter`).
        """
        return self._drive(flows.get_dead_letters(self._session, queue, _TEXT))

    def count_dead_letters(self, queue: str) -> int:
        """How many dead letters ``queue`` has."""
        return self._drive(flows.count_dead_letters(self._session, queue))

    def requeue_dead_letters(self, queue: str, ids: str | Iterable[str] | None = None) -> int:
        """Move dead letters (one id, several, or all when None) to the back of ``queue``,
        with fresh attempts; returns how many moved. Ids already gone are skipped."""
        return self._drive(flows.requeue_dead_letters(self._session, queue, ids))

    def purge_dead_letters(self, queue: str, ids: str | Iterable[str] | None = None) -> int:
        """Drop dead letters (one id, several, or all when None) for good; returns how many."""
        return self._drive(flows.purge_dead_letters(self._session, queue, ids))

    def get_queues(self) -> list[str]:
        """The names of the queues that exist (from their first enqueue or start_work until deleted)."""
        return self._drive(flows.get_queues(self._session))

    def delete_queue(self, queue: str) -> int:
        """Drop the waiting tasks of ``queue`` and its unique markers; returns how many were dropped.

        Tasks already in processes stay with their workers. Publishes a ``delete`` event.
        """
        return self._drive(flows.delete_queue(self._session, queue))

    def cancel_tasks(self, queue: str, task: str) -> int:
        """Remove every waiting copy of ``task`` from ``queue``; returns how many were removed.

        Publishes a ``cancel`` event with the payload, so workers running it can stop.
        """
        return self._drive(flows.cancel_tasks(self._session, queue, _TEXT, task))

    @overload
    def queue(self, name: str) -> Queue[str]: ...
    @overload
    def queue(self, name: str, codec: Codec[T]) -> Queue[T]: ...
    def queue(self, name: str, codec: Codec[Any] = _TEXT) -> Queue[Any]:
        """A typed view of queue ``name`` whose tasks are encoded and decoded by ``codec``.

        A codec with a ``bind(prefix, queue)`` method (``worqr.crypto.AeadCodec``) is bound to
        this client's prefix and ``name``: the view's ``codec`` is the bound one.
        """
        self._session.queue(name)
        return Queue(self, name, codec)

    # Workers and processes ------------------------------------------------------------------

    def start_worker(self) -> None:
        """Register this worker and start its heartbeat and the periodic reaping of dead peers.

        Idempotent while the worker is alive; after the worker was declared dead, registers
        it again (it must then ``start_work`` again).
        """
        self._core.start_worker()

    def start_work(self, queue: str) -> None:
        """Subscribe to ``queue``'s events and allow this worker to dequeue from it.

        Returns once the subscription is live; if tasks are already waiting, this client's
        callbacks get a ``work`` event at once.

        Raises:
            WorkerNotStartedError: before ``start_worker()``.
            WorkerLostError: this worker was declared dead.
        """
        self._core.start_work(queue)

    def stop_work(self, queue: str) -> None:
        """Stop dequeuing from ``queue``; this worker's processes there go back to the front."""
        self._core.stop_work(queue)

    def dequeue(self, queue: str) -> Process[str] | None:
        """Move the next task of ``queue`` into a new process of this worker, or return None.

        Raises:
            NotWorkingError: ``start_work(queue)`` was not called.
            WorkerLostError: this worker was declared dead; call ``start_worker()`` again.
            CodecError: the payload is not UTF-8 (it is in process; its id is on the error).
        """
        return self._drive(flows.dequeue(self._session, queue, _TEXT))

    def finish_process(self, process_id: str, result: object = None) -> None:
        """Remove the process's task for good and publish a ``done`` event with ``result`` (JSON).

        Raises:
            ProcessLostError: the process is not this worker's (anymore): already finished or
                stopped, or requeued by a peer that reaped this worker.
        """
        self._drive(flows.finish_process(self._session, process_id, result))

    def fail_process(
        self,
        process_id: str,
        error: BaseException | str,
        *,
        max_attempts: int | None = 3,
        retry_delay: float = 0.0,
    ) -> Failure:
        """Record a failed attempt of the process's task: retry it after ``retry_delay``
        seconds, or, once it has used ``max_attempts`` attempts (None: no limit), move it to
        the queue's dead letters with ``error``'s type and message. One atomic step.

        Raises:
            ProcessLostError: the process is not this worker's (anymore).
        """
        flow = flows.fail_process(self._session, process_id, error, max_attempts=max_attempts, retry_delay=retry_delay)
        return self._drive(flow)

    def stop_process(self, process_id: str) -> None:
        """Give the process's task back to the front of its queue.

        Raises:
            ProcessLostError: the process is not this worker's (anymore).
        """
        self._drive(flows.stop_process(self._session, process_id))

    def get_workers(self) -> list[str]:
        """The ids of the registered workers that have not been declared dead."""
        return self._drive(flows.get_workers(self._session))

    def get_working_queues(self, worker_id: str | None = None) -> list[str]:
        """The queues a worker (default: this one) works on."""
        return self._drive(flows.get_working_queues(self._session, worker_id))

    def get_matching_processes(self, task: str) -> list[str]:
        """The ids of the processes, on any queue and worker, whose payload equals ``task``."""
        return self._drive(flows.get_matching_processes(self._session, _TEXT, task))

    def fail_worker(self, worker_id: str | None = None) -> None:
        """Declare a worker (default: this one) dead and return all its processes to the
        front of their queues, in order."""
        self._drive(flows.fail_worker(self._session, worker_id))

    def cleanup_workers(self) -> list[str]:
        """Reap every peer whose heartbeat expired; returns the reaped ids.

        Runs by itself every ``cleanup_interval`` while this worker is started.
        """
        return self._drive(flows.cleanup_workers(self._session))

    # The runtime ------------------------------------------------------------------------------

    @overload
    def worker(
        self, queues: str | Sequence[str], handler: Callable[[Process[str]], object], **options: Unpack[WorkerOptions]
    ) -> Worker[str]: ...
    @overload
    def worker(
        self,
        queues: Queue[T] | Sequence[Queue[T]],
        handler: Callable[[Process[T]], object],
        **options: Unpack[WorkerOptions],
    ) -> Worker[T]: ...
    def worker(
        self, queues: Any, handler: Callable[[Process[Any]], object], **options: Unpack[WorkerOptions]
    ) -> Worker[Any]:
        """A `Worker` that runs ``handler(process)`` on the tasks of ``queues`` (a name or a
        typed `Queue` view, or a sequence of them in priority order: earlier queues drain
        first). The handler's return value (JSON) goes into the ``done`` event; an exception
        fails the attempt (retried with backoff, then dead-lettered). Options: `WorkerOptions`.
        The handler runs on a thread, so it is a plain function: an ``async def`` one raises
        `InvalidArgumentError` (use `AsyncWorqr.worker`).

        Nothing runs until ``run()`` or ``start()``; one runtime worker per client at a time.
        """
        return Worker(self._core, *_runtime_parts(queues, handler), Settings.from_options(options, persistent=False))

    @overload
    def persistent_worker(
        self,
        queues: str | Sequence[str],
        handler: Callable[[Process[str]], object],
        **options: Unpack[PersistentOptions],
    ) -> Worker[str]: ...
    @overload
    def persistent_worker(
        self,
        queues: Queue[T] | Sequence[Queue[T]],
        handler: Callable[[Process[T]], object],
        **options: Unpack[PersistentOptions],
    ) -> Worker[T]: ...
    def persistent_worker(
        self, queues: Any, handler: Callable[[Process[Any]], object], **options: Unpack[PersistentOptions]
    ) -> Worker[Any]:
        """A `Worker` for tasks that never finish, such as owning a connection: the handler
        holds its task for as long as the worker lives and should return once
        ``cancel_token()`` is cancelled; on shutdown the task goes back to the front of its
        queue at once, and when this worker dies a peer takes it over (within about
        ``worker_timeout + cleanup_interval``). ``concurrency`` is how many such tasks
        this worker holds. Options: `PersistentOptions`."""
        return Worker(self._core, *_runtime_parts(queues, handler), Settings.from_options(options, persistent=True))

    # Events ---------------------------------------------------------------------------------

    def on(self, queue: str, callback: Callable[[Event], Any]) -> None:
        """Call ``callback(event)`` for every event of ``queue``; returns once subscribed.

        Callbacks run one at a time on the client's listener thread: keep them short.
        """
        self._core.confirm(self._core.on(queue, callback))

    def off(self, queue: str, callback: Callable[[Event], Any]) -> None:
        """Stop calling ``callback`` for events of ``queue``."""
        self._core.off(queue, callback)

    # Lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the runtime `Worker` if one runs, the heartbeat and the listener; a started
        worker is failed cleanly first, so its processes go back to the front of their
        queues. Idempotent."""
        self._core.close()

    def __enter__(self) -> Worqr:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Worqr prefix={self.prefix!r} worker_id={self.worker_id!r} at {self._runner.where}>"


def _runtime_parts(queues: object, handler: object) -> tuple[list[QueueSpec], Any]:
    """The checked queues and handler of ``worker()`` / ``persistent_worker()``."""
    checked = check_handler(handler, asyncio=False)
    return queue_specs(queues), checked
