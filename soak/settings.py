"""What shapes a soak run, and the command line that sets it (`python -m soak.run --help`)."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

from soak.chaos import Rates
from worqr._io.pools import own_options

#: Every write in the append-only file, synced before the client hears of it, and never
#: rewritten, so that the file is the complete journal `soak.journal` reads.
SERVER_ARGS = ("--appendonly", "yes", "--appendfsync", "always", "--auto-aof-rewrite-percentage", "0")

#: The kinds of worker process, chosen per slot (`Settings.kinds`, cycled over the slots):
#: ``plain`` drains the jobs queue with the core client's primitives (`soak.worker`);
#: ``runtime`` and ``async-runtime`` drain it with ``Worqr.worker`` and ``AsyncWorqr.worker``;
#: ``persistent`` and ``async-persistent`` hold the persistent "connection-N" tasks with
#: ``persistent_worker`` (`soak.runtime_worker`).
WORKER_KINDS = ("plain", "runtime", "async-runtime", "persistent", "async-persistent")
DRAINING_KINDS = frozenset({"plain", "runtime", "async-runtime"})
PERSISTENT_KINDS = frozenset({"persistent", "async-persistent"})
RUNTIME_KINDS = frozenset({"runtime", "async-runtime"})
DEFAULT_KINDS = ("plain", "runtime", "async-runtime", "persistent", "async-persistent")


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a run; `argv` gives the command that repeats it."""

    tasks: int = 50_000
    workers: int = 5
    seed: int = 1
    seconds: float | None = None
    rates: Rates = field(default_factory=Rates)
    kinds: tuple[str, ...] = DEFAULT_KINDS
    #: handlers per runtime worker (threads, or asyncio tasks); prefetch is 0 (see `soak.runtime_worker`)
    concurrency: int = 2
    #: persistent tasks ("connection-1" ...); each persistent worker may hold all of them
    connections: int = 2
    worker_timeout: float = 1.0
    heartbeat_interval: float = 0.3
    cleanup_interval: float = 0.5
    poll_interval: float = 1.0
    pause_seconds: float = 2.0
    work_ms: float = 0.0
    drain_timeout: float = 120.0
    prefix: str = "soak"
    queue: str = "jobs"
    connections_queue: str = "connections"

    def check(self) -> None:
        if self.tasks < 1 or self.workers < 2:  # noqa: PLR2004 (a frozen worker needs a live peer to reap it)
            msg = f"need at least 1 task and 2 workers, got --tasks {self.tasks} --workers {self.workers}"
            raise SystemExit(msg)
        if self.pause_seconds <= self.worker_timeout:
            msg = f"--pause-seconds ({self.pause_seconds}) must be longer than --worker-timeout ({self.worker_timeout})"
            raise SystemExit(msg)
        unknown = sorted(set(self.kinds) - set(WORKER_KINDS))
        if not self.kinds or unknown:
            msg = f"unknown worker kind(s) {', '.join(unknown) or '(none given)'}; the kinds are {', '.join(WORKER_KINDS)}"
            raise SystemExit(msg)
        if not any(self.kind_of(i) in DRAINING_KINDS for i in range(self.workers)):
            msg = f"no slot drains the queue: --kinds {','.join(self.kinds)} over {self.workers} workers"
            raise SystemExit(msg)
        if self.concurrency < 1 or self.connections < 0:
            msg = f"--concurrency must be at least 1 and --connections at least 0, got {self.concurrency} and {self.connections}"
            raise SystemExit(msg)

    def kind_of(self, slot: int) -> str:
        """The kind of worker that runs in ``slot`` (the kinds, cycled over the slots)."""
        return self.kinds[slot % len(self.kinds)]

    @property
    def slot_kinds(self) -> list[str]:
        return [self.kind_of(i) for i in range(self.workers)]

    @property
    def persistent_slots(self) -> int:
        return sum(1 for kind in self.slot_kinds if kind in PERSISTENT_KINDS)

    @property
    def max_impaired(self) -> int:
        """Worker slots paused or with a faulty link at once: two always stay whole to reap
        (one when there are only two)."""
        return max(1, self.workers - 2)

    @property
    def read_timeout(self) -> float:
        """The socket read timeout of worqr's own connections for this worker_timeout: a reply
        that has not come by then is given up (the connection is taken for broken)."""
        return float(own_options(self.worker_timeout)["socket_timeout"])

    @property
    def held_unrun_bound(self) -> float:
        """The most a held task may wait unrun in a live worker: one read timeout (a dequeue
        whose reply was lost while the worker's heartbeat still got through is known only
        when its read times out; then the worker gives the task back), plus 2 s for that
        give-back's round trips on a loaded machine. Any other fault that keeps a reply away
        longer than the fence (worker_timeout less a margin) gets the worker fenced and
        reaped, which ends the spell sooner: the worker is no longer live."""
        return self.read_timeout + 2.0

    def argv(self) -> list[str]:
        args = ["python", "-m", "soak.run", "--tasks", str(self.tasks), "--workers", str(self.workers)]
        args += ["--kinds", ",".join(self.kinds), "--seed", str(self.seed)]
        args += ["--until-drained"] if self.seconds is None else ["--seconds", str(self.seconds)]
        r = self.rates
        args += ["--kill-rate", str(r.kill), "--pause-rate", str(r.pause), "--restart-rate", str(r.restart)]
        args += ["--stall-rate", str(r.stall), "--partition-rate", str(r.partition)]
        args += ["--swallow-rate", str(r.swallow), "--latency-rate", str(r.latency)]
        args += ["--max-downtime", str(r.max_downtime), "--max-fault-seconds", str(r.max_fault_seconds)]
        args += ["--max-latency", str(r.max_latency), "--mid-task-share", str(r.mid_task_share)]
        args += ["--concurrency", str(self.concurrency), "--connections", str(self.connections)]
        args += ["--worker-timeout", str(self.worker_timeout), "--heartbeat-interval", str(self.heartbeat_interval)]
        args += ["--cleanup-interval", str(self.cleanup_interval), "--poll-interval", str(self.poll_interval)]
        args += ["--pause-seconds", str(self.pause_seconds)]
        args += ["--work-ms", str(self.work_ms), "--drain-timeout", str(self.drain_timeout)]
        return args

    def rows(self, server: str) -> list[tuple[str, object]]:
        r = self.rates
        kinds = ", ".join(f"{i}: {kind}" for i, kind in enumerate(self.slot_kinds))
        return [
            ("seed", self.seed),
            ("tasks", self.tasks),
            ("worker processes (slot: kind)", f"{self.workers} ({kinds})"),
            ("runtime handlers per worker (prefetch 0); persistent tasks", f"{self.concurrency}; {self.connections}"),
            ("chaos", "until drained" if self.seconds is None else f"{self.seconds} s, then drain"),
            ("kills / pauses / restarts per minute", f"{r.kill} / {r.pause} / {r.restart}"),
            (
                "server stalls / partitions / swallowed replies / latency per minute",
                f"{r.stall} / {r.partition} / {r.swallow} / {r.latency}",
            ),
            ("share of pauses made mid-task", r.mid_task_share),
            ("server down on a restart, s", f"up to {r.max_downtime}, uniform"),
            ("stall, partition, swallow, latency length, s", f"0.1 to {r.max_fault_seconds}, uniform"),
            ("latency, each way, s", f"0.01 to {r.max_latency}, uniform"),
            (
                "worker_timeout / heartbeat_interval / cleanup_interval / poll_interval, s",
                f"{self.worker_timeout} / {self.heartbeat_interval} / {self.cleanup_interval} / {self.poll_interval}",
            ),
            ("read timeout of worqr's connections, s", self.read_timeout),
            ("pause length (at least, and until reaped), s", self.pause_seconds),
            ("work per task, ms", self.work_ms),
            ("server", server),
            ("server options", " ".join(SERVER_ARGS)),
            ("command", f"`{shlex.join(self.argv())}`"),
        ]


def parse_args(argv: list[str] | None) -> tuple[Settings, Path | None]:
    d = Settings()
    r = d.rates
    parser = argparse.ArgumentParser(
        prog="python -m soak.run",
        description=(
            "Run the chaos soak: worker processes (the plain API, the worker runtime, persistent workers) drain a "
            "queue through kills, pauses, Redis restarts and stalls, and network faults on each worker's link."
        ),
    )
    parser.add_argument("--tasks", type=int, default=d.tasks, help="tasks to enqueue (default %(default)s)")
    parser.add_argument("--workers", type=int, default=d.workers, help="worker processes (default %(default)s)")
    parser.add_argument(
        "--kinds",
        default=",".join(d.kinds),
        help=f"worker kinds, cycled over the slots; of {', '.join(WORKER_KINDS)} (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the chaos schedule (default %(default)s)")
    until = parser.add_mutually_exclusive_group()
    until.add_argument("--seconds", type=float, default=None, help="chaos for this long, then drain without it")
    until.add_argument("--until-drained", action="store_true", help="chaos until every task is finished (the default)")
    for name, value, what in (
        ("kill", r.kill, "SIGKILLs of a worker"),
        ("pause", r.pause, "SIGSTOP pauses of a worker"),
        ("restart", r.restart, "Redis restarts"),
        ("stall", r.stall, "Redis stalls (SIGSTOP, SIGCONT)"),
        ("partition", r.partition, "partitions of a worker's link"),
        ("swallow", r.swallow, "spells of swallowed replies on a worker's link"),
        ("latency", r.latency, "spells of latency on a worker's link"),
    ):
        parser.add_argument(
            f"--{name}-rate", type=float, default=value, help=f"{what} per minute (default %(default)s)"
        )
    parser.add_argument(
        "--max-downtime",
        type=float,
        default=r.max_downtime,
        help="longest time the server stays down on a restart, s (default %(default)s)",
    )
    parser.add_argument(
        "--max-fault-seconds",
        type=float,
        default=r.max_fault_seconds,
        help="longest stall, partition, swallow or latency spell, s (default %(default)s)",
    )
    parser.add_argument(
        "--max-latency", type=float, default=r.max_latency, help="longest latency, each way, s (default %(default)s)"
    )
    parser.add_argument(
        "--mid-task-share",
        type=float,
        default=r.mid_task_share,
        help="share of pauses that freeze a worker holding a task (default %(default)s)",
    )
    parser.add_argument("--concurrency", type=int, default=d.concurrency, help="handlers per runtime worker")
    parser.add_argument("--connections", type=int, default=d.connections, help="persistent tasks to hold")
    parser.add_argument("--worker-timeout", type=float, default=d.worker_timeout)
    parser.add_argument("--heartbeat-interval", type=float, default=d.heartbeat_interval)
    parser.add_argument("--cleanup-interval", type=float, default=d.cleanup_interval)
    parser.add_argument("--poll-interval", type=float, default=d.poll_interval)
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
        stall=a.stall_rate,
        partition=a.partition_rate,
        swallow=a.swallow_rate,
        latency=a.latency_rate,
        mid_task_share=a.mid_task_share,
        max_downtime=a.max_downtime,
        max_fault_seconds=a.max_fault_seconds,
        max_latency=a.max_latency,
    )
    settings = replace(
        d,
        tasks=a.tasks,
        workers=a.workers,
        kinds=tuple(k.strip() for k in a.kinds.split(",") if k.strip()),
        seed=a.seed,
        seconds=a.seconds,
        rates=rates,
        concurrency=a.concurrency,
        connections=a.connections,
        worker_timeout=a.worker_timeout,
        heartbeat_interval=a.heartbeat_interval,
        cleanup_interval=a.cleanup_interval,
        poll_interval=a.poll_interval,
        pause_seconds=a.pause_seconds,
        work_ms=a.work_ms,
        drain_timeout=a.drain_timeout,
    )
    return settings, a.workdir
