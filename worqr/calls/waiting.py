"""What a client's waiters for calls have heard (`Heard`), apart from the I/O.

A waiter never misses an ending: it listens first (the notice channel of the call's caller,
``{P:Q}:calls:<caller>``, subscribed and confirmed), then reads the record, and only then
waits: for a notice of one of its calls, a resync (the channel was subscribed again after a
broken connection, so notices may have been lost), or the poll interval, whichever comes
first; then it reads again. `Heard` counts what arrived for each watched call, so a waiter
sees whether anything changed since it read. No I/O, no lock: the client's lock guards it.

Two shortcuts spare a waiter its reads, both only as sure as the reads they replace:

- An end notice carries the outcome (result, or error) when it is small: `outcome` turns
  it into the record's outcome, and a waiter that hears it takes it without reading the
  record. Only a watched call's: a wait that begins after the end reads the record, which
  may have expired (result_ttl) since.
- A call placed by this client while its own notice channel was confirmed is *fresh*: its
  ending cannot pass unheard from then on, short of a resync, so the first wait for it needs
  no read before it waits (`placed`, `fresh`), unless an end or progress was heard before
  the wait began (the latest `RECENT` such calls are remembered).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import cast

from worqr.calls.status import CallState, CallStatus, Record

#: The message the listener delivers on a notice channel that was subscribed again.
RESYNC = b"call\n*\nresync"
#: How many fresh calls, and calls heard of while no one waited, a client remembers.
RECENT = 4096
_ENDS = ("succeeded", "failed", "cancelled")


def outcome(message: str) -> Record | None:
    """The outcome an end notice (``<id>\n<state>\n<attempts>\n<function>\n<outcome>``)
    carries; None for progress, a resync or a short notice (its outcome was too large)."""
    parts = message.split("\n", 4)
    if len(parts) != 5 or parts[1] not in _ENDS:  # noqa: PLR2004 (the five fields above)
        return None
    _, state, attempts, function, rest = parts
    status = CallStatus(cast("CallState", state), attempts=int(attempts) if attempts.isdigit() else 0)
    if state == "succeeded":
        return Record(status, function=function, result=rest.encode())
    if state == "failed":
        error_type, _, error = rest.partition("\n")
        return Record(status, function=function, error_type=error_type, error=error)
    return Record(status, function=function)


class _Bounded(OrderedDict[str, int]):
    """The latest `RECENT` entries."""

    def put(self, key: str, value: int) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > RECENT:
            self.popitem(last=False)


class Heard:
    """Counts of notices heard, for the calls some waiter watches, and of resyncs; the
    outcomes notices carried; the fresh calls."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._watchers: dict[str, int] = {}
        self._outcomes: dict[str, Record] = {}
        self._recent = _Bounded()
        self._placed = _Bounded()
        self.resyncs = 0

    def watch(self, call_ids: Iterable[str]) -> None:
        for call_id in call_ids:
            self._watchers[call_id] = self._watchers.get(call_id, 0) + 1
            self._counts.setdefault(call_id, 0)

    def unwatch(self, call_ids: Iterable[str]) -> None:
        for call_id in call_ids:
            left = self._watchers.get(call_id, 0) - 1
            if left > 0:
                self._watchers[call_id] = left
            else:
                self._watchers.pop(call_id, None)
                self._counts.pop(call_id, None)
                self._outcomes.pop(call_id, None)

    def hear(self, message: str) -> bool:
        """Count one notice (``<id>\n<state>...``); True if a waiter watches its call."""
        call_id, _, _rest = message.partition("\n")
        if call_id == "*":
            self.resyncs += 1
            return True
        if call_id not in self._counts:
            self._recent.put(call_id, 1)  # not fresh any more, if it was
            return False
        self._counts[call_id] += 1
        ended = outcome(message)
        if ended is not None:
            self._outcomes[call_id] = ended
        return True

    def ended(self, call_id: str) -> Record | None:
        """The outcome a notice carried for this watched call, if one did."""
        return self._outcomes.get(call_id)

    def placed(self, call_id: str, resyncs: int) -> None:
        """This client placed ``call_id`` with its notice channel confirmed, when `resyncs`
        was ``resyncs``."""
        self._placed.put(call_id, resyncs)

    def fresh(self, call_id: str) -> bool:
        """True (once) if nothing can have passed unheard for this call since it was placed:
        it was placed fresh, no resync came since, and no notice was heard for it."""
        resyncs = self._placed.pop(call_id, None)
        return resyncs == self.resyncs and call_id not in self._recent and not self._counts.get(call_id)

    def stamp(self, call_ids: Sequence[str]) -> tuple[int, ...]:
        """What has been heard for these calls so far: compare two stamps to see a change."""
        return (self.resyncs, *(self._counts.get(call_id, 0) for call_id in call_ids))

    def changed(self, call_ids: Sequence[str], stamp: tuple[int, ...]) -> bool:
        """True if something was heard for these calls since ``stamp`` was taken."""
        return self.stamp(call_ids) != stamp


class Channels:
    """The notice channels a client listens to, and how many waits use each. The client's
    own channels (its calls' notices, one per queue) stay subscribed; another caller's are
    dropped when no wait uses them any more, so subscriptions do not grow with the calls
    looked up by id."""

    def __init__(self) -> None:
        self.queue_of: dict[str, str] = {}
        self._kept: set[str] = set()
        self._uses: dict[str, int] = {}

    def keep(self, channel: str) -> None:
        self._kept.add(channel)

    def want(self, channel: str, queue: str) -> bool:
        """Record that ``channel`` (of ``queue``) is listened to; True if it was not yet."""
        if channel in self.queue_of:
            return False
        self.queue_of[channel] = queue
        return True

    def use(self, channel: str) -> None:
        self._uses[channel] = self._uses.get(channel, 0) + 1

    def release(self, channels: Iterable[str]) -> list[str]:
        """Stop using ``channels``; the ones to unsubscribe (another caller's, now unused)."""
        dropped = []
        for channel in channels:
            left = self._uses.get(channel, 0) - 1
            if left > 0:
                self._uses[channel] = left
                continue
            self._uses.pop(channel, None)
            if channel not in self._kept and channel in self.queue_of:
                dropped.append(channel)
        return dropped

    def forget(self, channel: str) -> str:
        """The queue of a dropped channel; it is no longer listened to."""
        return self.queue_of.pop(channel)
