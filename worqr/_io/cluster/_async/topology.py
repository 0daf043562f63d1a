"""`AsyncTopology`: what a client knows of a Redis Cluster (redis-py's slot map, what MOVED
replies taught since) and worqr's own pools and runners, one per node; `SyncTopology`,
generated from this file, is its threaded twin."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, ResponseError

from worqr import errors
from worqr._io._async.runner import AsyncRunner
from worqr._io.cluster.routing import NOT_COPIED, Learned, cannot_connect, host_of, knows_ssubscribe, split_name
from worqr._io.durability import Durability
from worqr._io.flavors import AsyncLock
from worqr._io.pools import checked_pools
from worqr._io.redis_flavors import AsyncRedisRetry, async_node_settings
from worqr._io.retry import RetryableFailure

_CONNECT_ERRORS = (RedisClusterException, redis.RedisError, OSError)


class AsyncTopology:
    """The slot map of a cluster (kept by redis-py's cluster client) and worqr's own pools
    and runners per node. ``connect`` makes the connected cluster client on first use;
    ``owned``: close it with the topology. The threaded twin is safe to share between threads."""

    def __init__(
        self, connect: Callable[[], Awaitable[Any]], *, owned: bool, where: str, durability: Durability | None = None
    ) -> None:
        self._connect = connect
        self._owned = owned
        self.where = where
        self.durability = durability
        self._cluster: Any = None
        self._lock = AsyncLock()
        self._learned = Learned()
        self._pools: dict[tuple[str, bool], redis.asyncio.ConnectionPool] = {}
        self._runners: dict[str, AsyncRunner] = {}
        #: Whether every primary has sharded pub/sub (None: not known until connected).
        self.sharded: bool | None = None

    async def cluster(self) -> Any:
        """The connected cluster client; RetryableFailure if no node answers yet."""
        with self._lock:
            if self._cluster is None:
                try:
                    made = await self._connect()
                except _CONNECT_ERRORS as exc:
                    raise cannot_connect(self.where, exc) from exc
                if not self._adopt(made) and self._owned:  # another task connected meanwhile: keep one
                    await made.aclose()
            if self.sharded is None:
                self.sharded = await self._probe_sharded()
            return self._cluster

    def _adopt(self, made: Any) -> bool:
        """Take ``made`` as the cluster client, unless another task made one while this one
        connected (asyncio: the first use of a client can come from two tasks at once)."""
        if self._cluster is not None:
            return False
        self._cluster = made
        self._learned.reset()
        return True

    async def _probe_sharded(self) -> bool:
        """Whether every primary that answers has sharded pub/sub. A primary that is down is
        left out, so that a client can start while one shard is gone (the others' queues
        still work); RetryableFailure if none answers."""
        answered, failure = 0, None
        for node in self._cluster.get_primaries():
            try:
                (known,) = await AsyncRunner(self.pool(node.name)).run([knows_ssubscribe()])
            except errors.RedisUnavailableError as exc:
                failure = failure or exc
                continue
            if not known:
                return False
            answered += 1
        if not answered:
            raise RetryableFailure from failure
        return True

    def route(self, slot: int | None) -> str:
        """The name of the node that serves ``slot`` (None: a keyless call); call `cluster` first."""
        return self._learned.route(self._cluster, slot)

    def learn(self, redirect: ResponseError, node: str) -> None:
        """Take in a redirect that ``node`` answered."""
        self._learned.note(redirect, host_of(node))

    async def refresh(self, *, force: bool = False) -> None:
        """Reload the slot map from the cluster (skipped when it was just reloaded)."""
        cluster = await self.cluster()
        if not (force or self._learned.due()):
            return
        self._learned.refreshed_at = time.monotonic()  # one reload at a time
        try:
            await cluster.nodes_manager.initialize()
        except _CONNECT_ERRORS as exc:
            raise cannot_connect(self.where, exc) from exc
        self._learned.reset()

    async def refresh_if_stale(self) -> None:
        if self._learned.stale:
            await self.refresh()

    def mark_stale(self) -> None:
        """Reload the slot map before the next call (a subscription showed it changed)."""
        self._learned.stale = True

    def pool(self, name: str, *, pubsub: bool = False) -> redis.asyncio.ConnectionPool:
        """worqr's pool to node ``name`` (one more for pub/sub, whose payloads stay bytes);
        call `cluster` first."""
        with self._lock:
            pool = self._pools.get((name, pubsub))
            if pool is None:
                pool = self._pools[(name, pubsub)] = self._new_pool(name, pubsub=pubsub)
            return pool

    def _new_pool(self, name: str, *, pubsub: bool) -> redis.asyncio.ConnectionPool:
        connection_class, settings = async_node_settings(self._cluster, name)  # connected: see `cluster`
        kwargs = {k: v for k, v in settings.items() if k not in NOT_COPIED}
        if pubsub:
            kwargs["decode_responses"] = False
        host, port = split_name(name)
        return redis.asyncio.ConnectionPool(
            connection_class=connection_class,
            host=host,
            port=port,
            retry=AsyncRedisRetry(NoBackoff(), 0),
            **checked_pools(),
            **kwargs,
        )

    def runner(self, name: str) -> AsyncRunner:
        with self._lock:
            runner = self._runners.get(name)
            if runner is None:
                runner = self._runners[name] = AsyncRunner(self.pool(name), self.durability, sharded=bool(self.sharded))
            return runner

    async def aclose(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            self._runners.clear()
            cluster, self._cluster = self._cluster, None
        for pool in pools:
            await pool.aclose()
        if cluster is not None and self._owned:
            await cluster.aclose()
