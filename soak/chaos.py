"""The chaos schedule: which fault happens when, drawn from a seeded random generator.

The same seed and rates give the same sequence of actions at the same offsets, so a run can
be repeated; how the workers and the server interleave with them is up to the machine.
The first actions are one of each kind with a non-zero rate (in a seeded order, the first
pause being mid-task), so that even a short run sees every fault.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

ActionKind = Literal["kill", "pause", "restart"]
KINDS: tuple[ActionKind, ...] = ("kill", "pause", "restart")


@dataclass(frozen=True, slots=True)
class Rates:
    """How often each fault happens, per minute; the share of pauses made mid-task; the
    longest time the server stays down on a restart (each draws uniformly up to it)."""

    kill: float = 12.0
    pause: float = 8.0
    restart: float = 4.0
    mid_task_share: float = 0.5
    max_downtime: float = 1.5

    def of(self, kind: ActionKind) -> float:
        return {"kill": self.kill, "pause": self.pause, "restart": self.restart}[kind]


@dataclass(frozen=True, slots=True)
class Action:
    """One fault: ``at`` seconds after the chaos starts, on worker slot ``slot`` (not for a
    restart). A ``mid_task`` pause freezes the worker while it holds a task; a restart keeps
    the server down for ``downtime`` seconds."""

    at: float
    kind: ActionKind
    slot: int
    mid_task: bool = False
    downtime: float = 0.0


#: Gap between the guaranteed first actions, in seconds.
FIRST_GAP = 0.7


def schedule(seed: int, rates: Rates, workers: int) -> Iterator[Action]:
    """The endless sequence of actions for ``seed``: a Poisson process per kind."""
    rng = random.Random(seed)  # noqa: S311 (a repeatable schedule, not a secret)
    kinds = [k for k in KINDS if rates.of(k) > 0]
    if not kinds:
        return
    first = list(kinds)
    rng.shuffle(first)
    at = 0.0
    for kind in first:
        at += FIRST_GAP
        yield _action(rng, rates, at, kind, workers, mid_task=kind == "pause")
    total = sum(rates.of(k) for k in kinds) / 60.0
    weights = [rates.of(k) for k in kinds]
    while True:
        at += rng.expovariate(total)
        kind = rng.choices(kinds, weights)[0]
        yield _action(rng, rates, at, kind, workers, mid_task=kind == "pause" and rng.random() < rates.mid_task_share)


def _action(rng: random.Random, rates: Rates, at: float, kind: ActionKind, workers: int, *, mid_task: bool) -> Action:
    downtime = rng.uniform(0.0, rates.max_downtime) if kind == "restart" else 0.0
    return Action(at, kind, rng.randrange(workers), mid_task=mid_task, downtime=downtime)
