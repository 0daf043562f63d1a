"""The systems `python -m bench.calls` measures: the raw redis-py RPC ceiling, worqr's calls
(threaded and asyncio), and the peers' closest APIs (RQ, arq, saq, Celery, taskiq, streaq, BullMQ).

Each module exposes ``SYSTEMS``: a tuple of `CallSystem`. A system is a worker target, run
in child processes by `bench.children` (``target(url, shared)``: build the worker, release
``shared.ready``, wait for ``shared.go``, serve calls of a function that returns its
argument, count each with `bench.children.count`, return once ``shared.stop`` is set), and
a caller, opened in this process: a context manager (or, for an asyncio library, an async
one) giving ``call(n) -> n``, one call and the wait for its result.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass

#: The modules, in the order of the table's rows; the first two are not peers.
MODULES = (
    "raw_rpc",
    "worqr_calls",
    "rq_calls",
    "arq_calls",
    "saq_calls",
    "celery_calls",
    "taskiq_calls",
    "streaq_calls",
    "bullmq_calls",
)
#: Modules measured with --no-peers.
OWN = ("raw_rpc", "worqr_calls")
#: How long one call may take before the run counts it as failed (a hung peer is skipped).
CALL_TIMEOUT = 30.0

SyncCall = Callable[[int], int]
AsyncCall = Callable[[int], Awaitable[int]]
SyncCaller = Callable[[str], AbstractContextManager[SyncCall]]
AsyncCaller = Callable[[str], AbstractAsyncContextManager[AsyncCall]]


@dataclass(frozen=True)
class CallSystem:
    """One row of the table: a worker setup and the caller that goes with it."""

    name: str
    #: Its distribution on PyPI (for the version), or None for the raw ceiling.
    distribution: str | None
    #: ``target(url, shared)``, run in ``processes`` child processes.
    worker: Callable[..., None]
    #: What the worker runs and which settings were chosen (printed under the table).
    setup: str
    #: Exactly one of the two: a threaded caller (16 threads share what it opens) or an
    #: asyncio one (16 tasks on one event loop share it).
    sync_caller: SyncCaller | None = None
    async_caller: AsyncCaller | None = None
    processes: int = 1

    @property
    def version(self) -> str:
        return "" if self.distribution is None else importlib.metadata.version(self.distribution)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}".strip()

    @property
    def callers(self) -> str:
        return "threads sharing one client" if self.sync_caller is not None else "asyncio tasks on one event loop"


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


def load(modules: tuple[str, ...], say: Callable[[str], None]) -> Iterator[CallSystem | Skipped]:
    """Each system of ``modules``, or why it is skipped (its library is not installed)."""
    for module in modules:
        name = module.removesuffix("_calls")
        try:
            systems: tuple[CallSystem, ...] = importlib.import_module(f"bench.calls_peers.{module}").SYSTEMS
        except ImportError as exc:
            say(f"{name}: not installed ({exc}); `pip install -e '.[bench]'` adds it")
            yield Skipped(name, f"not installed ({exc})")
            continue
        yield from systems
