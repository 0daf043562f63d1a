"""What shapes a soak run, and the command line that sets it (`python -m soak.run --help`)."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

from soak.chaos import Rates

#: Every write in the append-only file, synced before the client hears of it, and never
#: rewritten, so that the file is the complete journal `soak.journal` reads.
SERVER_ARGS = ("--appendonly", "yes", "--appendfsync", "always", "--auto-aof-rewrite-percentage", "0")


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a run; `argv` gives the command that repeats it."""

    tasks: int = 50_000
    workers: int = 5
    seed: int = 1
    seconds: float | None = None
    rates: Rates = field(default_factory=Rates)
    worker_timeout: float = 1.0
    heartbeat_interval: float = 0.3
    cleanup_interval: float = 0.5
    pause_seconds: float = 2.0
    work_ms: float = 0.0
    drain_timeout: float = 120.0
    prefix: str = "soak"
    queue: str = "jobs"

    def check(self) -> None:
        if self.tasks < 1 or self.workers < 2:  # noqa: PLR2004 (a frozen worker needs a live peer to reap it)
            msg = f"need at least 1 task and 2 workers, got --tasks {self.tasks} --workers {self.workers}"
            raise SystemExit(msg)
        if self.pause_seconds <= self.worker_timeout:
            msg = f"--pause-seconds ({self.pause_seconds}) must be longer than --worker-timeout ({self.worker_timeout})"
            raise SystemExit(msg)

    @property
    def max_paused(self) -> int:
        """Pauses at once: two workers always stay awake to reap (one when there are only two)."""
        return max(1, self.workers - 2)

    def argv(self) -> list[str]:
        args = ["python", "-m", "soak.run", "--tasks", str(self.tasks), "--workers", str(self.workers)]
        args += ["--seed", str(self.seed)]
        args += ["--until-drained"] if self.seconds is None else ["--seconds", str(self.seconds)]
        args += ["--kill-rate", str(self.rates.kill), "--pause-rate", str(self.rates.pause)]
        args += ["--restart-rate", str(self.rates.restart), "--max-downtime", str(self.rates.max_downtime)]
        args += ["--mid-task-share", str(self.rates.mid_task_share)]
        args += ["--worker-timeout", str(self.worker_timeout), "--heartbeat-interval", str(self.heartbeat_interval)]
        args += ["--cleanup-interval", str(self.cleanup_interval), "--pause-seconds", str(self.pause_seconds)]
        args += ["--work-ms", str(self.work_ms), "--drain-timeout", str(self.drain_timeout)]
        return args

    def rows(self, server: str) -> list[tuple[str, object]]:
        return [
            ("seed", self.seed),
            ("tasks", self.tasks),
            ("worker processes", self.workers),
            ("chaos", "until drained" if self.seconds is None else f"{self.seconds} s, then drain"),
            ("kills / pauses / restarts per minute", f"{self.rates.kill} / {self.rates.pause} / {self.rates.restart}"),
            ("share of pauses made mid-task", self.rates.mid_task_share),
            ("server down on a restart, s", f"up to {self.rates.max_downtime}, uniform"),
            (
                "worker_timeout / heartbeat_interval / cleanup_interval, s",
                f"{self.worker_timeout} / {self.heartbeat_interval} / {self.cleanup_interval}",
            ),
            ("pause length (at least, and until reaped), s", self.pause_seconds),
            ("work per task, ms", self.work_ms),
            ("server", server),
            ("server options", " ".join(SERVER_ARGS)),
            ("command", f"`{shlex.join(self.argv())}`"),
        ]


def parse_args(argv: list[str] | None) -> tuple[Settings, Path | None]:
    d = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m soak.run",
        description="Run the chaos soak: worker processes drain a queue through kills, pauses and Redis restarts.",
    )
    parser.add_argument("--tasks", type=int, default=d.tasks, help="tasks to enqueue (default %(default)s)")
    parser.add_argument("--workers", type=int, default=d.workers, help="worker processes (default %(default)s)")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the chaos schedule (default %(default)s)")
    until = parser.add_mutually_exclusive_group()
    until.add_argument("--seconds", type=float, default=None, help="chaos for this long, then drain without it")
    until.add_argument("--until-drained", action="store_true", help="chaos until every task is finished (the default)")
    parser.add_argument(
        "--kill-rate", type=float, default=d.rates.kill, help="SIGKILLs per minute (default %(default)s)"
    )
    parser.add_argument(
        "--pause-rate", type=float, default=d.rates.pause, help="SIGSTOP pauses per minute (default %(default)s)"
    )
    parser.add_argument(
        "--restart-rate", type=float, default=d.rates.restart, help="Redis restarts per minute (default %(default)s)"
    )
    parser.add_argument(
        "--max-downtime",
        type=float,
        default=d.rates.max_downtime,
        help="longest time the server stays down on a restart, s (default %(default)s)",
    )
    parser.add_argument(
        "--mid-task-share",
        type=float,
        default=d.rates.mid_task_share,
        help="share of pauses that freeze a worker holding a task (default %(default)s)",
    )
    parser.add_argument("--worker-timeout", type=float, default=d.worker_timeout)
    parser.add_argument("--heartbeat-interval", type=float, default=d.heartbeat_interval)
    parser.add_argument("--cleanup-interval", type=float, default=d.cleanup_interval)
    parser.add_argument(
        "--pause-seconds",
        type=float,
        default=d.pause_seconds,
        help="shortest pause; it lasts until the worker was reaped",
    )
    parser.add_argument("--work-ms", type=float, default=d.work_ms, help="time each task takes (default %(default)s)")
    parser.add_argument("--drain-timeout", type=float, default=d.drain_timeout, help="seconds to drain after the chaos")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the ledgers, the workers' stderr, chaos.log and the AOF here (default: a temporary folder)",
    )
    a = parser.parse_args(argv)
    rates = Rates(
        kill=a.kill_rate,
        pause=a.pause_rate,
        restart=a.restart_rate,
        mid_task_share=a.mid_task_share,
        max_downtime=a.max_downtime,
    )
    settings = replace(
        d,
        tasks=a.tasks,
        workers=a.workers,
        seed=a.seed,
        seconds=a.seconds,
        rates=rates,
        worker_timeout=a.worker_timeout,
        heartbeat_interval=a.heartbeat_interval,
        cleanup_interval=a.cleanup_interval,
        pause_seconds=a.pause_seconds,
        work_ms=a.work_ms,
        drain_timeout=a.drain_timeout,
    )
    return settings, a.workdir
