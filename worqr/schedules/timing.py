"""When a schedule is due, with no I/O: the checks of ``cron``, ``every``, ``tz``, ``overlap``
and ``catch_up``, the next due time after a given one, and what to do with a due time that
came (fire it, or let it pass as missed).

A cron expression has five fields and is read in its time zone by cronsim (the ``cron``
extra), which follows Debian cron across DST changes: a time that falls in a spring-forward
gap runs at the end of the gap, once; in a fall-back hour, a fixed time runs once (the first
time the clock shows it) and a wildcard-hour entry (``*/15 * * * *``) in each of the two
hours. ``every`` counts seconds from the schedule's first due time, by the server's clock,
so its cadence does not drift however late a run fires.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worqr.errors import InvalidArgumentError

Overlap = Literal["allow", "skip"]
CatchUp = Literal["latest", "none"]
OVERLAPS: tuple[Overlap, ...] = ("allow", "skip")
CATCH_UPS: tuple[CatchUp, ...] = ("latest", "none")
#: The shortest and the longest interval ``every`` takes (seconds).
MIN_EVERY = 0.01
MAX_EVERY = 366 * 86400.0
#: With ``catch_up="none"``, a due time still fires when it is found at most this late
#: (ms), or half the time to the next due time if that is shorter: later, it was missed.
ON_TIME_MS = 5000
CRON_FIELDS = 5


def _cronsim() -> Any:
    try:
        import cronsim  # noqa: PLC0415 (an extra: imported when a cron schedule needs it)
    except ImportError as exc:
        msg = "cron= needs the 'cronsim' package: install the cron extra, pip install 'worqr[cron]'"
        raise InvalidArgumentError(msg) from exc
    return cronsim


def check_tz(tz: object) -> ZoneInfo:
    if not isinstance(tz, str) or not tz:
        msg = f"tz must be an IANA time zone name like 'UTC' or 'Europe/Berlin', got {tz!r}"
        raise InvalidArgumentError(msg)
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        msg = (
            f"tz {tz!r} is not a time zone this machine knows; use an IANA name like 'UTC' or "
            "'Europe/Berlin' (pip install 'worqr[cron]' brings the tzdata package where the system has none)"
        )
        raise InvalidArgumentError(msg) from exc


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        msg = f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
        raise InvalidArgumentError(msg)
    return str(value)


@dataclass(frozen=True, slots=True)
class Timing:
    """A schedule's due times: a cron expression in a time zone, or every ``every_ms``."""

    cron: str | None
    every_ms: int | None
    tz: str

    @classmethod
    def check(cls, cron: object, every: object, tz: object) -> Timing:
        zone = check_tz(tz)
        if (cron is None) == (every is None):
            which = "both" if cron is not None else "neither"
            msg = (
                f"a schedule takes exactly one of cron= (five cron fields, like '*/5 * * * *') or "
                f"every= (seconds), got {which}"
            )
            raise InvalidArgumentError(msg)
        if every is not None:
            if isinstance(every, bool) or not isinstance(every, int | float) or not MIN_EVERY <= every <= MAX_EVERY:
                msg = (
                    f"every must be a number of seconds from {MIN_EVERY:g} to {MAX_EVERY:.0f} (366 days), got {every!r}"
                )
                raise InvalidArgumentError(msg)
            return cls(None, round(every * 1000), zone.key)
        if not isinstance(cron, str) or len(cron.split()) != CRON_FIELDS:
            msg = (
                f"cron must be five fields (minute hour day-of-month month day-of-week, like "
                f"'30 2 * * 1-5'), got {cron!r}"
            )
            raise InvalidArgumentError(msg)
        expression = " ".join(cron.split())
        cronsim = _cronsim()
        try:
            cronsim.CronSim(expression, datetime.now(zone))
        except cronsim.CronSimError as exc:
            msg = f"cron {cron!r} is not a valid cron expression: {exc}"
            raise InvalidArgumentError(msg) from exc
        return cls(expression, None, zone.key)

    @property
    def every(self) -> float | None:
        return None if self.every_ms is None else self.every_ms / 1000

    def first_due(self, now_ms: int) -> int:
        """The first due time of a new schedule (server ms): one interval from now, or the
        cron expression's first match after now."""
        if self.every_ms is not None:
            return now_ms + self.every_ms
        return self._cron_after(now_ms)

    def following(self, due_ms: int, now_ms: int) -> int:
        """The first due time after ``due_ms`` that is also after ``now_ms``."""
        if self.every_ms is not None:
            late = max(0, now_ms - due_ms)
            return due_ms + self.every_ms * (late // self.every_ms + 1)
        return self._cron_after(max(due_ms, now_ms))

    def _cron_after(self, ms: int) -> int:
        zone = ZoneInfo(self.tz)
        start = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(zone)
        match = next(_cronsim().CronSim(self.cron, start))
        return round(float(match.timestamp()) * 1000)


@dataclass(frozen=True, slots=True)
class Rules:
    """All a schedule's record says about when and how it runs (JSON in the record)."""

    timing: Timing
    overlap: Overlap
    catch_up: CatchUp

    @classmethod
    def check(cls, *, cron: object, every: object, tz: object, overlap: object, catch_up: object) -> Rules:
        timing = Timing.check(cron, every, tz)
        chosen_overlap = cast("Overlap", check_choice("overlap", overlap, OVERLAPS))
        chosen_catch_up = cast("CatchUp", check_choice("catch_up", catch_up, CATCH_UPS))
        return cls(timing, chosen_overlap, chosen_catch_up)

    def dumps(self) -> str:
        timing = self.timing
        data = {"cron": timing.cron, "every_ms": timing.every_ms, "tz": timing.tz}
        return json.dumps({**data, "overlap": self.overlap, "catch_up": self.catch_up}, separators=(",", ":"))

    @classmethod
    def loads(cls, text: bytes | str) -> Rules:
        data = json.loads(text)
        timing = Timing(data["cron"], data["every_ms"], data["tz"])
        return cls(timing, data["overlap"], data["catch_up"])

    def timing_key(self) -> str:
        """What identifies the due times: an upsert that keeps it keeps the next due time."""
        timing = self.timing
        return json.dumps([timing.cron, timing.every_ms, timing.tz], separators=(",", ":"))

    def plan(self, due_ms: int, now_ms: int) -> tuple[bool, int]:
        """For a due time that came (``due_ms`` <= ``now_ms``): whether it fires, and the next
        due time. The next is always after now: however many due times passed while no
        worker ran, at most one run is made for them ("latest"), or none ("none") unless the
        due time is found on time (`ON_TIME_MS`, or half the interval when shorter)."""
        following = self.timing.following(due_ms, now_ms)
        if self.catch_up == "latest":
            return True, following
        interval = self.timing.following(due_ms, due_ms) - due_ms
        on_time = min(ON_TIME_MS, math.floor(interval / 2))
        return now_ms - due_ms <= on_time, following
