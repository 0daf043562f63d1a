"""The rates a dashboard draws: the queues' counters sampled over the last minutes, and
the tasks per second between samples. Pure; fed by whoever reads the counters."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

#: The counters whose rates are drawn.
RATE_NAMES = ("enqueued", "finished", "failed")


@dataclass
class RateHistory:
    """Samples of each queue's counters, at least ``every`` seconds apart and kept for
    ``keep`` seconds. `rates` gives, between consecutive samples, the tasks per second of
    each counter in `RATE_NAMES` (a counter that went down, after a ``delete``, counts 0)."""

    keep: float = 600.0
    every: float = 2.0
    _samples: dict[str, deque[tuple[float, dict[str, int]]]] = field(default_factory=dict)

    def add(self, at: float, counters: Mapping[str, Mapping[str, int]], *, every_queue: bool = True) -> bool:
        """Record ``counters`` (queue -> counter -> total) seen at ``at`` (seconds); False
        if the last sample is too recent to take another. With ``every_queue`` (a read of
        them all), queues missing from ``counters`` are forgotten (deleted, or gone)."""
        taken = False
        for queue, values in counters.items():
            samples = self._samples.setdefault(queue, deque())
            if samples and at - samples[-1][0] < self.every:
                continue
            samples.append((at, {name: int(values.get(name, 0)) for name in RATE_NAMES}))
            while samples and at - samples[0][0] > self.keep:
                samples.popleft()
            taken = True
        for queue in set(self._samples) - set(counters) if every_queue else ():
            del self._samples[queue]
        return taken

    def rates(self, queue: str) -> list[dict[str, float]]:
        """``{"at": seconds, "enqueued": per second, ...}`` at the end of each interval."""
        samples = list(self._samples.get(queue, ()))
        points = []
        for (t0, before), (t1, after) in itertools.pairwise(samples):
            span = t1 - t0
            point = {"at": t1}
            point |= {name: max(0, after[name] - before[name]) / span for name in RATE_NAMES}
            points.append(point)
        return points
