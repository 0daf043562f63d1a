"""Helpers shared by the runtime tests (tests/test_runtime.py, tests/test_fast_paths.py and
their async twins): client settings and timings, a handler's own error, the ``done`` events of
a queue, starting a worker and waiting for its counters, and declaring a client dead."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from tests.helpers import pause_heartbeat, wait_until
from worqr import Backoff, Event, Process, Worker, Worqr, cancel_token
from worqr._protocol.keys import RegistryKeys

#: Client settings that keep the tests fast: quick heartbeats, frequent polling.
#: Expiry is never waited for (loss tests delete the heartbeat key), so it may be generous:
#: a loaded machine must not make a live worker look dead.
FAST: dict[str, Any] = {
    "heartbeat_interval": 0.2,
    "worker_timeout": 1.0,
    "cleanup_interval": 60.0,
    "poll_interval": 0.2,
}
#: A retry delay that does not slow a test down.
QUICK = Backoff(base=0.01, jitter=0)
#: Longest a blocked test handler waits before giving up (a failing test ends, never hangs).
LONG = 10.0
#: FAST, but no poll during a test: only the scripts' wake-ups move an idle worker.
QUIET: dict[str, Any] = {**FAST, "poll_interval": 60.0}
#: Seconds a test watches for something that must not happen (a window, not a synchronization).
WINDOW = 0.3


class PaymentDeclinedError(Exception):
    """A handler's own error, whose type name must reach the dead letter."""


class DoneEvents:
    """Collects the ``done`` events of a queue, as seen by a subscribed client."""

    def __init__(self, client: Worqr, queue: str = "jobs") -> None:
        self.messages: list[dict[str, Any]] = []
        client.on(queue, self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.type == "done":
            self.messages.append(json.loads(event.message))

    def results(self) -> dict[str, object]:
        return {m["task"]: m["result"] for m in self.messages}


def started(worker: Worker[Any], stopping: list[Worker[Any]]) -> Worker[Any]:
    stopping.append(worker)
    worker.start()
    return worker


def settled(worker: Worker[Any], **expected: int) -> None:
    """Wait until the worker's counters read ``expected``: a counter moves just after the
    outcome it counts reached Redis, so a test may see the outcome (an event) first."""
    try:
        wait_until(lambda: all(getattr(worker.stats, k) == v for k, v in expected.items()), timeout=5.0)
    except AssertionError:
        raise AssertionError(f"expected {expected}, got {worker.stats}") from None


def held_until_told(process: Process[Any]) -> str | None:
    """A handler body that runs until the runtime tells it to stop; returns why it stopped."""
    token = cancel_token()
    token.wait(LONG)
    return token.reason


def server_seconds(raw: redis.Redis) -> float:
    seconds, micros = raw.time()
    return seconds + micros / 1e6


def declare_dead(victim: Worqr, peer: Worqr, raw: redis.Redis) -> None:
    """Make ``victim``'s heartbeat expire now and have ``peer`` reap it."""
    victim_id = victim.worker_id  # a worker restarting on loss takes a new one meanwhile
    pause_heartbeat(victim)
    raw.delete(RegistryKeys(victim.prefix).heartbeat(victim_id))
    assert peer.cleanup_workers() == [victim_id]


def handler(process: Process[str]) -> None:
    """A valid handler for the option tests."""


def keys_of(raw: redis.Redis, client: Worqr) -> list[bytes]:
    return sorted(cast("list[bytes]", list(raw.scan_iter(match=f"*{client.prefix}*"))))
