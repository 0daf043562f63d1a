"""What shapes a benchmark run: task counts and time boxes, full or ``--quick``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Settings:
    """Counts and time boxes of one run. A time-boxed measurement stops at its deadline and
    reports the rate of what it did by then (the table says so)."""

    raw_tasks: int = 10_000
    raw_pipelined_tasks: int = 100_000
    #: Single-task enqueues per system, at most `enqueue_seconds` long.
    enqueue_tasks: int = 10_000
    enqueue_seconds: float = 3.0
    #: Tasks enqueued in batches of `batch_size` (the raw pipeline uses the same size).
    batch_tasks: int = 50_000
    batch_size: int = 100
    drain_tasks: int = 20_000
    #: A safety net for worqr's drains (they are meant to finish), and the time box of the
    #: peers' (a slow peer's rate over a few seconds is rate enough).
    drain_seconds: float = 40.0
    peer_drain_seconds: float = 6.0
    #: Handler concurrencies of one worqr worker process tried for the fastest drain.
    concurrencies: tuple[int, ...] = (1, 4, 16, 64)
    latency_samples: int = 300
    herd_workers: int = 16
    herd_tasks: int = 10
    peers: bool = True
    #: Longest a peer may take to fill its queue for the drain, at its measured enqueue rate.
    peer_fill_seconds: float = 6.0
    #: The drain of tasks that carry their index, counting tasks that ran more than once.
    twice_tasks: int = 2_000
    twice_seconds: float = 10.0
    #: Crash recovery: tasks the SIGKILLed worker holds, and how long the rescuer gets.
    recovery_tasks: int = 50
    recovery_cap: float = 120.0
    recovery: bool = True
    #: The calls rows (`bench.calls_peers`): samples and time boxes of each system.
    call_samples: int = 1000
    call_latency_seconds: float = 8.0
    call_throughput_seconds: float = 5.0

    @classmethod
    def quick(cls) -> Settings:
        """Tiny counts, no peers: a smoke run of every row in a few seconds."""
        return cls(
            raw_tasks=300,
            raw_pipelined_tasks=1_000,
            enqueue_tasks=200,
            enqueue_seconds=1.0,
            batch_tasks=1_000,
            drain_tasks=300,
            drain_seconds=5.0,
            concurrencies=(1, 4),
            latency_samples=10,
            herd_workers=3,
            herd_tasks=2,
            peers=False,
            twice_tasks=200,
            twice_seconds=5.0,
            recovery_tasks=5,
            recovery_cap=20.0,
            call_samples=50,
            call_latency_seconds=2.0,
            call_throughput_seconds=0.5,
        )


def payload(i: int) -> str:
    """The no-op task every system moves: 11 bytes of text."""
    return f"task-{i:06d}"


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Measure worqr beside the raw Redis ceiling and its peers on a fresh server; print a markdown table.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts, worqr and raw only (the CI smoke run)")
    parser.add_argument("--no-peers", action="store_true", help="skip the peer libraries")
    parser.add_argument("--drain-tasks", type=int, help="tasks queued for each drain (default 20,000)")
    parser.add_argument("--herd-workers", type=int, help="idle workers in the herd measurement (default 16)")
    parser.add_argument(
        "--recovery-cap", type=float, help="seconds a rescuer gets to rerun a killed worker's tasks (default 120)"
    )
    parser.add_argument("--no-recovery", action="store_true", help="skip the crash-recovery row")
    args = parser.parse_args(argv)
    settings = Settings.quick() if args.quick else Settings()
    if args.no_peers:
        settings = replace(settings, peers=False)
    if args.drain_tasks is not None:
        settings = replace(settings, drain_tasks=max(1, args.drain_tasks))
    if args.recovery_cap is not None:
        settings = replace(settings, recovery_cap=max(1.0, args.recovery_cap))
    if args.no_recovery:
        settings = replace(settings, recovery=False)
    if args.herd_workers is not None:
        settings = replace(settings, herd_workers=max(1, args.herd_workers))
    return settings
