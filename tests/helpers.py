"""Small helpers shared by tests: waiting on a condition with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from worqr import Worqr


def wait_until(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            msg = f"condition not met within {timeout} s"
            raise AssertionError(msg)
        time.sleep(interval)


def pause_heartbeat(client: Worqr) -> None:
    """Stop a client's heartbeat thread, as if its process were frozen (the in-process
    stand-in for SIGSTOP; tests/scenarios does it with real signals)."""
    supervisor = client._supervisor
    assert supervisor is not None
    supervisor.stop()


def without_reap_hint(raw: Any, prefix: str) -> None:
    """Let this prefix's peers reap only at their sweeps or by hand, as tests of reaping by
    hand need: a ``{prefix}:deadlines`` key of another type turns the heartbeats' hint off
    (lua/heartbeat.lua says so), so no heartbeat reaps an overdue worker by itself."""
    raw.set("{" + prefix + "}:deadlines", "off")
