"""`AsyncClusterRunner`: runs calls on a Redis Cluster; `SyncClusterRunner`, generated from
this file, is its threaded twin.

Every call's keys share one slot (its queue's tag, or the registry's), so a batch splits
into groups, one per node, and each group is pipelined through the node's own runner on
worqr's own pool for that node: scripts load, NOSCRIPT is handled and a durable write waits
per node. Groups go in the order of their first call, so a batch keeps its order across
nodes (the registry listing a queue before its tasks arrive), and a group that fails holds
back the later ones. When every call of the batch may run twice (reads, a reap's
``leave_queue`` on each queue), order does not matter: every group is sent whatever the
others do (at once, in the asyncio flavour), so an unreachable node holds back only its own
calls, and the first group's failure is raised once all have been heard.

MOVED, ASK, TRYAGAIN and CLUSTERDOWN replies mean the call did not run (see
`worqr._io.cluster.routing`); redirected calls are resent for up to `CLUSTER_POLICY`'s
limit, then RedisUnavailableError is raised, with maybe_applied=False unless an earlier
group applied a state change. A connection that breaks after sending keeps the runners'
rule: retried only if every call may run twice.

redis-py's cluster client holds the slot map (it loads it with CLUSTER SLOTS); worqr's calls
never go through it. Keyless calls (``INFO``) go to its default node. worqr's pools keep
redis-py's check for dead pooled connections (see `checked_pools`), so after a failover a
call reconnects to the new primary before it sends anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worqr import errors
from worqr._io.cluster._async.topology import AsyncTopology
from worqr._io.cluster.routing import FOLLOWED_REDIRECTS, NodeBatch, learn_all, pause_if_asked, take_in
from worqr._io.flavors import AsyncRetrying, async_each
from worqr._io.replies import resolve
from worqr._io.retry import CLUSTER_POLICY, PARTIAL_POLICY, RetryableFailure
from worqr._protocol.call import Call


class AsyncClusterRunner:
    """Runs calls on a Redis Cluster (see the module docstring)."""

    def __init__(self, topology: AsyncTopology) -> None:
        self.topology = topology
        self.where = topology.where

    async def run(self, calls: Sequence[Call[Any]]) -> list[Any]:
        batch = NodeBatch(calls)
        partial = bool(calls) and all(call.partial and call.idempotent for call in calls)
        try:
            await self.topology.cluster()
            await self.topology.refresh_if_stale()
            await self._send(batch)  # the common case, without the cost of a Retrying
        except RetryableFailure:
            await self._retry(batch, partial)
        except errors.RedisUnavailableError as exc:
            if not partial:
                raise
            batch.give_up(self.topology.route, exc)
        return resolve(calls, batch.replies)

    async def _retry(self, batch: NodeBatch, partial: bool) -> None:
        """Resend what is pending until the policy gives up; then a partial batch keeps what
        it has (`NodeBatch.give_up`), any other raises."""
        try:
            async for attempt in AsyncRetrying(**(PARTIAL_POLICY if partial else CLUSTER_POLICY)):
                with attempt:
                    await self.topology.refresh()
                    await self._send(batch)
        except RetryableFailure as exc:
            cause = exc.__cause__ or exc
            if not partial:
                raise batch.unavailable(self.where, cause) from cause
            batch.give_up(self.topology.route, cause)
        except errors.RedisUnavailableError as exc:
            if not partial:
                raise
            batch.give_up(self.topology.route, exc)

    async def _send(self, batch: NodeBatch) -> None:
        together = all(call.idempotent for call in batch.calls)
        for _ in range(FOLLOWED_REDIRECTS):
            groups = batch.groups(self.topology.route)
            redirected = await (self._send_each(batch, groups) if together else self._send_in_order(batch, groups))
            if not redirected:
                return
        raise RetryableFailure from RuntimeError(f"more than {FOLLOWED_REDIRECTS} redirects in a row")

    async def _send_in_order(self, batch: NodeBatch, groups: list[tuple[str, bool, list[int]]]) -> bool:
        """Send group after group; stop at a redirect, so it is resent before later groups."""
        for node, asking, indices in groups:
            try:
                replies = await self.topology.runner(node).replies([batch.calls[i] for i in indices], asking=asking)
            except errors.RedisUnavailableError as exc:
                raise batch.escalate(exc) from exc
            redirects = [(node, batch.record(node, indices, replies))]
            if redirects[0][1]:
                learn_all(self.topology, redirects)
                pause_if_asked(redirects)
                return True
        return False

    async def _send_each(self, batch: NodeBatch, groups: list[tuple[str, bool, list[int]]]) -> bool:
        """Send every group whatever the others do (the calls may run twice, in any order)."""

        def sender(node: str, asking: bool, indices: list[int]) -> Any:
            return lambda: self.topology.runner(node).replies([batch.calls[i] for i in indices], asking=asking)

        outcomes = await async_each([sender(node, asking, indices) for node, asking, indices in groups])
        redirects = take_in(self.topology, batch, groups, outcomes)
        pause_if_asked(redirects)
        return bool(redirects)
