"""The methods of leases on the clients, one line each over the client's leases. This file
gives them to the asyncio client; its generated twin (``_sync/face.py``) to the threaded one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worqr._io._async.core import AsyncCore
from worqr._protocol.checks import check_int, check_lease_name
from worqr._protocol.keys import LeaseKeys
from worqr.leases import flows
from worqr.leases._async.leadership import AsyncLeadership
from worqr.leases._async.leases import AsyncLease, AsyncLeases, AsyncTerm
from worqr.leases.flows import check_worker
from worqr.leases.ops import Holding
from worqr.leases.terms import DEFAULT_TTL


class AsyncLeasesFace:
    """Leases with fencing tokens, and leader election over them (docs/leases.md)."""

    _core: AsyncCore
    _leases: AsyncLeases

    def lease(self, name: str, ttl: float = DEFAULT_TTL) -> AsyncLease:
        """A contender for the lease ``name``, held ``ttl`` seconds at a time (renewed in
        the background while held), belonging to this client's worker: call
        ``start_worker()`` first; when peers reap the worker, its leases are released at
        once. ``acquire(timeout=None)``, ``try_acquire()``, ``hold(timeout=None)`` give a
        `Term` whose ``token`` strictly increases with every new holder of the name."""
        check_worker(self._core.session, f"lease({name!r})")
        return self._leases.lease(name, ttl)

    def leader(
        self,
        name: str,
        ttl: float = DEFAULT_TTL,
        on_elected: Callable[[AsyncTerm], Any] | None = None,
        on_lost: Callable[[AsyncTerm], Any] | None = None,
    ) -> AsyncLeadership:
        """Campaign for the leadership ``name`` in the background until ``close()``: the
        campaign holds the lease ``name`` whenever it can. ``is_leader``, ``term``,
        ``leader()`` (who leads, from any process); ``on_elected(term)`` and
        ``on_lost(term)`` run on the campaign's own thread or task (coroutines allowed in
        asyncio), also added with ``on("elected" | "lost", callback)``. Needs a started
        worker, like `lease`."""
        leadership = AsyncLeadership(self.lease(name, ttl), self._core, on_elected, on_lost)
        leadership._start()
        return leadership

    async def inspect_leases(self) -> list[Holding]:
        """Every lease used under this prefix, by name: its holder now (None: free), the
        holder's token, when it acquired, the ms left on its hold, and the last token issued
        (what ``worqr leases`` shows). Needs no started worker."""
        return await self._core.drive(flows.inspect_leases(self._core.session))

    async def check_fence(self, name: str, token: int) -> bool:
        """True if ``token`` is the token of the current holder of the lease ``name``: a
        resource that checks this before each write refuses every stale holder. (Checked
        and written in two steps, this leaves a window; a script of your own closes it, with
        `worqr.leases.FENCE_LUA`.)"""
        keys = LeaseKeys(self._core.session.prefix, check_lease_name(name))
        return await self._core.drive(flows.check_fence(keys, check_int("token", token, 1)))
