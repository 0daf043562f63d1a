"""The flavours of redis-py's API where its asyncio and sync clients do not line up: how a
pool retries, how an interrupted connection is dropped, how a connection kept out of its
pool is made ready, where a cluster node's settings live, when a cluster client has its
slot map, how a PING reaches every connection of a pub/sub. Like `worqr._io.flavors`, each is written in both, and ``tools/unasync.py`` turns
the ``Async``/``async_`` names of the ``_async`` modules into the ``Sync``/``sync_`` ones."""

from __future__ import annotations

import select
import socket
from typing import Any

import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
import redis.retry

#: redis-py's retry settings of a connection pool (worqr gives its pools no retries).
AsyncRedisRetry = redis.asyncio.retry.Retry
SyncRedisRetry = redis.retry.Retry


async def async_abandon(connection: Any) -> None:
    """Drop a connection whose exchange was interrupted (a reply may be left unread), without
    waiting for the server: the asyncio flavour may be running under a cancel."""
    await connection.disconnect(nowait=True)


def sync_abandon(connection: Any) -> None:
    connection.disconnect()


def _quiet(sock: Any) -> bool:
    """Whether nothing (no data, no FIN) waits on a socket: one poll(2) without waiting. A
    connection of worqr's own pools has nothing buffered in redis-py's parser between
    calls (replies are read whole; an interrupted exchange drops the connection; push
    messages are off), so the socket alone tells. False where poll(2) is missing, and for a
    TLS socket (whose layer may hold decrypted bytes the kernel no longer shows)."""
    if sock.__class__ is not socket.socket:
        return False
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (AttributeError, OSError, ValueError):
        return False


async def async_ready(pool: Any, connection: Any) -> None:
    """Make a connection kept out of ``pool`` ready to send, as the pool does with one it
    hands out: connected, and reconnected if anything is waiting to be read (the FIN of a
    server that restarted, say); ConnectionError if even a new one is not ready."""
    await pool.ensure_connection(connection)


def sync_ready(pool: Any, connection: Any) -> None:
    sock = getattr(connection, "_sock", None)  # redis-py's socket: None while not connected
    if sock is not None and _quiet(sock):
        return  # connected, nothing waiting: what the pool's check finds, in a fifth of its time
    pool.ensure_connection(connection)


def async_node_settings(cluster: Any, name: str) -> tuple[type[Any], dict[str, Any]]:
    """The connection class and settings of node ``name`` of a connected cluster client (of
    any node, for a node it does not know yet): a template for worqr's own pool to it."""
    nodes = cluster.nodes_manager.nodes_cache
    node = nodes.get(name) or next(iter(nodes.values()))
    return node.connection_class, node.connection_kwargs


def sync_node_settings(cluster: Any, name: str) -> tuple[type[Any], dict[str, Any]]:
    nodes = cluster.nodes_manager.nodes_cache
    pool = (nodes.get(name) or next(iter(nodes.values()))).redis_connection.connection_pool
    return pool.connection_class, pool.connection_kwargs


#: redis-py's cluster clients and their nodes (redis-py leaves the sync ``ClusterNode`` untyped).
AsyncRedisCluster = redis.asyncio.cluster.RedisCluster
SyncRedisCluster = redis.cluster.RedisCluster
AsyncClusterNode: Any = redis.asyncio.cluster.ClusterNode
SyncClusterNode: Any = redis.cluster.ClusterNode


async def async_initialized(client: Any, *, owned: bool) -> Any:
    """``client`` (a cluster client) with its slot map loaded; one that worqr made is closed
    if it cannot load it. (The sync client loads it when it is built.)"""
    try:
        await client.initialize()
    except BaseException:
        if owned:
            await client.aclose()
        raise
    return client


def sync_initialized(client: Any, *, owned: bool) -> Any:  # noqa: ARG001 (the same call as async_initialized)
    return client


async def async_ping(pubsub: Any, token: str) -> int:
    """Send a PING with ``token`` on every connection of ``pubsub`` (a cluster's sharded
    pub/sub has one per node: ``ping_all``); how many pongs to expect."""
    ping_all = getattr(pubsub, "ping_all", None)
    if ping_all is not None:
        return int(await ping_all(token))
    await pubsub.ping(token)
    return 1


def sync_ping(pubsub: Any, token: str) -> int:
    ping_all = getattr(pubsub, "ping_all", None)
    if ping_all is not None:
        return int(ping_all(token))
    pubsub.ping(token)
    return 1
