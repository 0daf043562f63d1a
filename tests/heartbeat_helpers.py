"""Heartbeats for the supervision tests: client settings with a short worker timeout, and
letting a client's heartbeat expire on the server."""

from __future__ import annotations

import redis

from tests.helpers import pause_heartbeat, wait_until, without_reap_hint
from worqr import Worqr
from worqr._protocol.keys import RegistryKeys

FAST = {"heartbeat_interval": 0.05, "worker_timeout": 0.3, "cleanup_interval": 60.0}


def expire(client: Worqr, raw: redis.Redis) -> None:
    """Freeze ``client``'s heartbeat and wait (on the server) until its key has expired.
    The peers' heartbeats do not reap it by themselves meanwhile (`without_reap_hint`):
    the tests that call this reap by hand, or by sweeps."""
    without_reap_hint(raw, client.prefix)
    pause_heartbeat(client)
    key = RegistryKeys(client.prefix).heartbeat(client.worker_id)
    wait_until(lambda: not raw.exists(key))
