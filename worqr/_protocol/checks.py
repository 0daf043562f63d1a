"""Every check of a caller's argument, in one place: each returns the value it accepted (in
the form the rest of worqr uses) or raises `InvalidArgumentError` (or `InvalidNameError`)
with a message that says what was wrong and what would be right. Nothing here writes
anything, so a refused argument leaves Redis as it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar, cast

from worqr._protocol import scripts
from worqr.errors import InvalidArgumentError, InvalidNameError

C = TypeVar("C")

#: Longest queue name accepted, in characters. Keys stay short and logs readable.
MAX_QUEUE_NAME_LENGTH = 1024
#: Longest worker id or prefix accepted, in characters.
MAX_ID_LENGTH = 256
#: Most tasks one dequeue takes; defined once, in ``lua/include/limits.lua``.
MAX_TAKE = scripts.limit("MAX_TAKE")

#: Refused in names: the C0 controls, DEL, the C1 controls (U+0080 to U+009F, NEL among them)
#: and the Unicode line and paragraph separators, which text tools and logs take as line breaks.
_CONTROL_CHARACTERS = frozenset(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029])


# Names -------------------------------------------------------------------------------------


def _check_text(kind: str, value: object, max_length: int) -> str:
    if not isinstance(value, str):
        msg = f"{kind} must be a str, got {type(value).__name__}: {value!r}"
        raise InvalidNameError(msg)
    if not value:
        msg = f"{kind} must not be empty"
        raise InvalidNameError(msg)
    if len(value) > max_length:
        msg = f"{kind} is {len(value)} characters long; the limit is {max_length}"
        raise InvalidNameError(msg)
    bad = next((c for c in value if c in _CONTROL_CHARACTERS), None)
    if bad is not None:
        msg = f"{kind} {value!r} contains the control character {bad!r}; use printable characters"
        raise InvalidNameError(msg)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = f"{kind} {value!r} is not valid Unicode text (it cannot be encoded as UTF-8)"
        raise InvalidNameError(msg) from exc
    return value


def check_queue_name(queue: object) -> str:
    """Return ``queue`` if it is a usable queue name, else raise `InvalidNameError`."""
    return _check_text("queue name", queue, MAX_QUEUE_NAME_LENGTH)


def check_lease_name(name: object) -> str:
    """Return ``name`` if it is a usable lease name, else raise `InvalidNameError`."""
    return _check_text("lease name", name, MAX_QUEUE_NAME_LENGTH)


def check_schedule_name(name: object) -> str:
    """Return ``name`` if it is a usable schedule name, else raise `InvalidNameError`."""
    return _check_text("schedule name", name, MAX_QUEUE_NAME_LENGTH)


def check_worker_id(worker_id: object) -> str:
    """Return ``worker_id`` if it is a usable worker id, else raise `InvalidNameError`."""
    return _check_text("worker_id", worker_id, MAX_ID_LENGTH)


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it is usable, else raise `InvalidNameError`.

    A prefix may not contain ``{`` or ``}``: it sits inside every hash tag.
    """
    text = _check_text("prefix", prefix, MAX_ID_LENGTH)
    if "{" in text or "}" in text:
        msg = f"prefix {text!r} contains '{{' or '}}'; a prefix sits inside the Redis Cluster hash tag, so choose one without braces"
        raise InvalidNameError(msg)
    return text


# Numbers and flags ---------------------------------------------------------------------------


def check_flag(name: str, value: object) -> bool:
    """``value`` if it is a bool (callers are not always type-checked)."""
    if not isinstance(value, bool):
        msg = f"{name} must be True or False, got {value!r}"
        raise InvalidArgumentError(msg)
    return value


def check_seconds(name: str, value: object, *, allow_none: bool = False) -> float | None:
    """``value`` as a non-negative, finite number of seconds (or None if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        msg = f"{name} must be a non-negative, finite number of seconds, got {value!r}"
        raise InvalidArgumentError(msg)
    return float(value)


def check_positive_seconds(name: str, value: object) -> float:
    """``value`` as a positive, finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        msg = f"{name} must be a positive, finite number of seconds, got {value!r}"
        raise InvalidArgumentError(msg)
    return float(value)


def check_int(name: str, value: object, least: int, most: int | None = None, *, what: str | None = None) -> int:
    """``value`` if it is an int from ``least`` to ``most`` (no upper limit if None); ``what``
    words the expectation in the message (default: the bounds)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least or (most is not None and value > most):
        expected = what or (f"an int from {least} to {most}" if most is not None else f"an int >= {least}")
        msg = f"{name} must be {expected}, got {value!r}"
        raise InvalidArgumentError(msg)
    return value


def check_number(name: str, value: object, least: float, most: float, *, what: str) -> float:
    """``value`` if it is a number from ``least`` to ``most`` (``what`` says so in words)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not least <= value <= most:
        msg = f"{name} must be {what}, got {value!r}"
        raise InvalidArgumentError(msg)
    return float(value)


def check_max_attempts(max_attempts: object) -> int:
    """``max_attempts`` for the scripts: a positive int, or 0 for None (never dead-letter)."""
    if max_attempts is None:
        return 0
    return check_int("max_attempts", max_attempts, 1, what="a positive int or None (retry forever)")


def check_take_count(count: object) -> int:
    """How many tasks one dequeue may take: 1 to `MAX_TAKE`."""
    return check_int("count", count, 1, MAX_TAKE)


def check_max_payload_size(value: object) -> int:
    return check_int("max_payload_size", value, 1, what="a positive int (bytes)")


# Times ---------------------------------------------------------------------------------------


def due_time_ms(delay: float | None, at: datetime | None) -> tuple[int | None, int] | None:
    """How a delayed enqueue names its due time: (at in ms since the epoch, or None; delay in
    ms), or None for an ordinary enqueue."""
    seconds = check_seconds("delay", delay, allow_none=True)
    if at is None:
        return None if seconds is None else (None, round(seconds * 1000))
    if seconds is not None:
        msg = "pass delay= or at=, not both"
        raise InvalidArgumentError(msg)
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        msg = (
            f"at must be a timezone-aware datetime (like datetime.now(timezone.utc) + timedelta(minutes=5)), got {at!r}"
        )
        raise InvalidArgumentError(msg)
    return round(at.timestamp() * 1000), 0


# Ids -----------------------------------------------------------------------------------------


def check_dead_letter_ids(ids: object) -> list[str]:
    """The dead letters to act on: [] for all (``ids`` is None), else one id or several."""
    if ids is None:
        return []
    items = [ids] if isinstance(ids, str) else ids
    if not isinstance(items, Iterable):
        msg = f"ids must be a dead letter id (str), an iterable of them, or None for all, got {ids!r}"
        raise InvalidArgumentError(msg)
    checked = []
    for item in items:
        if not isinstance(item, str) or not (item.isascii() and item.isdigit()):
            msg = f"{item!r} is not a dead letter id; pass the id of a DeadLetter (like '17')"
            raise InvalidArgumentError(msg)
        checked.append(item)
    if not checked:
        msg = "ids is empty: pass None to mean every dead letter"
        raise InvalidArgumentError(msg)
    return checked


# Codecs --------------------------------------------------------------------------------------


def bound_codec(codec: C, prefix: str, queue: str) -> C:
    """The codec a view of ``queue`` uses: ``codec.bind(prefix, queue)`` for a codec that binds
    itself to its queue (such as ``worqr.crypto.AeadCodec``, whose payloads decode only on the
    queue they were made for), else ``codec`` itself."""
    bind = getattr(codec, "bind", None)
    if bind is None:
        return codec
    bound = bind(prefix, queue)
    if not (callable(getattr(bound, "encode", None)) and callable(getattr(bound, "decode", None))):
        msg = f"{codec!r}.bind(prefix, queue) must return a codec (with encode and decode), got {type(bound).__name__}"
        raise InvalidArgumentError(msg)
    return cast("C", bound)


def check_matchable(codec: object, operation: str) -> None:
    """Refuse ``operation``, which finds tasks by their payload bytes (``unique=True``, cancel,
    ``get_matching_processes``), for a codec whose equal tasks do not give equal payloads: one
    whose ``unmatchable`` attribute says why (``AeadCodec(mode="random")``)."""
    why = getattr(codec, "unmatchable", None)
    if why:
        msg = (
            f"{operation} finds tasks by their payload bytes, which {codec!r} cannot match: {why}; nothing was written"
        )
        raise InvalidArgumentError(msg)
