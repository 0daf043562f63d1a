"""Redis Cluster: each call goes to the primary that serves its hash slot.

`SyncClusterRunner` and `AsyncClusterRunner` have the runners' ``run(calls)``. Every call's
keys share one slot (its queue's tag, or the registry's), so a batch splits into groups, one
per node, and each group is pipelined through a per-node `SyncRunner` / `AsyncRunner` on
worqr's own pool for that node: scripts load, NOSCRIPT is handled and a durable write waits
per node. Groups go in the order of their first call, so a batch keeps its order across
nodes (the registry listing a queue before its tasks arrive), and a group that fails holds
back the later ones. When every call of the batch may run twice (reads, a reap's
``leave_queue`` on each queue), order does not matter: every group is sent even if another
fails (at once, in the asyncio runner), so an unreachable node holds back only its own calls.

MOVED, ASK, TRYAGAIN and CLUSTERDOWN replies mean the call did not run. The runner learns
the slot's new owner (MOVED), asks the importing node (ASK: ASKING first), or backs off and
reloads the slot map (TRYAGAIN, CLUSTERDOWN, an unreachable node), and resends only those
calls, for up to `CLUSTER_POLICY`'s limit; then it raises RedisUnavailableError, with
maybe_applied=False unless an earlier group applied a state change. A connection that
breaks after sending keeps the runners' rule: retried only if every call may run twice.

redis-py's cluster client (``redis.cluster.RedisCluster`` or its asyncio twin) holds the
slot map (it loads it with CLUSTER SLOTS); worqr's calls never go through it. Keyless calls (``INFO``) go to its default node.
worqr's pools keep redis-py's check for dead pooled connections (see `checked_pools`), so
after a failover a call reconnects to the new primary before it sends anything.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoPermissionError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.retry import Retry
from tenacity import AsyncRetrying, Retrying, retry_if_exception_type, stop_after_delay, wait_exponential, wait_random

from worqr import errors
from worqr._io.durability import Durability
from worqr._io.retry import RetryableFailure
from worqr._io.runner import AsyncRunner, SyncRunner, resolve
from worqr._protocol.ops import Call

#: How long a batch waits for its slots to be served again (a failover: the cluster notices
#: a dead primary after ``cluster-node-timeout``, then promotes a replica), backing off
#: exponentially from 50 ms to 1 s, reloading the slot map before each try.
CLUSTER_POLICY: dict[str, Any] = {
    "stop": stop_after_delay(15.0),
    "wait": wait_exponential(multiplier=0.05, max=1.0) + wait_random(0, 0.05),
    "retry": retry_if_exception_type(RetryableFailure),
    "reraise": True,
}
#: Redirects followed at once (MOVED names the new owner) before backing off.
FOLLOWED_REDIRECTS = 5
#: Replies that mean "not run here": sent again elsewhere or later. MOVED is an AskError.
REDIRECTS = (AskError, TryAgainError, ClusterDownError)
#: Settings of a node's pool that worqr sets itself or that belong to redis-py's cluster client.
_NOT_COPIED = frozenset(
    {"host", "port", "retry", "redis_connect_func", "cache", "cache_config", "maint_notifications_config"}
)
#: Reloads of the slot map closer together than this are skipped (many batches fail at once).
_MIN_REFRESH_INTERVAL = 0.05


def checked_pools() -> dict[str, Any]:
    """Pool settings that keep redis-py's check for dead pooled connections: redis-py 8
    skips it while maintenance notifications may be on (their default, "auto"), and a
    connection to a node that died would then take a state change and fail after sending
    it (maybe applied) instead of before (retried on the new primary)."""
    try:
        from redis.maint_notifications import MaintNotificationsConfig  # noqa: PLC0415 (redis-py 7+)
    except ImportError:
        return {}
    return {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}


def slot_of(key: str) -> int:
    """The hash slot of ``key`` (its hash tag's, when it has one)."""
    return int(key_slot(key.encode("utf-8", "surrogateescape")))


def _slot(call: Call[Any]) -> int | None:
    return slot_of(call.keys[0]) if call.keys else None


def node_name(host: str, port: int) -> str:
    """A node's name as redis-py's cluster client spells it."""
    return f"{host}:{port}"


def _knows_ssubscribe() -> Call[bool]:
    """Whether the server has sharded pub/sub (Redis 7+, Valkey): ``COMMAND INFO SSUBSCRIBE``
    answers nil for a command it does not know. (redis-py's cluster client needs COMMAND anyway.)"""
    return Call((), ("INFO", "SSUBSCRIBE"), lambda reply: bool(reply) and reply[0] is not None, True, command="COMMAND")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _cannot_connect(where: str, exc: BaseException) -> BaseException:
    """The error for a cluster client that could not load the slot map from any node."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain)
    refused = next((e for e in chain if isinstance(e, redis.AuthenticationError)), None)
    if refused is not None:
        msg = f"Redis Cluster at {where} refused the credentials ({refused}); check the user name and password given to worqr"
        return errors.RedisPermissionError(msg)
    denied = next((e for e in chain if isinstance(e, NoPermissionError)), None)
    if denied is not None:
        msg = f"the Redis user may not load the slot map of the Redis Cluster at {where}: {denied}; give it worqr's ACL (docs/security.md)"
        return errors.RedisPermissionError(msg)
    if "Cluster mode is not enabled" in text or "cluster support disabled" in text:
        msg = f"the server at {where} is not a Redis Cluster node (cluster mode is off); use a redis:// URL or a redis.Redis client"
        return errors.RedisCommandError(msg)
    failure = RetryableFailure()
    failure.__cause__ = exc
    return failure


class _Batch:
    """The bookkeeping of one batch across nodes: replies so far, calls still to send, the
    ASK targets of redirected calls. No I/O."""

    def __init__(self, calls: Sequence[Call[Any]]) -> None:
        self.calls = calls
        self.replies: list[Any] = [None] * len(calls)
        self.pending: list[int] = list(range(len(calls)))
        self.asking: dict[int, str] = {}

    def groups(self, route: Callable[[int | None], str]) -> list[tuple[str, bool, list[int]]]:
        """The pending calls as (node, after ASK, indices), in the order of their first call."""
        grouped: dict[tuple[str, bool], list[int]] = {}
        for i in self.pending:
            target = self.asking.get(i)
            key = (target, True) if target is not None else (route(_slot(self.calls[i])), False)
            grouped.setdefault(key, []).append(i)
        return [(node, asking, indices) for (node, asking), indices in grouped.items()]

    def record(self, node: str, indices: list[int], replies: list[Any]) -> list[ResponseError]:
        """Keep the final replies ``node`` gave; return the redirects (their calls stay pending)."""
        redirects: list[ResponseError] = []
        done = set()
        for i, reply in zip(indices, replies, strict=True):
            self.asking.pop(i, None)
            if isinstance(reply, REDIRECTS):
                redirects.append(reply)
                if isinstance(reply, AskError) and not isinstance(reply, MovedError):
                    self.asking[i] = node_name(reply.host or _host_of(node), reply.port)
            else:
                self.replies[i] = reply
                done.add(i)
        self.pending = [i for i in self.pending if i not in done]
        return redirects

    def applied_changes(self) -> bool:
        """Whether a call that may not run twice already ran (its reply is in)."""
        return any(
            not self.calls[i].idempotent and not isinstance(self.replies[i], ResponseError)
            for i in range(len(self.calls))
            if i not in self.pending
        )

    def escalate(self, exc: errors.RedisUnavailableError) -> errors.RedisUnavailableError:
        """``exc`` from one group, as the batch's error: maybe applied if an earlier group was."""
        if exc.maybe_applied or not self.applied_changes():
            return exc
        error = errors.RedisUnavailableError(
            f"{exc}; earlier calls of the batch, on other nodes, were applied", maybe_applied=True
        )
        error.__cause__ = exc
        return error

    def unavailable(self, where: str, cause: BaseException) -> errors.RedisUnavailableError:
        applied = self.applied_changes()
        msg = f"Redis Cluster at {where} did not serve the slots of {len(self.pending)} call(s) in time: {cause}"
        if applied:
            msg += "; earlier calls of the batch, on other nodes, were applied"
        return errors.RedisUnavailableError(msg, maybe_applied=applied)


class _Learned:
    """What a topology learned from MOVED replies since it last reloaded the slot map."""

    def __init__(self) -> None:
        self.moved: dict[int, str] = {}
        self.stale = False
        self.refreshed_at = 0.0

    def note(self, redirect: ResponseError, fallback_host: str) -> None:
        if isinstance(redirect, MovedError):
            self.moved[redirect.slot_id] = node_name(redirect.host or fallback_host, redirect.port)
        elif isinstance(redirect, ClusterDownError):
            self.stale = True

    def due(self) -> bool:
        return time.monotonic() - self.refreshed_at >= _MIN_REFRESH_INTERVAL

    def route(self, cluster: Any, slot: int | None) -> str:
        """The name of the node that serves ``slot`` in ``cluster`` (redis-py's slot map, or
        a MOVED learned since it was loaded); None: a keyless call, to the default node."""
        if slot is None:
            return str(cluster.get_default_node().name)
        moved = self.moved.get(slot)
        if moved is not None:
            return moved
        try:
            return str(cluster.nodes_manager.get_node_from_slot(slot).name)
        except (SlotNotCoveredError, KeyError, IndexError) as exc:
            self.stale = True
            raise RetryableFailure from exc

    def reset(self) -> None:
        self.moved.clear()
        self.stale = False
        self.refreshed_at = time.monotonic()


def _host_of(name: str) -> str:
    return name.rpartition(":")[0]


def _split(name: str) -> tuple[str, int]:
    host, _, port = name.rpartition(":")
    return host, int(port)


class SyncTopology:
    """The slot map of a cluster (kept by redis-py's ``RedisCluster``) and worqr's own pools
    and runners per node. ``connect`` makes the cluster client on first use; ``owned``: close
    it with the topology. Safe to share between threads."""

    def __init__(
        self, connect: Callable[[], Any], *, owned: bool, where: str, durability: Durability | None = None
    ) -> None:
        self._connect = connect
        self._owned = owned
        self.where = where
        self.durability = durability
        self._cluster: Any = None
        self._lock = threading.RLock()
        self._learned = _Learned()
        self._pools: dict[tuple[str, bool], redis.ConnectionPool] = {}
        self._runners: dict[str, SyncRunner] = {}
        #: Whether every primary has sharded pub/sub (None: not known until connected).
        self.sharded: bool | None = None

    def cluster(self) -> Any:
        """The connected cluster client; RetryableFailure if no node answers yet."""
        with self._lock:
            if self._cluster is None:
                try:
                    self._cluster = self._connect()
                except (RedisClusterException, redis.RedisError, OSError) as exc:
                    raise _cannot_connect(self.where, exc) from exc
                self._learned.reset()
            if self.sharded is None:
                self.sharded = self._probe_sharded()
            return self._cluster

    def _probe_sharded(self) -> bool:
        """Whether every primary has sharded pub/sub."""
        try:
            return all(
                SyncRunner(self.pool(node.name)).run([_knows_ssubscribe()])[0] for node in self._cluster.get_primaries()
            )
        except errors.RedisUnavailableError as exc:
            raise RetryableFailure from exc

    def route(self, slot: int | None) -> str:
        """The name of the node that serves ``slot`` (None: a keyless call)."""
        return self._learned.route(self.cluster(), slot)

    def learn(self, redirect: ResponseError, node: str) -> None:
        """Take in a redirect that ``node`` answered."""
        self._learned.note(redirect, _host_of(node))

    def refresh(self, *, force: bool = False) -> None:
        """Reload the slot map from the cluster (skipped when it was just reloaded)."""
        cluster = self.cluster()
        if not (force or self._learned.due()):
            return
        try:
            cluster.nodes_manager.initialize()
        except (RedisClusterException, redis.RedisError, OSError) as exc:
            raise _cannot_connect(self.where, exc) from exc
        self._learned.reset()

    def refresh_if_stale(self) -> None:
        if self._learned.stale:
            self.refresh()

    def mark_stale(self) -> None:
        """Reload the slot map before the next call (a subscription showed it changed)."""
        self._learned.stale = True

    def pool(self, name: str, *, pubsub: bool = False) -> redis.ConnectionPool:
        """worqr's pool to node ``name`` (one more for pub/sub, whose payloads stay bytes);
        call `cluster` first."""
        with self._lock:
            pool = self._pools.get((name, pubsub))
            if pool is None:
                pool = self._pools[(name, pubsub)] = self._new_pool(name, pubsub=pubsub)
            return pool

    def _new_pool(self, name: str, *, pubsub: bool) -> redis.ConnectionPool:
        nodes = self._cluster.nodes_manager.nodes_cache  # connected: see `cluster`
        template = (nodes.get(name) or next(iter(nodes.values()))).redis_connection.connection_pool
        kwargs = {k: v for k, v in template.connection_kwargs.items() if k not in _NOT_COPIED}
        if pubsub:
            kwargs["decode_responses"] = False
        host, port = _split(name)
        return redis.ConnectionPool(
            connection_class=template.connection_class,
            host=host,
            port=port,
            retry=Retry(NoBackoff(), 0),
            **checked_pools(),
            **kwargs,
        )

    def runner(self, name: str) -> SyncRunner:
        with self._lock:
            runner = self._runners.get(name)
            if runner is None:
                runner = self._runners[name] = SyncRunner(self.pool(name), self.durability, sharded=bool(self.sharded))
            return runner

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            self._runners.clear()
            cluster, self._cluster = self._cluster, None
        for pool in pools:
            pool.disconnect()
        if cluster is not None and self._owned:
            cluster.close()


class AsyncTopology:
    """The asyncio twin of `SyncTopology`, on ``redis.asyncio.cluster.RedisCluster``."""

    def __init__(
        self, connect: Callable[[], Any], *, owned: bool, where: str, durability: Durability | None = None
    ) -> None:
        self._connect = connect
        self._owned = owned
        self.where = where
        self.durability = durability
        self._cluster: Any = None
        self._learned = _Learned()
        self._pools: dict[tuple[str, bool], redis.asyncio.ConnectionPool] = {}
        self._runners: dict[str, AsyncRunner] = {}
        self.sharded: bool | None = None

    async def cluster(self) -> Any:
        """The connected cluster client; RetryableFailure if no node answers yet."""
        if self._cluster is None:
            self._cluster = self._connect()
        try:
            await self._cluster.initialize()  # at once when initialized already
        except (RedisClusterException, redis.RedisError, OSError) as exc:
            raise _cannot_connect(self.where, exc) from exc
        if self.sharded is None:
            self.sharded = await self._probe_sharded()
        return self._cluster

    async def _probe_sharded(self) -> bool:
        try:
            for node in self._cluster.get_primaries():
                (known,) = await AsyncRunner(self.pool(node.name)).run([_knows_ssubscribe()])
                if not known:
                    return False
        except errors.RedisUnavailableError as exc:
            raise RetryableFailure from exc
        return True

    def route(self, slot: int | None) -> str:
        """As `SyncTopology.route`; call `cluster` first."""
        return self._learned.route(self._cluster, slot)

    def learn(self, redirect: ResponseError, node: str) -> None:
        self._learned.note(redirect, _host_of(node))

    async def refresh(self, *, force: bool = False) -> None:
        cluster = await self.cluster()
        if not (force or self._learned.due()):
            return
        self._learned.refreshed_at = time.monotonic()
        try:
            await cluster.nodes_manager.initialize()
        except (RedisClusterException, redis.RedisError, OSError) as exc:
            raise _cannot_connect(self.where, exc) from exc
        self._learned.reset()

    async def refresh_if_stale(self) -> None:
        if self._learned.stale:
            await self.refresh()

    def mark_stale(self) -> None:
        self._learned.stale = True

    def pool(self, name: str, *, pubsub: bool = False) -> redis.asyncio.ConnectionPool:
        """As `SyncTopology.pool`; call `cluster` first."""
        pool = self._pools.get((name, pubsub))
        if pool is None:
            pool = self._pools[(name, pubsub)] = self._new_pool(name, pubsub=pubsub)
        return pool

    def _new_pool(self, name: str, *, pubsub: bool) -> redis.asyncio.ConnectionPool:
        from redis.asyncio.retry import Retry as AsyncRetry  # noqa: PLC0415 (asyncio twin of Retry)

        nodes = self._cluster.nodes_manager.nodes_cache
        template = nodes.get(name) or next(iter(nodes.values()))
        kwargs = {k: v for k, v in template.connection_kwargs.items() if k not in _NOT_COPIED}
        if pubsub:
            kwargs["decode_responses"] = False
        host, port = _split(name)
        return redis.asyncio.ConnectionPool(
            connection_class=template.connection_class,
            host=host,
            port=port,
            retry=AsyncRetry(NoBackoff(), 0),
            **checked_pools(),
            **kwargs,
        )

    def runner(self, name: str) -> AsyncRunner:
        runner = self._runners.get(name)
        if runner is None:
            runner = self._runners[name] = AsyncRunner(self.pool(name), self.durability, sharded=bool(self.sharded))
        return runner

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        self._runners.clear()
        cluster, self._cluster = self._cluster, None
        for pool in pools:
            await pool.aclose()
        if cluster is not None and self._owned:
            await cluster.aclose()


def _learn(topology: SyncTopology | AsyncTopology, redirects: list[tuple[str, list[ResponseError]]]) -> None:
    """Take in the redirects of the groups sent to each node."""
    for node, found in redirects:
        for redirect in found:
            topology.learn(redirect, node)


def _take_in(
    topology: SyncTopology | AsyncTopology,
    batch: _Batch,
    groups: list[tuple[str, bool, list[int]]],
    outcomes: Sequence[list[Any] | BaseException],
) -> list[tuple[str, list[ResponseError]]]:
    """Record each node group's replies in ``batch`` and learn its redirects; then raise the
    first group's failure, if any. Returns the redirects, by node."""
    failure: BaseException | None = None
    redirects: list[tuple[str, list[ResponseError]]] = []
    for (node, _, indices), outcome in zip(groups, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            failure = failure or outcome
            continue
        found = batch.record(node, indices, outcome)
        if found:
            redirects.append((node, found))
    _learn(topology, redirects)
    if failure is not None:
        raise failure
    return redirects


def _pause_if_asked(redirects: list[tuple[str, list[ResponseError]]]) -> None:
    """Raise RetryableFailure (back off, reload the slot map) when a redirect calls for a
    pause (TRYAGAIN, CLUSTERDOWN), not just another node."""
    pause = next((r for _, found in redirects for r in found if not isinstance(r, AskError)), None)
    if pause is not None:
        raise RetryableFailure from pause


class SyncClusterRunner:
    """Runs calls on a Redis Cluster (see the module docstring); safe to share between threads."""

    def __init__(self, topology: SyncTopology) -> None:
        self.topology = topology
        self.where = topology.where

    def run(self, calls: Sequence[Call[Any]]) -> list[Any]:
        batch = _Batch(calls)
        try:
            self.topology.refresh_if_stale()
            self._send(batch)  # the common case, without the cost of a Retrying
        except RetryableFailure:
            self._retry(batch)
        return resolve(calls, batch.replies)

    def _retry(self, batch: _Batch) -> None:
        try:
            for attempt in Retrying(**CLUSTER_POLICY):
                with attempt:
                    self.topology.refresh()
                    self._send(batch)
        except RetryableFailure as exc:
            cause = exc.__cause__ or exc
            raise batch.unavailable(self.where, cause) from cause

    def _send(self, batch: _Batch) -> None:
        together = all(call.idempotent for call in batch.calls)
        for _ in range(FOLLOWED_REDIRECTS):
            groups = batch.groups(self.topology.route)
            redirected = self._send_each(batch, groups) if together else self._send_in_order(batch, groups)
            if not redirected:
                return
        raise RetryableFailure from RuntimeError(f"more than {FOLLOWED_REDIRECTS} redirects in a row")

    def _send_in_order(self, batch: _Batch, groups: list[tuple[str, bool, list[int]]]) -> bool:
        """Send group after group; stop at a redirect, so it is resent before later groups."""
        for node, asking, indices in groups:
            try:
                replies = self.topology.runner(node).replies([batch.calls[i] for i in indices], asking=asking)
            except errors.RedisUnavailableError as exc:
                raise batch.escalate(exc) from exc
            redirects = [(node, batch.record(node, indices, replies))]
            if redirects[0][1]:
                _learn(self.topology, redirects)
                _pause_if_asked(redirects)
                return True
        return False

    def _send_each(self, batch: _Batch, groups: list[tuple[str, bool, list[int]]]) -> bool:
        """Send every group even if one fails (the calls may run twice, in any order), so an
        unreachable node holds back only its own calls."""
        outcomes: list[list[Any] | BaseException] = []
        for node, asking, indices in groups:
            try:
                outcomes.append(self.topology.runner(node).replies([batch.calls[i] for i in indices], asking=asking))
            except (RetryableFailure, errors.RedisUnavailableError) as exc:
                outcomes.append(exc)
        redirects = _take_in(self.topology, batch, groups, outcomes)
        _pause_if_asked(redirects)
        return bool(redirects)


class AsyncClusterRunner:
    """The asyncio twin of `SyncClusterRunner`."""

    def __init__(self, topology: AsyncTopology) -> None:
        self.topology = topology
        self.where = topology.where

    async def run(self, calls: Sequence[Call[Any]]) -> list[Any]:
        batch = _Batch(calls)
        try:
            await self.topology.cluster()
            await self.topology.refresh_if_stale()
            await self._send(batch)  # the common case, without the cost of a Retrying
        except RetryableFailure:
            await self._retry(batch)
        return resolve(calls, batch.replies)

    async def _retry(self, batch: _Batch) -> None:
        try:
            async for attempt in AsyncRetrying(**CLUSTER_POLICY):
                with attempt:
                    await self.topology.refresh()
                    await self._send(batch)
        except RetryableFailure as exc:
            cause = exc.__cause__ or exc
            raise batch.unavailable(self.where, cause) from cause

    async def _send(self, batch: _Batch) -> None:
        together = all(call.idempotent for call in batch.calls)
        for _ in range(FOLLOWED_REDIRECTS):
            groups = batch.groups(self.topology.route)
            if together and len(groups) > 1:
                redirected = await self._send_together(batch, groups)
            else:
                redirected = await self._send_in_order(batch, groups)
            if not redirected:
                return
        raise RetryableFailure from RuntimeError(f"more than {FOLLOWED_REDIRECTS} redirects in a row")

    async def _send_in_order(self, batch: _Batch, groups: list[tuple[str, bool, list[int]]]) -> bool:
        for node, asking, indices in groups:
            try:
                replies = await self.topology.runner(node).replies([batch.calls[i] for i in indices], asking=asking)
            except errors.RedisUnavailableError as exc:
                raise batch.escalate(exc) from exc
            redirects = [(node, batch.record(node, indices, replies))]
            if redirects[0][1]:
                _learn(self.topology, redirects)
                _pause_if_asked(redirects)
                return True
        return False

    async def _send_together(self, batch: _Batch, groups: list[tuple[str, bool, list[int]]]) -> bool:
        """Send every group at once (the calls may run twice, in any order)."""
        outcomes = await asyncio.gather(
            *(
                self.topology.runner(node).replies([batch.calls[i] for i in indices], asking=asking)
                for node, asking, indices in groups
            ),
            return_exceptions=True,
        )
        redirects = _take_in(self.topology, batch, groups, outcomes)
        _pause_if_asked(redirects)
        return bool(redirects)
