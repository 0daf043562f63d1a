"""Helpers shared by the asyncio runtime tests (tests/test_async_runtime.py and
tests/test_async_fast_paths.py): the async twins of tests/runtime_helpers.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import redis

from tests.runtime_helpers import LONG
from worqr import AsyncWorker, AsyncWorqr, Event, Process, cancel_token
from worqr._protocol.keys import RegistryKeys


async def eventually(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``condition`` (letting the loop run) until it is true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            msg = f"condition not met within {timeout} s"
            raise AssertionError(msg)
        await asyncio.sleep(0.01)


async def settled(worker: AsyncWorker[Any], **expected: int) -> None:
    """Wait until the worker's counters read ``expected``: a counter moves just after the
    outcome it counts reached Redis, so a test may see the outcome (an event) first."""
    try:
        await eventually(lambda: all(getattr(worker.stats, k) == v for k, v in expected.items()), timeout=5.0)
    except AssertionError:
        raise AssertionError(f"expected {expected}, got {worker.stats}") from None


class DoneEvents:
    """Collects the ``done`` events of a queue."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    @classmethod
    async def of(cls, client: AsyncWorqr, queue: str = "jobs") -> DoneEvents:
        done = cls()
        await client.on(queue, done._on_event)
        return done

    def _on_event(self, event: Event) -> None:
        if event.type == "done":
            self.messages.append(json.loads(event.message))

    def results(self) -> dict[str, object]:
        return {m["task"]: m["result"] for m in self.messages}


async def held_until_cancelled(process: Process[Any]) -> str | None:
    """A handler body that runs until cancelled; returns the reason its token gives."""
    try:
        await asyncio.sleep(LONG)
    except asyncio.CancelledError:
        return cancel_token().reason
    return None


async def started(worker: AsyncWorker[Any], stopping: list[AsyncWorker[Any]]) -> AsyncWorker[Any]:
    stopping.append(worker)
    await worker.start()
    return worker


async def declare_dead(victim: AsyncWorqr, peer: AsyncWorqr, raw: redis.Redis) -> None:
    """Make ``victim``'s heartbeat expire now and have ``peer`` reap it."""
    victim_id = victim.worker_id
    supervisor = victim._supervisor
    assert supervisor is not None
    await supervisor.stop()  # its heartbeat freezes
    raw.delete(RegistryKeys(victim.prefix).heartbeat(victim_id))
    assert await peer.cleanup_workers() == [victim_id]
