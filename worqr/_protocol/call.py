"""One Redis operation as data (`Call`: which script or command, which keys, which
arguments, how to read the reply), and the small helpers the factories of
`worqr._protocol.ops`, `worqr._protocol.registry_ops` and the subpackages build them with.
Pure: nothing here does I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from worqr import errors

T = TypeVar("T")

Arg = str | bytes | int


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One command for Redis: a Lua script (``script``) or a plain read (``command``).

    ``idempotent`` says whether running it twice has the same effect as once; only such
    calls are retried when a connection breaks after the call was sent. ``advisory`` says
    that Redis refusing it must not fail its batch: the runner hands back the error as its
    result, and the flow decides (the queue registry, pipelined beside a state change that
    did happen). ``durable`` marks a state change that a client configured with a
    `Durability` must see confirmed by replicas before it is acknowledged. ``partial`` marks
    a read whose batch may come back in part: on a Redis Cluster, when a node stays
    unreachable and every call of the batch is partial, the runner hands back an
    `Unreachable` as the result of each of that node's calls instead of failing the batch.
    """

    keys: tuple[str, ...]
    args: tuple[Arg, ...]
    parse: Callable[[Any], T]
    idempotent: bool
    script: str | None = None
    command: str | None = None
    advisory: bool = False
    durable: bool = False
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The result of a `partial` read that its node did not serve: ``node`` (host:port) and
    why."""

    node: str
    reason: str


def script_call(
    name: str,
    keys: Sequence[str],
    args: Sequence[Arg],
    parse: Callable[[Any], T],
    *,
    idempotent: bool,
    durable: bool = False,
) -> Call[T]:
    return Call(tuple(keys), tuple(args), parse, idempotent, script=name, durable=durable)


def read_call(command: str, key: str, args: Sequence[Arg], parse: Callable[[Any], T]) -> Call[T]:
    return Call((key,), tuple(args), parse, True, command=command)


def expect_ok(reply: list[Any]) -> None:
    if reply[0] != errors.STATUS_OK:
        raise errors.status_error(reply[0], "a status the call does not expect")


def second_of(reply: list[Any]) -> int:
    expect_ok(reply)
    return int(reply[1])
