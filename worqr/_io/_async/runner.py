"""`AsyncRunner`: runs `Call`s on one server's connection pool (see `worqr._io.replies` for
what a runner guarantees); `SyncRunner`, generated from this file, is its threaded twin."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError, ReadOnlyError, ResponseError

from worqr import errors
from worqr._io.durability import Durability, check_confirmed, needed, probe, unsupported, wait_command
from worqr._io.flavors import AsyncRetrying, async_settle
from worqr._io.packing import pack
from worqr._io.redis_flavors import AsyncRedisRetry, async_abandon, async_ready
from worqr._io.replies import (
    CONNECTION_ERRORS,
    PLAIN_PROBE_TIMEOUT,
    PROTOCOL_ERRORS,
    HandshakeError,
    after_loading,
    bad_credentials,
    check_demoted,
    check_loading,
    command_args,
    databases,
    demoted,
    describe,
    garbled,
    handshake_refused,
    missing_scripts,
    no_tls,
    readonly_cause,
    refused,
    resolve,
    tls_refusal,
    tls_timed_out,
    unavailable,
    with_asking,
    without_asking,
)
from worqr._io.retry import POLICY, RetryableFailure
from worqr._protocol.call import Call
from worqr._protocol.scripts import script


class AsyncRunner:
    """Executes calls on a redis-py connection pool; safe to share between the tasks of one
    event loop (the threaded twin: between threads)."""

    def __init__(
        self,
        pool: redis.asyncio.ConnectionPool,
        durability: Durability | None = None,
        *,
        sharded: bool = False,
        keep_spare: bool = False,
    ) -> None:
        self.pool: Any = pool  # redis-py's pool methods are untyped
        self.where = describe(pool)
        self.sharded = sharded  # a Redis Cluster node: the scripts publish with SPUBLISH
        self.durability = durability
        self._probed = False
        # keep_spare: one connection is kept out of the pool between calls (with the pid
        # that kept it: a forked child must not use its parent's socket), which spares a
        # call the pool's lock and bookkeeping (about a fifth of a single enqueue's client
        # time). Only for a plain pool that worqr opened: one that others share could run
        # short of the connection (a bounded pool), and a Sentinel pool closes a connection
        # to a former primary only when it comes back. And only where the pool can check a
        # connection it did not hand out (``ensure_connection``; redis-py 6's threaded
        # pool cannot).
        self._keep_spare = keep_spare and callable(getattr(pool, "ensure_connection", None))
        self._spares: list[tuple[int, Any]] = []

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
        """One attempt at ``calls`` for a router that must see every reply before it is parsed
        (Redis Cluster: MOVED and ASK come back as error replies); RetryableFailure means
        nothing ran. ``asking``: the calls follow an ASK redirect, so each goes after ASKING."""
        durability = needed(self.durability, calls)
        if durability is not None and not self._probed:
            await self._probe(durability)
        replies, acked = await self._attempt(with_asking(calls) if asking else calls, durability)
        if durability is not None:
            check_confirmed(durability, acked, self.where)
        return without_asking(replies) if asking else replies

    async def _probe(self, durability: Durability) -> None:
        """Before the first durable write: check that the server accepts the wait."""
        try:
            await self.run([probe(durability)])
        except (errors.RedisPermissionError, HandshakeError):
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
            raise unavailable(self.where, exc.__cause__ or exc, maybe_applied=False) from exc.__cause__
        return outcome

    async def _attempt(self, calls: Sequence[Call[Any]], durability: Durability | None) -> tuple[list[Any], Any]:
        """The replies of ``calls`` and, for a durable batch, of the wait after them."""
        if not all(call.idempotent for call in calls):
            # Let the event loop see what came in meanwhile (a peer's FIN after a server
            # restart): the pool then replaces a dead connection before a state change is
            # sent on it, instead of the change failing after it was sent (maybe applied).
            await async_settle()
        conn = await self._connection()
        try:
            replies, acked = await self._exchange(conn, calls, durability)
            check_demoted(calls, replies)
            for _ in range(2):  # the cache may be flushed again between LOAD and resend
                missing = missing_scripts(replies)
                if not missing:
                    break
                await self._load(conn, {calls[i].script for i in missing})
                resent, resent_acked = await self._exchange(conn, [calls[i] for i in missing], durability)
                for i, reply in zip(missing, resent, strict=True):
                    replies[i] = reply
                acked = acked if resent_acked is None else resent_acked  # the later wait covers all
                check_demoted(calls, replies)
            check_loading(replies, self.where)
            return replies, acked
        except CONNECTION_ERRORS as exc:
            await conn.disconnect()
            if all(call.idempotent for call in calls):
                raise RetryableFailure from exc
            raise unavailable(self.where, exc, maybe_applied=True) from exc
        except PROTOCOL_ERRORS as exc:
            # Not the Redis protocol: what is left in the connection cannot be trusted. Not
            # retried either: a peer that answered garbage once will most likely do it again.
            await conn.disconnect()
            raise garbled(self.where, exc, calls=calls) from exc
        except BaseException:
            # Cancelled (or interrupted) mid-exchange: a reply may still be unread, and the
            # next call on this connection would read it as its own. Drop the connection.
            await async_abandon(conn)
            raise
        finally:
            await self._release(conn)

    async def _release(self, conn: Any) -> None:
        if self._keep_spare and not self._spares:
            self._spares.append((os.getpid(), conn))
        else:
            await self.pool.release(conn)

    async def _spare(self) -> Any:
        """The kept connection, made ready as the pool would (None: none is kept); a
        connection that cannot be made ready goes back to the pool, which drops it."""
        try:
            pid, conn = self._spares.pop()  # one step: two threads never take the same one
        except IndexError:
            return None
        if pid != os.getpid():
            return None  # kept by the parent of this forked process: left alone
        try:
            await async_ready(self.pool, conn)
        except BaseException:
            await self.pool.release(conn)
            raise
        return conn

    async def _connection(self) -> Any:
        """A connection from the pool (or the kept one); RetryableFailure if none could be
        opened for now (the batch was not sent). What retrying cannot mend is raised at
        once, as a worqr error: bad credentials, a refused TLS handshake, a refused setup,
        garbage in reply."""
        try:
            if self._spares and (conn := await self._spare()) is not None:
                return conn
            return await self.pool.get_connection()
        except redis.AuthenticationError as exc:
            raise bad_credentials(self.where, exc) from exc
        except CONNECTION_ERRORS as exc:
            refusal = tls_refusal(self.where, exc)
            if refusal is None and tls_timed_out(self.pool, exc) and await self._answers_without_tls():
                refusal = no_tls(self.where, self.pool)
            if refusal is not None:
                raise refusal from exc
            raise RetryableFailure from exc
        except PROTOCOL_ERRORS as exc:  # the connection's setup read garbage; redis-py dropped it
            raise garbled(self.where, exc, calls=None) from exc
        except ResponseError as exc:  # Redis refused the connection's setup (SELECT, HELLO...)
            count = await self._databases() if "DB index is out of range" in str(exc) else None
            raise handshake_refused(self.where, self.pool.connection_kwargs.get("db", 0), exc, count) from exc

    async def _answers_without_tls(self) -> bool:
        """After a TLS handshake timed out: whether the server answers a plain PING (or with
        a Redis error), as a server without TLS does; a stalled server answers neither, and
        is retried as before."""
        kwargs = self.pool.connection_kwargs
        if "host" not in kwargs:  # a Sentinel pool: the primary's address is not known here
            return False
        plain: Any = redis.asyncio.Connection  # typed in one flavour of redis-py only
        conn: Any = plain(
            host=kwargs["host"],
            port=kwargs.get("port", 6379),
            socket_connect_timeout=PLAIN_PROBE_TIMEOUT,
            socket_timeout=PLAIN_PROBE_TIMEOUT,
            retry=AsyncRedisRetry(NoBackoff(), 0),
        )
        try:
            await conn.connect()
            await conn.send_command("PING")
            await conn.read_response()
        except (redis.AuthenticationError, ResponseError):
            return True  # a Redis error reply (NOAUTH, say), in plain text
        except (redis.RedisError, OSError):
            return False
        finally:
            await conn.disconnect()
        return True

    async def _databases(self) -> int | None:
        """How many databases the server has (``CONFIG GET databases`` on database 0), or
        None if it will not say (CONFIG not granted, say). Only for the message of a
        refused SELECT: nothing here may hide that error, so any failure is None."""
        try:
            conn: Any = self.pool.connection_class(**{**self.pool.connection_kwargs, "db": 0})
        except (TypeError, ValueError):  # a connection class that takes other settings
            return None
        try:
            await conn.connect()
            await conn.send_command("CONFIG", "GET", "databases")
            return databases(await conn.read_response())
        except (redis.RedisError, OSError, TypeError, ValueError, IndexError):
            return None
        finally:
            await conn.disconnect()

    async def _exchange(
        self, conn: Any, calls: Sequence[Call[Any]], durability: Durability | None
    ) -> tuple[list[Any], Any]:
        """Send ``calls`` (then the wait, if ``durability``) in one write; read the replies."""
        commands = [command_args(c, sharded=self.sharded) for c in calls]
        if durability is not None:
            commands.append(wait_command(durability))
        await conn.send_packed_command(pack(commands))
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(await conn.read_response(disable_decoding=True, disconnect_on_error=False))
            except BusyLoadingError as exc:
                await conn.disconnect()
                after_loading(replies, len(calls), exc)
            except ReadOnlyError as exc:
                await conn.disconnect()
                return demoted(replies, len(calls), exc), None
            except ResponseError as exc:
                replies.append(exc)
            except redis.ConnectionError as exc:
                if (readonly := readonly_cause(exc)) is None:
                    raise
                return demoted(replies, len(calls), readonly), None
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
