"""Fixtures for the Redis Cluster tests: worqr clients on the session's `LocalCluster`
(``local_cluster``, three primaries with a replica each), and queue names chosen so that
every primary serves some of them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from worqr import AsyncWorqr, Worqr
from worqr._io.cluster.routing import slot_of
from worqr._protocol.keys import QueueKeys
from worqr.testing import LocalCluster, LocalClusterNode

MakeWorqr = Callable[..., Worqr]
MakeAsyncWorqr = Callable[..., AsyncWorqr]


def owners(cluster: LocalCluster) -> dict[int, LocalClusterNode]:
    """Each slot's primary, as the cluster sees it now."""
    found = {}
    for node in cluster.primaries():
        for first, last in cluster.slots_of(node):
            found.update(dict.fromkeys(range(first, last + 1), node))
    return found


def queues_per_primary(cluster: LocalCluster, prefix: str, per_primary: int = 1) -> dict[int, list[str]]:
    """``per_primary`` queue names for each primary (by port) whose keys it serves."""
    slot_owner = owners(cluster)
    chosen: dict[int, list[str]] = {node.port: [] for node in cluster.primaries()}
    n = 0
    while any(len(names) < per_primary for names in chosen.values()):
        name = f"q{n}"
        n += 1
        port = slot_owner[slot_of(QueueKeys(prefix, name).pending)].port
        if len(chosen[port]) < per_primary:
            chosen[port].append(name)
    return chosen


def spread_queues(cluster: LocalCluster, prefix: str, per_primary: int = 1) -> list[str]:
    """Queue names, ``per_primary`` on each primary, interleaved."""
    by_primary = list(queues_per_primary(cluster, prefix, per_primary).values())
    return [names[i] for i in range(per_primary) for names in by_primary]


@pytest.fixture
def make_cluster_worqr(local_cluster: LocalCluster, worqr_prefix: str) -> Iterator[MakeWorqr]:
    """Build `Worqr` clients on the session's cluster (keyword arguments as for `Worqr`)."""
    made: list[Worqr] = []

    def make(**kwargs: Any) -> Worqr:
        made.append(Worqr(**{"redis": local_cluster.url, "prefix": worqr_prefix, **kwargs}))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
async def make_async_cluster_worqr(local_cluster: LocalCluster, worqr_prefix: str) -> AsyncIterator[MakeAsyncWorqr]:
    """Build `AsyncWorqr` clients on the session's cluster; all closed after the test."""
    made: list[AsyncWorqr] = []

    def make(**kwargs: Any) -> AsyncWorqr:
        made.append(AsyncWorqr(**{"redis": local_cluster.url, "prefix": worqr_prefix, **kwargs}))
        return made[-1]

    yield make
    for client in made:
        await client.close()
