"""Each Redis operation of leases as data (see `worqr._protocol.ops`): the scripts in
``worqr/leases/lua`` and the reads. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from worqr import errors
from worqr._protocol.call import Arg, Call
from worqr._protocol.keys import LeaseKeys, RegistryKeys
from worqr._protocol.models import reply_text
from worqr.leases.terms import Busy


def _script(name: str, keys: Sequence[str], args: Sequence[Arg], parse: Any, *, idempotent: bool) -> Call[Any]:
    return Call(tuple(keys), tuple(args), parse, idempotent, script=f"leases/{name}", durable=True)


def _ok(reply: list[Any]) -> None:
    if reply[0] != errors.STATUS_OK:
        raise errors.status_error(reply[0], "a status the lease does not expect")


def register(registry: RegistryKeys, worker_id: str, name: str) -> Call[bool]:
    """Parses to False when the worker has been declared dead."""

    def parse(reply: list[Any]) -> bool:
        if reply[0] == errors.STATUS_WORKER_LOST:
            return False
        _ok(reply)
        return True

    key_list = (registry.workers, registry.heartbeat(worker_id), registry.leases_of(worker_id), registry.leases)
    return _script("register", key_list, (worker_id, name), parse, idempotent=True)


def acquire(
    keys: LeaseKeys, worker_id: str, *, incarnation: str, owner: str, attempt: str, ttl_ms: int
) -> Call[tuple[int, int] | Busy]:
    """Parses to (token, acquired at in server ms), or `Busy`."""

    def parse(reply: list[Any]) -> tuple[int, int] | Busy:
        if reply[0] == errors.STATUS_LEASE_BUSY:
            return Busy(reply_text(reply[1]), int(reply[2]))
        _ok(reply)
        return int(reply[1]), int(reply[2])

    args = (worker_id, incarnation, owner, attempt, ttl_ms)
    return _script("acquire", (keys.holder, keys.token), args, parse, idempotent=True)  # idempotent by attempt


def renew(keys: LeaseKeys, owner: str, token: int, ttl_ms: int) -> Call[bool]:
    """Parses to False when the term is over (LEASE_LOST)."""

    def parse(reply: list[Any]) -> bool:
        if reply[0] == errors.STATUS_LEASE_LOST:
            return False
        _ok(reply)
        return True

    return _script("renew", (keys.holder,), (owner, token, ttl_ms), parse, idempotent=True)


def _released(reply: list[Any]) -> bool:
    _ok(reply)
    return int(reply[1]) == 1


def release(keys: LeaseKeys, owner: str, token: int) -> Call[bool]:
    """Parses to True if this call ended the term."""
    return _script("release", (keys.holder,), (owner, token, keys.released), _released, idempotent=True)


@dataclass(frozen=True, slots=True)
class Holding:
    """A lease as a read finds it: its holder now (None: free), the holder's token, when it
    acquired (server ms), the ms left on the hold, and the last token ever issued."""

    name: str
    holder: str | None
    token: int | None
    acquired_at_ms: int | None
    expires_in_ms: int | None
    last_token: int


def holding(keys: LeaseKeys) -> list[Call[Any]]:
    """The plain reads of a lease's holder, sent together (a read-only user may run them):
    its fields, its ttl and the token counter; `parse_holding` makes one `Holding` of them."""
    return [
        Call((keys.holder,), ("worker", "token", "acquired_at"), list, True, command="HMGET"),
        Call((keys.holder,), (), int, True, command="PTTL"),
        Call((keys.token,), (), lambda reply: int(reply or 0), True, command="GET"),
    ]


def parse_holding(keys: LeaseKeys, replies: list[Any]) -> Holding:
    (worker, token, acquired_at), pttl, last = replies
    if worker is None or token is None or acquired_at is None:
        return Holding(keys.name, None, None, None, None, last)
    return Holding(keys.name, reply_text(worker), int(token), int(acquired_at), max(0, pttl), last)


def current_token(keys: LeaseKeys) -> Call[int | None]:
    """The token of the lease's current holder (None: nobody holds it)."""
    return Call((keys.holder,), ("token",), lambda reply: None if reply is None else int(reply), True, command="HGET")
