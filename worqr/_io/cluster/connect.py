"""Redis Cluster URLs and clients: ``redis+cluster://[user:password@]host:port[,host:port...]``
(``rediss+cluster://`` for TLS), or a redis-py cluster client, turned into the runner, the
listener's pub/sub connections and the close of a `Worqr` / `AsyncWorqr` on a cluster.

The nodes listed are where the client first loads the slot map; it finds the others from
them. Query options are redis-py's (``ssl_ca_certs=...``, ``socket_timeout=...``), as in a
``redis://`` URL. A cluster has only database 0.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import redis.asyncio.cluster
import redis.cluster
import redis.connection

from worqr._io.cluster.pubsub import AsyncClusterPubSubs, SyncClusterPubSubs
from worqr._io.cluster.topology import AsyncClusterRunner, AsyncTopology, SyncClusterRunner, SyncTopology
from worqr._io.durability import resolve_durability
from worqr._io.listener import READ_TIMEOUT
from worqr._io.urls import address, redacted
from worqr.errors import InvalidArgumentError

SCHEMES = ("redis+cluster://", "rediss+cluster://")
DEFAULT_PORT = 6379
_FORM = "redis+cluster://[user:password@]host:port[,host:port...][?option=value...]"
#: The query options a cluster URL may carry (the rest of redis-py's make no sense here).
OPTIONS = frozenset({
    "username", "password", "client_name", "socket_timeout", "socket_connect_timeout", "socket_keepalive",
    "ssl", "ssl_ca_certs", "ssl_ca_data", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname",
})  # fmt: skip


@dataclass(frozen=True)
class ClusterUrl:
    """A parsed cluster URL: the nodes to load the slot map from, and the connection settings
    (keyword arguments of redis-py's cluster clients)."""

    nodes: list[tuple[str, int]]
    connection: dict[str, Any]

    def where(self, tls: bool) -> str:
        """The URL without credentials or options (for messages)."""
        scheme = "rediss+cluster" if tls else "redis+cluster"
        return f"{scheme}://" + ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.nodes)


def _bad(url: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"bad Redis Cluster URL {redacted(url)!r}: {problem}; expected {_FORM}")


def _address(item: str, url: str) -> tuple[str, int]:
    return address(item, DEFAULT_PORT, "node", lambda problem: _bad(url, problem))


def parse(url: str) -> ClusterUrl:
    """Parse a ``redis+cluster://`` or ``rediss+cluster://`` URL; bad ones get a clear error."""
    tls = url.startswith("rediss+cluster://")
    rest = url.partition("://")[2]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not hosts:
        raise _bad(url, "it names no node")
    nodes = [_address(item, url) for item in hosts.split(",")]
    if path.strip("/") not in ("", "0"):
        raise _bad(url, f"a cluster has only database 0, got {path.strip('/')!r}")
    host, port = nodes[0]
    plain = f"{'rediss' if tls else 'redis'}://{userinfo + at}{f'[{host}]' if ':' in host else host}:{port}/0"
    try:
        connection = redis.connection.parse_url(f"{plain}?{query}" if query else plain)  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise _bad(url, str(exc)) from exc
    for name in ("host", "port", "db", "connection_class"):
        connection.pop(name, None)
    unknown = sorted(set(connection) - OPTIONS)
    if unknown:
        raise _bad(url, f"unknown option(s) {', '.join(unknown)}; a cluster URL takes {', '.join(sorted(OPTIONS))}")
    if tls:
        connection["ssl"] = True
    return ClusterUrl(nodes, connection)


def is_cluster_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEMES)


def _client_where(client: Any) -> str:
    names = [node.name for node in client.nodes_manager.startup_nodes.values()]
    return "redis+cluster://" + ",".join(names)


def _durability(durability: object, settings: dict[str, Any]) -> Any:
    """The checked durability; a wait must end before the nodes' read timeout."""
    return resolve_durability(durability, SimpleNamespace(connection_kwargs=settings))


def sync_parts(
    value: object, durability: object, options: dict[str, Any]
) -> tuple[SyncClusterRunner, SyncClusterPubSubs, Callable[[], None]]:
    """The runner, pub/sub connections and close for a cluster URL or ``RedisCluster`` client;
    ``options`` are worqr's settings for the connections it opens itself."""
    if isinstance(value, str):
        parsed = parse(value)
        settings = {**options, **parsed.connection}

        def connect() -> redis.cluster.RedisCluster:
            startup = [redis.cluster.ClusterNode(host, port) for host, port in parsed.nodes]  # type: ignore[no-untyped-call]
            return redis.cluster.RedisCluster(startup_nodes=startup, **settings)

        where = parsed.where(tls=value.startswith("rediss+"))
        topology = SyncTopology(connect, owned=True, where=where, durability=_durability(durability, settings))
    elif isinstance(value, redis.cluster.RedisCluster):
        client = value
        settings = dict(client.get_connection_kwargs())  # type: ignore[no-untyped-call]
        topology = SyncTopology(
            lambda: client, owned=False, where=_client_where(client), durability=_durability(durability, settings)
        )
    else:
        msg = f"expected a Redis Cluster URL or redis.cluster.RedisCluster, got {type(value).__name__}"
        raise InvalidArgumentError(msg)
    return SyncClusterRunner(topology), SyncClusterPubSubs(topology), topology.close


def async_parts(
    value: object, durability: object, options: dict[str, Any]
) -> tuple[AsyncClusterRunner, AsyncClusterPubSubs, Callable[[], Awaitable[None]]]:
    """The asyncio twin of `sync_parts`, for ``redis.asyncio.cluster.RedisCluster``."""
    if isinstance(value, str):
        parsed = parse(value)
        settings = {**options, **parsed.connection}

        def connect() -> redis.asyncio.cluster.RedisCluster:
            startup = [redis.asyncio.cluster.ClusterNode(host, port) for host, port in parsed.nodes]
            return redis.asyncio.cluster.RedisCluster(startup_nodes=startup, **settings)

        where = parsed.where(tls=value.startswith("rediss+"))
        topology = AsyncTopology(connect, owned=True, where=where, durability=_durability(durability, settings))
    elif isinstance(value, redis.asyncio.cluster.RedisCluster):
        client = value
        settings = dict(client.get_connection_kwargs())
        topology = AsyncTopology(
            lambda: client, owned=False, where=_client_where(client), durability=_durability(durability, settings)
        )
    else:
        msg = f"expected a Redis Cluster URL or redis.asyncio.cluster.RedisCluster, got {type(value).__name__}"
        raise InvalidArgumentError(msg)
    return AsyncClusterRunner(topology), AsyncClusterPubSubs(topology, READ_TIMEOUT), topology.aclose
