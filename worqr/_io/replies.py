"""What both runners do with a batch's replies, with no I/O of their own: the commands they
send, how they judge a reply that Redis refused (LOADING, READONLY, NOSCRIPT, ASK), and how
redis errors become worqr errors. The runners are in ``_async/runner.py`` (and its twin).

A runner runs `Call`s on a redis-py connection pool: EVALSHA always, SCRIPT LOAD and resend
on NOSCRIPT, several calls pipelined in one round trip, redis errors mapped to worqr errors.

The runner takes connections from the pool itself instead of going through
``Redis.execute_command``: that is how it knows whether a failure happened before a
command was sent (safe to retry) or after (retried only if idempotent), whatever retry
settings the caller's client has. Replies are read undecoded, so payloads stay bytes.

A READONLY reply means the server was demoted to a replica (a failover): it applied
nothing, so the batch is retried on a fresh connection, which a Sentinel pool opens to the
new primary. With a `Durability`, a batch holding a durable call ends with WAIT (or
WAITAOF) in the same pipelined exchange, and too few confirmations raise
`ReplicationTimeoutError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import (
    BusyLoadingError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)

from worqr import errors
from worqr._io.retry import RetryableFailure
from worqr._protocol.ops import Call
from worqr._protocol.scripts import script

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
#: How servers word an ACL refusal from inside a script (Redis 7.0; Redis 7.2+ and Valkey).
#: Outside scripts the reply is NOPERM, which redis-py raises as NoPermissionError.
_ACL_REFUSALS = ("can't run this command", "ACL failure", "no permissions")


def command_args(call: Call[Any], *, sharded: bool = False) -> tuple[Any, ...]:
    """The command that runs ``call``; ``sharded``: with the scripts' SPUBLISH variant."""
    if call.script is not None:
        return ("EVALSHA", script(call.script, sharded=sharded).sha, len(call.keys), *call.keys, *call.args)
    return (call.command, *call.keys, *call.args)


def describe(pool: Any) -> str:
    """Where the pool connects, without credentials (for error messages)."""
    kwargs = getattr(pool, "connection_kwargs", {})
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    scheme = "rediss" if "ssl" in str(getattr(pool, "connection_class", "")).lower() else "redis"
    manager = getattr(pool, "sentinel_manager", None)
    if manager is not None:
        nodes = [s.connection_pool.connection_kwargs for s in getattr(manager, "sentinels", [])]
        hosts = ",".join(f"{node.get('host', 'localhost')}:{node.get('port', 26379)}" for node in nodes)
        return f"{scheme}+sentinel://{hosts}/{getattr(pool, 'service_name', '')}/{kwargs.get('db', 0)}"
    return f"{scheme}://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def missing_scripts(replies: list[Any]) -> list[int]:
    return [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]


def check_loading(replies: list[Any], where: str) -> None:
    loading = [r for r in replies if isinstance(r, BusyLoadingError)]
    if loading and len(loading) == len(replies):
        raise RetryableFailure from loading[0]
    if loading:
        msg = f"Redis at {where} is loading its dataset; part of a batch may have been applied"
        raise errors.RedisUnavailableError(msg, maybe_applied=True) from loading[0]


def after_loading(replies: list[Any], batch_size: int, exc: BusyLoadingError) -> None:
    """Record a LOADING reply; the caller has dropped the connection, because redis-py leaves
    that reply in its read buffer and every later read on it would return it again. Later
    replies of the batch are then unknown (the load may have ended while they ran): raise a
    connection error, so the batch is retried only if idempotent, else maybe_applied."""
    if len(replies) + 1 < batch_size:
        msg = "Redis was loading its dataset; the rest of the batch may or may not have run"
        raise redis.ConnectionError(msg) from exc
    replies.append(exc)


def demoted(replies: list[Any], batch_size: int, exc: ReadOnlyError) -> list[Any]:
    """The replies of a batch that met READONLY: the server is a replica now, so that call
    and every later one (unread: the connection is dropped) were refused, not applied."""
    return replies + [exc] * (batch_size - len(replies))


def check_demoted(calls: Sequence[Call[Any]], replies: list[Any]) -> None:
    """After a READONLY reply: retry the batch (on a fresh connection, to the new primary)
    if what the server did apply before its demotion can be applied again, else raise a
    connection error (reported as maybe applied)."""
    demoted = next((r for r in replies if isinstance(r, ReadOnlyError)), None)
    if demoted is None:
        return
    applied = [call for call, reply in zip(calls, replies, strict=True) if not isinstance(reply, ResponseError)]
    if all(call.idempotent for call in applied):
        raise RetryableFailure from demoted
    msg = f"Redis became a read-only replica (a failover) in the middle of a batch: {demoted}"
    raise redis.ConnectionError(msg) from demoted


def readonly_cause(exc: redis.ConnectionError) -> ReadOnlyError | None:
    """The READONLY reply that redis-py's Sentinel connection turned into ``exc``, if any."""
    return exc.__context__ if isinstance(exc.__context__, ReadOnlyError) else None


def refused(what: str, reply: ResponseError) -> errors.RedisCommandError:
    """The worqr error for a command (``what``) that Redis refused with ``reply``."""
    if isinstance(reply, NoPermissionError) or any(words in str(reply) for words in _ACL_REFUSALS):
        msg = f"the Redis user may not run {what}: {reply}; give it worqr's ACL (docs/security.md)"
        return errors.RedisPermissionError(msg)
    if isinstance(reply, OutOfMemoryError):
        msg = (
            f"Redis is out of memory (used memory is over maxmemory, policy noeviction) and refused {what} "
            f"before it wrote anything: {reply}; let workers drain the queues or raise maxmemory"
        )
        return errors.RedisCommandError(msg)
    return errors.RedisCommandError(f"Redis refused {what}: {reply}")


def resolve(calls: Sequence[Call[Any]], replies: list[Any]) -> list[Any]:
    """Parse each reply with its call's parser; raise the first error, in call order."""
    results = []
    for call, reply in zip(calls, replies, strict=True):
        if isinstance(reply, ResponseError):
            error = refused(f"{call.script or call.command} on {list(call.keys)[:3]}", reply)
            if call.advisory:
                results.append(error)
                continue
            raise error from reply
        results.append(call.parse(reply))
    return results


#: Sent before a call that follows an ASK redirect (Redis Cluster: its slot is being migrated).
_ASKING: Call[Any] = Call((), (), lambda reply: reply, True, command="ASKING")


def with_asking(calls: Sequence[Call[Any]]) -> list[Call[Any]]:
    return [sent for call in calls for sent in (_ASKING, call)]


def without_asking(replies: list[Any]) -> list[Any]:
    """One reply per call, dropping ASKING's own unless Redis refused it."""
    pairs = zip(replies[::2], replies[1::2], strict=True)
    return [asking if isinstance(asking, ResponseError) else reply for asking, reply in pairs]


def unavailable(where: str, exc: BaseException, *, maybe_applied: bool) -> errors.RedisUnavailableError:
    if maybe_applied:
        msg = f"lost the connection to Redis at {where} after sending a state change; it may or may not have been applied ({exc})"
    elif isinstance(exc, ReadOnlyError):
        msg = f"Redis at {where} is a read-only replica, and no primary took its place in time: {exc}"
    else:
        msg = f"cannot reach Redis at {where}: {exc}"
    return errors.RedisUnavailableError(msg, maybe_applied=maybe_applied)


def bad_credentials(where: str, exc: BaseException) -> errors.RedisPermissionError:
    msg = f"Redis at {where} refused the credentials ({exc}); check the user name and password given to worqr"
    return errors.RedisPermissionError(msg)
