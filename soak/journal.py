"""The server's journal: what Redis actually applied, read back from its append-only file.

With ``appendonly yes`` and automatic rewrites off, the AOF holds every write the server
applied, in order: a Lua script appears as the commands it ran (wrapped in MULTI/EXEC when
there are several), and a write that did nothing (an SREM of a missing member) is not
written. With ``appendfsync always`` a write is in the file before any client hears of it.
This is the ground truth a worker's ledger cannot have: whether a ``finish_process`` whose
reply was lost was applied.

In the soak, worqr's scripts leave these traces (key names from `worqr._protocol.keys`):

    RPUSH {P:Q}:queue t...                   enqueue
    HSET  {P:Q}:process:<W> <seq> <task>     dequeue: task into process <seq>:<Q> of worker W
    HDEL  {P:Q}:process:<W> <seq>            finish (stop and fail also HDEL: stop with an LPUSH beside
                                             it in the same script, fail with a ZADD of the delayed
                                             tasks or an HSET of the dead letters; the soak never fails)
    LPUSH {P:Q}:queue t...                   requeue at the front (reaping, stop_work, and the
                                             runtime's stop_process of a process it did not know of)
    HINCRBY {P:Q}:attempts <task> 1          a requeued task's worker was interrupted
    DEL   {P:Q}:process:<W>                  beside them: whose processes were requeued (leave_queue)
    SMOVE {P}:workers {P}:reaping <W>        W declared dead (a reap begins, or a clean leave)

The runtime's finish_many shows up as one HDEL of a processes hash per finished process,
in one MULTI/EXEC, which reads like that many finishes. Only the jobs queue is read; the
persistent tasks' queue is not (they are never finished).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from worqr._protocol.keys import QueueKeys, RegistryKeys

MANIFEST_LINE = re.compile(rb"^file (\S+) seq (\d+) type ([bhi])$")


class JournalError(RuntimeError):
    """The append-only file cannot serve as a complete journal."""


@dataclass
class Journal:
    """What the server applied to one queue, from the start of the data directory."""

    enqueued: list[str] = field(default_factory=list)
    #: (worker id, seq) -> task, for every process a dequeue created
    dequeued: dict[tuple[str, int], str] = field(default_factory=dict)
    #: (worker id, seq, task) for every applied finish, in order
    finished: list[tuple[str, int, str]] = field(default_factory=list)
    #: tasks pushed back to the front of the queue
    requeued: int = 0
    #: requeued tasks whose worker was interrupted (died or declared dead)
    interrupted: int = 0
    #: the same, per worker id whose processes they were
    interrupted_of: Counter[str] = field(default_factory=Counter)
    #: worker ids declared dead, once per declaration
    declared_dead: list[str] = field(default_factory=list)
    #: processes given back to the front of the queue one by one (stop_process: the runtime's
    #: reconcile of a dequeue whose reply was lost, and its shutdown)
    stopped: int = 0
    #: process removals that are neither a finish nor a requeue (none expected in the soak)
    other_removals: int = 0


def aof_files(data_dir: Path) -> list[Path]:
    """The incremental AOF files of a data directory, in order; refuses a rewritten AOF."""
    folder = data_dir / "appendonlydir"
    manifests = list(folder.glob("*.manifest"))
    if len(manifests) != 1:
        msg = (
            f"expected one AOF manifest in {folder}, found {len(manifests)}: was the server run with --appendonly yes?"
        )
        raise JournalError(msg)
    bases, increments = [], []
    for line in manifests[0].read_bytes().splitlines():
        match = MANIFEST_LINE.match(line)
        if match is None:
            continue
        name, seq, kind = match.group(1).decode(), int(match.group(2)), match.group(3)
        if kind == b"b":
            bases.append(seq)
        elif kind == b"i":
            increments.append((seq, folder / name))
    if bases != [1]:
        msg = "the AOF was rewritten, so it no longer holds the whole history: run the server with --auto-aof-rewrite-percentage 0"
        raise JournalError(msg)
    return [path for _, path in sorted(increments)]


def commands(data: bytes) -> Iterator[list[bytes]]:
    """The commands of an AOF, as lists of arguments; stops at a command cut off at the end."""
    pos, end = 0, len(data)
    while pos < end:
        if data[pos] == ord("#"):  # an annotation (aof-timestamp-enabled)
            pos = data.index(b"\n", pos) + 1
            continue
        if data[pos] != ord("*"):
            msg = f"unexpected byte {data[pos : pos + 1]!r} at offset {pos} of the AOF"
            raise JournalError(msg)
        try:
            line_end = data.index(b"\r\n", pos)
            count = int(data[pos + 1 : line_end])
            pos = line_end + 2
            args = []
            for _ in range(count):
                line_end = data.index(b"\r\n", pos)
                length = int(data[pos + 1 : line_end])
                pos = line_end + 2
                if pos + length + 2 > end:
                    return
                args.append(data[pos : pos + length])
                pos += length + 2
        except ValueError:
            return
        yield args


def transactions(data: bytes) -> Iterator[list[list[bytes]]]:
    """The AOF's commands grouped into what one script (or one command) applied."""
    group: list[list[bytes]] | None = None
    for args in commands(data):
        name = args[0].upper()
        if name == b"MULTI":
            group = []
        elif name == b"EXEC":
            if group is not None:
                yield group
            group = None
        elif group is not None:
            group.append(args)
        else:
            yield [args]


class _Reader:
    def __init__(self, prefix: str, queue: str) -> None:
        keys = QueueKeys(prefix, queue)
        registry = RegistryKeys(prefix)
        self.queue = keys.pending.encode()
        self.attempts = keys.attempts.encode()
        self.delayed, self.dead = keys.delayed.encode(), keys.dead.encode()
        self.process_prefix = keys.processes("").encode()
        self.workers, self.reaping = registry.workers.encode(), registry.reaping.encode()
        self.journal = Journal()

    def worker_of(self, key: bytes) -> str | None:
        return key[len(self.process_prefix) :].decode() if key.startswith(self.process_prefix) else None

    def _attribute(self, group: list[list[bytes]]) -> None:
        """Count a leave_queue's interrupted requeues for the worker whose processes hash it deleted."""
        interrupted = sum(1 for a in group if a[0].upper() == b"HINCRBY" and a[1:2] == [self.attempts])
        if interrupted:
            emptied = [self.worker_of(a[1]) for a in group if a[0].upper() == b"DEL" and len(a) > 1]
            self.journal.interrupted_of[next((w for w in emptied if w is not None), "?")] += interrupted

    def apply(self, group: list[list[bytes]]) -> None:
        journal = self.journal
        removed: list[tuple[str, int]] = []
        pushed_back = False  # the removed processes' tasks went back to the queue: a stop, not a finish
        failed = False  # they went to the delayed tasks or the dead letters: fail_process
        self._attribute(group)
        for name, *args in ([a[0].upper(), *a[1:]] for a in group):
            key = args[0] if args else b""
            worker = self.worker_of(key)
            if name == b"RPUSH" and key == self.queue:
                journal.enqueued.extend(a.decode() for a in args[1:])
            elif name == b"LPUSH" and key == self.queue:
                journal.requeued += len(args) - 1
                pushed_back = True
            elif name == b"HSET" and worker is not None:
                for field_, value in zip(args[1::2], args[2::2], strict=True):
                    journal.dequeued[(worker, int(field_))] = value.decode()
            elif name == b"HDEL" and worker is not None:
                removed.extend((worker, int(seq)) for seq in args[1:])
            elif name == b"HINCRBY" and key == self.attempts:
                journal.interrupted += 1
            elif name == b"SMOVE" and key == self.workers and args[1] == self.reaping:
                journal.declared_dead.append(args[2].decode())
            elif (name == b"ZADD" and key == self.delayed) or (name in {b"HSET", b"HMSET"} and key == self.dead):
                failed = True
        self._ended(removed, pushed_back=pushed_back, failed=failed)

    def _ended(self, removed: list[tuple[str, int]], *, pushed_back: bool, failed: bool) -> None:
        """Record how the processes one script removed ended: failed, given back, or finished."""
        journal = self.journal
        if failed:
            journal.other_removals += len(removed)
            return
        if pushed_back:
            journal.stopped += len(removed)
            return
        for owner, number in removed:
            task = journal.dequeued.get((owner, number))
            if task is None:
                msg = f"the AOF finishes process {number} of worker {owner!r}, which no dequeue created"
                raise JournalError(msg)
            journal.finished.append((owner, number, task))


def read_journal(data_dir: Path, prefix: str, queue: str) -> Journal:
    """Read what the server in ``data_dir`` applied to ``queue`` of ``prefix``."""
    reader = _Reader(prefix, queue)
    for path in aof_files(data_dir):
        for group in transactions(path.read_bytes()):
            reader.apply(group)
    return reader.journal
