"""Turning the ``redis=`` argument into a connection pool worqr can run calls on."""

from __future__ import annotations

import os
from typing import Any

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

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
        if not value.startswith(("redis://", "rediss://", "unix://")):
            msg = f"redis must be a redis://, rediss:// or unix:// URL or a client, got {value!r}"
            raise InvalidArgumentError(msg)
        return value
    return None


def _check_not_cluster(value: object) -> None:
    if type(value).__name__ == "RedisCluster":
        msg = "Redis Cluster clients are not supported yet; pass a redis.Redis client or a URL"
        raise InvalidArgumentError(msg)


def sync_pool(value: object) -> tuple[redis.ConnectionPool, bool]:
    """The pool to use, and whether worqr owns it (and must close it)."""
    url = resolve_url(value)
    if url is not None:
        return redis.ConnectionPool.from_url(url, retry=Retry(NoBackoff(), 0), **_OWN_CLIENT_OPTIONS), True
    _check_not_cluster(value)
    if isinstance(value, redis.Redis):
        return value.connection_pool, False
    msg = f"Worqr needs a redis.Redis client or a URL, got {type(value).__name__}; for redis.asyncio use AsyncWorqr"
    raise InvalidArgumentError(msg)


def async_pool(value: object) -> tuple[redis.asyncio.ConnectionPool, bool]:
    """The pool to use, and whether worqr owns it (and must close it)."""
    url = resolve_url(value)
    if url is not None:
        from redis.asyncio.retry import Retry as AsyncRetry  # noqa: PLC0415 (asyncio twin of Retry)

        pool = redis.asyncio.ConnectionPool.from_url(url, retry=AsyncRetry(NoBackoff(), 0), **_OWN_CLIENT_OPTIONS)
        return pool, True
    _check_not_cluster(value)
    if isinstance(value, redis.asyncio.Redis):
        return value.connection_pool, False
    msg = f"AsyncWorqr needs a redis.asyncio.Redis client or a URL, got {type(value).__name__}; for redis.Redis use Worqr"
    raise InvalidArgumentError(msg)
