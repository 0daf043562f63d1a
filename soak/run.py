"""The chaos soak's orchestrator: a Redis server with AOF, worker processes, the chaos loop,
the drain, and the report.

    python -m soak.run --tasks 50000 --workers 5 --seed 1

It enqueues the tasks, starts the workers (`soak.worker`), and then, following the seeded
schedule of `soak.chaos`, SIGKILLs workers (and starts replacements), freezes workers with
SIGSTOP past their timeout and thaws them with SIGCONT once a peer reaped them, and restarts
the server. When the queue is drained (or ``--seconds`` have passed and it drained), it
stops the workers, reads the server's journal and the workers' ledgers, prints the figures
as markdown, and exits with 1 if any check failed. Every child process is ended on the way
out, whatever happens.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from soak import chaos as chaos_schedule
from soak.chaos import Action
from soak.journal import read_journal
from soak.ledger import Entry, LedgerReader, ledger_path
from soak.report import Chaos, Figures, checks, compute, markdown
from soak.settings import SERVER_ARGS, Settings, parse_args
from worqr import Worqr
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr.testing import RedisServer

ROOT = Path(__file__).resolve().parent.parent
#: How long a mid-task pause waits for its worker to take a task before giving up.
HOLD_WAIT_SECONDS = 5.0
#: How long a frozen worker waits, past its pause, for a peer to reap it.
REAP_WAIT_SECONDS = 20.0
#: How long a thawed worker may take to try to finish its held task.
VERDICT_WAIT_SECONDS = 10.0
#: How long the workers may take to start.
START_WAIT_SECONDS = 60.0
#: Ledger events that say what became of a finish.
VERDICTS = frozenset({"accepted", "rejected", "ambiguous", "ambiguous-refused"})
#: How long a worker may take to exit after SIGTERM before it is killed.
EXIT_WAIT_SECONDS = 30.0
#: How often the loop looks at the ledgers and the schedule.
TICK_SECONDS = 0.05
#: How often a run in a terminal says how far it got.
PROGRESS_SECONDS = 10.0


@dataclass
class Slot:
    """One worker process; a killed one is replaced in its slot by the next generation."""

    index: int
    generation: int
    worker_id: str
    process: subprocess.Popen[bytes]


@dataclass
class Pause:
    """A pause in progress: requested (mid-task, waiting for a held task), frozen, or thawed
    and waiting for the worker to say what became of its held task (so that no kill comes
    in between)."""

    slot: Slot
    mid_task: bool
    since: float
    frozen: bool = False
    held: str | None = None
    thawed: bool = False


@dataclass
class Outcome:
    settings: Settings
    figures: Figures
    chaos: Chaos
    report: str
    passed: bool
    entries: list[Entry]
    #: the exit code of every worker process started, and whether the server still ran, after the run
    exit_codes: list[int | None] = field(default_factory=list)
    server_running: bool = False


class Soak:
    """One run: owns the server and the worker processes until `close`."""

    def __init__(self, settings: Settings, workdir: Path, *, keep_journal: bool = False) -> None:
        self.settings = settings
        self.workdir = workdir
        self.keep_journal = keep_journal
        self.ledgers = workdir / "ledgers"
        self.ledgers.mkdir(parents=True, exist_ok=True)
        self.server = RedisServer(extra_args=SERVER_ARGS)
        self.keys = QueueKeys(settings.prefix, settings.queue)
        self.registry = RegistryKeys(settings.prefix)
        self.slots: list[Slot] = []
        self.all_processes: list[subprocess.Popen[bytes]] = []
        self.pauses: dict[int, Pause] = {}
        self.chaos = Chaos()
        self.reader = LedgerReader(self.ledgers)
        self.entries: list[Entry] = []
        self.listening: set[str] = set()
        self.verdicts: set[tuple[str, str]] = set()
        self.started = 0.0
        self._raw: redis.Redis | None = None

    # Processes ------------------------------------------------------------------------------

    def spawn(self, index: int, generation: int) -> Slot:
        worker_id = f"w{index}.{generation}"
        s = self.settings
        args = [sys.executable, "-m", "soak.worker", "--redis", self.server.url, "--prefix", s.prefix]
        args += ["--queue", s.queue, "--worker-id", worker_id, "--ledger", str(ledger_path(self.ledgers, worker_id))]
        args += ["--worker-timeout", str(s.worker_timeout), "--heartbeat-interval", str(s.heartbeat_interval)]
        args += ["--cleanup-interval", str(s.cleanup_interval), "--work-ms", str(s.work_ms)]
        with (self.ledgers / f"{worker_id}.stderr").open("wb") as stderr:
            process = subprocess.Popen(  # noqa: S603 (our own module)
                args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        self.all_processes.append(process)
        return Slot(index, generation, worker_id, process)

    def close(self) -> None:
        """End every child: thaw and kill the workers still running, stop the server."""
        for process in self.all_processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                    process.kill()
                process.wait()
        if self._raw is not None:
            self._raw.close()
        self.server.close()

    # Looking at the server ------------------------------------------------------------------

    @property
    def raw(self) -> redis.Redis:
        if self._raw is None:
            self._raw = redis.Redis.from_url(self.server.url, socket_timeout=5.0)
        return self._raw

    def registered(self) -> list[str]:
        """The workers registered or being reaped (a process belongs to one of them)."""
        members = self.raw.sunion([self.registry.workers, self.registry.reaping])
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    def census(self) -> tuple[int, int, int]:
        """Queued tasks, tasks held in processes, and registered workers, in one snapshot."""
        for _ in range(5):
            workers = self.registered()
            pipe = self.raw.pipeline(transaction=True)
            pipe.llen(self.keys.pending)
            pipe.sunion([self.registry.workers, self.registry.reaping])
            for worker in workers:
                pipe.hlen(self.keys.processes(worker))
            queued, again, *held = pipe.execute()
            if len(again) == len(workers) and all(w.encode() in again for w in workers):
                return queued, sum(held), len(workers)  # the same workers inside the transaction: a snapshot
        return -1, -1, -1

    def drained(self) -> bool:
        try:
            queued, held, _ = self.census()
        except redis.RedisError:
            return False
        return queued == 0 and held == 0

    def reaped(self, worker_id: str) -> bool:
        """Whether a peer has finished reaping ``worker_id`` (it is in neither registry set)."""
        try:
            pipe = self.raw.pipeline(transaction=True)
            pipe.sismember(self.registry.workers, worker_id)
            pipe.sismember(self.registry.reaping, worker_id)
            return not any(pipe.execute())
        except redis.RedisError:
            return False

    # Chaos ----------------------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self.started

    def free_slot(self, preferred: int) -> Slot | None:
        """``preferred``, or the next slot that is not paused and whose worker has set up its
        signal handlers (before that, SIGUSR1 would end it)."""
        n = len(self.slots)
        for i in range(n):
            slot = self.slots[(preferred + i) % n]
            if slot.index not in self.pauses and slot.worker_id in self.listening:
                return slot
        return None

    def note(self, text: str) -> None:
        """Add a line to chaos.log in the work folder: what the orchestrator did, and when."""
        with (self.workdir / "chaos.log").open("a") as log:
            log.write(f"{self.now():8.2f} {text}\n")

    def perform(self, action: Action) -> None:
        self.note(f"{action}")
        if action.kind == "restart":
            began = time.monotonic()
            self.server.stop()
            time.sleep(action.downtime)
            self.server.start()
            self.chaos.restart_seconds.append(time.monotonic() - began)
            self.chaos.restarts += 1
            return
        slot = self.free_slot(action.slot)
        if slot is None or (action.kind == "pause" and len(self.pauses) >= self.settings.max_paused):
            self.note("  skipped: no free worker")
            self.chaos.skipped += 1
            return
        if action.kind == "kill":
            slot.process.kill()
            slot.process.wait()
            self.slots[slot.index] = self.spawn(slot.index, slot.generation + 1)
            self.note(f"  killed {slot.worker_id}, started {self.slots[slot.index].worker_id}")
            self.chaos.kills += 1
        elif action.mid_task:
            slot.process.send_signal(signal.SIGUSR1)
            self.pauses[slot.index] = Pause(slot, mid_task=True, since=self.now())
        else:
            slot.process.send_signal(signal.SIGSTOP)
            self.pauses[slot.index] = Pause(slot, mid_task=False, since=self.now(), frozen=True)

    def freeze_holders(self, entries: list[Entry]) -> None:
        """Freeze every worker that just wrote ``hold``: it waits, holding its task, for this."""
        for entry in entries:
            if entry.event != "hold":
                continue
            slot = next((s for s in self.slots if s.worker_id == entry.worker), None)
            if slot is None:
                continue
            slot.process.send_signal(signal.SIGSTOP)
            pause = self.pauses.setdefault(slot.index, Pause(slot, mid_task=True, since=self.now()))
            pause.frozen, pause.since, pause.held = True, self.now(), entry.process_id
            self.note(f"froze {slot.worker_id} holding {entry.process_id}")

    def tend_pauses(self) -> None:
        """Withdraw hold requests that got no task; thaw frozen workers once they were reaped;
        end a pause when the thawed worker has tried to finish its held task."""
        for index, pause in list(self.pauses.items()):
            waited = self.now() - pause.since
            if pause.thawed:
                if (pause.slot.worker_id, pause.held) in self.verdicts or waited > VERDICT_WAIT_SECONDS:
                    del self.pauses[index]
                continue
            if not pause.frozen:
                if waited > HOLD_WAIT_SECONDS:
                    pause.slot.process.send_signal(signal.SIGUSR2)
                    del self.pauses[index]
                    self.note(f"no task to hold came from {pause.slot.worker_id}: request withdrawn")
                    self.chaos.skipped += 1
                continue
            if waited < self.settings.pause_seconds:
                continue
            reaped = self.reaped(pause.slot.worker_id)
            if not reaped and waited < self.settings.pause_seconds + REAP_WAIT_SECONDS:
                continue
            pause.slot.process.send_signal(signal.SIGCONT)
            pause.thawed, pause.since = pause.held is not None, self.now()
            if not pause.thawed:
                del self.pauses[index]
            self.note(f"thawed {pause.slot.worker_id} after {waited:.2f} s ({'reaped' if reaped else 'NOT reaped'})")
            self.chaos.unreaped_pauses += not reaped
            if pause.mid_task:
                self.chaos.pauses_mid_task += 1
                if pause.held is not None and reaped:
                    self.chaos.zombies.append((pause.slot.worker_id, pause.held))
            else:
                self.chaos.pauses_any_moment += 1

    def replace_crashed(self) -> None:
        """Start a new worker in the slot of one that exited by itself (a bug: see its stderr)."""
        for slot in list(self.slots):
            if slot.process.poll() is not None:
                self.note(f"{slot.worker_id} exited by itself with code {slot.process.returncode}")
                self.chaos.crashes += 1
                self.pauses.pop(slot.index, None)
                self.slots[slot.index] = self.spawn(slot.index, slot.generation + 1)

    def read_ledgers(self) -> list[Entry]:
        entries = self.reader.read_new()
        self.entries += entries
        self.listening.update(e.worker for e in entries if e.event == "start")
        self.verdicts.update((e.worker, e.process_id) for e in entries if e.event in VERDICTS)
        return entries

    # The run --------------------------------------------------------------------------------

    def tasks(self) -> list[str]:
        width = len(str(self.settings.tasks))
        return [f"t{i:0{width}d}" for i in range(1, self.settings.tasks + 1)]

    def run(self, progress: bool) -> Outcome:
        s = self.settings
        self.server.start()
        server = self.server_name()
        tasks = self.tasks()
        with Worqr(redis=self.server.url, prefix=s.prefix) as client:
            for i in range(0, len(tasks), 1000):
                client.enqueue(s.queue, tasks[i : i + 1000])
            self.slots = [self.spawn(i, 0) for i in range(s.workers)]
            self.started = time.monotonic()
            self.wait_until_ready()
            self.started = time.monotonic()
            self.chaos_loop(progress)
            self.stop_workers()
            self.reap_leftovers(client)
        self.chaos.left_over = self.census()
        self.chaos.seconds = self.now()
        self.server.stop()
        if self.keep_journal:
            shutil.copytree(Path(self.server.dir) / "appendonlydir", self.workdir / "appendonlydir", dirs_exist_ok=True)
        journal = read_journal(Path(self.server.dir), s.prefix, s.queue)
        self.read_ledgers()
        figures = compute(tasks, self.entries, journal, self.chaos)
        report = markdown(self.settings.rows(server), figures, self.chaos)
        passed = all(ok for _, ok in checks(figures, self.chaos))
        return Outcome(s, figures, self.chaos, report, passed, self.entries)

    def wait_until_ready(self) -> None:
        """Wait for every first worker to have started, so that the chaos clock starts with them."""
        ready: set[str] = set()
        while self.now() < START_WAIT_SECONDS:
            ready.update(e.worker for e in self.read_ledgers() if e.event == "ready")
            if all(slot.worker_id in ready for slot in self.slots):
                return
            time.sleep(TICK_SECONDS)
        msg = f"the workers did not start within {START_WAIT_SECONDS} s; see the stderr files in {self.ledgers}"
        raise RuntimeError(msg)

    def chaos_loop(self, progress: bool) -> None:
        s = self.settings
        actions = chaos_schedule.schedule(s.seed, s.rates, s.workers)
        action = next(actions, None)
        chaos_over_at: float | None = None
        drained, next_check, next_progress = False, 0.0, PROGRESS_SECONDS
        while True:
            now = self.now()
            self.freeze_holders(self.read_ledgers())
            self.tend_pauses()
            self.replace_crashed()
            if now >= next_check:
                drained, next_check = self.drained(), now + 0.2
            if chaos_over_at is None and (drained or (s.seconds is not None and now >= s.seconds)):
                chaos_over_at = now
            if chaos_over_at is None and action is not None and now >= action.at:
                self.perform(action)
                action = next(actions, None)
            if chaos_over_at is not None and drained and not self.pauses:
                self.chaos.drained = True
                return
            if chaos_over_at is not None and now > chaos_over_at + s.drain_timeout:
                return
            if progress and now >= next_progress:
                next_progress += PROGRESS_SECONDS
                accepted = sum(1 for e in self.entries if e.event == "accepted")
                c = self.chaos
                print(
                    f"[{now:6.1f} s] accepted {accepted}/{s.tasks}; kills {c.kills}, "
                    f"pauses {c.pauses_mid_task + c.pauses_any_moment}, restarts {c.restarts}",
                    file=sys.stderr,
                )
            time.sleep(TICK_SECONDS)

    def stop_workers(self) -> None:
        for pause in self.pauses.values():
            pause.slot.process.send_signal(signal.SIGCONT)
        self.pauses.clear()
        for slot in self.slots:
            slot.process.terminate()
        for slot in self.slots:
            try:
                slot.process.wait(EXIT_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                slot.process.kill()
                slot.process.wait()
                self.chaos.workers_killed_at_exit += 1

    def reap_leftovers(self, client: Worqr) -> None:
        """Reap killed workers that held nothing and so were not reaped yet (their leases run out)."""
        deadline = time.monotonic() + self.settings.worker_timeout + REAP_WAIT_SECONDS
        while time.monotonic() < deadline:
            client.cleanup_workers()
            if not self.registered():
                return
            time.sleep(0.1)

    def server_name(self) -> str:
        try:
            info = self.raw.info("server")
        except redis.RedisError:
            return Path(self.server.binary).name
        name = "valkey" if "valkey_version" in info else "redis"
        return f"{name} {info.get('valkey_version', info.get('redis_version'))} ({self.server.binary})"


def run_soak(settings: Settings, workdir: Path | None = None, *, progress: bool = False) -> Outcome:
    """Run one soak; every process it started has ended when it returns or raises.

    With ``workdir``, the ledgers, the workers' stderr, chaos.log and the server's AOF
    (the journal) stay there; otherwise a temporary folder is used and removed.
    """
    settings.check()
    with _workdir(workdir) as folder:
        soak = Soak(settings, folder, keep_journal=workdir is not None)
        try:
            outcome = soak.run(progress)
        finally:
            soak.close()
        outcome.exit_codes = [p.returncode for p in soak.all_processes]
        outcome.server_running = soak.server.process is not None
        return outcome


@contextlib.contextmanager
def _workdir(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="worqr-soak-") as folder:
        yield Path(folder)


def main(argv: list[str] | None = None) -> int:
    settings, workdir = parse_args(argv)
    outcome = run_soak(settings, workdir, progress=True)
    print(outcome.report)
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
