"""A schedule as JSON, for ``worqr schedules --json`` (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from worqr.schedules.records import Schedule


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def schedule_document(schedule: Schedule[str]) -> dict[str, Any]:
    """A schedule as ``worqr schedules --json`` shows it (times in ISO 8601, UTC)."""
    return {
        "name": schedule.name,
        "queue": schedule.queue,
        "spec": schedule.spec,
        "cron": schedule.cron,
        "every": schedule.every,
        "tz": schedule.tz,
        "overlap": schedule.overlap,
        "catch_up": schedule.catch_up,
        "task": schedule.task,
        "function": schedule.function,
        "next_due": _iso(schedule.next_due),
        "last_fired": _iso(schedule.last_fired),
        "fired_at": _iso(schedule.fired_at),
        "runs": schedule.runs,
        "skipped": schedule.skipped,
        "missed": schedule.missed,
        "last_call": schedule.last_call,
        "created_at": _iso(schedule.created_at),
    }
