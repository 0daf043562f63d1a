"""What both flavours of the connection step say about a ``redis=`` argument they cannot
use. The step itself, `async_backend` and its twin `sync_backend`, is in
``_async/connect.py``."""

from __future__ import annotations

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from worqr.errors import InvalidArgumentError


def check_client_kind(value: object, face: str) -> None:
    """Refuse the other API's cluster client, with a clear message; ``face`` is the client
    class that was given it (``Worqr`` or ``AsyncWorqr``)."""
    if isinstance(value, redis.cluster.RedisCluster) and face == "AsyncWorqr":
        msg = "AsyncWorqr needs redis.asyncio.cluster.RedisCluster, got redis.cluster.RedisCluster; for it use Worqr"
        raise InvalidArgumentError(msg)
    if isinstance(value, redis.asyncio.cluster.RedisCluster) and face == "Worqr":
        msg = "Worqr needs redis.cluster.RedisCluster, got redis.asyncio.cluster.RedisCluster; for it use AsyncWorqr"
        raise InvalidArgumentError(msg)


def wrong_client(value: object, face: str) -> InvalidArgumentError:
    """The error for a ``redis=`` that is neither a URL nor a client of ``face``'s API."""
    if face == "AsyncWorqr":
        return InvalidArgumentError(
            f"AsyncWorqr needs a redis.asyncio.Redis or redis.asyncio.cluster.RedisCluster client or a URL, "
            f"got {type(value).__name__}; for redis.Redis use Worqr"
        )
    return InvalidArgumentError(
        f"Worqr needs a redis.Redis or redis.cluster.RedisCluster client or a URL, got {type(value).__name__}; "
        "for redis.asyncio use AsyncWorqr"
    )
