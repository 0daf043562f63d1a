"""What a call's record says: its `CallStatus` (state, attempts, worker, times, progress),
and, once it ended, its result or error. The scripts keep the record (lua/include/
call_record.lua, worqr/calls/lua/); this module only reads it. No I/O."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from worqr._protocol.models import server_time
from worqr.errors import CallCancelledError, CallFailedError, CallNotFoundError, CodecError

CallState = Literal["queued", "scheduled", "running", "succeeded", "failed", "cancelled", "unknown"]
ENDED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
_STATES = frozenset({"queued", "scheduled", "running", *ENDED})


@dataclass(frozen=True, slots=True)
class CallStatus:
    """Where a call is, read from its record; every field changed in the same script as the
    state change it reflects. ``state``: ``"queued"``, ``"scheduled"`` (delayed, or waiting
    for a retry), ``"running"``, ``"succeeded"``, ``"failed"`` (it used up its attempts, or
    could not run), ``"cancelled"``, or ``"unknown"`` (no such call, or its record expired:
    ``result_ttl`` after it ended). Times are the server's (UTC). ``progress`` is the last
    value the function reported (None: none)."""

    state: CallState
    attempts: int = 0
    worker_id: str | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: Any = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED


@dataclass(frozen=True, slots=True)
class Record:
    """A call's record as stored: its status, and its outcome's details once it ended
    (``result``: the stored JSON of a succeeded call's return value)."""

    status: CallStatus
    function: str | None = None
    caller: str | None = None
    result: bytes | None = None
    error_type: str | None = None
    error: str | None = None

    @property
    def ended(self) -> bool:
        return self.status.ended


UNKNOWN = Record(CallStatus("unknown"))


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def _time(value: bytes | None) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    return server_time(int(text))


def _json(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:  # not written by worqr: shown as text rather than failing the read
        return value.decode("utf-8", "replace")


def parse_record(fields: dict[bytes, bytes]) -> Record:
    """A record from its hash (HGETALL); `UNKNOWN` for an empty one."""
    state = _text(fields.get(b"state"))
    if state not in _STATES:
        return UNKNOWN
    status = CallStatus(
        cast("CallState", state),
        attempts=int(_text(fields.get(b"attempts")) or 0),
        worker_id=_text(fields.get(b"worker")),
        enqueued_at=_time(fields.get(b"enqueued_at")),
        started_at=_time(fields.get(b"started_at")),
        finished_at=_time(fields.get(b"finished_at")),
        progress=_json(fields.get(b"progress")),
    )
    return Record(
        status,
        function=_text(fields.get(b"function")),
        caller=_text(fields.get(b"caller")),
        result=fields.get(b"result") if state == "succeeded" else None,
        error_type=_text(fields.get(b"error_type")),
        error=_text(fields.get(b"error")),
    )


def result_of(record: Record, call_id: str, load: Callable[[object], Any]) -> Any:
    """What ``Call.result()`` gives for an ended (or unknown) call: the stored result rebuilt
    by ``load``, or the call's error raised. `CodecError` for a stored result that is not
    JSON or does not fit."""
    status = record.status
    if status.state == "succeeded":
        stored = record.result or b"null"
        try:
            value = json.loads(stored)
        except ValueError as exc:
            msg = f"the stored result of call {call_id} is not JSON: {stored[:40]!r}"
            raise CodecError(msg, payload=stored) from exc
        try:
            return load(value)
        except CodecError as exc:
            msg = f"the result of call {call_id} does not fit the function's return annotation: {exc}"
            raise CodecError(msg, payload=stored) from exc
    if status.state == "failed":
        error_type, error = record.error_type or "Error", record.error or ""
        msg = f"call {call_id} of {record.function} failed after {status.attempts} attempt(s): {error_type}: {error}"
        raise CallFailedError(msg, call_id=call_id, error_type=error_type, error=error, attempts=status.attempts)
    if status.state == "cancelled":
        msg = f"call {call_id} of {record.function} was cancelled"
        raise CallCancelledError(msg, call_id=call_id)
    if status.state == "unknown":
        msg = (
            f"call {call_id} is unknown: there is no such call, or its record expired "
            "(result_ttl after it ended, by default an hour)"
        )
        raise CallNotFoundError(msg, call_id=call_id)
    msg = f"call {call_id} has not ended (it is {status.state})"
    raise RuntimeError(msg)
