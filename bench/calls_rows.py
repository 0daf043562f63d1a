"""The calls rows of `python -m bench.run`: the systems of `bench.calls_peers` (the raw RPC
ceiling, worqr's two clients, the peers' closest APIs) measured on the run's server with
shorter time boxes than `python -m bench.calls`, and each peer's fastest setup picked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from bench import calls_peers, redis_stats
from bench.calls_peers import Skipped
from bench.calls_peers.measure import CallFigures, CallSettings, measure
from bench.settings import Settings

RAW, SYNC, ASYNC = "raw redis-py RPC", "worqr sync", "worqr async"


@dataclass(frozen=True)
class CallRows:
    raw: CallFigures | None
    sync: CallFigures | None
    asyncio: CallFigures | None
    #: Each peer (by its name in the table) with its setup of the most calls/s.
    peers: dict[str, CallFigures]
    skipped: list[Skipped]


def measure_all(url: str, settings: Settings, say: Callable[[str], None]) -> CallRows:
    call_settings = CallSettings(
        warmup=min(100, settings.call_samples),
        samples=settings.call_samples,
        latency_seconds=settings.call_latency_seconds,
        throughput_seconds=settings.call_throughput_seconds,
    )
    modules = calls_peers.MODULES if settings.peers else calls_peers.OWN
    measured: list[CallFigures] = []
    skipped: list[Skipped] = []
    for system in calls_peers.load(modules, say):
        if isinstance(system, Skipped):
            skipped.append(system)
            continue
        _flush(url)
        say(f"calls: {system.label}")
        outcome = measure(system, url, call_settings, say)
        (skipped if isinstance(outcome, Skipped) else measured).append(outcome)  # type: ignore[arg-type]
    by_name = {f.system.name: f for f in measured}
    peers: dict[str, CallFigures] = {}
    for figures in measured:
        if figures.system.name in (RAW, SYNC, ASYNC):
            continue
        name = figures.system.name.split()[0]
        if name not in peers or figures.rate.per_second > peers[name].rate.per_second:
            peers[name] = figures
    return CallRows(by_name.get(RAW), by_name.get(SYNC), by_name.get(ASYNC), peers, skipped)


def _flush(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        redis_stats.flush(client)
    finally:
        client.close()
