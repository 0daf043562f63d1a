"""Turning the ``redis=`` argument of `AsyncWorqr` into what it runs on (an `AsyncBackend`;
`SyncBackend`, generated from this file, is `Worqr`'s): a runner, the listener's pub/sub
connections, and the close of whatever worqr opened itself. One server or a Sentinel's
primary: a connection pool; a Redis Cluster: a topology (see ``cluster/_async``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.sentinel
from redis.backoff import NoBackoff

from worqr._io._async.listener import AsyncPoolPubSubs, AsyncPubSubs
from worqr._io._async.runner import AsyncRunner
from worqr._io.cluster._async.runner import AsyncClusterRunner
from worqr._io.cluster._async.topology import AsyncTopology
from worqr._io.cluster.pubsub import AsyncClusterPubSubs
from worqr._io.connect import check_client_kind, wrong_client
from worqr._io.durability import Durability, resolve_durability
from worqr._io.flavors import async_face
from worqr._io.pools import checked_pools, own_options
from worqr._io.redis_flavors import AsyncClusterNode, AsyncRedisCluster, AsyncRedisRetry, async_initialized
from worqr._io.urls import parse_cluster_url, parse_sentinel_url, resolve_url, url_kind


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class AsyncBackend:
    """What a client runs on."""

    runner: AsyncRunner | AsyncClusterRunner
    pubsubs: AsyncPubSubs
    close: Callable[[], Awaitable[None]]


def async_backend(value: object, durability: object = None, worker_timeout: float | None = None) -> AsyncBackend:
    """The backend for the ``redis=``, ``durability=`` and ``worker_timeout=`` arguments of
    the client (the last sets the read timeout of the connections worqr opens itself)."""
    options = own_options(worker_timeout, _wait_timeout(durability))
    check_client_kind(value, async_face)
    url = resolve_url(value)
    if (url is not None and url_kind(url) == "cluster") or isinstance(value, redis.asyncio.cluster.RedisCluster):
        return _cluster_backend(value, durability, options)
    pool, owned = async_pool(value, options)
    plain = owned and (url is None or url_kind(url) != "sentinel")
    runner = AsyncRunner(pool, resolve_durability(durability, pool), keep_spare=plain)
    return AsyncBackend(runner, AsyncPoolPubSubs(pool), pool.aclose if owned else _nothing)


def async_pool(value: object, options: dict[str, Any] | None = None) -> tuple[redis.asyncio.ConnectionPool, bool]:
    """The pool to use, and whether worqr owns it (and must close it); ``options``: the
    settings of a pool worqr opens (default: `own_options()`)."""
    url = resolve_url(value)
    # With maintenance notifications off, redis-py checks pooled connections before use (see
    # worqr._io.pools.checked_pools): a connection broken by a server restart then fails
    # before a state change is sent (retried), not after (maybe applied).
    options = {**(own_options() if options is None else options), **checked_pools()}
    if url is not None and url_kind(url) == "sentinel":
        return _sentinel_pool(url, options), True
    if url is not None:
        return redis.asyncio.ConnectionPool.from_url(url, retry=AsyncRedisRetry(NoBackoff(), 0), **options), True
    if isinstance(value, redis.asyncio.Redis):
        return value.connection_pool, False
    raise wrong_client(value, async_face)


class _OwnedAsyncSentinelPool(redis.asyncio.sentinel.SentinelConnectionPool):
    """A Sentinel pool worqr made itself: closing it also closes its sentinel connections."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:  # a full close, not a switch to a new primary
            for client in self.sentinel_manager.sentinels:
                await client.aclose()


def _sentinel_pool(url: str, options: dict[str, Any]) -> redis.asyncio.sentinel.SentinelConnectionPool:
    """A pool on the primary named by ``url``, which it finds through the sentinels each time
    it opens a connection; ``options`` are worqr's client settings."""
    parsed = parse_sentinel_url(url)
    no_retry = AsyncRedisRetry(NoBackoff(), 0)
    manager = redis.asyncio.sentinel.Sentinel(parsed.sentinels, sentinel_kwargs={**parsed.sentinel, "retry": no_retry})
    return _OwnedAsyncSentinelPool(parsed.service_name, manager, retry=no_retry, **{**options, **parsed.connection})  # type: ignore[no-untyped-call]


def _cluster_backend(value: object, durability: object, options: dict[str, Any]) -> AsyncBackend:
    """The backend on a cluster URL or a cluster client."""
    if isinstance(value, str):
        parsed = parse_cluster_url(value)
        settings = {**options, **parsed.connection}

        async def connect() -> Any:
            startup = [AsyncClusterNode(host, port) for host, port in parsed.nodes]
            return await async_initialized(AsyncRedisCluster(startup_nodes=startup, **settings), owned=True)

        topology = AsyncTopology(
            connect,
            owned=True,
            where=parsed.where(tls=value.startswith("rediss+")),
            durability=_durability(durability, settings),
        )
    else:
        client: Any = value

        async def connect_given() -> Any:
            return await async_initialized(client, owned=False)

        names = [node.name for node in client.nodes_manager.startup_nodes.values()]
        topology = AsyncTopology(
            connect_given,
            owned=False,
            where="redis+cluster://" + ",".join(names),
            durability=_durability(durability, dict(client.get_connection_kwargs())),
        )
    return AsyncBackend(AsyncClusterRunner(topology), AsyncClusterPubSubs(topology), topology.aclose)


def _durability(durability: object, settings: dict[str, Any]) -> Any:
    """The checked durability; a wait must end before the nodes' read timeout."""
    return resolve_durability(durability, SimpleNamespace(connection_kwargs=settings))


def _wait_timeout(durability: object) -> float:
    """How long a durable write may wait (0 without durability; a bad value is refused later)."""
    if isinstance(durability, Durability):
        return durability.timeout
    return Durability().timeout if durability == "replicated" else 0.0
