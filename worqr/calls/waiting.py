"""What a client's waiters for calls have heard (`Heard`), apart from the I/O.

A waiter never misses an ending: it listens first (the notice channel of the call's caller,
``{P:Q}:calls:<caller>``, subscribed and confirmed), then reads the record, and only then
waits: for a notice of one of its calls, a resync (the channel was subscribed again after a
broken connection, so notices may have been lost), or the poll interval, whichever comes
first; then it reads again. `Heard` counts what arrived for each watched call, so a waiter
sees whether anything changed since it read. No I/O, no lock: the client's lock guards it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: The message the listener delivers on a notice channel that was subscribed again.
RESYNC = b"call\n*\nresync"


class Heard:
    """Counts of notices heard, for the calls some waiter watches, and of resyncs."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._watchers: dict[str, int] = {}
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

    def hear(self, message: str) -> bool:
        """Count one notice (``<id>\\n<state>``); True if a waiter watches its call."""
        call_id, _, _state = message.partition("\n")
        if call_id == "*":
            self.resyncs += 1
            return True
        if call_id not in self._counts:
            return False
        self._counts[call_id] += 1
        return True

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
