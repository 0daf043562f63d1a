"""`AsyncLeadership`: a campaign for a lease, in the background, for as long as it is open
(its twin `Leadership`, in a thread). It holds the lease whenever it can: elected, it keeps
the term renewed (the client's lease keeper) and waits for the term to end; lost, it stands
by for the next release. The callbacks ``on_elected`` / ``on_lost`` (and those added with
``on``) run on the campaign's task or thread, never on the heartbeat's; in asyncio they may
be coroutine functions."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal

from worqr._io._async.core import AsyncCore
from worqr._io.flavors import AsyncBackground, AsyncEvent, AsyncLock, async_deliver
from worqr.errors import InvalidArgumentError, WorqrError
from worqr.leases._async.leases import AsyncLease, AsyncTerm

log = logging.getLogger("worqr")

LeaderEvent = Literal["elected", "lost"]
#: How long one wait of the campaign lasts before it looks whether it was closed (seconds).
CAMPAIGN_STEP = 0.5
#: How long the campaign waits after an error (Redis unreachable, the worker lost) before it tries again.
CAMPAIGN_RETRY = 0.5


class AsyncLeadership:
    """See `Worqr.leader`."""

    def __init__(
        self,
        lease: AsyncLease,
        core: AsyncCore,
        on_elected: Callable[[AsyncTerm], Any] | None,
        on_lost: Callable[[AsyncTerm], Any] | None,
    ) -> None:
        self.name = lease.name
        self._lease = lease
        self._core = core
        self._lock = AsyncLock()
        self._callbacks: dict[str, list[Callable[[AsyncTerm], Any]]] = {"elected": [], "lost": []}
        for event, callback in (("elected", on_elected), ("lost", on_lost)):
            if callback is not None:
                self.on(event, callback)  # type: ignore[arg-type]
        self._closing = AsyncEvent()
        self._background = AsyncBackground(f"worqr-leader-{self.name}")

    def _start(self) -> None:
        self._core.parts.insert(0, self)  # closed with the client, before its lease keeper
        self._background.start(self._campaign)

    @property
    def is_leader(self) -> bool:
        """True while this campaign holds an alive term."""
        return self._lease.term is not None

    @property
    def term(self) -> AsyncTerm | None:
        """The term this campaign holds now, or None."""
        return self._lease.term

    async def leader(self) -> str | None:
        """The worker id that leads now (read from Redis: the same answer in every process)."""
        return await self._lease.holder()

    def on(self, event: LeaderEvent, callback: Callable[[AsyncTerm], Any]) -> None:
        """Call ``callback(term)`` on each ``"elected"`` or ``"lost"``."""
        if event not in self._callbacks:
            msg = f"a leadership has the events 'elected' and 'lost', got {event!r}"
            raise InvalidArgumentError(msg)
        given: object = callback  # checked at run time: callers are not always type-checked
        if not callable(given):
            msg = f"callback must be callable, got {callback!r}"
            raise InvalidArgumentError(msg)
        with self._lock:
            self._callbacks[event].append(callback)

    async def close(self) -> None:
        """Step down (a standby takes over at once) and stop campaigning. A leader's
        ``lost`` callbacks run before this returns."""
        self._closing.set_threadsafe()
        await self._lease.release()
        await self._background.join(CAMPAIGN_STEP + 5.0)
        with contextlib.suppress(ValueError):
            self._core.parts.remove(self)

    async def stop(self, grace: float | None = None) -> None:  # noqa: ARG002 (the runtime's signature)
        """`close` (the client closes)."""
        await self.close()

    async def _campaign(self) -> None:
        failing = False
        while not self._closing.is_set():
            try:
                term = await self._lease.acquire(timeout=CAMPAIGN_STEP)
            except WorqrError as exc:
                level = logging.DEBUG if failing else logging.WARNING  # once, not every retry
                log.log(level, "leadership %r: cannot campaign now, will retry: %s", self.name, exc)
                failing = True
                await self._closing.wait(CAMPAIGN_RETRY)
                continue
            failing = False
            if term is None:
                continue
            if self._closing.is_set():
                await self._lease.release()
                return
            log.info("leadership %r: worker %s elected (token %d)", self.name, term.holder, term.token)
            await self._deliver("elected", term)
            while not await term.wait_lost(CAMPAIGN_STEP):
                if self._closing.is_set():
                    await self._lease.release()
            log.info("leadership %r: worker %s lost its term (token %d)", self.name, term.holder, term.token)
            await self._deliver("lost", term)

    async def _deliver(self, event: str, term: AsyncTerm) -> None:
        with self._lock:
            callbacks = list(self._callbacks[event])
        for callback in callbacks:
            try:
                await async_deliver(callback, term)
            except Exception:
                log.exception("leadership %r: %s callback %r failed", self.name, event, callback)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} leader={self.is_leader}>"
