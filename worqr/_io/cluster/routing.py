"""Redis Cluster routing, with no I/O: the slot of each call, the node that serves it, the
bookkeeping of one batch across nodes (replies so far, calls still to send, ASK targets),
what MOVED replies taught since the slot map was last loaded, and how a failure to reach
the cluster is reported. The topology and the runner that use it are in ``_async/``.

MOVED, ASK, TRYAGAIN and CLUSTERDOWN replies mean the call did not run: the runner learns
the slot's new owner (MOVED), asks the importing node (ASK: ASKING first), or backs off and
reloads the slot map (TRYAGAIN, CLUSTERDOWN, an unreachable node), and resends only those
calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import redis
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoPermissionError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)

from worqr import errors
from worqr._io.retry import RetryableFailure
from worqr._protocol.call import Call, Unreachable


class Learner(Protocol):
    """What takes in the redirects a node answered (a topology)."""

    def learn(self, redirect: ResponseError, node: str) -> None: ...


#: Redirects followed at once (MOVED names the new owner) before backing off.
FOLLOWED_REDIRECTS = 5
#: Replies that mean "not run here": sent again elsewhere or later. MOVED is an AskError.
REDIRECTS = (AskError, TryAgainError, ClusterDownError)
#: Settings of a node's pool that worqr sets itself or that belong to redis-py's cluster client.
NOT_COPIED = frozenset(
    {"host", "port", "retry", "redis_connect_func", "cache", "cache_config", "maint_notifications_config"}
)
#: Reloads of the slot map closer together than this are skipped (many batches fail at once).
MIN_REFRESH_INTERVAL = 0.05


def slot_of(key: str) -> int:
    """The hash slot of ``key`` (its hash tag's, when it has one)."""
    return int(key_slot(key.encode("utf-8", "surrogateescape")))


def call_slot(call: Call[Any]) -> int | None:
    return slot_of(call.keys[0]) if call.keys else None


def node_name(host: str, port: int) -> str:
    """A node's name as redis-py's cluster client spells it."""
    return f"{host}:{port}"


def knows_ssubscribe() -> Call[bool]:
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


def cannot_connect(where: str, exc: BaseException) -> BaseException:
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


class NodeBatch:
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
            key = (target, True) if target is not None else (route(call_slot(self.calls[i])), False)
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
                    self.asking[i] = node_name(reply.host or host_of(node), reply.port)
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

    def give_up(self, route: Callable[[int | None], str], cause: BaseException) -> None:
        """A partial batch's end: each call still pending gets `Unreachable` (its node, why)."""
        for node, _, indices in self.groups(route):
            for i in indices:
                self.replies[i] = Unreachable(node, str(cause).splitlines()[0] if str(cause) else type(cause).__name__)
        self.pending = []

    def unavailable(self, where: str, cause: BaseException) -> errors.RedisUnavailableError:
        applied = self.applied_changes()
        msg = f"Redis Cluster at {where} did not serve the slots of {len(self.pending)} call(s) in time: {cause}"
        if applied:
            msg += "; earlier calls of the batch, on other nodes, were applied"
        return errors.RedisUnavailableError(msg, maybe_applied=applied)


class Learned:
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
        return time.monotonic() - self.refreshed_at >= MIN_REFRESH_INTERVAL

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


def host_of(name: str) -> str:
    return name.rpartition(":")[0]


def split_name(name: str) -> tuple[str, int]:
    host, _, port = name.rpartition(":")
    return host, int(port)


def learn_all(topology: Learner, redirects: list[tuple[str, list[ResponseError]]]) -> None:
    """Take in the redirects of the groups sent to each node."""
    for node, found in redirects:
        for redirect in found:
            topology.learn(redirect, node)


def take_in(
    topology: Learner,
    batch: NodeBatch,
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
    learn_all(topology, redirects)
    if failure is not None:
        raise failure
    return redirects


def pause_if_asked(redirects: list[tuple[str, list[ResponseError]]]) -> None:
    """Raise RetryableFailure (back off, reload the slot map) when a redirect calls for a
    pause (TRYAGAIN, CLUSTERDOWN), not just another node."""
    pause = next((r for _, found in redirects for r in found if not isinstance(r, AskError)), None)
    if pause is not None:
        raise RetryableFailure from pause
