"""What both runners do with a batch's replies, with no I/O of their own: the commands they
send, how they judge a reply that Redis refused (LOADING, READONLY, NOSCRIPT, ASK), and how
redis errors become worqr errors. The runners are in ``_async/runner.py`` (and its twin).

A runner runs `Call`s on a redis-py connection pool: EVALSHA always, SCRIPT LOAD and resend
on NOSCRIPT, several calls pipelined in one round trip, redis errors mapped to worqr errors.

The runner takes connections from the pool itself instead of going through
``Redis.execute_command``: that is how it knows whether a failure happened before a
command was sent (safe to retry) or after (retried only if idempotent), whatever retry
settings the caller's client has. Replies are read undecoded, so payloads stay bytes.

Failures that retrying cannot mend are raised at once, with what to do: a TLS handshake the
server refused (or a server that answers a plain PING when the handshake heard nothing: it
does not speak TLS), a connection setup that Redis refused (a database it does not have),
and replies that are not the Redis protocol (another service listening, a broken proxy),
after which the connection is dropped.

A READONLY reply means the server was demoted to a replica (a failover): it applied
nothing, so the batch is retried on a fresh connection, which a Sentinel pool opens to the
new primary. With a `Durability`, a batch holding a durable call ends with WAIT (or
WAITAOF) in the same pipelined exchange, and too few confirmations raise
`ReplicationTimeoutError`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Sequence
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import (
    BusyLoadingError,
    DataError,
    InvalidResponse,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)

from worqr import errors
from worqr._io.retry import RetryableFailure
from worqr._protocol.call import Call, Unreachable
from worqr._protocol.scripts import script

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
#: What redis-py raises for bytes that are not the Redis protocol (``Protocol Error: ...``),
#: or for a command it could not encode.
PROTOCOL_ERRORS = (InvalidResponse, DataError)
#: Seconds the plain PING after a timed-out TLS handshake waits for a connection and a reply.
PLAIN_PROBE_TIMEOUT = 1.0
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
    results: list[Any] = []
    for call, reply in zip(calls, replies, strict=True):
        if isinstance(reply, Unreachable):  # a partial read its node did not serve
            results.append(reply)
            continue
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


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from (or while handling), innermost last."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def tls_refusal(where: str, exc: BaseException) -> errors.RedisUnavailableError | None:
    """The error for a connection whose TLS handshake failed (an untrusted certificate, a
    server that does not speak TLS), or None if ``exc`` is not one. Not retried: the server
    would refuse it again. A connection closed mid-handshake is not counted (it may be an
    outage)."""
    failure = next((e for e in _chain(exc) if isinstance(e, ssl.SSLError)), None)
    if failure is None or isinstance(failure, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return None
    if isinstance(failure, ssl.SSLCertVerificationError):
        msg = (
            f"the TLS handshake with Redis at {where} failed: the server's certificate is not trusted ({failure}); "
            "pass the CA that signed it (ssl_ca_certs=... in the URL)"
        )
    else:
        msg = (
            f"Redis at {where} refused the TLS handshake ({failure}): the server may not speak TLS on that port; "
            "use a redis:// URL for a server without TLS, or the port of its TLS listener"
        )
    return errors.RedisUnavailableError(msg)


def tls_timed_out(pool: Any, exc: BaseException) -> bool:
    """True if ``exc`` is a timeout while opening a TLS connection (TCP connect and handshake
    share the connect timeout). A server without TLS answers nothing to a TLS hello: it waits
    for the end of a line that never comes."""
    tls = "ssl" in str(getattr(pool, "connection_class", "")).lower()
    return tls and any(isinstance(e, redis.TimeoutError | TimeoutError) for e in _chain(exc))


def no_tls(where: str, pool: Any) -> errors.RedisUnavailableError:
    """The error for a server that answered a plain PING after a TLS handshake timed out."""
    seconds = getattr(pool, "connection_kwargs", {}).get("socket_connect_timeout")
    waited = f" for {seconds:g} s" if isinstance(seconds, int | float) else ""
    msg = (
        f"Redis at {where} does not speak TLS: the TLS handshake heard nothing{waited}, and the server answers "
        "plain (unencrypted) commands on that port; use a redis:// URL, or the port of its TLS listener"
    )
    return errors.RedisUnavailableError(msg)


def garbled(where: str, exc: BaseException, *, calls: Sequence[Call[Any]] | None) -> errors.RedisUnavailableError:
    """The error for a reply that is not the Redis protocol; the caller dropped the connection
    (what is left in it cannot be trusted). ``calls``: the batch, if it had been sent (then a
    state change in it may or may not have been applied); None: it was not."""
    maybe_applied = calls is not None and any(call.script is not None for call in calls)
    msg = (
        f"Redis at {where} answered with something that is not the Redis protocol ({exc}); the connection was "
        "dropped. Is another service (an HTTP server, a proxy, a TLS-only port) listening there?"
    )
    if maybe_applied:
        msg += " The batch had been sent: its state change may or may not have been applied"
    return errors.RedisUnavailableError(msg, maybe_applied=maybe_applied)


class HandshakeError(errors.RedisCommandError):
    """Redis refused the setup of a new connection (AUTH, HELLO, SELECT): nothing was sent."""


def databases(reply: Any) -> int | None:
    """The count in a ``CONFIG GET databases`` reply (a flat list, or a map in RESP3)."""
    pairs = dict(reply) if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=False))
    value = next(iter(pairs.values()), None) if pairs else None
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def handshake_refused(where: str, db: object, exc: ResponseError, count: int | None) -> errors.RedisCommandError:
    """The error for a new connection's setup that Redis refused; ``count``: how many
    databases the server has (None: unknown), for a SELECT it refused."""
    if "DB index is out of range" not in str(exc):
        refusal = refused("the setup of a connection (AUTH, HELLO, SELECT)", exc)
        if isinstance(refusal, errors.RedisPermissionError):
            return refusal
        return HandshakeError(str(refusal))
    if count is not None:
        msg = (
            f"Redis at {where} has no database {db}: it has {count} (0 to {count - 1}, its databases setting); "
            "name one of those in the URL"
        )
    else:
        msg = (
            f"Redis at {where} has no database {db} ({exc}): the server has fewer (its databases setting, "
            "16 by default); name a lower database in the URL"
        )
    return HandshakeError(msg)
