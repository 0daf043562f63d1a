"""Events: the wire format published by the scripts, and the bookkeeping of subscriptions.

Pure: the listeners of `worqr._io` (``_async/listener.py``) do the I/O. A message on a queue's channel is
``<type>\\n<body>``; see the ``Publishes:`` line of each script. An event carries at most
`EVENT_TASK_PREVIEW` bytes of a task (``lua/include/event_task.lua``): a ``done`` event a
preview of a longer one, a ``cancel`` event the SHA1 of a longer payload (`DigestCancel`).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from worqr._protocol import scripts
from worqr._protocol.models import Event, make_process_id

Callback = Callable[[Event], Any]

#: How a process ended, as its ``done`` event says: it returned, or a cancel event named it.
Outcome = Literal["succeeded", "cancelled"]
OUTCOMES: tuple[Outcome, ...] = ("succeeded", "cancelled")
#: The most bytes of a task one event carries; defined once, in ``lua/include/limits.lua``.
EVENT_TASK_PREVIEW = scripts.limit("EVENT_TASK_PREVIEW")


@dataclass(frozen=True, slots=True)
class DigestCancel(Event):
    """A ``cancel`` event for a payload longer than `EVENT_TASK_PREVIEW` bytes: ``message``
    holds its first `EVENT_TASK_PREVIEW` bytes (as text, or base64), ``task_size`` its length
    and ``task_sha1`` its SHA1 (hex), by which running workers find their jobs of it."""

    task_size: int = 0
    task_sha1: str = ""

    def names(self, payload: bytes) -> bool:
        """True if ``payload`` is the payload this event cancels."""
        return len(payload) == self.task_size and hashlib.sha1(payload).hexdigest() == self.task_sha1  # noqa: S324 (the scripts name payloads by SHA1: redis.sha1hex)


def payload_text(payload: bytes) -> tuple[str, Literal["utf-8", "base64"]]:
    """A payload as text: UTF-8 where it decodes, else base64."""
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"


def preview_text(preview: bytes, *, truncated: bool) -> tuple[str, Literal["utf-8", "base64"]]:
    """`payload_text` of a task's first bytes: a cut that fell inside a UTF-8 character drops
    that character's first bytes, so that a text preview stays text."""
    if truncated:
        try:
            return codecs.getincrementaldecoder("utf-8")().decode(preview, final=False), "utf-8"
        except UnicodeDecodeError:
            pass
    return payload_text(preview)


def _call_notice(body: bytes) -> str:
    """A call notice's text; one whose outcome is not UTF-8 is cut to ``<id>\n<state>``, so
    that its waiter reads the record rather than trust a mangled result."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return b"\n".join(body.split(b"\n", 2)[:2]).decode("utf-8", "replace")


def parse_event(queue: str, data: bytes) -> Event | None:
    """The event carried by one pub/sub message, or None if it is not one of worqr's."""
    kind, _, body = data.partition(b"\n")
    if kind == b"work":
        return Event("work", queue, body.decode("ascii", "replace"))
    if kind == b"call":
        return Event("call", queue, _call_notice(body))
    if kind == b"published":
        return Event("published", queue, body.decode("ascii", "replace"))
    if kind == b"released":
        return Event("released", queue, body.decode("ascii", "replace"))
    if kind == b"scheduled":
        return Event("scheduled", queue, body.decode("ascii", "replace"))
    if kind == b"delete":
        return Event("delete", queue, "")
    if kind == b"cancel":
        text, encoding = payload_text(body)
        return Event("cancel", queue, text, encoding)
    if kind == b"cancel-digest":
        return _digest_cancel(queue, body)
    if kind == b"done":
        return _done(queue, body)
    return None


def _digest_cancel(queue: str, body: bytes) -> Event | None:
    """``cancel-digest\\n<sha1 hex>\\n<task size>\\n<task preview>`` (a payload over the bound)."""
    parts = body.split(b"\n", 2)
    if len(parts) != 3 or not parts[1].isdigit():  # noqa: PLR2004 (digest, size, preview)
        return None
    digest, size, preview = parts
    text, encoding = preview_text(preview, truncated=True)
    return DigestCancel("cancel", queue, text, encoding, int(size), digest.decode("ascii", "replace"))


def _done(queue: str, body: bytes) -> Event | None:
    """``done\\n<worker_id>\\n<seq>\\n<outcome>\\n<task size>\\n<result>\\n<task preview>``, or the
    older ``done\\n<worker_id>\\n<seq>\\n<result>\\n<task>`` (whole task; read as succeeded). The
    two cannot be confused: an outcome is a bare word, never JSON."""
    parts = body.split(b"\n", 3)
    if len(parts) != 4:  # noqa: PLR2004 (worker, seq, then outcome or result, then the rest)
        return None
    worker_id, seq, third, rest = parts
    outcome = third.decode("ascii", "replace")
    if outcome in OUTCOMES:
        fields = rest.split(b"\n", 2)
        if len(fields) != 3 or not fields[0].isdigit():  # noqa: PLR2004 (size, result, task)
            return None
        size, result, task = int(fields[0]), fields[1], fields[2]
    else:
        outcome, result, task = "succeeded", third, rest
        size = len(task)
    truncated = size > len(task)
    text, encoding = preview_text(task, truncated=truncated)
    try:
        message: dict[str, Any] = {
            "worker_id": worker_id.decode("utf-8"),
            "process_id": make_process_id(int(seq), queue),
            "task": text,
            "result": json.loads(result),
            "outcome": outcome,
        }
    except (ValueError, binascii.Error):
        return None
    if encoding == "base64":
        message["task_encoding"] = "base64"
    if truncated:
        message["task_size"] = size
        message["task_truncated"] = True
    return Event("done", queue, json.dumps(message, ensure_ascii=False), encoding)


@dataclass
class Subscriptions:
    """Which channels this client listens to, why, and who to call.

    A channel is subscribed while it has callbacks or is held open for a queue this worker
    works on (``working``). ``confirmed`` holds channels whose SUBSCRIBE Redis acknowledged
    on the current connection. Events the client makes itself (`local`) go to the callbacks
    of every channel of their queue except the ``quiet`` ones (``done`` channels), once each.
    """

    queue_of: dict[str, str] = field(default_factory=dict)
    callbacks: dict[str, list[Callback]] = field(default_factory=dict)
    working: set[str] = field(default_factory=set)
    quiet: set[str] = field(default_factory=set)
    confirmed: set[str] = field(default_factory=set)

    def wanted(self, channel: str) -> bool:
        return bool(self.callbacks.get(channel)) or channel in self.working

    def channels(self) -> list[str]:
        return [c for c in self.queue_of if self.wanted(c)]

    def working_queues(self) -> set[str]:
        return {self.queue_of[c] for c in self.working}

    def deliveries(self, channel: str, data: bytes) -> list[tuple[Callback, Event]]:
        queue = self.queue_of.get(channel)
        event = None if queue is None else parse_event(queue, data)
        if event is None:
            return []
        return [(cb, event) for cb in list(self.callbacks.get(channel, ()))]

    def local(self, event: Event) -> list[tuple[Callback, Event]]:
        found: dict[int, Callback] = {}
        for channel, queue in self.queue_of.items():
            if queue == event.queue and channel not in self.quiet:
                for cb in self.callbacks.get(channel, ()):
                    found.setdefault(id(cb), cb)
        return [(cb, event) for cb in found.values()]
