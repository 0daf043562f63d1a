"""Each Redis operation of calls as data (see `worqr._protocol.ops`): the scripts in
``worqr/calls/lua`` and the read of a record. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from worqr import errors
from worqr._protocol.call import Arg, Call
from worqr._protocol.keys import QueueKeys
from worqr.calls.status import Record, parse_record


def _script(
    name: str, keys: Sequence[str], args: Sequence[Arg], parse: Any, *, idempotent: bool, durable: bool = False
) -> Call[Any]:
    return Call(tuple(keys), tuple(args), parse, idempotent, script=f"calls/{name}", durable=durable)


@dataclass(frozen=True, slots=True)
class Placed:
    """What placing a call did: the id of the call that now stands for it (``existing``: a
    live call held its unique key, and that one's id it is), and whether the caller must
    list the queue in the registry (see lua/enqueue.lua)."""

    call_id: str
    existing: bool
    unlisted: bool


def call(
    keys: QueueKeys,
    call_id: str,
    *,
    due: tuple[int | None, int] | None,
    key: str | None,
    result_ttl_ms: int,
    record_ttl_ms: int,
    function: str,
    caller: str,
    task: bytes,
) -> Call[Placed]:
    """``due``: None to run now, else (at in ms since the epoch or None, delay in ms)."""

    def parse(reply: list[Any]) -> Placed:
        placed = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        if reply[0] == errors.STATUS_DUPLICATE:
            return Placed(placed, existing=True, unlisted=False)
        if reply[0] != errors.STATUS_OK:
            raise errors.status_error(reply[0], "a status the call does not expect")
        return Placed(placed, existing=False, unlisted=int(reply[2]) == 1)

    mode, ms = ("now", 0) if due is None else (("in", due[1]) if due[0] is None else ("at", due[0]))
    key_list = (
        keys.pending,
        keys.idle,
        keys.listed,
        keys.delayed,
        keys.seq,
        keys.call(call_id),
        keys.call_keys,
        keys.counters,
    )
    args = (
        keys.work_channel, keys.channel, call_id, mode, ms, key or "", result_ttl_ms, record_ttl_ms, function, caller, task,
    )  # fmt: skip
    return _script("call", key_list, args, parse, idempotent=True, durable=True)  # idempotent by id


def _pairs(reply: Any) -> dict[bytes, bytes]:
    if isinstance(reply, dict):
        return reply
    return {reply[i]: reply[i + 1] for i in range(0, len(reply), 2)}


def record(keys: QueueKeys, call_id: str) -> Call[Record]:
    """The call's record (`UNKNOWN` if there is none)."""
    return Call((keys.call(call_id),), (), lambda reply: parse_record(_pairs(reply)), True, command="HGETALL")


def cancel(keys: QueueKeys, call_id: str) -> Call[str]:
    """Parses to "cancelled", "running", "ended" or "unknown" (see calls/lua/call_cancel.lua)."""

    def parse(reply: list[Any]) -> str:
        if reply[0] != errors.STATUS_OK:
            raise errors.status_error(reply[0], "a status the call does not expect")
        return reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])

    key_list = (keys.call(call_id), keys.pending, keys.delayed, keys.attempts, keys.counters)
    return _script("call_cancel", key_list, (keys.channel, call_id), parse, idempotent=False, durable=True)


def progress(keys: QueueKeys, worker_id: str, seq: int, call_id: str, value_json: str) -> Call[bool]:
    """Parses to False when the process is no longer this worker's (PROCESS_LOST)."""

    def parse(reply: list[Any]) -> bool:
        if reply[0] == errors.STATUS_PROCESS_LOST:
            return False
        if reply[0] != errors.STATUS_OK:
            raise errors.status_error(reply[0], "a status the call does not expect")
        return True

    key_list = (keys.processes(worker_id), keys.call(call_id))
    return _script("call_progress", key_list, (seq, value_json), parse, idempotent=True)
