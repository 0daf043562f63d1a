"""The listener's pub/sub connections on a Redis Cluster.

With sharded pub/sub (every primary runs Redis 7+ or Valkey), a queue's channels live on the
shard of the queue's slot: `SyncShardedPubSub` / `AsyncShardedPubSub` keep one pub/sub
connection per node and SSUBSCRIBE each channel on the node that serves its slot, and look
like the redis-py PubSub the listener drives (``ssubscribe``/``smessage``/``sunsubscribe``
are reported as ``subscribe``/``message``/``unsubscribe``). When Redis drops a subscription
because the slot moved (a live migration, a node demoted) or refuses it (MOVED), the channel
is subscribed again on the slot's owner; the listener then hears the confirmation again and
checks the queue for work it missed. A broken connection ends the whole object: the listener
opens a new one, on a reloaded slot map, and subscribes everything again.

Without sharded pub/sub, a plain PUBLISH reaches every node, so one plain pub/sub connection
to any node hears all (`SyncClusterPubSubs.open` returns a redis-py PubSub then).

redis-py's ``ClusterPubSub`` is not used: it reconciles subscriptions on a thread of its own,
which would race the listener's reads, and takes a subscription that Redis dropped as final.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import selectors
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import redis
import redis.asyncio.client
import redis.client
from redis.exceptions import MovedError, NoPermissionError

from worqr._io.cluster._async.topology import AsyncTopology
from worqr._io.cluster._sync.topology import SyncTopology
from worqr._io.cluster.routing import REDIRECTS, slot_of
from worqr._io.retry import RetryableFailure
from worqr._protocol.models import reply_text
from worqr.errors import RedisPermissionError, WorqrError

T = TypeVar("T")

#: Pause before subscribing again channels whose subscription was dropped or refused (seconds).
REJOIN_DELAY = 0.1
_KINDS = {"ssubscribe": "subscribe", "sunsubscribe": "unsubscribe", "smessage": "message"}


def _as_listener_error(exc: Exception) -> Exception:
    """A topology step's failure as the listener takes it: a refusal (ACL) as a refused
    subscription, anything else as a connection error (it tries again)."""
    if isinstance(exc, RedisPermissionError):
        return NoPermissionError(str(exc))
    cause = exc.__cause__ or exc
    return redis.ConnectionError(f"cannot reach the Redis Cluster node for a subscription: {cause}")


def _guarded(step: Callable[[], T]) -> T:
    """Run a topology step, its failure reported as the listener takes it."""
    try:
        return step()
    except (RetryableFailure, WorqrError) as exc:
        raise _as_listener_error(exc) from exc


async def _aguarded(step: Any) -> Any:
    try:
        return await step
    except (RetryableFailure, WorqrError) as exc:
        raise _as_listener_error(exc) from exc


def _check_sharded(topology: SyncTopology | AsyncTopology) -> None:
    """Make the listener open again, plainly, if the cluster turned out to lack sharded pub/sub."""
    if topology.sharded is False:
        msg = "the Redis Cluster has no sharded pub/sub (Redis 7+); subscribing with plain SUBSCRIBE instead"
        raise redis.ConnectionError(msg)


def _route(topology: SyncTopology | AsyncTopology, channel: str) -> str:
    """The node that serves ``channel``'s slot (the topology is connected: see ``open``)."""
    return _guarded(lambda: topology.route(slot_of(channel)))


class _Shards:
    """Which node each channel is subscribed on, and which must be subscribed again. No I/O."""

    def __init__(self) -> None:
        self.node_of: dict[str, str] = {}
        self.confirmed: set[str] = set()
        self.leaving: set[str] = set()
        self.lost: set[str] = set()
        self.rejoin_at = 0.0

    def joined(self, channel: str, node: str) -> None:
        self.leaving.discard(channel)
        self.lost.discard(channel)
        self.node_of[channel] = node

    def left(self, channel: str) -> str | None:
        """Forget ``channel``; the node it was subscribed on, if any."""
        self.lost.discard(channel)
        node = self.node_of.pop(channel, None)
        if node is not None:
            self.leaving.add(channel)
        return node

    def refused(self, node: str, redirect: Exception) -> None:
        """``node`` refused an SSUBSCRIBE (MOVED, CLUSTERDOWN): its unconfirmed channels (in the
        redirect's slot, for MOVED) are to be subscribed again."""
        slot = redirect.slot_id if isinstance(redirect, MovedError) else None
        for channel, where in self.node_of.items():
            if where == node and channel not in self.confirmed and (slot is None or slot_of(channel) == slot):
                self.lost.add(channel)
        self.rejoin_at = time.monotonic() + REJOIN_DELAY

    def translate(self, node: str, message: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The message as the listener reads it, and whether Redis dropped a subscription
        that is still wanted (the channel's slot left ``node``)."""
        kind = reply_text(message["type"])
        if kind not in _KINDS:
            return message, False
        channel = reply_text(message["channel"])
        dropped = False
        if kind == "ssubscribe":
            self.confirmed.add(channel)
        elif kind == "sunsubscribe":
            self.confirmed.discard(channel)
            if channel in self.leaving:
                self.leaving.discard(channel)
            elif self.node_of.get(channel) == node:
                self.lost.add(channel)
                self.rejoin_at = time.monotonic() + REJOIN_DELAY
                dropped = True
        return {**message, "type": _KINDS[kind]}, dropped

    def subscribed_nodes(self) -> set[str]:
        """The nodes that hold a confirmed subscription (they answer a PING in pub/sub mode)."""
        return {self.node_of[channel] for channel in self.confirmed if channel in self.node_of}

    def to_rejoin(self) -> list[str]:
        if not self.lost or time.monotonic() < self.rejoin_at:
            return []
        lost, self.lost = sorted(self.lost), set()
        return lost


def _rotated(items: list[T], turn: int) -> Iterable[T]:
    start = turn % len(items)
    return items[start:] + items[:start]


def _wait_readable(pubsubs: Iterable[Any], timeout: float) -> None:
    """Wait until one of the pub/sub connections has data, at most ``timeout`` seconds."""
    with selectors.DefaultSelector() as selector:
        for pubsub in pubsubs:
            sock = getattr(pubsub.connection, "_sock", None)
            if sock is not None:
                selector.register(sock, selectors.EVENT_READ)
        if selector.get_map():
            selector.select(timeout)
        else:
            time.sleep(timeout)


class SyncShardedPubSub:
    """Sharded pub/sub across the nodes of a cluster, driven like a redis-py PubSub by one thread."""

    def __init__(self, topology: SyncTopology) -> None:
        self._topology = topology
        self._nodes: dict[str, redis.client.PubSub] = {}
        self._shards = _Shards()
        self._turn = 0
        self._fresh = False

    def subscribe(self, *channels: str) -> None:
        if not self._fresh:  # a new connection: on the slot map as it is now
            _guarded(self._topology.refresh)
            _check_sharded(self._topology)
            self._fresh = True
        for channel in channels:
            node = _route(self._topology, channel)
            self._node(node).ssubscribe(channel)
            self._shards.joined(channel, node)

    def unsubscribe(self, *channels: str) -> None:
        for channel in channels:
            node = self._shards.left(channel)
            if node is not None and node in self._nodes:
                self._nodes[node].sunsubscribe(channel)  # type: ignore[no-untyped-call]

    def ping_all(self, token: str) -> int:
        """PING every subscribed node's connection with ``token``; how many pongs to expect."""
        nodes = [self._nodes[name] for name in self._shards.subscribed_nodes() if name in self._nodes]
        for pubsub in nodes:
            pubsub.ping(token)
        return len(nodes)

    def _node(self, name: str) -> redis.client.PubSub:
        if name not in self._nodes:
            self._nodes[name] = redis.client.PubSub(self._topology.pool(name, pubsub=True))
        return self._nodes[name]

    def get_message(self, timeout: float = 0.0) -> dict[str, Any] | None:
        lost = self._shards.to_rejoin()
        if lost:
            _guarded(self._topology.refresh_if_stale)
            self.subscribe(*lost)
        nodes = list(self._nodes.items())
        if not nodes:
            time.sleep(timeout)
            return None
        for pass_ in range(2):
            for name, pubsub in _rotated(nodes, self._turn):
                message = self._read(name, pubsub)
                if message is not None:
                    self._turn += 1
                    return message
            if pass_ == 0:
                _wait_readable((pubsub for _, pubsub in nodes), timeout)
        return None

    def _read(self, name: str, pubsub: redis.client.PubSub) -> dict[str, Any] | None:
        try:
            message = pubsub.get_message(timeout=0)
        except REDIRECTS as exc:
            self._topology.learn(exc, name)
            self._shards.refused(name, exc)
            return None
        if message is None:
            return None
        translated, dropped = self._shards.translate(name, message)
        if dropped:
            self._topology.mark_stale()
        return translated

    def close(self) -> None:
        nodes, self._nodes = list(self._nodes.values()), {}
        for pubsub in nodes:
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError, OSError):
                pubsub.close()


class AsyncShardedPubSub:
    """The asyncio twin of `SyncShardedPubSub`: each node's connection is read by a task of
    its own, so a message from any node is delivered at once."""

    def __init__(self, topology: AsyncTopology) -> None:
        self._topology = topology
        self._nodes: dict[str, redis.asyncio.client.PubSub] = {}
        self._reads: dict[str, asyncio.Task[Any]] = {}
        self._ready: collections.deque[dict[str, Any]] = collections.deque()
        self._shards = _Shards()
        self._fresh = False

    async def subscribe(self, *channels: str) -> None:
        if not self._fresh:
            await _aguarded(self._topology.refresh())
            _check_sharded(self._topology)
            self._fresh = True
        for channel in channels:
            node = _route(self._topology, channel)
            await self._node(node).ssubscribe(channel)
            self._shards.joined(channel, node)

    async def unsubscribe(self, *channels: str) -> None:
        for channel in channels:
            node = self._shards.left(channel)
            if node is not None and node in self._nodes:
                await self._nodes[node].sunsubscribe(channel)

    async def ping_all(self, token: str) -> int:
        """As `SyncShardedPubSub.ping_all`."""
        nodes = [self._nodes[name] for name in self._shards.subscribed_nodes() if name in self._nodes]
        for pubsub in nodes:
            await pubsub.ping(token)
        return len(nodes)

    def _node(self, name: str) -> redis.asyncio.client.PubSub:
        if name not in self._nodes:
            self._nodes[name] = redis.asyncio.client.PubSub(self._topology.pool(name, pubsub=True))
        return self._nodes[name]

    async def get_message(self, timeout: float = 0.0) -> dict[str, Any] | None:
        if self._ready:
            return self._ready.popleft()
        lost = self._shards.to_rejoin()
        if lost:
            await _aguarded(self._topology.refresh_if_stale())
            await self.subscribe(*lost)
        for name, pubsub in self._nodes.items():
            if name not in self._reads:
                self._reads[name] = asyncio.ensure_future(pubsub.get_message(timeout=timeout))
        if not self._reads:
            await asyncio.sleep(timeout)
            return None
        done, _ = await asyncio.wait(self._reads.values(), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for name, task in list(self._reads.items()):
            if task in done:
                del self._reads[name]
                self._take(name, task)
        return self._ready.popleft() if self._ready else None

    def _take(self, name: str, task: asyncio.Task[Any]) -> None:
        try:
            message = task.result()
        except REDIRECTS as exc:
            self._topology.learn(exc, name)
            self._shards.refused(name, exc)
            return
        if message is None:
            return
        translated, dropped = self._shards.translate(name, message)
        if dropped:
            self._topology.mark_stale()
        self._ready.append(translated)

    async def aclose(self) -> None:
        reads, self._reads = list(self._reads.values()), {}
        for task in reads:
            task.cancel()
        await asyncio.gather(*reads, return_exceptions=True)
        nodes, self._nodes = list(self._nodes.values()), {}
        for pubsub in nodes:
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError, OSError):
                await pubsub.aclose()


class SyncClusterPubSubs:
    """Opens the listener's pub/sub connections on a cluster (see the module docstring)."""

    def __init__(self, topology: SyncTopology) -> None:
        self._topology = topology

    def open(self) -> Any:
        """A new pub/sub object: sharded unless the cluster is known to lack it. It loads the
        slot map when it first subscribes (nothing to subscribe, no I/O)."""
        if self._topology.sharded is not False:
            return SyncShardedPubSub(self._topology)
        _guarded(self._topology.refresh)
        return redis.client.PubSub(self._topology.pool(_guarded(lambda: self._topology.route(None)), pubsub=True))

    def close(self) -> None:
        """Nothing to do: the pools belong to the topology, which the client closes."""


class AsyncClusterPubSubs:
    """The asyncio twin of `SyncClusterPubSubs`."""

    def __init__(self, topology: AsyncTopology) -> None:
        self._topology = topology

    async def open(self) -> Any:
        if self._topology.sharded is not False:
            return AsyncShardedPubSub(self._topology)
        await _aguarded(self._topology.refresh())
        return redis.asyncio.client.PubSub(
            self._topology.pool(_guarded(lambda: self._topology.route(None)), pubsub=True)
        )

    async def close(self) -> None:
        """Nothing to do: the pools belong to the topology, which the client closes."""
