"""The soak's figures, the checks they must pass, and the markdown table that reports them.

Two records are compared: the ledger (what each worker process heard from worqr) and the
journal (what the server applied, read from its append-only file). Either alone can be
fooled: a worker killed right after its finish was applied never wrote ``accepted``, and a
finish whose reply was lost is ``ambiguous`` in the ledger; the journal settles both.

The same rules hold for every kind of worker. A plain worker writes ``accepted`` when
``finish_process`` returned. A runtime worker's handler only hands its result to the
runtime, which sends it later in a batch (``finish_many``); the worker writes ``accepted``
when the runtime says the batch finished that process (its DEBUG record), ``rejected`` when
the runtime says the process was no longer its own, and ``ambiguous`` when a batch broke
after it was sent. So in both cases ``accepted`` is what worqr acknowledged, and the
journal says what was applied: each task must be finished there exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from soak.holds import Overlap, Spell, holds, singleton_overlap
from soak.journal import Journal
from soak.ledger import Entry
from soak.settings import Settings

#: The longest two persistent handlers may run the same task at once right after one of them
#: was thawed. A holder stops its handler on its own clock before its peers can reap it, so
#: a network fault or a stall must give no overlap at all (checked: <= 0); but a holder
#: frozen (SIGSTOP) past its timeout is reaped and its task taken over while it is frozen,
#: and once thawed it needs a moment to see that it was lost: its fence alarm is overdue
#: and fires as soon as the process runs again. That moment, on a loaded machine, is what
#: this bounds.
OVERLAP_BOUND_SECONDS = 0.5


@dataclass
class Fault:
    """A timed fault: a stall or a restart of the server, or a fault on one slot's link;
    times are the orchestrator's clock (seconds since the chaos began)."""

    kind: str
    #: "server", or the worker id on the faulty link when the fault began
    target: str
    detail: str
    began: float
    ended: float

    @property
    def slot(self) -> str | None:
        """The slot of a link fault ("w3.1" -> "3")."""
        return None if self.target == "server" else self.target[1:].split(".", 1)[0]

    def __str__(self) -> str:
        detail = f" {self.detail}" if self.detail else ""
        where = "the server" if self.target == "server" else f"the link of {self.target}"
        return f"{self.kind}{detail} of {where}, {self.began:.1f}-{self.ended:.1f} s"


@dataclass
class Chaos:
    """What the orchestrator did, and what it saw of the run as a whole."""

    kills: int = 0
    pauses_mid_task: int = 0
    pauses_any_moment: int = 0
    restarts: int = 0
    stalls: int = 0
    #: the timed faults (restarts, stalls, link faults), once ended
    faults: list[Fault] = field(default_factory=list)
    #: actions that could not happen: the slot was busy, or no task came to hold
    skipped: int = 0
    #: (worker id, process id) held by a worker frozen mid-task and thawed after it was reaped
    zombies: list[tuple[str, str]] = field(default_factory=list)
    #: pauses thawed before the frozen worker was seen reaped (should not happen)
    unreaped_pauses: int = 0
    drained: bool = False
    #: queued tasks, held processes and registered workers left when everything stopped
    left_over: tuple[int, int, int] = (0, 0, 0)
    #: the persistent tasks waiting in their queue at the end
    connections_left: list[str] = field(default_factory=list)
    #: the queue's exact counters ({P:Q}:counters) at the end
    counters: dict[str, int] = field(default_factory=dict)
    #: worker processes that exited without being told to: worker id, exit code, last stderr line
    exited: list[tuple[str, int | None, str]] = field(default_factory=list)
    #: worker processes told to stop that exited with an error code
    exit_errors: list[tuple[str, int | None]] = field(default_factory=list)
    workers_killed_at_exit: int = 0
    seconds: float = 0.0
    #: worker id -> kind
    kinds: dict[str, str] = field(default_factory=dict)
    #: worker id -> (frozen, thawed) wall-clock spans
    frozen: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    #: worker id -> when its process was killed or seen gone (wall clock)
    ended: dict[str, float] = field(default_factory=dict)
    run_end_wall: float = 0.0
    #: what `soak.holds.HeldWatch` saw
    unrun: list[Spell] = field(default_factory=list)
    waiting: list[Spell] = field(default_factory=list)
    samples: int = 0

    @property
    def restart_seconds(self) -> list[float]:
        return [f.ended - f.began for f in self.faults if f.kind == "restart"]

    def count(self, kind: str, detail: str | None = None) -> int:
        return sum(1 for f in self.faults if f.kind == kind and (detail is None or f.detail == detail))

    def longest(self, *kinds: str) -> float:
        return max((f.ended - f.began for f in self.faults if f.kind in kinds), default=0.0)


@dataclass(frozen=True)
class Figures:
    enqueued: int
    enqueued_in_journal: int
    accepted: int
    accepted_by_kind: dict[str, int]
    applied: int
    lost: int
    duplicate_accepted: int
    duplicate_applied: int
    accepted_not_applied: int
    rejected: int
    rejected_but_applied: int
    zombies: int
    zombies_refused: int
    ambiguous: int
    ambiguous_accepted_on_retry: int
    ambiguous_refused_applied: int
    ambiguous_refused_not_applied: int
    ambiguous_unanswered_applied: int
    ambiguous_unanswered_not_applied: int
    applied_unheard: int
    ambiguous_dequeues: int
    executions: int
    executions_by_kind: dict[str, int]
    reexecutions: int
    dequeues: int
    requeued: int
    stopped: int
    interrupted_requeues: int
    plain_interrupted_requeues: int
    plain_interrupted_incarnations: int
    declared_dead: int
    interrupted_incarnations: int
    lost_incarnations: int
    runtime_losses: dict[str, int]
    rejoined: int
    start_failures: int
    runtime_stopped: int
    other_removals: int
    held_unrun: Spell | None
    held_unrun_faults: list[Fault]
    result_waiting: Spell | None
    holds: int
    overlap_running: Overlap | None
    overlap_thawed: Overlap | None
    overlap_frozen: Overlap | None


def _key(worker: str, process_id: str) -> tuple[str, int]:
    return worker, int(process_id.split(":", 1)[0])  # a process id is "<seq>:<queue>"


def faults_near(spell: Spell, faults: Sequence[Fault], settings: Settings) -> list[Fault]:
    """The faults that could explain a spell: on the server, or on its worker's slot, in
    force during it or up to one read timeout before it began."""
    slot = spell.worker[1:].split(".", 1)[0]
    since = spell.began - settings.read_timeout
    return [
        f for f in faults if (f.target == "server" or f.slot == slot) and f.ended >= since and f.began <= spell.ended
    ]


def compute(
    tasks: Sequence[str], entries: Sequence[Entry], journal: Journal, chaos: Chaos, settings: Settings
) -> Figures:
    by_event: dict[str, list[Entry]] = {}
    for entry in entries:
        by_event.setdefault(entry.event, []).append(entry)

    def of(event: str) -> list[Entry]:
        return by_event.get(event, [])

    def kind(entry: Entry) -> str:
        return chaos.kinds.get(entry.worker, "?")

    applied = {(w, s): t for w, s, t in journal.finished}
    applied_per_task = Counter(t for _, _, t in journal.finished)
    accepted_keys = {_key(e.worker, e.process_id) for e in of("accepted")}
    ambiguous_keys = {_key(e.worker, e.process_id) for e in of("ambiguous")}
    refused_keys = {_key(e.worker, e.process_id) for e in of("ambiguous-refused")}
    rejected_keys = {_key(e.worker, e.process_id) for e in of("rejected")}
    unanswered = ambiguous_keys - accepted_keys - refused_keys  # the worker was gone before its retry was answered
    executed = Counter(e.task for e in of("exec"))
    released = Counter(kind(e) for e in of("released"))
    dead = Counter(chaos.kinds.get(w, "?") for w in journal.declared_dead)
    plain_requeues = sum(n for w, n in journal.interrupted_of.items() if chaos.kinds.get(w) == "plain")
    zombie_keys = [_key(w, p) for w, p in chaos.zombies]
    longest_unrun = max(chaos.unrun, key=lambda s: s.seconds, default=None)
    all_holds = holds(entries, chaos.ended, chaos.run_end_wall)
    return Figures(
        enqueued=len(tasks),
        enqueued_in_journal=len(journal.enqueued),
        accepted=len(of("accepted")),
        accepted_by_kind=dict(Counter(kind(e) for e in of("accepted"))),
        applied=len(journal.finished),
        lost=sum(1 for t in tasks if applied_per_task[t] == 0),
        duplicate_accepted=sum(1 for n in Counter(e.task for e in of("accepted")).values() if n > 1),
        duplicate_applied=sum(1 for n in applied_per_task.values() if n > 1),
        accepted_not_applied=len(accepted_keys - applied.keys()),
        rejected=len(rejected_keys),
        rejected_but_applied=len(rejected_keys & applied.keys()),
        zombies=len(zombie_keys),
        zombies_refused=sum(1 for k in zombie_keys if k not in applied and k not in accepted_keys),
        ambiguous=len(ambiguous_keys),
        ambiguous_accepted_on_retry=len(ambiguous_keys & accepted_keys),
        ambiguous_refused_applied=len(refused_keys & applied.keys()),
        ambiguous_refused_not_applied=len(refused_keys - applied.keys()),
        ambiguous_unanswered_applied=len(unanswered & applied.keys()),
        ambiguous_unanswered_not_applied=len(unanswered - applied.keys()),
        applied_unheard=len(applied.keys() - accepted_keys - ambiguous_keys),
        ambiguous_dequeues=len(of("ambiguous-dequeue")),
        executions=sum(executed.values()),
        executions_by_kind=dict(Counter(kind(e) for e in of("exec"))),
        reexecutions=sum(executed.values()) - len(executed),
        dequeues=len(journal.dequeued),
        requeued=journal.requeued,
        stopped=journal.stopped,
        interrupted_requeues=journal.interrupted,
        plain_interrupted_requeues=plain_requeues,
        plain_interrupted_incarnations=dead["plain"] - released["plain"],
        declared_dead=len(journal.declared_dead),
        interrupted_incarnations=len(journal.declared_dead) - len(of("released")),
        lost_incarnations=sum(1 for e in of("lost") if kind(e) == "plain"),
        runtime_losses=dict(Counter(e.fields[0] for e in of("lost") if e.fields)),
        rejoined=len(of("rejoined")),
        start_failures=len(of("start-failed")),
        runtime_stopped=len(of("runtime-stopped")),
        other_removals=journal.other_removals,
        held_unrun=longest_unrun,
        held_unrun_faults=[] if longest_unrun is None else faults_near(longest_unrun, chaos.faults, settings),
        result_waiting=max(chaos.waiting, key=lambda s: s.seconds, default=None),
        holds=len(all_holds),
        overlap_running=singleton_overlap(all_holds, chaos.frozen, running=True, thawed=False),
        overlap_thawed=singleton_overlap(all_holds, chaos.frozen, running=True, thawed=True),
        overlap_frozen=singleton_overlap(all_holds, chaos.frozen, running=False),
    )


def _seconds(spell: Spell | Overlap | None) -> float:
    return 0.0 if spell is None else spell.seconds


def _refusals_heard(fig: Figures) -> int:
    """Ends the workers heard refused by the fence: late finishes rejected, and retries of an
    ambiguous finish refused (its first attempt applied, or its process reaped meanwhile).
    The fenced counter counts these and also refusals no ledger heard (a worker killed
    before it recorded the answer, a refused stop), so it is at least this."""
    return fig.rejected + fig.ambiguous_refused_applied + fig.ambiguous_refused_not_applied


def checks(fig: Figures, chaos: Chaos, settings: Settings) -> list[tuple[str, bool]]:
    """Every claim the run makes, and whether it held."""
    persistent = settings.persistent_slots > 0 and settings.connections > 0
    connections = [f"connection-{i}" for i in range(1, settings.connections + 1)] if persistent else []
    bound = settings.held_unrun_bound
    counted = chaos.counters
    return [
        ("lost tasks = 0 (every enqueued task was finished, per the server's journal)", fig.lost == 0),
        ("duplicate accepted completions = 0 (no task acknowledged twice to workers)", fig.duplicate_accepted == 0),
        ("duplicate applied finishes = 0 (no task finished twice, per the journal)", fig.duplicate_applied == 0),
        (
            "every acknowledged finish is in the journal (durable with appendfsync always)",
            fig.accepted_not_applied == 0,
        ),
        ("no rejected finish changed anything", fig.rejected_but_applied == 0),
        ("no zombie's late finish was applied (refused, or never sent)", fig.zombies_refused == fig.zombies),
        (
            "executions beyond the first <= tasks requeued after an interruption",
            fig.reexecutions <= fig.interrupted_requeues,
        ),
        (
            "plain workers: tasks requeued after an interruption <= their interrupted incarnations",
            fig.plain_interrupted_requeues <= fig.plain_interrupted_incarnations,
        ),
        ("the journal holds every enqueued task", fig.enqueued_in_journal == fig.enqueued),
        ("no process ended other than by finish or requeue", fig.other_removals == 0),
        ("the queue drained", chaos.drained),
        (
            "workers that exited = 0 (no worker process exited, nor its runtime stopped, without being told to)",
            not chaos.exited and fig.runtime_stopped == 0,
        ),
        (
            "each worker process exited when told to, with code 0",
            chaos.workers_killed_at_exit == 0 and not chaos.exit_errors,
        ),
        ("nothing left: no queued task, no process, no registered worker", chaos.left_over == (0, 0, 0)),
        (
            "counters: enqueued = tasks enqueued, finished = finishes applied (journal)",
            (counted.get("enqueued", 0), counted.get("finished", 0)) == (fig.enqueued, fig.applied),
        ),
        ("counters: fenced >= the refused ends the workers heard", counted.get("fenced", 0) >= _refusals_heard(fig)),
        (
            "counters: no failure, dead letter, requeue or cancel counted (the soak has none)",
            not {n: v for n, v in counted.items() if v and n not in ("enqueued", "finished", "fenced")},
        ),
        ("every persistent task is back in its queue, once", chaos.connections_left == connections),
        (
            f"longest time a held task went unrun while its worker lived <= {bound:g} s (a read timeout + 2 s)",
            _seconds(fig.held_unrun) <= bound,
        ),
        (
            "longest singleton overlap, both holders running (not right after a thaw), <= 0 s",
            _seconds(fig.overlap_running) <= 0,
        ),
        (
            f"longest singleton overlap right after a holder was thawed <= {OVERLAP_BOUND_SECONDS:g} s",
            _seconds(fig.overlap_thawed) <= OVERLAP_BOUND_SECONDS,
        ),
    ]


def _table(rows: Sequence[tuple[str, object]], header: tuple[str, str]) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | ---: |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return lines


def _by_kind(counts: dict[str, int]) -> str:
    return " / ".join(str(counts.get(kind, 0)) for kind in ("plain", "runtime", "async-runtime"))


def _spell(spell: Spell | None) -> str:
    if spell is None:
        return "none seen"
    return f"{spell.seconds:.2f} ({spell.worker}, {spell.process_id})"


def _overlap(overlap: Overlap | None) -> str:
    if overlap is None:
        return "none"
    a, b = overlap.first, overlap.second
    at = datetime.fromtimestamp(b.start).strftime("%H:%M:%S.%f")[:-3]
    return f"{overlap.seconds:.3f} ({b.task}: {a.worker}, then {b.worker} from {at})"


def markdown(settings_rows: Sequence[tuple[str, object]], fig: Figures, chaos: Chaos, settings: Settings) -> str:
    restart = max(chaos.restart_seconds, default=0.0)
    losses = fig.runtime_losses
    near = "; ".join(str(f) for f in fig.held_unrun_faults) or "none"
    rows: list[tuple[str, object]] = [
        ("tasks enqueued", fig.enqueued),
        ("completions accepted (acknowledged to the worker)", fig.accepted),
        ("... by plain / runtime / async-runtime workers", _by_kind(fig.accepted_by_kind)),
        ("finishes applied (server journal)", fig.applied),
        ("**lost tasks**", f"**{fig.lost}**"),
        (
            "**duplicate accepted completions** (ledger / journal)",
            f"**{fig.duplicate_accepted} / {fig.duplicate_applied}**",
        ),
        ("**workers that exited** (without being told to)", f"**{len(chaos.exited) + fig.runtime_stopped}**"),
        *((f"... {worker} (exit code {code})", why.replace("|", "/")) for worker, code, why in chaos.exited),
        ("**longest time a held task went unrun while its worker lived, s**", f"**{_spell(fig.held_unrun)}**"),
        ("... faults on its link or the server then (or one read timeout before)", near),
        (
            "**longest singleton overlap, both holders running (not right after a thaw), s**",
            f"**{_overlap(fig.overlap_running)}**",
        ),
        ("... right after one of them was thawed (reaped while frozen), s", _overlap(fig.overlap_thawed)),
        ("... counting a frozen holder as holding, s", _overlap(fig.overlap_frozen)),
        ("persistent holds (hold-start records)", fig.holds),
        ("longest a returned handler's result waited to be recorded, s", _spell(fig.result_waiting)),
        ("samples of what live workers hold (one per tick)", chaos.samples),
        ("acknowledged finishes missing from the journal", fig.accepted_not_applied),
        ("late finishes rejected (the process was no longer the worker's)", fig.rejected),
        (
            "the queue's counters at the end: enqueued / finished / fenced (refused ends heard)",
            f"{chaos.counters.get('enqueued', 0)} / {chaos.counters.get('finished', 0)} / "
            f"{chaos.counters.get('fenced', 0)} ({_refusals_heard(fig)})",
        ),
        (
            "zombies (frozen mid-task, thawed after reaping) / their finish not applied",
            f"{fig.zombies} / {fig.zombies_refused}",
        ),
        ("ambiguous finishes (maybe_applied=True)", fig.ambiguous),
        ("... sent again and accepted (the first attempt had not been applied)", fig.ambiguous_accepted_on_retry),
        (
            "... sent again and refused: first attempt applied / not applied, reaped (journal)",
            f"{fig.ambiguous_refused_applied} / {fig.ambiguous_refused_not_applied}",
        ),
        (
            "... worker gone or lost before an answer: applied / not applied (journal)",
            f"{fig.ambiguous_unanswered_applied} / {fig.ambiguous_unanswered_not_applied}",
        ),
        ("finishes applied that no worker heard of (killed or lost first)", fig.applied_unheard),
        ("ambiguous dequeues of plain workers (given back with stop_work)", fig.ambiguous_dequeues),
        ("processes given back one by one (stop_process: a runtime's lost dequeue reply, shutdown)", fig.stopped),
        ("executions", fig.executions),
        ("... by plain / runtime / async-runtime workers", _by_kind(fig.executions_by_kind)),
        ("executions beyond the first (at-least-once)", fig.reexecutions),
        ("bound: tasks requeued after an interruption (journal)", fig.interrupted_requeues),
        ("tasks requeued in all", fig.requeued),
        ("kills (SIGKILL)", chaos.kills),
        (
            "pauses past the timeout (SIGSTOP/SIGCONT): mid-task / any moment",
            f"{chaos.pauses_mid_task} / {chaos.pauses_any_moment}",
        ),
        ("Redis restarts (SIGKILL, down, AOF reload); longest outage, s", f"{chaos.restarts}; {restart:.2f}"),
        ("Redis stalls (SIGSTOP, SIGCONT); longest, s", f"{chaos.stalls}; {chaos.longest('stall'):.2f}"),
        (
            "partitions healing intact / with a reset / half-open; longest, s",
            f"{chaos.count('partition', 'intact')} / {chaos.count('partition', 'reset')} / "
            f"{chaos.count('partition', 'half-open')}; {chaos.longest('partition'):.2f}",
        ),
        (
            "partitions longer than worker_timeout",
            sum(1 for f in chaos.faults if f.kind == "partition" and f.ended - f.began > settings.worker_timeout),
        ),
        ("spells of swallowed replies; longest, s", f"{chaos.count('swallow')}; {chaos.longest('swallow'):.2f}"),
        ("spells of latency; longest, s", f"{chaos.count('latency')}; {chaos.longest('latency'):.2f}"),
        ("actions skipped (slot busy, no task to hold, server already down)", chaos.skipped),
        ("reaps (workers declared dead, journal; clean leaves included)", fig.declared_dead),
        ("interrupted worker incarnations (reaps minus clean exits)", fig.interrupted_incarnations),
        ("plain workers that found themselves declared dead (WorkerLostError)", fig.lost_incarnations),
        (
            "runtime workers lost: fenced themselves / found themselves declared dead",
            f"{losses.get('fenced', 0)} / {losses.get('declared-dead', 0)}",
        ),
        ("runtime workers that registered again under their own id", fig.rejoined),
        ("runtime starts retried (Redis unreachable when the process started)", fig.start_failures),
        ("run time, s", f"{chaos.seconds:.1f}"),
    ]
    lines = ["### Settings", "", *_table(settings_rows, ("setting", "value")), ""]
    lines += ["### Figures", "", *_table(rows, ("figure", "value")), ""]
    lines += ["### Checks", ""]
    lines += [f"- [{'x' if ok else ' '}] {name}" for name, ok in checks(fig, chaos, settings)]
    return "\n".join(lines) + "\n"
