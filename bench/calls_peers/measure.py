"""Measuring one `CallSystem`: its worker process(es) started at the start line on a flushed
server, a warm-up, the round trip of sequential calls by one caller on an idle worker, then
calls per second with concurrent callers, each calling and waiting in a loop for a time box.
A system that fails (an error, a wrong result, a call past `CALL_TIMEOUT`) is skipped with
its reason; it never ends the run."""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import redis

from bench import redis_stats
from bench.calls_peers import AsyncCall, CallSystem, Skipped, SyncCall
from bench.children import started
from bench.timing import Latency, Rate


@dataclass(frozen=True)
class CallSettings:
    """Counts and time boxes of one run (full, or ``--quick``)."""

    #: Sequential calls before the timed ones (the first also waits for the worker to be up).
    warmup: int = 100
    warmup_seconds: float = 5.0
    #: Sequential timed calls, at most `latency_seconds` of them (slow peers give fewer).
    samples: int = 2000
    latency_seconds: float = 20.0
    #: Untimed pause between two sequential calls, so that each finds the worker idle.
    gap_seconds: float = 0.002
    callers: int = 16
    throughput_seconds: float = 5.0

    @classmethod
    def quick(cls) -> CallSettings:
        return cls(warmup=10, warmup_seconds=2.0, samples=200, latency_seconds=5.0, throughput_seconds=2.0)


@dataclass(frozen=True)
class CallFigures:
    system: CallSystem
    latency: Latency
    rate: Rate
    #: Calls the worker processes counted (the warm-up and the in-flight ones included).
    served: int


def measure(system: CallSystem, url: str, settings: CallSettings, say: Callable[[str], None]) -> CallFigures | Skipped:
    """Measure ``system`` on the server at ``url``; a failure skips it with its reason."""
    client = redis.Redis.from_url(url)
    try:
        redis_stats.flush(client)
        say(f"{system.label}: {system.processes} worker process(es); {system.setup}")
        with started(system.worker, (url,), system.processes) as group:
            group.go()
            if system.sync_caller is not None:
                with system.sync_caller(url) as call:
                    latency, rate = _sync(call, settings)
            else:
                latency, rate = asyncio.run(_async(system, url, settings))
        figures = CallFigures(system, latency, rate, group.shared.count)
    except Exception as exc:  # noqa: BLE001 (a broken peer is reported, not fatal)
        say(f"{system.label}: failed, skipped: {exc!r}\n{traceback.format_exc(limit=4)}")
        return Skipped(system.label, f"failed: {type(exc).__name__}: {exc}")
    finally:
        redis_stats.flush(client)
        client.close()
    say(
        f"{system.label}: p50 {latency.p50_ms:.2f} ms, p99 {latency.p99_ms:.2f} ms (max {latency.max_ms:.2f}, "
        f"{latency.samples} samples); {rate.per_second:,.0f} calls/s with {settings.callers} callers "
        f"({rate.done:,} in {rate.seconds:.1f} s; the worker counted {figures.served:,} in all)"
    )
    return figures


def _check(got: object, sent: int) -> None:
    if got != sent:
        msg = f"a call of echo({sent}) returned {got!r}"
        raise RuntimeError(msg)


# Threads ---------------------------------------------------------------------------------


def _sync(call: SyncCall, settings: CallSettings) -> tuple[Latency, Rate]:
    deadline = time.perf_counter() + settings.warmup_seconds
    for i in range(settings.warmup):
        _check(call(i), i)
        if time.perf_counter() > deadline:
            break
    times: list[float] = []
    deadline = time.perf_counter() + settings.latency_seconds
    for i in range(settings.samples):
        time.sleep(settings.gap_seconds)
        start = time.perf_counter()
        got = call(i)
        times.append(time.perf_counter() - start)
        _check(got, i)
        if time.perf_counter() > deadline:
            break
    return Latency.of(times), _sync_callers(call, settings.callers, settings.throughput_seconds)


def _sync_callers(call: SyncCall, callers: int, seconds: float) -> Rate:
    """``callers`` threads, each calling and waiting in a loop until ``seconds`` passed."""
    gate = threading.Barrier(callers + 1)
    deadline = [0.0]
    done = [0] * callers
    failures: list[BaseException] = []

    def loop(k: int) -> None:
        gate.wait()
        n = k * 10_000_000
        try:
            while time.perf_counter() < deadline[0] and not failures:
                _check(call(n), n)
                done[k] += 1
                n += 1
        except BaseException as exc:  # noqa: BLE001 (re-raised by the parent thread)
            failures.append(exc)

    threads = [threading.Thread(target=loop, args=(k,), name=f"caller-{k}") for k in range(callers)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    gate.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise failures[0]
    return Rate(sum(done), elapsed)


# asyncio ---------------------------------------------------------------------------------


async def _async(system: CallSystem, url: str, settings: CallSettings) -> tuple[Latency, Rate]:
    assert system.async_caller is not None  # noqa: S101 (checked by the caller)
    async with system.async_caller(url) as call:
        deadline = time.perf_counter() + settings.warmup_seconds
        for i in range(settings.warmup):
            _check(await call(i), i)
            if time.perf_counter() > deadline:
                break
        times: list[float] = []
        deadline = time.perf_counter() + settings.latency_seconds
        for i in range(settings.samples):
            await asyncio.sleep(settings.gap_seconds)
            start = time.perf_counter()
            got = await call(i)
            times.append(time.perf_counter() - start)
            _check(got, i)
            if time.perf_counter() > deadline:
                break
        return Latency.of(times), await _async_callers(call, settings.callers, settings.throughput_seconds)


async def _async_callers(call: AsyncCall, callers: int, seconds: float) -> Rate:
    """``callers`` tasks, each calling and awaiting in a loop until ``seconds`` passed."""
    start = time.perf_counter()
    deadline = start + seconds

    async def loop(k: int) -> int:
        n = k * 10_000_000
        done = 0
        while time.perf_counter() < deadline:
            _check(await call(n), n)
            done += 1
            n += 1
        return done

    counts = await asyncio.gather(*(loop(k) for k in range(callers)))
    return Rate(sum(counts), time.perf_counter() - start)
