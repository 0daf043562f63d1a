"""What a runtime worker counts (`WorkerStats`) and how its log records name a task."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field, fields
from typing import Any

from worqr._protocol.models import Process


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """Counters of one runtime worker since it was built.

    ``processed``: finished by their handler; ``failed``: attempts that raised or timed out;
    ``retried``: failures scheduled for another attempt; ``dead_lettered``: tasks moved to
    the dead letters; ``cancelled``: finished as cancelled; ``released``: given back to
    their queue on shutdown; ``in_flight``: handlers running now.
    """

    processed: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    cancelled: int = 0
    released: int = 0
    in_flight: int = 0


@dataclass
class Counters:
    """The counters of `WorkerStats` (all but ``in_flight``), thread-safe."""

    values: dict[str, int] = field(
        default_factory=lambda: {f.name: 0 for f in fields(WorkerStats) if f.name != "in_flight"}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.values[name] += n

    def snapshot(self, in_flight: int) -> WorkerStats:
        with self.lock:
            return WorkerStats(**self.values, in_flight=in_flight)


#: Set to 1 to let log records show the first bytes of each task (``worqr_task``); by
#: default they show only its size and a digest, so logs never carry payloads unasked.
LOG_TASKS_VARIABLE = "WORQR_LOG_TASKS"


def preview(payload: bytes, limit: int = 48) -> str:
    """How log records name a task: its size and a short digest, or, when the environment
    variable ``WORQR_LOG_TASKS`` is 1, its first ``limit`` bytes."""
    if os.environ.get(LOG_TASKS_VARIABLE) == "1":
        text = payload[:limit].decode("utf-8", "replace")
        return repr(text) + ("..." if len(payload) > limit else "")
    return f"<{len(payload)} bytes, sha256 {hashlib.sha256(payload).hexdigest()[:12]}>"


def log_extra(worker_id: str, process: Process[Any], payload: bytes) -> dict[str, str]:
    """The fields every runtime log record about a process carries."""
    return {
        "worqr_worker": worker_id,
        "worqr_queue": process.queue,
        "worqr_process": process.id,
        "worqr_task": preview(payload),
    }
