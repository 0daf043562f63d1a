"""The soak's figures, the checks they must pass, and the markdown table that reports them.

Two records are compared: the ledger (what each worker process heard from worqr) and the
journal (what the server applied, read from its append-only file). Either alone can be
fooled: a worker killed right after its finish was applied never wrote ``accepted``, and a
finish whose reply was lost is ``ambiguous`` in the ledger; the journal settles both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from soak.journal import Journal
from soak.ledger import Entry


@dataclass
class Chaos:
    """What the orchestrator did, and what it saw of the run as a whole."""

    kills: int = 0
    pauses_mid_task: int = 0
    pauses_any_moment: int = 0
    restarts: int = 0
    #: actions that could not happen: the slot was busy, or no task came to hold
    skipped: int = 0
    #: (worker id, process id) held by a worker frozen mid-task and thawed after it was reaped
    zombies: list[tuple[str, str]] = field(default_factory=list)
    #: pauses thawed before the frozen worker was seen reaped (should not happen)
    unreaped_pauses: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    drained: bool = False
    #: queued tasks, held processes and registered workers left when everything stopped
    left_over: tuple[int, int, int] = (0, 0, 0)
    #: worker processes that exited without being told to (an unhandled error)
    crashes: int = 0
    workers_killed_at_exit: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Figures:
    enqueued: int
    enqueued_in_journal: int
    accepted: int
    applied: int
    lost: int
    duplicate_accepted: int
    duplicate_applied: int
    accepted_not_applied: int
    rejected: int
    rejected_but_applied: int
    zombies: int
    zombies_rejected: int
    ambiguous: int
    ambiguous_accepted_on_retry: int
    ambiguous_refused_applied: int
    ambiguous_refused_not_applied: int
    ambiguous_unanswered_applied: int
    ambiguous_unanswered_not_applied: int
    applied_unheard: int
    ambiguous_dequeues: int
    executions: int
    reexecutions: int
    dequeues: int
    requeued: int
    interrupted_requeues: int
    declared_dead: int
    interrupted_incarnations: int
    lost_incarnations: int
    other_removals: int


def _key(worker: str, process_id: str) -> tuple[str, int]:
    return worker, int(process_id.split(":", 1)[0])  # a process id is "<seq>:<queue>"


def compute(tasks: Sequence[str], entries: Sequence[Entry], journal: Journal, chaos: Chaos) -> Figures:
    by_event: dict[str, list[Entry]] = {}
    for entry in entries:
        by_event.setdefault(entry.event, []).append(entry)

    def of(event: str) -> list[Entry]:
        return by_event.get(event, [])

    applied = {(w, s): t for w, s, t in journal.finished}
    applied_per_task = Counter(t for _, _, t in journal.finished)
    accepted_keys = {_key(e.worker, e.process_id) for e in of("accepted")}
    ambiguous_keys = {_key(e.worker, e.process_id) for e in of("ambiguous")}
    refused_keys = {_key(e.worker, e.process_id) for e in of("ambiguous-refused")}
    rejected_keys = {_key(e.worker, e.process_id) for e in of("rejected")}
    unanswered = ambiguous_keys - accepted_keys - refused_keys  # the worker was gone before its retry was answered
    executed = Counter(e.task for e in of("exec"))
    return Figures(
        enqueued=len(tasks),
        enqueued_in_journal=len(journal.enqueued),
        accepted=len(of("accepted")),
        applied=len(journal.finished),
        lost=sum(1 for t in tasks if applied_per_task[t] == 0),
        duplicate_accepted=sum(1 for n in Counter(e.task for e in of("accepted")).values() if n > 1),
        duplicate_applied=sum(1 for n in applied_per_task.values() if n > 1),
        accepted_not_applied=len(accepted_keys - applied.keys()),
        rejected=len(rejected_keys),
        rejected_but_applied=len(rejected_keys & applied.keys()),
        zombies=len(chaos.zombies),
        zombies_rejected=sum(1 for w, p in chaos.zombies if _key(w, p) in rejected_keys),
        ambiguous=len(ambiguous_keys),
        ambiguous_accepted_on_retry=len(ambiguous_keys & accepted_keys),
        ambiguous_refused_applied=len(refused_keys & applied.keys()),
        ambiguous_refused_not_applied=len(refused_keys - applied.keys()),
        ambiguous_unanswered_applied=len(unanswered & applied.keys()),
        ambiguous_unanswered_not_applied=len(unanswered - applied.keys()),
        applied_unheard=len(applied.keys() - accepted_keys - ambiguous_keys),
        ambiguous_dequeues=len(of("ambiguous-dequeue")),
        executions=sum(executed.values()),
        reexecutions=sum(executed.values()) - len(executed),
        dequeues=len(journal.dequeued),
        requeued=journal.requeued,
        interrupted_requeues=journal.interrupted,
        declared_dead=len(journal.declared_dead),
        interrupted_incarnations=len(journal.declared_dead) - len(of("released")),
        lost_incarnations=len(of("lost")),
        other_removals=journal.other_removals,
    )


def checks(fig: Figures, chaos: Chaos) -> list[tuple[str, bool]]:
    """Every claim the run makes, and whether it held."""
    return [
        ("lost tasks = 0 (every enqueued task was finished, per the server's journal)", fig.lost == 0),
        ("duplicate accepted completions = 0 (no task acknowledged twice to workers)", fig.duplicate_accepted == 0),
        ("duplicate applied finishes = 0 (no task finished twice, per the journal)", fig.duplicate_applied == 0),
        (
            "every acknowledged finish is in the journal (durable with appendfsync always)",
            fig.accepted_not_applied == 0,
        ),
        ("no rejected finish changed anything", fig.rejected_but_applied == 0),
        ("every zombie's late finish was rejected (ProcessLostError)", fig.zombies_rejected == fig.zombies),
        (
            "executions beyond the first <= tasks requeued after an interruption",
            fig.reexecutions <= fig.interrupted_requeues,
        ),
        (
            "tasks requeued after an interruption <= interrupted worker incarnations",
            fig.interrupted_requeues <= fig.interrupted_incarnations,
        ),
        ("the journal holds every enqueued task", fig.enqueued_in_journal == fig.enqueued),
        ("no process ended other than by finish or requeue", fig.other_removals == 0),
        ("the queue drained", chaos.drained),
        (
            "no worker process crashed, and each exited when told to",
            chaos.crashes == 0 and chaos.workers_killed_at_exit == 0,
        ),
        ("nothing left: no queued task, no process, no registered worker", chaos.left_over == (0, 0, 0)),
    ]


def _table(rows: Sequence[tuple[str, object]], header: tuple[str, str]) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | ---: |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return lines


def markdown(settings: Sequence[tuple[str, object]], fig: Figures, chaos: Chaos) -> str:
    restart = max(chaos.restart_seconds, default=0.0)
    rows: list[tuple[str, object]] = [
        ("tasks enqueued", fig.enqueued),
        ("completions accepted (finish_process returned)", fig.accepted),
        ("finishes applied (server journal)", fig.applied),
        ("**lost tasks**", f"**{fig.lost}**"),
        (
            "**duplicate accepted completions** (ledger / journal)",
            f"**{fig.duplicate_accepted} / {fig.duplicate_applied}**",
        ),
        ("acknowledged finishes missing from the journal", fig.accepted_not_applied),
        ("late finishes rejected (ProcessLostError)", fig.rejected),
        (
            "zombies (frozen mid-task, thawed after reaping) / their finish rejected",
            f"{fig.zombies} / {fig.zombies_rejected}",
        ),
        ("ambiguous finishes (maybe_applied=True)", fig.ambiguous),
        ("... sent again and accepted (the first attempt had not been applied)", fig.ambiguous_accepted_on_retry),
        (
            "... sent again and refused: first attempt applied / not applied, reaped (journal)",
            f"{fig.ambiguous_refused_applied} / {fig.ambiguous_refused_not_applied}",
        ),
        (
            "... worker gone before an answer: applied / not applied (journal)",
            f"{fig.ambiguous_unanswered_applied} / {fig.ambiguous_unanswered_not_applied}",
        ),
        ("finishes applied whose worker died before hearing", fig.applied_unheard),
        ("ambiguous dequeues (given back with stop_work)", fig.ambiguous_dequeues),
        ("executions", fig.executions),
        ("executions beyond the first (at-least-once)", fig.reexecutions),
        ("bound: tasks requeued after an interruption (journal)", fig.interrupted_requeues),
        ("tasks requeued in all", fig.requeued),
        ("kills (SIGKILL)", chaos.kills),
        (
            "pauses past the timeout (SIGSTOP/SIGCONT): mid-task / any moment",
            f"{chaos.pauses_mid_task} / {chaos.pauses_any_moment}",
        ),
        ("Redis restarts (SIGKILL, down, AOF reload); longest outage, s", f"{chaos.restarts}; {restart:.2f}"),
        ("actions skipped (slot busy, no task to hold)", chaos.skipped),
        ("reaps (workers declared dead, journal)", fig.declared_dead),
        ("interrupted worker incarnations (reaps minus clean exits)", fig.interrupted_incarnations),
        ("workers that found themselves declared dead (WorkerLostError)", fig.lost_incarnations),
        ("run time, s", f"{chaos.seconds:.1f}"),
    ]
    lines = ["### Settings", "", *_table(settings, ("setting", "value")), ""]
    lines += ["### Figures", "", *_table(rows, ("figure", "value")), ""]
    lines += ["### Checks", ""]
    lines += [f"- [{'x' if ok else ' '}] {name}" for name, ok in checks(fig, chaos)]
    return "\n".join(lines) + "\n"
