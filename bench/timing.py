"""Small helpers shared by the measurements: rates, time boxes and percentiles."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """``done`` operations in ``seconds``; ``boxed`` when the time box ended it early."""

    done: int
    seconds: float
    boxed: bool = False

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


def timed_loop(total: int, seconds: float, step: Callable[[int], int]) -> Rate:
    """Call ``step(i)`` (it returns how many operations it did, from index ``i``) until
    ``total`` operations are done or ``seconds`` have passed."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while done < total:
        done += step(done)
        if time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - start
    return Rate(done, elapsed, done < total)


@dataclass(frozen=True)
class Latency:
    """Percentiles of wake-up latencies, in milliseconds."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ordered = sorted(s * 1000 for s in seconds)
        return cls(len(ordered), percentile(ordered, 50), percentile(ordered, 99), ordered[-1] if ordered else math.nan)


def percentile(ordered: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of sorted values (NaN if there are none)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


async def async_timed_loop(total: int, seconds: float, step: Callable[[int], Awaitable[int]]) -> Rate:
    """`timed_loop` for a coroutine ``step``."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while done < total:
        done += await step(done)
        if time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - start
    return Rate(done, elapsed, done < total)
