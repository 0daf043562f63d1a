"""The peer libraries, measured on the same server and workload as worqr: enqueue (one task
per call, and batches where the library has a batch call), the drain of queued no-op tasks
by one worker process in each setup a peer names, commands and round trips per task, and
memory per queued task. A peer that is not installed, or fails, is skipped with its reason.

Each peer module exposes ``PEER``: a `Peer` (its producer side, run in this process, and
its worker setups, run in child processes by `bench.children`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import redis

from bench import redis_stats
from bench.children import Drain, timed_drain
from bench.faults import Recovery, Twice, twice_drain
from bench.redis_stats import Usage
from bench.settings import Settings
from bench.timing import Rate

#: The peer modules, in the order of the table's columns.
MODULES = (
    "rq_peer",
    "arq_peer",
    "saq_peer",
    "huey_peer",
    "dramatiq_peer",
    "celery_peer",
    "taskiq_peer",
    "streaq_peer",
    "bullmq_peer",
)


class Producer(Protocol):
    """A peer's producer side, connected to the server."""

    def enqueue(self, total: int, seconds: float, /) -> Rate:
        """Enqueue up to ``total`` no-op tasks one call each, for at most ``seconds``."""

    def enqueue_batches(self, total: int, size: int, seconds: float, /) -> Rate | None:
        """The same in batches of ``size`` with the library's batch call; None if it has none."""

    def fill(self, total: int, /, *, marked: bool = False) -> None:
        """Queue ``total`` no-op tasks, the fastest way the library offers; ``marked``: task
        ``i`` carries its index ``i`` (for `bench.children.tally`)."""


@dataclass(frozen=True)
class Setup:
    """One way to run a peer's worker process: ``target(url, shared)`` in a child."""

    label: str
    target: Callable[..., None]
    #: A short name for the table's cells.
    short: str = "default"


@dataclass(frozen=True)
class Peer:
    name: str
    distribution: str
    #: Opens a producer on a URL (a context manager that closes it).
    producer: Callable[[str], AbstractContextManager[Producer]]
    #: The first is the library's default setup.
    setups: tuple[Setup, ...]
    #: Notes on the setups that the table's readers need (logging, burst mode...).
    notes: str = ""
    #: How its worker is SIGKILLed and rescued (`bench.faults`).
    recovery: Recovery | None = None

    @property
    def version(self) -> str:
        return importlib.metadata.version(self.distribution)


@dataclass(frozen=True)
class PeerFigures:
    peer: Peer
    enqueue: Rate
    enqueue_usage: Usage
    enqueue_batch: Rate | None
    memory_per_task: float
    fill: Rate
    drains: list[tuple[Setup, Drain]] = field(default_factory=list)
    twice: Twice | None = None

    @property
    def best(self) -> tuple[Setup, Drain]:
        return max(self.drains, key=lambda pair: pair[1].rate)


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


def load(say: Callable[[str], None]) -> Iterator[Peer | Skipped]:
    """Each peer, or why it is skipped (not installed)."""
    for module in MODULES:
        name = module.removesuffix("_peer")
        try:
            yield importlib.import_module(f"bench.peers.{module}").PEER
        except ImportError as exc:
            say(f"{name}: not installed ({exc}); `pip install -e '.[bench]'` adds it")
            yield Skipped(name, f"not installed ({exc})")


def measure(peer: Peer, url: str, settings: Settings, say: Callable[[str], None]) -> PeerFigures | Skipped:
    """Measure one peer; a failure skips it with its reason instead of ending the run."""
    client = redis.Redis.from_url(url)
    try:
        return _measure(peer, url, client, settings, say)
    except Exception as exc:  # noqa: BLE001 (a broken peer is reported, not fatal)
        say(f"{peer.name}: failed, skipped: {exc!r}\n{traceback.format_exc(limit=3)}")
        return Skipped(peer.name, f"failed: {type(exc).__name__}: {exc}")
    finally:
        client.close()


def _measure(peer: Peer, url: str, client: redis.Redis, settings: Settings, say: Callable[[str], None]) -> PeerFigures:
    say(f"{peer.name} {peer.version}: enqueue")
    with peer.producer(url) as producer:
        redis_stats.flush(client)
        before = redis_stats.snapshot(client)
        enqueue = producer.enqueue(settings.enqueue_tasks, settings.enqueue_seconds)
        enqueue_usage = redis_stats.usage(before, redis_stats.snapshot(client))
        redis_stats.flush(client)
        batch = producer.enqueue_batches(settings.batch_tasks, settings.batch_size, 10.0)
        # Queue no more than the producer fills in about peer_fill_seconds.
        fill_rate = max(enqueue.per_second, batch.per_second if batch is not None else 0.0)
        tasks = min(settings.drain_tasks, max(1000, int(fill_rate * settings.peer_fill_seconds) // 1000 * 1000))
        drains: list[tuple[Setup, Drain]] = []
        memory_per_task, fill = 0.0, Rate(0, 0.0)
        for i, setup in enumerate(peer.setups):
            redis_stats.flush(client)
            before_memory = redis_stats.memory(client)
            start = time.perf_counter()
            producer.fill(tasks)
            if i == 0:
                fill = Rate(tasks, time.perf_counter() - start)
                memory_per_task = (redis_stats.memory(client) - before_memory) / tasks
            say(f"{peer.name}: drain of {tasks:,}, {setup.label}")
            drain = timed_drain(
                client, setup.target, (url,), processes=1, tasks=tasks, seconds=settings.peer_drain_seconds
            )
            drains.append((setup, drain))
        say(f"{peer.name}: tasks run twice, {settings.twice_tasks:,} marked tasks, {peer.setups[0].label}")
        redis_stats.flush(client)
        twice = twice_drain(client, peer.setups[0].target, (url,), lambda n: producer.fill(n, marked=True), settings)
    redis_stats.flush(client)
    return PeerFigures(peer, enqueue, enqueue_usage, batch, memory_per_task, fill, drains, twice)
