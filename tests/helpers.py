"""Small helpers shared by tests: waiting on a condition with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable

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
