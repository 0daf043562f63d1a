"""Turning the ``redis=`` argument into what a client runs on (a `SyncBackend` /
`AsyncBackend`): a runner, the listener's pub/sub connections, and the close of whatever
worqr opened itself. One server or a Sentinel's primary: a connection pool; a Redis Cluster:
see `worqr._cluster_connect`."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from worqr._io import sentinel as _sentinel
from worqr._io.cluster import connect as _cluster_connect
from worqr._io.cluster import topology as _cluster
from worqr._io.cluster.topology import AsyncClusterRunner, SyncClusterRunner
from worqr._io.durability import resolve_durability
from worqr._io.listener import AsyncPoolPubSubs, AsyncPubSubs, SyncPoolPubSubs, SyncPubSubs
from worqr._io.runner import AsyncRunner, SyncRunner
from worqr.errors import InvalidArgumentError

DEFAULT_URL = "redis://localhost:6379/0"

#: Client settings for the connections worqr opens itself: bounded connect and read times,
#: and no retries inside redis-py (worqr's runner decides what is safe to retry).
_OWN_CLIENT_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 5.0,
    "socket_timeout": 30.0,
    "health_check_interval": 0,
}


def resolve_url(value: object) -> str | None:
    """The URL to connect to, or None when ``value`` is a client object."""
    if value is None:
        return os.environ.get("WORQR_REDIS_URL") or DEFAULT_URL
    if isinstance(value, str):
        if not value.startswith(("redis://", "rediss://", "unix://", *_sentinel.SCHEMES, *_cluster_connect.SCHEMES)):
            msg = (
                "redis must be a redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel://, redis+cluster:// "
                f"or rediss+cluster:// URL or a client, got {value!r}"
            )
            raise InvalidArgumentError(msg)
        return value
    return None


def _check_cluster_kind(value: object, *, asyncio: bool) -> None:
    """Refuse the other API's cluster client with a clear message."""
    if isinstance(value, redis.cluster.RedisCluster) and asyncio:
        msg = "AsyncWorqr needs redis.asyncio.cluster.RedisCluster, got redis.cluster.RedisCluster; for it use Worqr"
        raise InvalidArgumentError(msg)
    if isinstance(value, redis.asyncio.cluster.RedisCluster) and not asyncio:
        msg = "Worqr needs redis.cluster.RedisCluster, got redis.asyncio.cluster.RedisCluster; for it use AsyncWorqr"
        raise InvalidArgumentError(msg)


def _nothing() -> None:
    return None


async def _anothing() -> None:
    return None


@dataclass(frozen=True)
class SyncBackend:
    """What a `Worqr` runs on."""

    runner: SyncRunner | SyncClusterRunner
    pubsubs: SyncPubSubs
    close: Callable[[], None]


@dataclass(frozen=True)
class AsyncBackend:
    """What an `AsyncWorqr` runs on."""

    runner: AsyncRunner | AsyncClusterRunner
    pubsubs: AsyncPubSubs
    close: Callable[[], Awaitable[None]]


def sync_backend(value: object, durability: object = None) -> SyncBackend:
    """The backend for the ``redis=`` and ``durability=`` arguments of `Worqr`."""
    _check_cluster_kind(value, asyncio=False)
    if _cluster_connect.is_cluster_url(resolve_url(value)) or isinstance(value, redis.cluster.RedisCluster):
        return SyncBackend(*_cluster_connect.sync_parts(value, durability, _OWN_CLIENT_OPTIONS))
    pool, owned = sync_pool(value)
    runner = SyncRunner(pool, resolve_durability(durability, pool))
    return SyncBackend(runner, SyncPoolPubSubs(pool), pool.disconnect if owned else _nothing)


def async_backend(value: object, durability: object = None) -> AsyncBackend:
    """The backend for the ``redis=`` and ``durability=`` arguments of `AsyncWorqr`."""
    _check_cluster_kind(value, asyncio=True)
    if _cluster_connect.is_cluster_url(resolve_url(value)) or isinstance(value, redis.asyncio.cluster.RedisCluster):
        return AsyncBackend(*_cluster_connect.async_parts(value, durability, _OWN_CLIENT_OPTIONS))
    pool, owned = async_pool(value)
    runner = AsyncRunner(pool, resolve_durability(durability, pool))
    return AsyncBackend(runner, AsyncPoolPubSubs(pool), pool.aclose if owned else _anothing)


def sync_pool(value: object) -> tuple[redis.ConnectionPool, bool]:
    """The pool to use, and whether worqr owns it (and must close it)."""
    url = resolve_url(value)
    if url is not None and url.startswith(_sentinel.SCHEMES):
        return _sentinel.sync_pool(url, _OWN_CLIENT_OPTIONS), True
    if url is not None:
        return redis.ConnectionPool.from_url(url, retry=Retry(NoBackoff(), 0), **_OWN_CLIENT_OPTIONS), True
    if isinstance(value, redis.Redis):
        return value.connection_pool, False
    msg = f"Worqr needs a redis.Redis or redis.cluster.RedisCluster client or a URL, got {type(value).__name__}; for redis.asyncio use AsyncWorqr"
    raise InvalidArgumentError(msg)


def async_pool(value: object) -> tuple[redis.asyncio.ConnectionPool, bool]:
    """The pool to use, and whether worqr owns it (and must close it)."""
    url = resolve_url(value)
    if url is not None and url.startswith(_sentinel.SCHEMES):
        return _sentinel.async_pool(url, _OWN_CLIENT_OPTIONS), True
    if url is not None:
        from redis.asyncio.retry import Retry as AsyncRetry  # noqa: PLC0415 (asyncio twin of Retry)

        # With maintenance notifications off, redis-py checks pooled connections before use
        # (see worqr._cluster.checked_pools): a connection broken by a server restart then
        # fails before a state change is sent (retried), not after (maybe applied).
        options = {**_OWN_CLIENT_OPTIONS, **_cluster.checked_pools()}
        pool = redis.asyncio.ConnectionPool.from_url(url, retry=AsyncRetry(NoBackoff(), 0), **options)
        return pool, True
    if isinstance(value, redis.asyncio.Redis):
        return value.connection_pool, False
    msg = (
        f"AsyncWorqr needs a redis.asyncio.Redis or redis.asyncio.cluster.RedisCluster client or a URL, "
        f"got {type(value).__name__}; for redis.Redis use Worqr"
    )
    raise InvalidArgumentError(msg)
