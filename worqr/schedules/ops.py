"""Each Redis operation of schedules as data (see `worqr._protocol.ops`): the scripts in
``worqr/schedules/lua`` and the reads. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from worqr import errors
from worqr._protocol.call import Arg, Call
from worqr._protocol.keys import QueueKeys, RegistryKeys
from worqr._protocol.models import reply_text
from worqr.schedules.records import FIELDS
from worqr.schedules.timing import Rules

#: How many of a queue's soonest schedules one look takes.
PEEK_COUNT = 32

#: What a fire did (fire.lua's outcome).
STALE, FIRED, SKIPPED, MISSED, NOT_DUE = 0, 1, 2, 3, 4


def _script(name: str, keys: Sequence[str], args: Sequence[Arg], parse: Any, *, idempotent: bool) -> Call[Any]:
    return Call(tuple(keys), tuple(args), parse, idempotent, script=f"schedules/{name}", durable=True)


def _ok(reply: list[Any]) -> list[Any]:
    if reply[0] != errors.STATUS_OK:
        raise errors.status_error(reply[0], "a status the schedule does not expect")
    return reply


def _done(reply: list[Any]) -> None:
    _ok(reply)


@dataclass(frozen=True, slots=True)
class Peeked:
    """The server's clock (ms) and the queue's soonest schedules: (name, due ms)."""

    now_ms: int
    entries: list[tuple[str, int]]


def peek(keys: QueueKeys, count: int = PEEK_COUNT) -> Call[Peeked]:
    def parse(reply: list[Any]) -> Peeked:
        rest = reply[1:]
        return Peeked(int(reply[0]), [(reply_text(rest[i]), int(rest[i + 1])) for i in range(0, len(rest), 2)])

    return Call((keys.schedule_due,), (count,), parse, True, script="schedules/peek")


@dataclass(frozen=True, slots=True)
class Template:
    """What a schedule enqueues: a task's payload, or a call of ``function`` (its arguments
    in ``task``, its records kept ``result_ttl_ms`` / at most ``record_ttl_ms``)."""

    kind: str
    task: bytes
    function: str = ""
    result_ttl_ms: int = 0
    record_ttl_ms: int = 0


def put(keys: QueueKeys, name: str, rules: Rules, first_due_ms: int, template: Template) -> Call[tuple[bool, int]]:
    """Parses to (created, next due in server ms)."""

    def parse(reply: list[Any]) -> tuple[bool, int]:
        _ok(reply)
        return int(reply[1]) == 1, int(reply[2])

    args = (
        name,
        keys.channel,
        rules.dumps(),
        rules.timing_key(),
        first_due_ms,
        rules.overlap,
        template.kind,
        template.task,
        template.function,
        template.result_ttl_ms,
        template.record_ttl_ms,
    )
    return _script("put", (keys.schedule(name), keys.schedule_due), args, parse, idempotent=True)


def remove(keys: QueueKeys, name: str) -> Call[bool]:
    return _script(
        "remove", (keys.schedule(name), keys.schedule_due), (name,), lambda r: int(_ok(r)[1]) == 1, idempotent=True
    )


def fire(
    keys: QueueKeys, name: str, *, due_ms: int, rev: str, fire: bool, next_due_ms: int, call_id: str
) -> Call[tuple[int, int]]:
    """Parses to (outcome, unlisted or ms until due): see `FIRED` and the others."""
    key_list = (
        keys.schedule(name),
        keys.schedule_due,
        keys.pending,
        keys.unique,
        keys.idle,
        keys.listed,
        keys.counters,
    )
    args = (name, due_ms, rev, "1" if fire else "0", next_due_ms, keys.work_channel, call_id)

    def parse(reply: list[Any]) -> tuple[int, int]:
        _ok(reply)
        return int(reply[1]), int(reply[2])

    return _script("fire", key_list, args, parse, idempotent=True)  # idempotent: a second try is stale


def record(keys: QueueKeys, name: str) -> list[Call[Any]]:
    """The plain reads of a schedule: its record's `FIELDS` and its due score."""
    return [
        Call((keys.schedule(name),), FIELDS, list, True, command="HMGET"),
        Call((keys.schedule_due,), (name,), lambda s: None if s is None else float(s), True, command="ZSCORE"),
    ]


def index(registry: RegistryKeys) -> Call[dict[str, str]]:
    """Every schedule's name -> the queue that holds it."""

    def parse(reply: Any) -> dict[str, str]:
        pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
        return {reply_text(name): reply_text(queue) for name, queue in pairs}

    return Call((registry.schedules,), (), parse, True, command="HGETALL")


def indexed_queue(registry: RegistryKeys, name: str) -> Call[str | None]:
    return Call((registry.schedules,), (name,), lambda r: None if r is None else reply_text(r), True, command="HGET")


def set_index(registry: RegistryKeys, name: str, queue: str) -> Call[None]:
    return _script("index", (registry.schedules,), ("set", name, queue), _done, idempotent=True)


def drop_index(registry: RegistryKeys, name: str, queue: str) -> Call[None]:
    """Forgets the name only while it still points at ``queue``."""
    return _script("index", (registry.schedules,), ("drop", name, queue), _done, idempotent=True)
