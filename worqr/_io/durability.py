"""Durable writes: after an acknowledged state change, wait until replicas (or, with AOF,
their disks) confirm it, so that a failover cannot lose it. Pure: the runner sends the
commands built here in the same pipelined exchange as the state change it covers.

Redis replication is asynchronous: a primary acknowledges a write before any replica has
it. ``WAIT n ms`` blocks until ``n`` replicas acknowledged every write this connection made
(or ``ms`` passed) and answers how many did; ``WAITAOF 1 n ms`` also waits for the
primary's and the replicas' append-only files to be fsynced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from worqr import errors
from worqr._protocol.call import Call

#: The longest wait accepted (seconds); below worqr's own 30 s socket read timeout, so a
#: slow replica never looks like a broken connection.
MAX_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class Durability:
    """How acknowledged state changes (enqueue, finish, fail, stop, cancel, ...) are made to
    survive a failover: each waits until ``replicas`` replicas have it, for at most
    ``timeout`` seconds, and raises `ReplicationTimeoutError` if fewer confirmed in time.

    ``aof=True`` waits with ``WAITAOF`` instead of ``WAIT``: the change must also be fsynced
    to the primary's append-only file and to the AOF of ``replicas`` replicas (then
    ``replicas=0`` is allowed: only the primary's disk). It needs Redis 7.2+ or Valkey with
    ``appendonly yes``.
    """

    replicas: int = 1
    timeout: float = 1.0
    aof: bool = False

    def __post_init__(self) -> None:
        aof: object = self.aof
        if not isinstance(aof, bool):
            msg = f"Durability.aof must be True or False, got {aof!r}"
            raise errors.InvalidArgumentError(msg)
        least = 0 if self.aof else 1
        replicas: object = self.replicas
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < least:
            msg = f"Durability.replicas must be an int >= {least}{' (aof=False)' if least else ''}, got {replicas!r}"
            raise errors.InvalidArgumentError(msg)
        timeout: object = self.timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT:
            msg = f"Durability.timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, got {timeout!r}"
            raise errors.InvalidArgumentError(msg)

    @property
    def timeout_ms(self) -> int:
        return max(1, math.ceil(self.timeout * 1000))


def resolve_durability(value: object, pool: object = None) -> Durability | None:
    """The durability a client was given: None, ``"replicated"`` (= ``Durability()``) or a
    `Durability`. A wait must end before the read timeout of the ``pool``'s connections,
    else a slow replica would look like a broken connection."""
    socket_timeout = getattr(pool, "connection_kwargs", {}).get("socket_timeout")
    if value is None:
        return None
    if isinstance(value, str) and value == "replicated":
        value = Durability()
    if not isinstance(value, Durability):
        msg = f"durability must be None, 'replicated' or a worqr.Durability(replicas=..., timeout=..., aof=...), got {value!r}"
        raise errors.InvalidArgumentError(msg)
    if isinstance(socket_timeout, int | float) and socket_timeout <= value.timeout:
        msg = (
            f"Durability.timeout ({value.timeout:g} s) must be shorter than the socket_timeout of the "
            f"Redis client ({socket_timeout:g} s); lower the timeout or raise the client's socket_timeout"
        )
        raise errors.InvalidArgumentError(msg)
    return value


def needed(durability: Durability | None, calls: Sequence[Call[Any]]) -> Durability | None:
    """The durability to apply to a batch: the client's, if any call of it is durable."""
    if durability is None or not any(call.durable for call in calls):
        return None
    return durability


def wait_command(durability: Durability) -> tuple[Any, ...]:
    """The command the runner pipelines after a durable batch, on the same connection."""
    if durability.aof:
        return ("WAITAOF", 1, durability.replicas, durability.timeout_ms)
    return ("WAIT", durability.replicas, durability.timeout_ms)


def probe(durability: Durability) -> Call[None]:
    """A call that checks, before the first durable write, that the server accepts the wait
    (WAITAOF exists, AOF is on, the ACL allows it). Returns at once: it waits for 0 replicas."""
    args: tuple[int, ...] = (1, 0, 1) if durability.aof else (0, 1)
    return Call((), args, lambda _reply: None, True, command="WAITAOF" if durability.aof else "WAIT")


def unsupported(durability: Durability, where: str, exc: errors.RedisCommandError) -> errors.RedisCommandError:
    """The error for a server that refused the probe (nothing was written)."""
    need = "WAITAOF, which needs Redis 7.2+ or Valkey 8+ with appendonly yes" if durability.aof else "WAIT"
    msg = f"durability={durability!r} needs {need}, and Redis at {where} refused it ({exc.__cause__ or exc}); nothing was written"
    return errors.RedisCommandError(msg)


def check_confirmed(durability: Durability, reply: Any, where: str) -> None:
    """Raise `ReplicationTimeoutError` unless the wait's ``reply`` shows enough confirmations.

    ``reply`` is the WAIT/WAITAOF reply, or the error Redis answered it with."""
    if isinstance(reply, BaseException):
        confirmed, local, why = 0, 0, f"; Redis answered the wait with: {reply}"
    elif durability.aof:
        local, confirmed, why = int(reply[0]), int(reply[1]), ""
    else:
        local, confirmed, why = 1, int(reply), ""
    if confirmed >= durability.replicas and local >= 1:
        return
    if durability.aof and local < 1:
        counted = f"the primary had not fsynced it to its AOF and {confirmed} of {durability.replicas} replica(s) had"
    else:
        counted = f"only {confirmed} of {durability.replicas} replica(s) confirmed it"
    msg = (
        f"Redis at {where} applied the state change, but {counted} within {durability.timeout:g} s{why}: "
        "it is on the primary and may be lost if the primary fails now"
    )
    raise errors.ReplicationTimeoutError(msg, confirmed=confirmed, required=durability.replicas)
