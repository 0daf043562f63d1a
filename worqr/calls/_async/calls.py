"""`AsyncCall`, the handle of one call, and `AsyncCalls`, what a client does for its calls:
place them, read their records, wait for them to end, cancel them. This file is the asyncio
client's; its generated twin (``_sync/calls.py``) the threaded one's.

Waiting never misses an ending (see ``worqr/calls/waiting.py``): the notice channel of the
call's caller is subscribed and confirmed before the record is read, and read again after
every notice, resync or poll interval. A client listens on one notice channel per queue for
its own calls, whatever their number, and on another caller's channel only while it waits
for one of that caller's calls (a call looked up by id with ``get_call``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Generic, TypeVar

from worqr._io._async.core import AsyncCore
from worqr._io.flavors import AsyncLock, AsyncNotice
from worqr._protocol.models import Event
from worqr.calls import envelope, flows
from worqr.calls.arguments import Signature
from worqr.calls.registry import Function
from worqr.calls.status import CallStatus, Record, result_of
from worqr.calls.waiting import RESYNC, Channels, Heard
from worqr.errors import CallTimeoutError, InvalidArgumentError

R = TypeVar("R")


def _load_plain(value: object) -> Any:
    return value


class AsyncCall(Generic[R]):
    """One call of a registered function: its ``id`` (unique, sortable by time) and what can
    be asked of it. Made by ``call`` (typed by the function) or ``get_call`` (from an id, in
    any process: its result is plain JSON)."""

    def __init__(self, calls: AsyncCalls, call_id: str, signature: Signature | None = None) -> None:
        self._calls = calls
        self.id = call_id
        self._signature = signature

    async def status(self) -> CallStatus:
        """Where the call is now (its state, attempts, worker, times and progress)."""
        (record,) = await self._calls.records([self.id])
        return record.status

    async def result(self, timeout: float | None = None) -> R:
        """The call's return value, once it ended (waiting up to ``timeout`` seconds; None:
        as long as it takes). Raises `CallFailedError` (its attempts used up, or it could not
        run: ``error_type``, ``message``, ``attempts``), `CallCancelledError`,
        `CallNotFoundError` (no such call, or its record expired), or `CallTimeoutError` when
        the wait ran out (the call goes on)."""
        ended = await self._calls.wait([self.id], timeout, first=False)
        return self._outcome(ended[self.id])

    async def cancel(self) -> bool:
        """Cancel the call: a waiting one is removed and ends cancelled (it never runs); a
        running one is told (its handler's cancel token, or its task is cancelled). False if
        it had ended already, or is unknown."""
        return await self._calls.cancel(self.id)

    def _outcome(self, record: Record) -> R:
        load = _load_plain if self._signature is None else self._signature.load_result
        result: R = result_of(record, self.id, load)
        return result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncCall) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"


class AsyncCalls:
    """The calls of one client (see the module docstring)."""

    def __init__(self, core: AsyncCore) -> None:
        self._core = core
        self._session = core.session
        self._lock = AsyncLock()
        self._changed = AsyncNotice(self._lock)
        self._heard = Heard()
        self._channels = Channels()

    async def call(self, fn: Function[Any, R], args: Sequence[object], kwargs: dict[str, object]) -> AsyncCall[R]:
        given: object = fn  # checked at run time: callers are not always type-checked
        if not isinstance(given, Function):
            msg = f"call takes a function registered with @functions.function(queue=...), got {fn!r}"
            raise InvalidArgumentError(msg)
        keys = self._session.queue(fn.queue)
        own = keys.notices(self._session.worker_id)  # this client's calls' notices: kept subscribed
        self._channels.keep(own)
        self._want(own, keys.queue)
        confirmed = self._core.listener.confirmed(own)
        with self._lock:
            resyncs = self._heard.resyncs
        placed = await self._core.drive(flows.place(self._session, fn, args, kwargs))
        if confirmed and not placed.existing:  # its ending cannot pass unheard: no read before its first wait
            with self._lock:
                self._heard.placed(placed.call_id, resyncs)
        return AsyncCall(self, placed.call_id, fn.signature)

    def get(self, call_id: str) -> AsyncCall[Any]:
        envelope.queue_of(call_id)
        return AsyncCall(self, call_id)

    async def records(self, call_ids: Sequence[str]) -> list[Record]:
        return await self._core.drive(flows.records(self._session, call_ids))

    async def cancel(self, call_id: str) -> bool:
        return await self._core.drive(flows.cancel(self._session, call_id)) in ("cancelled", "running")

    async def gather(self, calls: Sequence[AsyncCall[Any]], timeout: float | None) -> list[Any]:
        handles = _handles(calls)
        ended = await self.wait([c.id for c in handles], timeout, first=False)
        return [c._outcome(ended[c.id]) for c in handles]

    async def as_completed(
        self, calls: Sequence[AsyncCall[Any]], timeout: float | None
    ) -> AsyncIterator[AsyncCall[Any]]:
        handles = {c.id: c for c in _handles(calls)}
        deadline = None if timeout is None else time.monotonic() + timeout
        while handles:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ended = await self.wait(list(handles), left, first=True)
            for call_id in list(handles):
                if call_id in ended:
                    yield handles.pop(call_id)

    # Waiting -----------------------------------------------------------------------------

    async def wait(self, call_ids: Sequence[str], timeout: float | None, *, first: bool) -> dict[str, Record]:
        """The records of these calls once they ended (or are unknown): all of them, or with
        ``first`` as soon as one has. `CallTimeoutError` if ``timeout`` runs out before."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pending = list(dict.fromkeys(call_ids))
        watched = list(pending)
        ended: dict[str, Record] = {}
        used: set[str] = set()
        with self._lock:
            self._heard.watch(watched)
        fresh: set[str] | None = None  # the first round's fresh calls (taken with its stamp)
        try:
            while True:
                with self._lock:
                    if fresh is None:
                        fresh = {call_id for call_id in pending if self._heard.fresh(call_id)}
                    stamp = self._heard.stamp(pending)
                    told = {call_id: r for call_id in pending if (r := self._heard.ended(call_id)) is not None}
                ended.update(told)
                unread = [call_id for call_id in pending if call_id not in told and call_id not in fresh]
                waiting: list[tuple[str, Record]] = []
                for call_id, record in zip(unread, await self.records(unread) if unread else [], strict=True):
                    if record.ended or record.status.state == "unknown":
                        ended[call_id] = record
                    else:
                        waiting.append((call_id, record))
                pending = [call_id for call_id in pending if call_id not in ended]
                fresh.clear()  # after a wake, read what the notices did not tell
                if not pending or (first and ended):
                    return ended
                if await self._listen(waiting, used):
                    continue  # just subscribed: read again, now that notices reach this client
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    msg = f"call {pending[0]} did not end within {timeout} s (it goes on; wait again, or cancel it)"
                    raise CallTimeoutError(msg, call_id=pending[0])
                wait = self._session.poll_interval if left is None else min(left, self._session.poll_interval)
                await self._changed.wait_for(functools.partial(self._heard.changed, tuple(pending), stamp), wait)
        finally:
            with self._lock:
                self._heard.unwatch(watched)
            for channel in self._channels.release(used):
                self._core.listener.remove(self._channels.forget(channel), channel, self._on_notice)

    def _want(self, channel: str, queue: str) -> None:
        """Ask for ``channel`` now (a SUBSCRIBE goes out), without waiting for Redis to confirm it."""
        if self._channels.want(channel, queue):
            self._core.listener.want(queue, channel, self._on_notice, resync=RESYNC)

    async def _listen(self, waiting: Sequence[tuple[str, Record]], used: set[str]) -> bool:
        """Listen on the notice channels of these calls' callers; True if one was not
        confirmed yet (confirmed now: what was read before may be stale)."""
        fresh = False
        for call_id, record in waiting:
            if record.caller is None:
                continue
            keys = self._session.queue(envelope.queue_of(call_id))
            channel = keys.notices(record.caller)
            if channel in used:
                continue
            used.add(channel)
            self._channels.use(channel)
            self._want(channel, keys.queue)
            if not self._core.listener.confirmed(channel):
                await self._core.listener.confirm(channel)
                fresh = True
        return fresh

    async def _on_notice(self, event: Event) -> None:
        with self._lock:
            heard = self._heard.hear(event.message)
        if heard:
            await self._changed.notify_all()


def _handles(calls: object) -> list[Any]:
    if isinstance(calls, AsyncCall) or not isinstance(calls, Sequence | set | frozenset):
        msg = f"expected a list of calls (as returned by call or get_call), got {calls!r}"
        raise InvalidArgumentError(msg)
    found = list(calls)
    wrong = [c for c in found if not isinstance(c, AsyncCall)]
    if wrong:
        msg = f"expected calls (as returned by call or get_call), got {wrong[0]!r}"
        raise InvalidArgumentError(msg)
    return found
