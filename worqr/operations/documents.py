"""The JSON documents of `worqr.operations`: one shape for each answer, shared by the
``worqr`` command line (``--json``) and the dashboard (`worqr.web`), so the two never
disagree. Tasks are text; a payload that is not UTF-8 is ``task_base64``; either is cut
to a preview unless asked for in full (tasks may hold personal data)."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime
from typing import Any

from worqr._protocol.models import DeadLetter
from worqr.operations.views import ProcessInfo, QueueInfo, WorkerInfo

#: How much of a task is shown unless it is asked for in full.
PREVIEW = 40


def task_fields(payload: bytes, *, full: bool) -> dict[str, Any]:
    """``task`` (text) or ``task_base64``, cut to `PREVIEW` characters unless ``full``
    (``task_truncated`` says whether it was cut), and ``task_size`` in bytes."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        encoded = base64.b64encode(payload).decode()
        shown = encoded if full else encoded[:PREVIEW]
        return {"task_base64": shown, "task_size": len(payload), "task_truncated": shown != encoded}
    shown = text if full else text[:PREVIEW]
    return {"task": shown, "task_size": len(payload), "task_truncated": shown != text}


def queue_document(info: QueueInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "queued": info.queued,
        "delayed": info.delayed,
        "in_flight": info.in_flight,
        "dead_letters": info.dead_letters,
        "workers": info.workers,
        "paused": info.paused,
        "counters": info.counters.as_dict(),
    }


def worker_document(info: WorkerInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "queues": list(info.queues),
        "host": info.host,
        "pid": info.pid,
        "started_at": info.started_at,
        "heartbeat_age": info.heartbeat_age,
        "in_flight": info.in_flight,
        "alive": info.alive,
        "state": info.state,
        "version": info.version,
        "concurrency": info.concurrency,
        "ended_at": info.ended_at,
        "ended_by": info.ended_by,
    }


def process_document(process: ProcessInfo, *, full: bool) -> dict[str, Any]:
    return {
        "id": process.id,
        "queue": process.queue,
        "worker_id": process.worker_id,
        **task_fields(process.task, full=full),
        "attempt": process.attempt,
    }


def dead_letter_document(letter: DeadLetter[Any], *, full: bool) -> dict[str, Any]:
    return {
        "id": letter.id,
        **task_fields(letter.payload, full=full),
        "error_type": letter.error_type,
        "error": letter.error,
        "attempts": letter.attempts,
        "failed_at": letter.failed_at,
    }


def unknown_queue(queues: list[str], known: list[str], prefix: str) -> str | None:
    """The message for the first of ``queues`` that is not in the registry (``known``),
    or None: a typo or a wrong prefix must never read as an empty queue."""
    missing = [q for q in queues if q not in known]
    if not missing:
        return None
    listed = ", ".join(repr(q) for q in known[:10]) or "none"
    return f"no queue named {missing[0]!r} under prefix {prefix!r} (known: {listed})"


def plain(value: Any) -> Any:
    """A JSON-ready copy: dataclasses as objects, datetimes as ISO 8601, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def dumps(document: Any) -> str:
    """``document`` as one line of JSON (UTF-8 text kept as is)."""
    return json.dumps(plain(document), ensure_ascii=False)
