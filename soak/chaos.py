"""The chaos schedule: which fault happens when, drawn from a seeded random generator.

The same seed and rates give the same sequence of actions at the same offsets, so a run can
be repeated; how the workers and the server interleave with them is up to the machine.
The first actions are one of each kind with a non-zero rate (in a seeded order, the first
pause being mid-task, and one partition of each mode), so that even a short run sees every
fault.

The faults:

- ``kill``: SIGKILL a worker process; a new one takes its slot.
- ``pause``: SIGSTOP a worker past its timeout (mid-task: once it holds a task), SIGCONT once
  a peer reaped it.
- ``restart``: SIGKILL the Redis server, keep it down for ``downtime``, start it again on the
  same port and data (it reloads its AOF).
- ``stall``: SIGSTOP the Redis server for ``duration``, then SIGCONT: every connection stays
  open and nothing answers (a server frozen by swapping, a VM paused for migration).
- ``partition``: the link of one worker slot (its `worqr.testing.FaultProxy`) carries nothing
  for ``duration``; it heals in one of three ways (``mode``): ``intact`` (TCP survives: what
  was sent meanwhile is delivered, in order), ``reset`` (the connections are reset with RST
  as it heals), ``half-open`` (a blackhole: everything sent meanwhile is dropped for good,
  the sockets stay open, no FIN, no RST).
- ``swallow``: the server's replies on one slot's link are dropped for ``duration`` while
  its requests still reach the server (commands run, their client never hears back).
- ``latency``: one slot's link delays every chunk by ``latency`` seconds each way, for
  ``duration``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

ActionKind = Literal["kill", "pause", "restart", "stall", "partition", "swallow", "latency"]
KINDS: tuple[ActionKind, ...] = ("kill", "pause", "restart", "stall", "partition", "swallow", "latency")
#: Faults of one slot's link to Redis (its proxy).
LINK_KINDS: frozenset[str] = frozenset({"partition", "swallow", "latency"})
PartitionMode = Literal["intact", "reset", "half-open"]
PARTITION_MODES: tuple[PartitionMode, ...] = ("intact", "reset", "half-open")
#: Shortest drawn duration of a timed fault, s.
MIN_FAULT_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Rates:
    """How often each fault happens, per minute; the share of pauses made mid-task; the
    longest time the server stays down on a restart, the longest timed fault (a stall, a
    partition, swallowed replies, latency) and the longest latency, each drawn uniformly up
    to its bound."""

    kill: float = 12.0
    pause: float = 8.0
    restart: float = 4.0
    stall: float = 3.0
    partition: float = 12.0
    swallow: float = 6.0
    latency: float = 6.0
    mid_task_share: float = 0.5
    max_downtime: float = 1.5
    max_fault_seconds: float = 2.5
    max_latency: float = 0.2

    def of(self, kind: ActionKind) -> float:
        return {
            "kill": self.kill,
            "pause": self.pause,
            "restart": self.restart,
            "stall": self.stall,
            "partition": self.partition,
            "swallow": self.swallow,
            "latency": self.latency,
        }[kind]


@dataclass(frozen=True, slots=True)
class Action:
    """One fault: ``at`` seconds after the chaos starts, on worker slot ``slot`` (not for a
    restart or a stall). A ``mid_task`` pause freezes the worker while it holds a task; a
    restart keeps the server down for ``downtime`` seconds; a stall, a partition, swallowed
    replies and latency last ``duration`` seconds; a partition heals as ``mode`` says, and
    latency delays each chunk by ``latency`` seconds."""

    at: float
    kind: ActionKind
    slot: int
    mid_task: bool = False
    downtime: float = 0.0
    duration: float = 0.0
    mode: PartitionMode = "intact"
    latency: float = 0.0

    def __str__(self) -> str:
        text = f"{self.at:.2f} {self.kind}"
        if self.kind in LINK_KINDS or self.kind in ("kill", "pause"):
            text += f" slot {self.slot}"
        if self.kind == "pause":
            text += " mid-task" if self.mid_task else " any moment"
        if self.kind == "restart":
            text += f" down {self.downtime:.2f} s"
        if self.kind in LINK_KINDS or self.kind == "stall":
            text += f" for {self.duration:.2f} s"
        if self.kind == "partition":
            text += f", heals {self.mode}"
        if self.kind == "latency":
            text += f", {self.latency * 1000:.0f} ms each way"
        return text


#: Gap between the guaranteed first actions, in seconds.
FIRST_GAP = 0.7


def schedule(seed: int, rates: Rates, workers: int) -> Iterator[Action]:
    """The endless sequence of actions for ``seed``: a Poisson process per kind."""
    rng = random.Random(seed)  # noqa: S311 (a repeatable schedule, not a secret)
    kinds = [k for k in KINDS if rates.of(k) > 0]
    if not kinds:
        return
    first: list[tuple[ActionKind, PartitionMode]] = [
        (kind, mode) for kind in kinds for mode in (PARTITION_MODES if kind == "partition" else ("intact",))
    ]
    rng.shuffle(first)
    at = 0.0
    for kind, mode in first:
        at += FIRST_GAP
        yield _action(rng, rates, at, kind, workers, mid_task=kind == "pause", mode=mode)
    total = sum(rates.of(k) for k in kinds) / 60.0
    weights = [rates.of(k) for k in kinds]
    while True:
        at += rng.expovariate(total)
        kind = rng.choices(kinds, weights)[0]
        mid_task = kind == "pause" and rng.random() < rates.mid_task_share
        yield _action(rng, rates, at, kind, workers, mid_task=mid_task, mode=rng.choice(PARTITION_MODES))


def _action(
    rng: random.Random,
    rates: Rates,
    at: float,
    kind: ActionKind,
    workers: int,
    *,
    mid_task: bool,
    mode: PartitionMode,
) -> Action:
    slot = rng.randrange(workers)
    downtime = rng.uniform(0.0, rates.max_downtime) if kind == "restart" else 0.0
    timed = kind in LINK_KINDS or kind == "stall"
    duration = rng.uniform(MIN_FAULT_SECONDS, max(MIN_FAULT_SECONDS, rates.max_fault_seconds)) if timed else 0.0
    latency = rng.uniform(0.01, max(0.01, rates.max_latency)) if kind == "latency" else 0.0
    return Action(
        at,
        kind,
        slot,
        mid_task=mid_task,
        downtime=downtime,
        duration=duration,
        mode=mode if kind == "partition" else "intact",
        latency=latency,
    )
