"""The methods of operations on the clients, one line each over the flows of
`worqr.operations`. This file gives them to the asyncio client; its generated twin
(``_sync/face.py``) to the threaded one."""

from __future__ import annotations

from collections.abc import Sequence

from worqr._io._async.core import AsyncCore
from worqr.operations import flows
from worqr.operations.views import ProcessInfo, QueueInfo, QueuePeek, WorkerInfo


class AsyncOperationsFace:
    """What people on call ask of a fleet: its queues, workers and processes, from Redis
    alone; and pausing a queue (docs/operations.md)."""

    _core: AsyncCore

    async def inspect_queues(self, queues: Sequence[str] | None = None) -> list[QueueInfo]:
        """These queues (default: every queue in the registry, by name): how many tasks are
        queued, delayed, in flight and dead-lettered, how many workers work each, whether
        it is paused, and its exact counters. Two round trips, whatever the number of tasks."""
        return await self._core.drive(flows.inspect_queues(self._core.session, queues))

    async def inspect_workers(self) -> list[WorkerInfo]:
        """Every worker, live, being reaped, or declared dead in the last day (``alive``
        False, ``ended_at`` set), by id: its record (host, pid, version, concurrency,
        started_at), queues, heartbeat age by the server's clock, and tasks in flight."""
        return await self._core.drive(flows.inspect_workers(self._core.session))

    async def inspect_processes(self, queue: str | None = None, worker_id: str | None = None) -> list[ProcessInfo]:
        """The tasks in flight, of ``queue`` (default: every queue) and ``worker_id`` (default:
        every worker on it): process id, worker, task and attempt."""
        return await self._core.drive(flows.inspect_processes(self._core.session, queue, worker_id))

    async def peek_tasks(self, queue: str, limit: int = 20) -> QueuePeek:
        """The first ``limit`` (1 to 1,000) waiting tasks of ``queue``, front first, and its
        first ``limit`` delayed ones with when each is due: one round trip, whatever the
        queue's size."""
        return await self._core.drive(flows.peek(self._core.session, queue, limit))

    async def pause_queue(self, queue: str) -> bool:
        """Pause ``queue``: it goes on taking tasks and hands none out (tasks already in
        processes go on) until `resume_queue`. True if it was paused already."""
        return await self._core.drive(flows.pause(self._core.session, queue))

    async def resume_queue(self, queue: str) -> bool:
        """Hand out ``queue``'s tasks again; its idle workers are woken, no restart needed.
        True if it was paused."""
        return await self._core.drive(flows.resume(self._core.session, queue))
