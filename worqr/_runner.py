"""Runs `Call`s on a redis-py connection pool: EVALSHA always, SCRIPT LOAD and resend on
NOSCRIPT, several calls pipelined in one round trip, redis errors mapped to worqr errors.

The runner takes connections from the pool itself instead of going through
``Redis.execute_command``: that is how it knows whether a failure happened before a
command was sent (safe to retry) or after (retried only if idempotent), whatever retry
settings the caller's client has. Replies are read undecoded, so payloads stay bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import BusyLoadingError, NoPermissionError, NoScriptError, OutOfMemoryError, ResponseError
from tenacity import AsyncRetrying, Retrying

from worqr import errors
from worqr._ops import Call
from worqr._retry import POLICY, RetryableFailure
from worqr._scripts import script

_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
#: How servers word an ACL refusal from inside a script (Redis 7.0; Redis 7.2+ and Valkey).
#: Outside scripts the reply is NOPERM, which redis-py raises as NoPermissionError.
_ACL_REFUSALS = ("can't run this command", "ACL failure", "no permissions")


def command_args(call: Call[Any]) -> tuple[Any, ...]:
    if call.script is not None:
        return ("EVALSHA", script(call.script).sha, len(call.keys), *call.keys, *call.args)
    return (call.command, *call.keys, *call.args)


def describe(pool: Any) -> str:
    """Where the pool connects, without credentials (for error messages)."""
    kwargs = getattr(pool, "connection_kwargs", {})
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    scheme = "rediss" if "ssl" in str(getattr(pool, "connection_class", "")).lower() else "redis"
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


def _unavailable(where: str, exc: BaseException, *, maybe_applied: bool) -> errors.RedisUnavailableError:
    if maybe_applied:
        msg = f"lost the connection to Redis at {where} after sending a state change; it may or may not have been applied ({exc})"
    else:
        msg = f"cannot reach Redis at {where}: {exc}"
    return errors.RedisUnavailableError(msg, maybe_applied=maybe_applied)


def _bad_credentials(where: str, exc: BaseException) -> errors.RedisPermissionError:
    msg = f"Redis at {where} refused the credentials ({exc}); check the user name and password given to worqr"
    return errors.RedisPermissionError(msg)


class SyncRunner:
    """Executes calls on a ``redis.ConnectionPool``; safe to share between threads."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool: Any = pool  # redis-py's pool methods are untyped
        self.where = describe(pool)

    def run(self, calls: Sequence[Call[Any]]) -> list[Any]:
        try:
            replies = self._attempt(calls)  # the common case, without the cost of a Retrying
        except RetryableFailure:
            replies = self._retry(calls)
        return resolve(calls, replies)

    def _retry(self, calls: Sequence[Call[Any]]) -> list[Any]:
        try:
            for attempt in Retrying(**POLICY):
                with attempt:
                    replies = self._attempt(calls)
        except RetryableFailure as exc:
            raise _unavailable(self.where, exc.__cause__ or exc, maybe_applied=False) from exc.__cause__
        return replies

    def _attempt(self, calls: Sequence[Call[Any]]) -> list[Any]:
        try:
            conn: Any = self.pool.get_connection()
        except redis.AuthenticationError as exc:
            raise _bad_credentials(self.where, exc) from exc
        except _CONNECTION_ERRORS as exc:
            raise RetryableFailure from exc
        try:
            replies = self._exchange(conn, calls)
            for _ in range(2):  # the cache may be flushed again between LOAD and resend
                missing = _missing_scripts(replies)
                if not missing:
                    break
                self._load(conn, {calls[i].script for i in missing})
                for i, reply in zip(missing, self._exchange(conn, [calls[i] for i in missing]), strict=True):
                    replies[i] = reply
            _check_loading(replies, self.where)
            return replies
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

    @staticmethod
    def _exchange(conn: Any, calls: Sequence[Call[Any]]) -> list[Any]:
        conn.send_packed_command(conn.pack_commands([command_args(c) for c in calls]))
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(conn.read_response(disable_decoding=True, disconnect_on_error=False))
            except BusyLoadingError as exc:
                conn.disconnect()
                _after_loading(replies, len(calls), exc)
            except ResponseError as exc:
                replies.append(exc)
        return replies

    @staticmethod
    def _load(conn: Any, names: set[str | None]) -> None:
        for name in sorted(n for n in names if n is not None):
            conn.send_command("SCRIPT", "LOAD", script(name).source)
            try:
                conn.read_response()
            except ResponseError as exc:
                raise refused(f"SCRIPT LOAD of {name}.lua", exc) from exc


class AsyncRunner:
    """Executes calls on a ``redis.asyncio.ConnectionPool``."""

    def __init__(self, pool: redis.asyncio.ConnectionPool) -> None:
        self.pool: Any = pool  # redis-py's pool methods are untyped
        self.where = describe(pool)

    async def run(self, calls: Sequence[Call[Any]]) -> list[Any]:
        try:
            replies = await self._attempt(calls)  # the common case, without the cost of a Retrying
        except RetryableFailure:
            replies = await self._retry(calls)
        return resolve(calls, replies)

    async def _retry(self, calls: Sequence[Call[Any]]) -> list[Any]:
        try:
            async for attempt in AsyncRetrying(**POLICY):
                with attempt:
                    replies = await self._attempt(calls)
        except RetryableFailure as exc:
            raise _unavailable(self.where, exc.__cause__ or exc, maybe_applied=False) from exc.__cause__
        return replies

    async def _attempt(self, calls: Sequence[Call[Any]]) -> list[Any]:
        try:
            conn: Any = await self.pool.get_connection()
        except redis.AuthenticationError as exc:
            raise _bad_credentials(self.where, exc) from exc
        except _CONNECTION_ERRORS as exc:
            raise RetryableFailure from exc
        try:
            replies = await self._exchange(conn, calls)
            for _ in range(2):
                missing = _missing_scripts(replies)
                if not missing:
                    break
                await self._load(conn, {calls[i].script for i in missing})
                resent = await self._exchange(conn, [calls[i] for i in missing])
                for i, reply in zip(missing, resent, strict=True):
                    replies[i] = reply
            _check_loading(replies, self.where)
            return replies
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

    @staticmethod
    async def _exchange(conn: Any, calls: Sequence[Call[Any]]) -> list[Any]:
        await conn.send_packed_command(conn.pack_commands([command_args(c) for c in calls]))
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(await conn.read_response(disable_decoding=True, disconnect_on_error=False))
            except BusyLoadingError as exc:
                await conn.disconnect()
                _after_loading(replies, len(calls), exc)
            except ResponseError as exc:
                replies.append(exc)
        return replies

    @staticmethod
    async def _load(conn: Any, names: set[str | None]) -> None:
        for name in sorted(n for n in names if n is not None):
            await conn.send_command("SCRIPT", "LOAD", script(name).source)
            try:
                await conn.read_response()
            except ResponseError as exc:
                raise refused(f"SCRIPT LOAD of {name}.lua", exc) from exc
