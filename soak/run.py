"""The chaos soak's orchestrator: a Redis server with AOF, worker processes of several kinds,
each behind its own fault proxy, the chaos loop, the drain, and the report.

    python -m soak.run --tasks 50000 --workers 5 --seed 1

It enqueues the tasks (and the persistent "connection-N" tasks), starts one worker process
per slot (`soak.worker` for a ``plain`` slot, `soak.runtime_worker` for the others), each
connected to Redis through a `worqr.testing.FaultProxy` of its slot, and then, following the
seeded schedule of `soak.chaos`: SIGKILLs workers (and starts replacements), freezes
workers with SIGSTOP past their timeout and thaws them with SIGCONT once a peer reaped them,
restarts the server, stalls it (SIGSTOP, SIGCONT), and cuts, blackholes, silences or slows
one slot's link at a time. Every tick it samples what each live worker holds in Redis and
compares it with the ledgers (`soak.holds`). When the queue is drained (or ``--seconds``
have passed and it drained), it ends every fault, stops the workers, reads the server's
journal and the workers' ledgers, prints the figures as markdown, and exits with 1 if any
check failed. Every child process is ended on the way out, whatever happens.
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
from soak.holds import HeldWatch
from soak.journal import read_journal
from soak.ledger import Entry, LedgerReader, ledger_path
from soak.report import Chaos, Fault, Figures, checks, compute, markdown
from soak.settings import PERSISTENT_KINDS, SERVER_ARGS, Settings, parse_args
from worqr import Worqr
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr._protocol.models import make_process_id
from worqr.testing import FaultProxy, RedisServer

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
VERDICTS = frozenset({"accepted", "rejected", "ambiguous-refused"})
#: How long a worker may take to exit after SIGTERM before it is killed.
EXIT_WAIT_SECONDS = 30.0
#: How long a worker just started may take to set up its signal handlers before SIGTERM.
LISTEN_WAIT_SECONDS = 10.0
#: How often the loop looks at the ledgers, the schedule and what the workers hold.
TICK_SECONDS = 0.05
#: How often a run in a terminal says how far it got.
PROGRESS_SECONDS = 10.0
#: The orchestrator's own reads: short, so that a stall it did not cause cannot hold it up long.
RAW_TIMEOUT_SECONDS = 2.0


@dataclass
class Slot:
    """One worker process; a killed one is replaced in its slot by the next generation."""

    index: int
    generation: int
    worker_id: str
    kind: str
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
    frozen_wall: float = 0.0


@dataclass
class Timed:
    """A fault in force until ``until`` (the orchestrator's clock)."""

    action: Action
    fault: Fault
    until: float


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
    """One run: owns the server, the proxies and the worker processes until `close`."""

    def __init__(self, settings: Settings, workdir: Path, *, keep_journal: bool = False) -> None:
        self.settings = settings
        self.workdir = workdir
        self.keep_journal = keep_journal
        self.ledgers = workdir / "ledgers"
        self.ledgers.mkdir(parents=True, exist_ok=True)
        self.server = RedisServer(extra_args=SERVER_ARGS)
        self.proxies = [FaultProxy(self.server.port) for _ in range(settings.workers)]
        self.keys = QueueKeys(settings.prefix, settings.queue)
        self.connection_keys = QueueKeys(settings.prefix, settings.connections_queue)
        self.registry = RegistryKeys(settings.prefix)
        self.slots: list[Slot] = []
        self.all_processes: list[subprocess.Popen[bytes]] = []
        self.pauses: dict[int, Pause] = {}
        self.links: dict[int, Timed] = {}
        self.server_fault: Timed | None = None
        self.chaos = Chaos()
        self.reader = LedgerReader(self.ledgers)
        self.entries: list[Entry] = []
        self.listening: set[str] = set()
        self.verdicts: set[tuple[str, str]] = set()
        self.watch = HeldWatch()
        self.started = 0.0
        self._raw: redis.Redis | None = None

    # Processes ------------------------------------------------------------------------------

    def spawn(self, index: int, generation: int) -> Slot:
        worker_id = f"w{index}.{generation}"
        s = self.settings
        kind = s.kind_of(index)
        url = self.proxies[index].url_for(self.server.url)
        if kind == "plain":
            args = [sys.executable, "-m", "soak.worker", "--queue", s.queue]
        else:
            queue = s.connections_queue if kind in PERSISTENT_KINDS else s.queue
            concurrency = max(1, s.connections) if kind in PERSISTENT_KINDS else s.concurrency
            args = [sys.executable, "-m", "soak.runtime_worker", "--kind", kind, "--queue", queue]
            args += ["--concurrency", str(concurrency), "--poll-interval", str(s.poll_interval)]
        args += ["--redis", url, "--prefix", s.prefix, "--worker-id", worker_id]
        args += ["--ledger", str(ledger_path(self.ledgers, worker_id))]
        args += ["--worker-timeout", str(s.worker_timeout), "--heartbeat-interval", str(s.heartbeat_interval)]
        args += ["--cleanup-interval", str(s.cleanup_interval), "--work-ms", str(s.work_ms)]
        with (self.ledgers / f"{worker_id}.stderr").open("wb") as stderr:
            process = subprocess.Popen(  # noqa: S603 (our own module)
                args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        self.all_processes.append(process)
        self.chaos.kinds[worker_id] = kind
        return Slot(index, generation, worker_id, kind, process)

    def close(self) -> None:
        """End every child: thaw and kill the workers still running, stop the proxies and the server."""
        for process in self.all_processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                    process.kill()
                process.wait()
        if self._raw is not None:
            self._raw.close()
        for proxy in self.proxies:
            with contextlib.suppress(RuntimeError):
                proxy.close()
        self.server.resume()
        self.server.close()

    # Looking at the server ------------------------------------------------------------------

    @property
    def raw(self) -> redis.Redis:
        if self._raw is None:
            self._raw = redis.Redis.from_url(
                self.server.url, socket_timeout=RAW_TIMEOUT_SECONDS, socket_connect_timeout=RAW_TIMEOUT_SECONDS
            )
        return self._raw

    def server_up(self) -> bool:
        """Whether the server is meant to answer now (neither down nor stalled by the soak)."""
        return self.server_fault is None

    def registered(self) -> list[str]:
        """The workers registered or being reaped (a process belongs to one of them)."""
        members = self.raw.sunion([self.registry.workers, self.registry.reaping])
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    def census(self, keys: QueueKeys | None = None) -> tuple[int, int, int]:
        """Queued tasks, tasks held in processes, and registered workers, in one snapshot."""
        keys = keys or self.keys
        for _ in range(5):
            workers = self.registered()
            pipe = self.raw.pipeline(transaction=True)
            pipe.llen(keys.pending)
            pipe.sunion([self.registry.workers, self.registry.reaping])
            for worker in workers:
                pipe.hlen(keys.processes(worker))
            queued, again, *held = pipe.execute()
            if len(again) == len(workers) and all(w.encode() in again for w in workers):
                return queued, sum(held), len(workers)  # the same workers inside the transaction: a snapshot
        return -1, -1, -1

    def drained(self) -> bool:
        if not self.server_up():
            return False
        try:
            queued, held, _ = self.census()
        except redis.RedisError:
            return False
        return queued == 0 and held == 0

    def reaped(self, worker_id: str) -> bool:
        """Whether a peer has finished reaping ``worker_id`` (it is in neither registry set)."""
        if not self.server_up():
            return False
        try:
            pipe = self.raw.pipeline(transaction=True)
            pipe.sismember(self.registry.workers, worker_id)
            pipe.sismember(self.registry.reaping, worker_id)
            return not any(pipe.execute())
        except redis.RedisError:
            return False

    def sample(self) -> dict[str, list[str]] | None:
        """What each live worker holds: its process ids on both queues, for the workers that
        are registered and not being reaped, whose process runs and is not frozen."""
        if not self.server_up():
            return None
        candidates = [
            slot.worker_id
            for slot in self.slots
            if slot.process.poll() is None and not self._frozen(slot.index) and slot.worker_id in self.listening
        ]
        try:
            pipe = self.raw.pipeline(transaction=True)
            pipe.smembers(self.registry.workers)
            pipe.smembers(self.registry.reaping)
            for worker in candidates:
                pipe.hkeys(self.keys.processes(worker))
                pipe.hkeys(self.connection_keys.processes(worker))
            workers, reaping, *tables = pipe.execute()
        except redis.RedisError:
            return None
        held: dict[str, list[str]] = {}
        for i, worker in enumerate(candidates):
            if worker.encode() not in workers or worker.encode() in reaping:
                continue
            jobs, conns = tables[2 * i], tables[2 * i + 1]
            held[worker] = [make_process_id(int(seq), self.settings.queue) for seq in jobs]
            held[worker] += [make_process_id(int(seq), self.settings.connections_queue) for seq in conns]
        return held

    def _frozen(self, index: int) -> bool:
        pause = self.pauses.get(index)
        return pause is not None and pause.frozen and not (pause.thawed or pause.slot.process.poll() is not None)

    # Chaos ----------------------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self.started

    def free_slot(self, preferred: int, *, link: bool = False, draining: bool = False) -> Slot | None:
        """``preferred``, or the next slot that is not paused, has no link fault (for a link
        fault), drains the queue (with ``draining``: a mid-task pause needs a task to hold),
        and whose worker has set up its signal handlers (before that, SIGUSR1 would end it)."""
        n = len(self.slots)
        for i in range(n):
            slot = self.slots[(preferred + i) % n]
            if slot.index in self.pauses or (link and slot.index in self.links):
                continue
            if draining and slot.kind in PERSISTENT_KINDS:
                continue
            if slot.worker_id in self.listening:
                return slot
        return None

    def impaired(self) -> int:
        return len(set(self.pauses) | set(self.links))

    def note(self, text: str) -> None:
        """Add a line to chaos.log in the work folder: what the orchestrator did, and when."""
        with (self.workdir / "chaos.log").open("a") as log:
            log.write(f"{self.now():8.2f} {text}\n")

    def skip(self, why: str) -> None:
        self.note(f"  skipped: {why}")
        self.chaos.skipped += 1

    def perform(self, action: Action) -> None:
        self.note(f"{action}")
        if action.kind in ("restart", "stall"):
            self.server_action(action)
        elif action.kind in chaos_schedule.LINK_KINDS:
            self.link_action(action)
        else:
            self.worker_action(action)

    def server_action(self, action: Action) -> None:
        if self.server_fault is not None:
            self.skip("the server is down or stalled already")
            return
        now = self.now()
        if action.kind == "restart":
            self.server.stop()
            until, detail = now + action.downtime, ""
        else:
            self.server.pause()
            until, detail = now + action.duration, ""
        self.server_fault = Timed(action, Fault(action.kind, "server", detail, now, until), until)

    def end_server_fault(self) -> None:
        timed = self.server_fault
        if timed is None:
            return
        if timed.action.kind == "restart":
            self.server.start(timeout=60.0)
            self.chaos.restarts += 1
        else:
            self.server.resume()
            self.chaos.stalls += 1
        self.server_fault = None
        timed.fault.ended = self.now()
        self.chaos.faults.append(timed.fault)
        self.note(f"  server {'restarted' if timed.action.kind == 'restart' else 'resumed'}")

    def link_action(self, action: Action) -> None:
        slot = self.free_slot(action.slot, link=True)
        if slot is None or self.impaired() >= self.settings.max_impaired:
            self.skip("no free worker")
            return
        proxy = self.proxies[slot.index]
        detail = ""
        if action.kind == "partition":
            if action.mode == "half-open":
                proxy.blackhole()
            else:
                proxy.partition()
            detail = action.mode
        elif action.kind == "swallow":
            proxy.swallow_replies()
        else:
            proxy.delay(action.latency)
            detail = f"{action.latency * 1000:.0f} ms"
        now = self.now()
        until = now + action.duration
        self.links[slot.index] = Timed(action, Fault(action.kind, slot.worker_id, detail, now, until), until)
        self.note(f"  on the link of {slot.worker_id}")

    def end_link_fault(self, index: int) -> None:
        timed = self.links.pop(index)
        proxy = self.proxies[index]
        if timed.action.kind == "latency":
            proxy.delay(0)
        else:
            if timed.action.kind == "partition" and timed.action.mode == "reset":
                proxy.reset()
            proxy.heal()
        timed.fault.ended = self.now()
        self.chaos.faults.append(timed.fault)
        self.note(f"  healed the link of slot {index} ({timed.action.kind})")

    def tend_faults(self, *, end_all: bool = False) -> None:
        """End the timed faults that are due (all of them with ``end_all``)."""
        now = self.now()
        for index, timed in list(self.links.items()):
            if end_all or now >= timed.until:
                self.end_link_fault(index)
        if self.server_fault is not None and (end_all or now >= self.server_fault.until):
            self.end_server_fault()

    def worker_action(self, action: Action) -> None:
        mid_task = action.kind == "pause" and action.mid_task
        slot = (self.free_slot(action.slot, draining=True) if mid_task else None) or self.free_slot(action.slot)
        if slot is None or (action.kind == "pause" and self.impaired() >= self.settings.max_impaired):
            self.skip("no free worker")
            return
        if action.kind == "kill":
            self.kill(slot)
            self.slots[slot.index] = self.spawn(slot.index, slot.generation + 1)
            self.note(f"  killed {slot.worker_id}, started {self.slots[slot.index].worker_id}")
            self.chaos.kills += 1
        elif mid_task and slot.kind not in PERSISTENT_KINDS:
            slot.process.send_signal(signal.SIGUSR1)
            self.pauses[slot.index] = Pause(slot, mid_task=True, since=self.now())
        else:
            self.freeze(slot)
            self.pauses[slot.index] = Pause(
                slot, mid_task=False, since=self.now(), frozen=True, frozen_wall=time.time()
            )

    def kill(self, slot: Slot) -> None:
        slot.process.kill()
        slot.process.wait()
        self.chaos.ended[slot.worker_id] = time.time()

    def freeze(self, slot: Slot) -> None:
        slot.process.send_signal(signal.SIGSTOP)
        self.note(f"  froze {slot.worker_id}")

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
            pause.frozen, pause.since, pause.held, pause.frozen_wall = True, self.now(), entry.process_id, time.time()
            self.note(f"froze {slot.worker_id} holding {entry.process_id}")

    def thaw(self, pause: Pause) -> None:
        pause.slot.process.send_signal(signal.SIGCONT)
        self.chaos.frozen.setdefault(pause.slot.worker_id, []).append((pause.frozen_wall, time.time()))

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
            self.thaw(pause)
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
        """Start a new worker in the slot of one that exited by itself (a failure: see its stderr)."""
        for slot in list(self.slots):
            if slot.process.poll() is not None:
                why = self.last_error(slot.worker_id)
                self.note(f"{slot.worker_id} exited by itself with code {slot.process.returncode}: {why}")
                self.chaos.exited.append((slot.worker_id, slot.process.returncode, why))
                self.chaos.ended[slot.worker_id] = time.time()
                self.pauses.pop(slot.index, None)
                self.slots[slot.index] = self.spawn(slot.index, slot.generation + 1)

    def last_error(self, worker_id: str) -> str:
        """The last line of a worker's stderr (the exception it died of, usually)."""
        lines = (self.ledgers / f"{worker_id}.stderr").read_text(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else ""

    def read_ledgers(self) -> list[Entry]:
        entries = self.reader.read_new()
        self.entries += entries
        self.listening.update(e.worker for e in entries if e.event == "start")
        self.verdicts.update((e.worker, e.process_id) for e in entries if e.event in VERDICTS)
        self.watch.record(entries)
        return entries

    # The run --------------------------------------------------------------------------------

    def tasks(self) -> list[str]:
        width = len(str(self.settings.tasks))
        return [f"t{i:0{width}d}" for i in range(1, self.settings.tasks + 1)]

    def connections(self) -> list[str]:
        return [f"connection-{i}" for i in range(1, self.settings.connections + 1)]

    def run(self, progress: bool) -> Outcome:
        s = self.settings
        self.server.start()
        for proxy in self.proxies:
            proxy.start()
        server = self.server_name()
        tasks = self.tasks()
        with Worqr(redis=self.server.url, prefix=s.prefix) as client:
            for i in range(0, len(tasks), 1000):
                client.enqueue(s.queue, tasks[i : i + 1000])
            if s.persistent_slots and s.connections:
                client.enqueue(s.connections_queue, self.connections(), unique=True)
            self.slots = [self.spawn(i, 0) for i in range(s.workers)]
            self.started = time.monotonic()
            self.wait_until_ready()
            self.started = time.monotonic()
            self.chaos_loop(progress)
            self.stop_workers()
            self.reap_leftovers(client)
        self.watch.close()
        self.chaos.left_over = self.census()
        counters = self.raw.hgetall(self.keys.counters)
        self.chaos.counters = {_text(name): int(value) for name, value in counters.items()}
        self.chaos.connections_left = self.connections_left()
        self.chaos.seconds = self.now()
        self.chaos.run_end_wall = time.time()
        self.server.stop()
        if self.keep_journal:
            shutil.copytree(Path(self.server.dir) / "appendonlydir", self.workdir / "appendonlydir", dirs_exist_ok=True)
        journal = read_journal(Path(self.server.dir), s.prefix, s.queue)
        self.read_ledgers()
        self.chaos.unrun = self.watch.unrun
        self.chaos.waiting = self.watch.waiting
        self.chaos.samples = self.watch.samples
        figures = compute(tasks, self.entries, journal, self.chaos, s)
        report = markdown(self.settings.rows(server), figures, self.chaos, s)
        passed = all(ok for _, ok in checks(figures, self.chaos, s))
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
            self.tend_faults(end_all=chaos_over_at is not None)
            now = self.now()
            held = self.sample()  # first what Redis holds, then what the ledgers say: see soak.holds
            self.freeze_holders(self.read_ledgers())
            if held is not None:
                self.watch.observe(now, held)
            self.tend_pauses()
            self.replace_crashed()
            if now >= next_check:
                drained, next_check = self.drained(), now + 0.2
            if chaos_over_at is None and (drained or (s.seconds is not None and now >= s.seconds)):
                chaos_over_at = now
                self.tend_faults(end_all=True)
                self.note("chaos over")
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
                    f"pauses {c.pauses_mid_task + c.pauses_any_moment}, restarts {c.restarts}, "
                    f"stalls {c.stalls}, link faults {sum(1 for f in c.faults if f.target != 'server')}",
                    file=sys.stderr,
                )
            time.sleep(TICK_SECONDS)

    def stop_workers(self) -> None:
        for index, pause in list(self.pauses.items()):
            if pause.frozen and not pause.thawed:
                self.thaw(pause)
            del self.pauses[index]
        deadline = time.monotonic() + LISTEN_WAIT_SECONDS
        while time.monotonic() < deadline and not all(slot.worker_id in self.listening for slot in self.slots):
            self.read_ledgers()
            time.sleep(TICK_SECONDS)
        for slot in self.slots:
            slot.process.terminate()
        for slot in self.slots:
            try:
                slot.process.wait(EXIT_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill(slot)
                self.chaos.workers_killed_at_exit += 1
            else:
                self.chaos.ended[slot.worker_id] = time.time()
                if slot.process.returncode != 0:
                    self.chaos.exit_errors.append((slot.worker_id, slot.process.returncode))

    def reap_leftovers(self, client: Worqr) -> None:
        """Reap killed workers that held nothing and so were not reaped yet (their leases run out)."""
        deadline = time.monotonic() + self.settings.worker_timeout + REAP_WAIT_SECONDS
        while time.monotonic() < deadline:
            client.cleanup_workers()
            if not self.registered():
                return
            time.sleep(0.1)

    def connections_left(self) -> list[str]:
        """The persistent tasks waiting in their queue at the end, in order."""
        tasks = self.raw.lrange(self.connection_keys.pending, 0, -1)
        return sorted(t.decode() if isinstance(t, bytes) else t for t in tasks)

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


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name


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
