"""Events: the wire format published by the scripts, and the bookkeeping of subscriptions.

Pure: the listeners of `worqr._io` (``_async/listener.py``) do the I/O. A message on a queue's channel is
``<type>\\n<body>``; see the ``Publishes:`` line of each script.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from worqr._protocol.models import Event, make_process_id

Callback = Callable[[Event], Any]


def payload_text(payload: bytes) -> tuple[str, Literal["utf-8", "base64"]]:
    """A payload as text: UTF-8 where it decodes, else base64."""
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"


def parse_event(queue: str, data: bytes) -> Event | None:
    """The event carried by one pub/sub message, or None if it is not one of worqr's."""
    kind, _, body = data.partition(b"\n")
    if kind == b"work":
        return Event("work", queue, body.decode("ascii", "replace"))
    if kind == b"scheduled":
        return Event("scheduled", queue, body.decode("ascii", "replace"))
    if kind == b"delete":
        return Event("delete", queue, "")
    if kind == b"cancel":
        text, encoding = payload_text(body)
        return Event("cancel", queue, text, encoding)
    if kind == b"done":
        parts = body.split(b"\n", 3)
        if len(parts) != 4:  # noqa: PLR2004 (worker, seq, result, task)
            return None
        worker_id, seq, result, task = parts
        text, encoding = payload_text(task)
        try:
            message: dict[str, Any] = {
                "worker_id": worker_id.decode("utf-8"),
                "process_id": make_process_id(int(seq), queue),
                "task": text,
                "result": json.loads(result),
            }
        except (ValueError, binascii.Error):
            return None
        if encoding == "base64":
            message["task_encoding"] = "base64"
        return Event("done", queue, json.dumps(message, ensure_ascii=False), encoding)
    return None


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
