"""The ledger: what each worker process saw, kept outside worqr and outside Redis.

Each worker process appends to its own file, one line per event, with an unbuffered
``os.write`` on an ``O_APPEND`` descriptor: a line written before a SIGKILL is in the file,
and lines are never interleaved. A line is ``<event> <field> ...``; the fields never contain
spaces (worker ids, process ids and tasks of the soak are plain tokens).

Events of the plain worker (`soak.worker`), in the order it may write them:

    start <pid>                     the process started
    ready                           start_worker() and start_work() succeeded (a new incarnation)
    exec <process_id> <task>        dequeue returned the task; it runs now
    hold <process_id> <task>        asked to hold this task until it is frozen and thawed (SIGUSR1)
    accepted <process_id> <task>    finish_process returned: Redis accepted the completion
    rejected <process_id> <task>    finish_process raised ProcessLostError (a zombie's late finish)
    ambiguous <process_id> <task>   finish_process raised RedisUnavailableError(maybe_applied=True)
    ambiguous-refused <pid> <task>  the retry of an ambiguous finish raised ProcessLostError:
                                    the first attempt was applied, or the worker was reaped meanwhile
    ambiguous-dequeue               dequeue raised RedisUnavailableError(maybe_applied=True); whatever
                                    it took was given back with stop_work() before going on
    unavailable <operation>         Redis could not be reached (nothing was applied); retrying
    lost                            WorkerLostError: this incarnation was declared dead
    released                        fail_worker() returned at a clean exit (SIGTERM)
    closed                          the client was closed; the process exits

A runtime worker (`soak.runtime_worker`) writes ``start``, ``hold``, ``released`` and
``closed`` as the plain one does, and:

    ready                           the runtime serves its queue (its first start)
    start-failed <error>            start() could not reach Redis; tried again
    exec <process_id> <task>        a handler began
    end <process_id> <task> <how>   it ended: "returned" (its result goes to the runtime) or
                                    "told-<reason>" (told to stop: "told-worker-lost", ...)
    accepted <process_id> <task>    the runtime recorded the finish (finish_many said it was still
                                    this worker's process)
    rejected <process_id> <task>    the runtime's finish was refused (no longer this worker's)
    ambiguous <process_id> <task>   a batch of finishes that may have held this one broke after it
                                    was sent (every result waiting then is marked)
    ambiguous-refused <pid> <task>  refused after that: applied before, or reaped meanwhile
    lost <how>                      the worker fenced itself ("fenced") or found itself declared
                                    dead ("declared-dead")
    rejoined                        it registered again under its own id, as a new incarnation
    runtime-stopped                 the runtime stopped without being told to (the process exits 2)

A persistent worker writes, instead of exec and end:

    hold-start <process_id> <task> <time>          a persistent handler began (time.time())
    hold-stop <process_id> <task> <time> <how>     it stopped, told to ("told-shutdown", ...)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".log"


class LedgerWriter:
    """Appends events to one worker's ledger file."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, event: str, *fields: str) -> None:
        os.write(self._fd, (" ".join((event, *fields)) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a ledger: which worker wrote it, the event and its fields."""

    worker: str
    event: str
    fields: tuple[str, ...]

    @property
    def process_id(self) -> str:
        return self.fields[0]

    @property
    def task(self) -> str:
        return self.fields[1]

    @property
    def wall(self) -> float:
        """The time.time() of a hold-start or hold-stop."""
        return float(self.fields[2])


def ledger_path(folder: Path, worker_id: str) -> Path:
    return folder / (worker_id + SUFFIX)


class LedgerReader:
    """Reads the complete lines that were added to the ledgers of a folder since the last read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._offsets: dict[Path, int] = {}

    def read_new(self) -> list[Entry]:
        entries: list[Entry] = []
        for path in sorted(self.folder.glob("*" + SUFFIX)):
            offset = self._offsets.get(path, 0)
            with path.open("rb") as file:
                file.seek(offset)
                data = file.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line cut by SIGKILL mid-write is never used
            self._offsets[path] = offset + len(complete)
            worker = path.name.removesuffix(SUFFIX)
            for line in complete.decode().splitlines():
                event, *fields = line.split(" ")
                entries.append(Entry(worker, event, tuple(fields)))
        return entries
