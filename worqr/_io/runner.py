"""Runs `Call`s on a redis-py connection pool: EVALSHA always, SCRIPT LOAD and resend on
NOSCRIPT, several calls pipelined in one round trip, redis errors mapped to worqr errors.

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
from tenacity import AsyncRetrying, Retrying

from worqr import errors
from worqr._io.durability import Durability, check_confirmed, needed, probe, unsupported, wait_command
from worqr._io.retry import POLICY, RetryableFailure
from worqr._protocol.ops import Call
from worqr._protocol.scripts import script

_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
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


def _missing_scripts(replies: list[Any]) -> list[int]:
    return [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]


def _check_loading(replies: list[Any], where: str) -> None:
    loading = [r for r in replies if isinstance(r, BusyLoadingError)]
    if loading and len(loading) == len(replies):
        raise RetryableFailure from loading[0]
    if loading:
        msg = f"Redis at {where} is loading its dataset; part of a batch may have been applied"
        raise errors.RedisUnavailableError(msg, maybe_applied=True) from loading[0]


def _after_loading(replies: list[Any], batch_size: int, exc: BusyLoadingError) -> None:
    """Record a LOADING reply; the caller has dropped the connection, because redis-py leaves
    that reply in its read buffer and every later read on it would return it again. Later
    replies of the batch are then unknown (the load may have ended while they ran): raise a
    connection error, so the batch is retried only if idempotent, else maybe_applied."""
    if len(replies) + 1 < batch_size:
        msg = "Redis was loading its dataset; the rest of the batch may or may not have run"
        raise redis.ConnectionError(msg) from exc
    replies.append(exc)


def _demoted(replies: list[Any], batch_size: int, exc: ReadOnlyError) -> list[Any]:
    """The replies of a batch that met READONLY: the server is a replica now, so that call
    and every later one (unread: the connection is dropped) were refused, not applied."""
    return replies + [exc] * (batch_size - len(replies))


def _check_demoted(calls: Sequence[Call[Any]], replies: list[Any]) -> None:
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


def _readonly_cause(exc: redis.ConnectionError) -> ReadOnlyError | None:
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


def _with_asking(calls: Sequence[Call[Any]]) -> list[Call[Any]]:
    return [sent for call in calls for sent in (_ASKING, call)]


def _without_asking(replies: list[Any]) -> list[Any]:
    """One reply per call, dropping ASKING's own unless Redis refused it."""
    pairs = zip(replies[::2], replies[1::2], strict=True)
    return [asking if isinstance(asking, ResponseError) else reply for asking, reply in pairs]


def _unavailable(where: str, exc: BaseException, *, maybe_applied: bool) -> errors.RedisUnavailableError:
    if maybe_applied:
        msg = f"lost the connection to Redis at {where} after sending a state change; it may or may not have been applied ({exc})"
    elif isinstance(exc, ReadOnlyError):
        msg = f"Redis at {where} is a read-only replica, and no primary took its place in time: {exc}"
    else:
        msg = f"cannot reach Redis at {where}: {exc}"
    return errors.RedisUnavailableError(msg, maybe_applied=maybe_applied)


def _bad_credentials(where: str, exc: BaseException) -> errors.RedisPermissionError:
    msg = f"Redis at {where} refused the credentials ({exc}); check the user name and password given to worqr"
    return errors.RedisPermissionError(msg)


class SyncRunner:
    """Executes calls on a ``redis.ConnectionPool``; safe to share between threads."""

    def __init__(
        self, pool: redis.ConnectionPool, durability: Durability | None = None, *, sharded: bool = False
    ) -> None:
        self.pool: Any = pool  # redis-py's pool methods are untyped
        self.where = describe(pool)
        self.sharded = sharded  # a Redis Cluster node: the scripts publish with SPUBLISH
        self.durability = durability
        self._probed = False

    def run(self, calls: Sequence[Call[Any]]) -> list[Any]:
        durability = needed(self.durability, calls)
        if durability is not None and not self._probed:
            self._probe(durability)
        try:
            replies, acked = self._attempt(calls, durability)  # the common case, without the cost of a Retrying
        except RetryableFailure:
            replies, acked = self._retry(calls, durability)
        results = resolve(calls, replies)
        if durability is not None:
            check_confirmed(durability, acked, self.where)
        return results

    def replies(self, calls: Sequence[Call[Any]], *, asking: bool = False) -> list[Any]:
        """One attempt at ``calls`` for a router that must see every reply before it is parsed
        (Redis Cluster: MOVED and ASK come back as error replies); RetryableFailure means
        nothing ran. ``asking``: the calls follow an ASK redirect, so each goes after ASKING."""
        durability = needed(self.durability, calls)
        if durability is not None and not self._probed:
            self._probe(durability)
        replies, acked = self._attempt(_with_asking(calls) if asking else calls, durability)
        if durability is not None:
            check_confirmed(durability, acked, self.where)
        return _without_asking(replies) if asking else replies

    def _probe(self, durability: Durability) -> None:
        """Before the first durable write: check that the server accepts the wait."""
        try:
            self.run([probe(durability)])
        except errors.RedisPermissionError:
            raise
        except errors.RedisCommandError as exc:
            raise unsupported(durability, self.where, exc) from exc
        self._probed = True

    def _retry(self, calls: Sequence[Call[Any]], durability: Durability | None) -> tuple[list[Any], Any]:
        try:
            for attempt in Retrying(**POLICY):
                with attempt:
                    outcome = self._attempt(calls, durability)
        except RetryableFailure as exc:
            raise _unavailable(self.where, exc.__cause__ or exc, maybe_applied=False) from exc.__cause__
        return outcome

    def _attempt(self, calls: Sequence[Call[Any]], durability: Durability | None) -> tuple[list[Any], Any]:
        """The replies of ``calls`` and, for a durable batch, of the wait after them."""
        try:
            conn: Any = self.pool.get_connection()
        except redis.AuthenticationError as exc:
            raise _bad_credentials(self.where, exc) from exc
        except _CONNECTION_ERRORS as exc:
            raise RetryableFailure from exc
        try:
            replies, acked = self._exchange(conn, calls, durability)
            _check_demoted(calls, replies)
            for _ in range(2):  # the cache may be flushed again between LOAD and resend
                missing = _missing_scripts(replies)
                if not missing:
                    break
                self._load(conn, {calls[i].script for i in missing})
                resent, resent_acked = self._exchange(conn, [calls[i] for i in missing], durability)
                for i, reply in zip(missing, resent, strict=True):
                    replies[i] = reply
                acked = acked if resent_acked is None else resent_acked  # the later wait covers all
                _check_demoted(calls, replies)
            _check_loading(replies, self.where)
            return replies, acked
        except _CONNECTION_ERRORS as exc:
            conn.disconnect()
            if all(call.idempotent for call in calls):
                raise RetryableFailure from exc
            raise _unavailable(self.where, exc, maybe_applied=True) from exc
        except BaseException:
            conn.disconnect()  # interrupted mid-exchange: replies may be unread
            raise
        finally:
            self.pool.release(conn)

    def _exchange(self, conn: Any, calls: Sequence[Call[Any]], durability: Durability | None) -> tuple[list[Any], Any]:
        """Send ``calls`` (then the wait, if ``durability``) in one write; read the replies."""
        commands = [command_args(c, sharded=self.sharded) for c in calls]
        if durability is not None:
            commands.append(wait_command(durability))
        conn.send_packed_command(conn.pack_commands(commands))
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(conn.read_response(disable_decoding=True, disconnect_on_error=False))
            except BusyLoadingError as exc:
                conn.disconnect()
                _after_loading(replies, len(calls), exc)
            except ReadOnlyError as exc:
                conn.disconnect()
                return _demoted(replies, len(calls), exc), None
            except ResponseError as exc:
                replies.append(exc)
            except redis.ConnectionError as exc:
                if (readonly := _readonly_cause(exc)) is None:
                    raise
                return _demoted(replies, len(calls), readonly), None
        if durability is None or any(isinstance(r, BusyLoadingError) for r in replies):
            return replies, None
        try:
            return replies, conn.read_response(disable_decoding=True, disconnect_on_error=False)
        except ResponseError as exc:
            return replies, exc

    def _load(self, conn: Any, names: set[str | None]) -> None:
        for name in sorted(n for n in names if n is not None):
            conn.send_command("SCRIPT", "LOAD", script(name, sharded=self.sharded).source)
            try:
                conn.read_response()
            except ResponseError as exc:
                raise refused(f"SCRIPT LOAD of {name}.lua", exc) from exc


class AsyncRunner:
    """Executes calls on a ``redis.asyncio.ConnectionPool``."""

    def __init__(
        self, pool: redis.asyncio.ConnectionPool, durability: Durability | None = None, *, sharded: bool = False
    ) -> None:
        self.pool: Any = pool  # redis-py's pool methods are untyped
        self.where = describe(pool)
        self.sharded = sharded  # a Redis Cluster node: the scripts publish with SPUBLISH
        self.durability = durability
        self._probed = False

    async def run(self, calls: Sequence[Call[Any]]) -> list[Any]:
        durability = needed(self.durability, calls)
        if durability is not None and not self._probed:
            await self._probe(durability)
        try:
            replies, acked = await self._attempt(calls, durability)  # the common case, without the cost of a Retrying
        except RetryableFailure:
            replies, acked = await self._retry(calls, durability)
        results = resolve(calls, replies)
        if durability is not None:
            check_confirmed(durability, acked, self.where)
        return results

    async def replies(self, calls: Sequence[Call[Any]], *, asking: bool = False) -> list[Any]:
        """One attempt, as `SyncRunner.replies`."""
        durability = needed(self.durability, calls)
        if durability is not None and not self._probed:
            await self._probe(durability)
        replies, acked = await self._attempt(_with_asking(calls) if asking else calls, durability)
        if durability is not None:
            check_confirmed(durability, acked, self.where)
        return _without_asking(replies) if asking else replies

    async def _probe(self, durability: Durability) -> None:
        """Before the first durable write: check that the server accepts the wait."""
        try:
            await self.run([probe(durability)])
        except errors.RedisPermissionError:
            raise
        except errors.RedisCommandError as exc:
            raise unsupported(durability, self.where, exc) from exc
        self._probed = True

    async def _retry(self, calls: Sequence[Call[Any]], durability: Durability | None) -> tuple[list[Any], Any]:
        try:
            async for attempt in AsyncRetrying(**POLICY):
                with attempt:
                    outcome = await self._attempt(calls, durability)
        except RetryableFailure as exc:
            raise _unavailable(self.where, exc.__cause__ or exc, maybe_applied=False) from exc.__cause__
        return outcome

    async def _attempt(self, calls: Sequence[Call[Any]], durability: Durability | None) -> tuple[list[Any], Any]:
        try:
            conn: Any = await self.pool.get_connection()
        except redis.AuthenticationError as exc:
            raise _bad_credentials(self.where, exc) from exc
        except _CONNECTION_ERRORS as exc:
            raise RetryableFailure from exc
        try:
            replies, acked = await self._exchange(conn, calls, durability)
            _check_demoted(calls, replies)
            for _ in range(2):
                missing = _missing_scripts(replies)
                if not missing:
                    break
                await self._load(conn, {calls[i].script for i in missing})
                resent, resent_acked = await self._exchange(conn, [calls[i] for i in missing], durability)
                for i, reply in zip(missing, resent, strict=True):
                    replies[i] = reply
                acked = acked if resent_acked is None else resent_acked
                _check_demoted(calls, replies)
            _check_loading(replies, self.where)
            return replies, acked
        except _CONNECTION_ERRORS as exc:
            await conn.disconnect()
            if all(call.idempotent for call in calls):
                raise RetryableFailure from exc
            raise _unavailable(self.where, exc, maybe_applied=True) from exc
        except BaseException:
            # Cancelled (or interrupted) mid-exchange: a reply may still be unread, and the
            # next call on this connection would read it as its own. Drop the connection.
            await conn.disconnect(nowait=True)
            raise
        finally:
            await self.pool.release(conn)

    async def _exchange(
        self, conn: Any, calls: Sequence[Call[Any]], durability: Durability | None
    ) -> tuple[list[Any], Any]:
        commands = [command_args(c, sharded=self.sharded) for c in calls]
        if durability is not None:
            commands.append(wait_command(durability))
        await conn.send_packed_command(conn.pack_commands(commands))
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(await conn.read_response(disable_decoding=True, disconnect_on_error=False))
            except BusyLoadingError as exc:
                await conn.disconnect()
                _after_loading(replies, len(calls), exc)
            except ReadOnlyError as exc:
                await conn.disconnect()
                return _demoted(replies, len(calls), exc), None
            except ResponseError as exc:
                replies.append(exc)
            except redis.ConnectionError as exc:
                if (readonly := _readonly_cause(exc)) is None:
                    raise
                return _demoted(replies, len(calls), readonly), None
        if durability is None or any(isinstance(r, BusyLoadingError) for r in replies):
            return replies, None
        try:
            return replies, await conn.read_response(disable_decoding=True, disconnect_on_error=False)
        except ResponseError as exc:
            return replies, exc

    async def _load(self, conn: Any, names: set[str | None]) -> None:
        for name in sorted(n for n in names if n is not None):
            await conn.send_command("SCRIPT", "LOAD", script(name, sharded=self.sharded).source)
            try:
                await conn.read_response()
            except ResponseError as exc:
                raise refused(f"SCRIPT LOAD of {name}.lua", exc) from exc
