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
from redis.exceptions import BusyLoadingError, NoScriptError, ResponseError
from tenacity import AsyncRetrying, Retrying

from worqr import errors
from worqr._ops import Call
from worqr._retry import POLICY, RetryableFailure
from worqr._scripts import script

_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


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


def resolve(calls: Sequence[Call[Any]], replies: list[Any]) -> list[Any]:
    """Parse each reply with its call's parser; raise the first error, in call order."""
    results = []
    for call, reply in zip(calls, replies, strict=True):
        if isinstance(reply, ResponseError):
            name = call.script or call.command
            msg = f"Redis refused {name} on {list(call.keys)[:3]}: {reply}"
            raise errors.RedisCommandError(msg) from reply
        results.append(call.parse(reply))
    return results


def _unavailable(where: str, exc: BaseException, *, maybe_applied: bool) -> errors.RedisUnavailableError:
    if maybe_applied:
        msg = f"lost the connection to Redis at {where} after sending a state change; it may or may not have been applied ({exc})"
    else:
        msg = f"cannot reach Redis at {where}: {exc}"
    return errors.RedisUnavailableError(msg, maybe_applied=maybe_applied)


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
            raise _unavailable(self.where, exc, maybe_applied=False) from exc
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
        finally:
            self.pool.release(conn)

    @staticmethod
    def _exchange(conn: Any, calls: Sequence[Call[Any]]) -> list[Any]:
        conn.send_packed_command(conn.pack_commands([command_args(c) for c in calls]))
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(conn.read_response(disable_decoding=True, disconnect_on_error=False))
            except (ResponseError, BusyLoadingError) as exc:
                replies.append(exc)
        return replies

    @staticmethod
    def _load(conn: Any, names: set[str | None]) -> None:
        for name in sorted(n for n in names if n is not None):
            conn.send_command("SCRIPT", "LOAD", script(name).source)
            conn.read_response()


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
            raise _unavailable(self.where, exc, maybe_applied=False) from exc
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
        finally:
            await self.pool.release(conn)

    @staticmethod
    async def _exchange(conn: Any, calls: Sequence[Call[Any]]) -> list[Any]:
        await conn.send_packed_command(conn.pack_commands([command_args(c) for c in calls]))
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(await conn.read_response(disable_decoding=True, disconnect_on_error=False))
            except (ResponseError, BusyLoadingError) as exc:
                replies.append(exc)
        return replies

    @staticmethod
    async def _load(conn: Any, names: set[str | None]) -> None:
        for name in sorted(n for n in names if n is not None):
            await conn.send_command("SCRIPT", "LOAD", script(name).source)
            await conn.read_response()
