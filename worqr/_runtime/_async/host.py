"""`AsyncHost`: what a runtime worker needs from its client, and all it may use of it (the
client's core, ``worqr._io._async.core``, is one). `SyncHost`, generated from this file, is
the threaded worker's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from worqr._protocol.call import Call
from worqr._protocol.events import Callback
from worqr._protocol.session import Session


class AsyncRunner(Protocol):
    async def run(self, calls: Sequence[Call[Any]]) -> list[Any]: ...


class AsyncHost(Protocol):
    """What a runtime worker needs from its client."""

    session: Session

    @property
    def worker_id(self) -> str: ...
    @property
    def runner(self) -> AsyncRunner: ...
    async def start_worker(self) -> None: ...
    async def start_work_many(self, queues: Sequence[str]) -> None: ...
    async def stop_work(self, queue: str) -> None: ...
    async def watch(self, queues: Sequence[str], on_event: Callback, on_wake: Callback) -> Callable[[], None]: ...
    def claim_runtime(self, worker: Any) -> None: ...
    def release_runtime(self, worker: Any) -> None: ...
    async def rejoin(self) -> None: ...
