"""Two measurements of what workers hold, kept apart from the orchestrator so that they can
be tested on their own:

- `HeldWatch`: how long a task sat in a live worker's processes hash with no handler
  running it. The orchestrator samples the hashes of every live worker (registered, not
  being reaped, its process running and not frozen by the soak) once a tick, then reads the
  ledgers, and hands both here. A held process is *unrun* while its worker's ledger shows no
  handler for it (none began, or the one that began stopped because it was told to: the
  worker was lost, say), and *waiting* while its handler returned and the runtime has not
  recorded the result yet (one round trip, or longer when the link is down). Spells run from
  the first sample that saw the state to the last one, so a spell seen once counts as 0 s.
- `singleton_overlap`: the longest time two holders ran the same persistent task at once,
  from the hold-start and hold-stop records of the persistent handlers (``time.time()``,
  compared across processes of one machine), the kill times of the holders that were
  SIGKILLed, and the spans during which the soak had a holder frozen (SIGSTOP): a frozen
  holder runs nothing, so those spans are taken out of the "both running" figures and kept
  in the other one. A pair of which one holder was thawed during the overlap is told
  apart: a holder reaped while frozen runs on for a moment once thawed, until it sees that
  it was lost (worqr's documented exception, "except across a pause"); any other overlap
  means a holder ran on after its peers could reap it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from soak.ledger import Entry

Key = tuple[str, str]  # (worker id, process id)
#: What a worker's ledger says of one of its processes.
RUNNING, RETURNED, STOPPED, DONE = "running", "returned", "stopped", "done"
_BEGIN = frozenset({"exec", "hold", "hold-start"})
_DONE = frozenset({"accepted", "rejected", "ambiguous-refused"})


@dataclass(frozen=True)
class Spell:
    """A stretch of samples in which one process was in one state; times are the
    orchestrator's clock (seconds since the chaos began)."""

    worker: str
    process_id: str
    began: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.began


@dataclass
class HeldWatch:
    handlers: dict[Key, str] = field(default_factory=dict)
    samples: int = 0
    unrun: list[Spell] = field(default_factory=list)
    waiting: list[Spell] = field(default_factory=list)
    _open_unrun: dict[Key, list[float]] = field(default_factory=dict)
    _open_waiting: dict[Key, list[float]] = field(default_factory=dict)

    def record(self, entries: Iterable[Entry]) -> None:
        """Follow the handlers through the ledger lines read since the last call."""
        for entry in entries:
            if not entry.fields:
                continue
            key = (entry.worker, entry.process_id)
            if entry.event in _BEGIN:
                self.handlers[key] = RUNNING
            elif entry.event == "end":
                self.handlers[key] = RETURNED if entry.fields[2:3] == ("returned",) else STOPPED
            elif entry.event == "hold-stop":
                self.handlers[key] = STOPPED
            elif entry.event in _DONE:
                self.handlers[key] = DONE

    def observe(self, now: float, held: Mapping[str, Iterable[str]]) -> None:
        """One sample: ``held`` maps each live worker to the process ids in its hashes."""
        self.samples += 1
        unrun: set[Key] = set()
        waiting: set[Key] = set()
        for worker, process_ids in held.items():
            for process_id in process_ids:
                key = (worker, process_id)
                state = self.handlers.get(key)
                if state is None or state == STOPPED:
                    unrun.add(key)
                elif state == RETURNED:
                    waiting.add(key)
        self._advance(now, unrun, self._open_unrun, self.unrun)
        self._advance(now, waiting, self._open_waiting, self.waiting)

    def close(self) -> None:
        """End every open spell at its last sample (the run is over)."""
        self._advance(0.0, set(), self._open_unrun, self.unrun)
        self._advance(0.0, set(), self._open_waiting, self.waiting)

    @staticmethod
    def _advance(now: float, seen: set[Key], open_: dict[Key, list[float]], spells: list[Spell]) -> None:
        for key in seen:
            open_.setdefault(key, [now, now])[1] = now
        for key in [k for k in open_ if k not in seen]:
            began, last = open_.pop(key)
            spells.append(Spell(key[0], key[1], began, last))

    @staticmethod
    def longest(spells: Sequence[Spell]) -> Spell | None:
        return max(spells, key=lambda s: s.seconds, default=None)


# Singleton overlap ------------------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """One persistent handler's hold of a task, in wall-clock seconds."""

    worker: str
    process_id: str
    task: str
    start: float
    stop: float


@dataclass(frozen=True)
class Overlap:
    """The closest two holders of one task came: ``seconds`` > 0 is a time during which both
    held it; <= 0 is the gap between one stopping and the next starting. ``thawed``: one of
    them was thawed (SIGCONT) during the overlap, so the overlap is a thawed holder's first
    moments, before it saw that it had been reaped while frozen."""

    seconds: float
    first: Hold
    second: Hold
    thawed: bool = False


def holds(entries: Iterable[Entry], ended: Mapping[str, float], run_end: float) -> list[Hold]:
    """Every hold in the ledgers. A hold with no hold-stop ends when its worker process was
    killed (``ended``), else at ``run_end``."""
    starts: dict[Key, Entry] = {}
    stops: dict[Key, float] = {}
    for entry in entries:
        if entry.event == "hold-start":
            starts[(entry.worker, entry.process_id)] = entry
        elif entry.event == "hold-stop":
            stops[(entry.worker, entry.process_id)] = entry.wall
    return [
        Hold(
            worker,
            process_id,
            entry.task,
            entry.wall,
            stops.get((worker, process_id), ended.get(worker, run_end)),
        )
        for (worker, process_id), entry in starts.items()
    ]


def _frozen_within(spans: Iterable[tuple[float, float]], begin: float, end: float) -> float:
    """The length of the union of ``spans`` within [begin, end]."""
    clipped = sorted((max(a, begin), min(b, end)) for a, b in spans if b > begin and a < end)
    total, reach = 0.0, begin
    for a, b in clipped:
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def singleton_overlap(
    all_holds: Sequence[Hold],
    frozen: Mapping[str, Sequence[tuple[float, float]]],
    *,
    running: bool,
    thawed: bool | None = None,
) -> Overlap | None:
    """The largest overlap between two holds of one task (by different handlers). With
    ``running``, the time either holder was frozen is not counted. ``thawed`` True or False
    keeps only the pairs of which one holder was, or was not, thawed during the overlap
    (None: all). None: no such pair."""
    by_task: dict[str, list[Hold]] = {}
    for hold in all_holds:
        by_task.setdefault(hold.task, []).append(hold)
    best: Overlap | None = None
    for task_holds in by_task.values():
        task_holds.sort(key=lambda h: h.start)
        for i, second in enumerate(task_holds):
            for first in task_holds[:i]:
                end = min(first.stop, second.stop)
                seconds = end - second.start
                spans = [*frozen.get(first.worker, ()), *frozen.get(second.worker, ())]
                was_thawed = seconds > 0 and any(second.start < b <= end for _, b in spans)
                if thawed is not None and was_thawed != thawed:
                    continue
                if running and seconds > 0:
                    seconds -= _frozen_within(spans, second.start, end)
                if best is None or seconds > best.seconds:
                    best = Overlap(seconds, first, second, was_thawed)
    return best
