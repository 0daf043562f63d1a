"""A schedule as the clients hand it out (`Schedule`), read from its record. Pure.

The record, ``{P:Q}:schedule:<name>`` (a HASH, written by ``lua/put.lua`` and
``lua/fire.lua``): ``rules`` (JSON: cron, every_ms, tz, overlap, catch_up), ``timing``
(what identifies the due times), ``overlap``, ``kind`` ("task", or "call" for a function's
call), ``task`` (the payload; for a call, its arguments), ``function``, ``result_ttl`` and
``record_ttl`` (ms, calls only), ``rev`` (bumped by every upsert), ``created_at``,
``runs``, ``skipped``, ``missed``, ``last_due`` (the due time last fired), ``fired_at``,
``last_call`` (the id of the last call fired). The next due time is the schedule's score
in ``{P:Q}:schedule-due``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from worqr._protocol.models import server_time
from worqr.schedules.timing import CatchUp, Overlap, Rules

T = TypeVar("T")

#: The fields of a record the clients read, in this order (HMGET).
FIELDS = (
    "rules",
    "rev",
    "kind",
    "task",
    "function",
    "created_at",
    "runs",
    "skipped",
    "missed",
    "last_due",
    "fired_at",
    "last_call",
)


@dataclass(frozen=True, slots=True)
class Schedule(Generic[T]):
    """A periodic schedule: every due time of ``cron`` (in ``tz``) or ``every`` seconds, one
    of the workers serving ``queue`` enqueues ``task`` there (for `schedule_call`: calls
    ``function``, and ``task`` holds its arguments as JSON text). ``next_due`` is the next due
    time; ``last_fired`` the due time of the last run enqueued, ``fired_at`` when it was
    enqueued (server time, UTC); ``runs`` the runs enqueued, ``skipped`` those skipped by
    ``overlap="skip"``, ``missed`` the due times let pass (no worker ran then);
    ``last_call`` the id of the last call a `schedule_call` made."""

    name: str
    queue: str
    task: T
    cron: str | None
    every: float | None
    tz: str
    overlap: Overlap
    catch_up: CatchUp
    next_due: datetime | None
    last_fired: datetime | None
    fired_at: datetime | None
    runs: int
    skipped: int
    missed: int
    created_at: datetime
    function: str | None = None
    last_call: str | None = None

    @property
    def spec(self) -> str:
        """The due times in words: ``"cron 0 3 * * * (Europe/Berlin)"`` or ``"every 60s"``."""
        if self.cron is not None:
            return f"cron {self.cron} ({self.tz})"
        return f"every {self.every:g}s"


@dataclass(frozen=True, slots=True)
class Stored:
    """A record as read, before its task is decoded (None: no such schedule)."""

    name: str
    queue: str
    rules: Rules
    rev: str
    kind: str
    task: bytes
    function: str | None
    created_at_ms: int
    runs: int
    skipped: int
    missed: int
    last_due_ms: int | None
    fired_at_ms: int | None
    last_call: str | None
    next_due_ms: int | None


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "surrogateescape")


def _int(value: bytes | None) -> int | None:
    return None if value is None or value == b"" else int(value)


def parse_stored(name: str, queue: str, fields: list[bytes | None], score: float | None) -> Stored | None:
    """A record's `FIELDS` (HMGET) and its due score; None for a schedule that is not there."""
    values = dict(zip(FIELDS, fields, strict=True))
    rules, rev, task = values["rules"], values["rev"], values["task"]
    if rules is None or rev is None or task is None:
        return None
    return Stored(
        name=name,
        queue=queue,
        rules=Rules.loads(rules),
        rev=rev.decode(),
        kind=_text(values["kind"]) or "task",
        task=task,
        function=_text(values["function"]) or None,
        created_at_ms=_int(values["created_at"]) or 0,
        runs=_int(values["runs"]) or 0,
        skipped=_int(values["skipped"]) or 0,
        missed=_int(values["missed"]) or 0,
        last_due_ms=_int(values["last_due"]),
        fired_at_ms=_int(values["fired_at"]),
        last_call=_text(values["last_call"]) or None,
        next_due_ms=None if score is None else int(score),
    )


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else server_time(ms)


def schedule(stored: Stored, task: T) -> Schedule[T]:
    timing = stored.rules.timing
    return Schedule(
        name=stored.name,
        queue=stored.queue,
        task=task,
        cron=timing.cron,
        every=timing.every,
        tz=timing.tz,
        overlap=stored.rules.overlap,
        catch_up=stored.rules.catch_up,
        next_due=_time(stored.next_due_ms),
        last_fired=_time(stored.last_due_ms),
        fired_at=_time(stored.fired_at_ms),
        runs=stored.runs,
        skipped=stored.skipped,
        missed=stored.missed,
        created_at=server_time(stored.created_at_ms),
        function=stored.function,
        last_call=stored.last_call,
    )
