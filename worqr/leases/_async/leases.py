"""`AsyncLease`, one contender for a named lease; `AsyncTerm`, one holder's term of it; and
`AsyncLeases`, what a client does for all its leases: renew every term it holds (one round
trip per renewal, in the background) and tell the standbys when a lease was released. This
file is the asyncio client's; its generated twin (``_sync/leases.py``) the threaded one's
(`Lease`, `Term`).

A standby never polls for a release: it subscribes to the lease's released channel, and
Redis confirms the subscription, before it tries the lease, so a release after its try
cannot pass unheard; it waits for that notice, or for the hold it found to expire (the
holder died without releasing), whichever comes first.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from worqr._io._async.core import AsyncCore
from worqr._io._async.notices import AsyncChannelNotices
from worqr._io.flavors import AsyncBackground, AsyncEvent, AsyncLock
from worqr._protocol.checks import check_lease_name, check_seconds
from worqr._protocol.flows import adrive
from worqr._protocol.keys import LeaseKeys
from worqr._protocol.models import server_time
from worqr.errors import LeaseTimeoutError, WorqrError
from worqr.leases import flows
from worqr.leases.terms import Busy, Grant, check_ttl, renew_every, valid_until, worker_alive_until

log = logging.getLogger("worqr")

#: Delivered to a lease's waiters when its channel was subscribed again after a broken
#: connection (a release may have passed unheard meanwhile): they try again.
RESYNC = b"released\n"
#: How soon the keeper tries a renewal again after one failed to reach Redis (seconds, at most).
RETRY_RENEWAL = 0.1


class AsyncTerm:
    """One holder's term of a lease: ``token`` (greater than every earlier holder's, never
    reused), ``holder`` (the worker id), ``acquired_at`` (server time, UTC) and ``alive``."""

    def __init__(
        self, leases: AsyncLeases, keys: LeaseKeys, *, owner: str, ttl: float, incarnation: str, grant: Grant
    ) -> None:
        self.name = keys.name
        self.token = grant.token
        self.holder = leases.session.worker_id
        self.acquired_at: datetime = server_time(grant.acquired_at_ms)
        self.keys = keys
        self.owner = owner
        self.ttl = ttl
        self._session = leases.session
        self._incarnation = incarnation
        self._lock = AsyncLock()
        self._valid_until = valid_until(grant.sent_at, ttl)
        self.next_renewal = grant.sent_at + renew_every(ttl)
        self._lost = AsyncEvent()

    @property
    def alive(self) -> bool:
        """True while this term certainly holds the lease: its validity, counted on this
        process's clock from when the acquire or last renewal was sent, less the drift
        margin, has not run out; the worker's heartbeat is confirmed recently enough that
        peers cannot have reaped it; and the term was not released or found lost. Once
        False, it stays False."""
        if self._lost.is_set():
            return False
        if time.monotonic() < self.alive_until():
            return True
        self._end()
        return False

    def alive_until(self) -> float:
        """When, on ``time.monotonic()``'s clock, the term ends on this side unless it is
        renewed meanwhile (-inf once it ended): ``alive`` is ``time.monotonic() <
        alive_until()``."""
        if self._lost.is_set():
            return -math.inf
        with self._lock:
            until = self._valid_until
        return min(until, worker_alive_until(self._session, self._incarnation))

    async def wait_lost(self, timeout: float | None = None) -> bool:
        """Wait until the term is over (True), or ``timeout`` seconds pass first (False)."""
        check_seconds("timeout", timeout, allow_none=True)
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while self.alive:
            now = time.monotonic()
            if now >= deadline:
                return False
            await self._lost.wait(max(0.001, min(self.alive_until(), deadline) - now))
        return True

    def _renewed(self, sent_at: float) -> None:
        """A renewal sent at ``sent_at`` succeeded: the term runs on, unless it ended already
        (then it stays ended: it never comes back to life)."""
        if not self.alive:
            return
        with self._lock:
            self._valid_until = max(self._valid_until, valid_until(sent_at, self.ttl))
            self.next_renewal = sent_at + renew_every(self.ttl)

    def _end(self) -> None:
        """The term is over on this side (released, lost, or its validity ran out)."""
        self._lost.set_threadsafe()

    def __repr__(self) -> str:
        state = "alive" if self.alive else "over"
        return f"<{type(self).__name__} {self.name!r} token={self.token} holder={self.holder!r} {state}>"


class AsyncLease:
    """One contender for the lease ``name``, owned by its client's worker (see
    `Worqr.lease`). Two contenders of one name contend with each other, in one process as
    across processes."""

    def __init__(self, leases: AsyncLeases, name: str, ttl: float) -> None:
        self.name = check_lease_name(name)
        self.ttl = check_ttl(ttl)
        self._leases = leases
        self.keys = LeaseKeys(leases.session.prefix, self.name)
        self._owner = uuid.uuid4().hex
        self._registered: str | None = None
        self._term: AsyncTerm | None = None

    @property
    def fence_key(self) -> str:
        """The key that a script of your own passes to ``fence_current`` (`worqr.leases.FENCE_LUA`)."""
        return self.keys.holder

    @property
    def term(self) -> AsyncTerm | None:
        """The term this contender holds, while it is alive."""
        term = self._term
        return term if term is not None and term.alive else None

    async def try_acquire(self) -> AsyncTerm | None:
        """Take the lease if nobody holds it; the term, or None. The term is renewed in the
        background until it is released or lost."""
        got = await self._try()
        return got if isinstance(got, AsyncTerm) else None

    async def acquire(self, timeout: float | None = None) -> AsyncTerm | None:
        """Wait until this contender holds the lease (None if ``timeout`` seconds pass
        first). A release wakes it at once; a holder that died without releasing is
        waited out (its ttl) or released by the peers that reap it. Returns the alive term
        if this contender holds one already."""
        check_seconds("timeout", timeout, allow_none=True)
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        released = self._leases.released
        await released.listen(self.keys.released)
        try:
            while True:
                heard = released.heard(self.keys.released)
                got = await self._try()
                if isinstance(got, AsyncTerm):
                    return got
                now = time.monotonic()
                if now >= deadline:
                    return None
                expires = got.ttl_ms / 1000 if got.ttl_ms >= 0 else 0.0
                await released.wait(self.keys.released, heard, max(0.001, min(expires + 0.001, deadline - now)))
        finally:
            released.unlisten(self.keys.released)

    @contextlib.asynccontextmanager
    async def hold(self, timeout: float | None = None) -> AsyncIterator[AsyncTerm]:
        """``async with lease.hold() as term:`` acquire (raising `LeaseTimeoutError` when
        ``timeout`` runs out), keep the term renewed, and release it on exit. Check
        ``term.alive`` (or pass ``term.token`` to the resource) before each step that needs
        the lease: the term can be lost while the block runs."""
        term = await self.acquire(timeout)
        if term is None:
            msg = f"lease {self.name!r} was not acquired within {timeout} s (held by {await self.holder()!r})"
            raise LeaseTimeoutError(msg, name=self.name)
        try:
            yield term
        finally:
            await self.release()

    async def release(self) -> bool:
        """End this contender's term now; a standby takes over at once. True if a term that
        still held the lease was released."""
        term, self._term = self._term, None
        if term is None:
            return False
        term._end()
        self._leases.drop(term)
        return await self._leases.core.drive(flows.release(self.keys, self._owner, term.token))

    async def holder(self) -> str | None:
        """The worker id that holds the lease now (from any process), or None."""
        return (await self._leases.core.drive(flows.holding(self.keys))).holder

    async def _try(self) -> AsyncTerm | Busy:
        current = self.term
        if current is not None:
            return current
        flow = flows.acquire(self._leases.session, self.keys, self._owner, self.ttl, self._registered)
        incarnation, got = await self._leases.core.drive(flow)
        self._registered = incarnation
        if isinstance(got, Busy):
            return got
        term = AsyncTerm(self._leases, self.keys, owner=self._owner, ttl=self.ttl, incarnation=incarnation, grant=got)
        self._term = term
        self._leases.keep(term)
        return term

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ttl={self.ttl:g}>"


class AsyncLeases:
    """The leases of one client: the keeper that renews its terms, and the released notices
    its standbys wait for."""

    def __init__(self, core: AsyncCore) -> None:
        self.core = core
        self.session = core.session
        self._lock = AsyncLock()
        self._terms: dict[int, AsyncTerm] = {}
        self._wake = AsyncEvent()
        self._background = AsyncBackground("worqr-leases")
        #: The released notices its standbys wait for.
        self.released = AsyncChannelNotices(core.listener, "released", RESYNC)
        core.parts.append(self)

    def lease(self, name: str, ttl: float) -> AsyncLease:
        return AsyncLease(self, name, ttl)

    # Renewing ----------------------------------------------------------------------------

    def keep(self, term: AsyncTerm) -> None:
        """Renew ``term`` until it ends."""
        with self._lock:
            self._terms[id(term)] = term
            start = not self._background.started
        if start:
            self._background.start(self._loop)
        self._wake.set_threadsafe()

    def drop(self, term: AsyncTerm) -> None:
        with self._lock:
            self._terms.pop(id(term), None)

    async def _loop(self) -> None:
        while not self._background.stopping:
            try:
                wake_at = await self._tick()
            except Exception:  # the keeper must outlive any surprise; its terms end on their own clock
                log.exception("the lease keeper failed unexpectedly, will go on")
                wake_at = time.monotonic() + RETRY_RENEWAL
            self._wake.clear()
            with self._lock:
                idle = not self._terms
            await self._wake.wait(None if idle else max(0.0, wake_at - time.monotonic()))

    async def _tick(self) -> float:
        """Drop the terms that ended, renew those due; when the next is due (monotonic)."""
        with self._lock:
            terms = list(self._terms.values())
        for term in terms:
            if not term.alive:
                log.warning("lease %r: term %d of worker %s is over", term.name, term.token, term.holder)
                self.drop(term)
        now = time.monotonic()
        due = [term for term in terms if term.alive and term.next_renewal <= now]
        if due:
            await self._renew(due)
        with self._lock:
            left = list(self._terms.values())
        return min((min(term.next_renewal, term.alive_until()) for term in left), default=math.inf)

    async def _renew(self, due: list[AsyncTerm]) -> None:
        sent_at = time.monotonic()
        try:
            flow = flows.renew_many([(term.keys, term.owner, term.token, term.ttl) for term in due])
            renewed = await adrive(flow, self.core.runner.run)
        except WorqrError as exc:
            log.warning("could not renew lease(s) %s, will retry: %s", [term.name for term in due], exc)
            for term in due:
                term.next_renewal = time.monotonic() + min(RETRY_RENEWAL, renew_every(term.ttl))
            return
        for term, ok in zip(due, renewed, strict=True):
            if ok:
                term._renewed(sent_at)
            else:
                term._end()

    # Lifetime ----------------------------------------------------------------------------

    async def stop(self, grace: float | None = None) -> None:  # noqa: ARG002 (the runtime's signature)
        """Stop renewing and release every term still held (the client closes)."""
        self._wake.set_threadsafe()
        await self._background.stop(5.0)
        with self._lock:
            terms, self._terms = list(self._terms.values()), {}
        for term in terms:
            term._end()
            try:
                await self.core.drive(flows.release(term.keys, term.owner, term.token))
            except WorqrError as exc:
                log.warning("could not release lease %r on close (it expires in its ttl): %s", term.name, exc)
