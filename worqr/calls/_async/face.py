"""The methods of calls on the clients, one line each over the client's calls and its
runtime worker. This file gives them to the asyncio client; its generated twin
(``_sync/face.py``) to the threaded one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from typing_extensions import ParamSpec, Unpack

from worqr._io._async.core import AsyncCore
from worqr._runtime._async.worker import AsyncWorker
from worqr._runtime.options import Settings, WorkerOptions
from worqr.calls._async.calls import AsyncCall, AsyncCalls
from worqr.calls.registry import Function
from worqr.calls.serving import Invocation, async_run, async_specs

P = ParamSpec("P")
R = TypeVar("R")


class AsyncCallsFace:
    """Calls of registered functions (``worqr.Functions``): place them, follow them, serve them."""

    _core: AsyncCore
    _calls: AsyncCalls

    async def call(self, fn: Function[P, R], /, *args: P.args, **kwargs: P.kwargs) -> AsyncCall[R]:
        """Call ``fn`` (registered with ``@functions.function``) on a worker that serves its
        queue, with these arguments (checked against its signature and annotations, and
        encoded, before anything is written). Returns the call's handle at once: ``id``,
        ``result()``, ``status()``, ``cancel()``. ``fn.with_options(delay=, at=, key=)``
        calls it later, or under a unique key: a second call with the key of a live call
        returns that call's handle instead (nothing is written)."""
        return await self._calls.call(fn, args, kwargs)

    async def call_at(self, at: datetime, fn: Function[P, R], /, *args: P.args, **kwargs: P.kwargs) -> AsyncCall[R]:
        """`call`, run at ``at`` (a timezone-aware datetime; the server's clock decides)."""
        return await self._calls.call(fn.with_options(at=at, key=fn.call_options.key), args, kwargs)

    def get_call(self, call_id: str) -> AsyncCall[Any]:
        """The handle of the call ``call_id``, placed by any client (its result is plain JSON:
        the function's annotations are not known here). Nothing is read until it is asked."""
        return self._calls.get(call_id)

    async def gather(self, calls: Sequence[AsyncCall[Any]], timeout: float | None = None) -> list[Any]:
        """Wait until every one of ``calls`` ended; their results, in order. Raises the error
        of the first (in order) that did not succeed, or `CallTimeoutError` when ``timeout``
        seconds pass first (the calls go on)."""
        return await self._calls.gather(calls, timeout)

    def as_completed(
        self, calls: Sequence[AsyncCall[Any]], timeout: float | None = None
    ) -> AsyncIterator[AsyncCall[Any]]:
        """Yield each of ``calls`` as it ends (its ``result()`` then returns or raises at once);
        `CallTimeoutError` if ``timeout`` seconds pass before all ended."""
        return self._calls.as_completed(calls, timeout)

    def serve(self, functions: object, **options: Unpack[WorkerOptions]) -> AsyncWorker[Invocation]:
        """A runtime worker that runs the functions of ``functions`` (a ``worqr.Functions``)
        on the calls of their queues, with the worker's concurrency, prefetch, retries, dead
        letters, timeouts, cancellation and shutdown (options: `WorkerOptions`; a function's
        own ``max_attempts``, ``timeout`` and ``backoff`` win for its calls). Refuses, now, a
        registry holding functions this client cannot run: coroutine functions on the
        threaded client (whose handlers run in threads), plain ones on the asyncio client."""
        specs = async_specs(functions)
        return AsyncWorker(self._core, specs, async_run, Settings.from_options(options, persistent=False))
