"""A call's task, as it travels in its queue (the wire format: docs/calls.md), and call ids.

A call's payload is four header lines and the body::

    worqr-call/1
    <call id>
    <function name>
    <caller id>
    <arguments>

``<arguments>`` is JSON: ``{"args": [...], "kwargs": {...}}``, each value as the function's
annotations encode it. The scripts read the header (``lua/include/call_record.lua``) to keep
the call's record in step with its task; they never read the body. No I/O here.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from worqr._protocol.checks import check_queue_name
from worqr.errors import CodecError, InvalidArgumentError

HEADER = b"worqr-call/1\n"
#: Longest function name accepted, in characters.
MAX_NAME_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Envelope:
    """A call's task, taken apart."""

    call_id: str
    function: str
    caller: str
    body: bytes


def new_call_id(queue: str) -> str:
    """A fresh call id: ``"<time><random>:<queue>"``. The first part is the time in
    microseconds (14 hex digits) and 40 random bits (10), so ids sort by time; the queue says
    where the call's record lives, so that any process can find it from the id alone."""
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(5)}:{queue}"


def queue_of(call_id: object) -> str:
    """The queue named by a call id, or `InvalidArgumentError`."""
    if isinstance(call_id, str):
        stamp, sep, queue = call_id.partition(":")
        if sep and len(stamp) == 24 and all(c in "0123456789abcdef" for c in stamp):  # noqa: PLR2004 (14 + 10 digits)
            return check_queue_name(queue)
    msg = f"{call_id!r} is not a call id; pass the id of a Call (like '00063a1b2c3d4e5f6a7b8c9d:math')"
    raise InvalidArgumentError(msg)


def check_function_name(name: object) -> str:
    """``name`` if it can name a function (printable, no line breaks, at most 256 characters)."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        msg = f"a function name must be 1 to {MAX_NAME_LENGTH} printable characters, got {name!r}"
        raise InvalidArgumentError(msg)
    return name


def encode(call_id: str, function: str, caller: str, body: bytes) -> bytes:
    header = f"{call_id}\n{function}\n{caller}\n".encode()
    return HEADER + header + body


def is_call(payload: bytes) -> bool:
    return payload.startswith(HEADER)


def decode(payload: bytes) -> Envelope:
    """The parts of a call's payload, or `CodecError` for one that is not."""
    if not is_call(payload):
        msg = f"payload {payload[:40]!r} is not a call (it does not start with {HEADER!r})"
        raise CodecError(msg, payload=payload)
    parts = payload[len(HEADER) :].split(b"\n", 3)
    if len(parts) != 4:  # noqa: PLR2004 (id, function, caller, body)
        msg = f"call payload {payload[:60]!r} is cut short: its header lines are missing"
        raise CodecError(msg, payload=payload)
    call_id, function, caller, body = parts
    try:
        return Envelope(call_id.decode(), function.decode(), caller.decode(), body)
    except UnicodeDecodeError as exc:
        msg = f"call payload {payload[:60]!r} has a header that is not UTF-8"
        raise CodecError(msg, payload=payload) from exc
