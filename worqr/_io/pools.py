"""The settings of the connection pools worqr opens itself."""

from __future__ import annotations

from typing import Any

#: Client settings for the connections worqr opens itself: bounded connect and read times,
#: and no retries inside redis-py (worqr's runner decides what is safe to retry).
OWN_CLIENT_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 5.0,
    "socket_timeout": 30.0,
    "health_check_interval": 0,
}
#: The read timeout of worqr's own connections is twice the worker timeout, within these
#: bounds (seconds): a reply that does not come within it means a connection that is broken
#: (half-open: nothing told this side); the connection is dropped and a new one opened.
SOCKET_TIMEOUT_BOUNDS = (5.0, 30.0)


def own_options(worker_timeout: float | None = None, wait_timeout: float = 0.0) -> dict[str, Any]:
    """The settings of the connections worqr opens for a client with ``worker_timeout``; a
    durable write's wait (``wait_timeout``) must end well before the read timeout."""
    least, most = SOCKET_TIMEOUT_BOUNDS
    derived = most if worker_timeout is None else min(most, max(least, 2 * worker_timeout))
    return {**OWN_CLIENT_OPTIONS, "socket_timeout": max(derived, wait_timeout + least)}


def checked_pools() -> dict[str, Any]:
    """Pool settings that keep redis-py's check for dead pooled connections: redis-py 8
    skips it while maintenance notifications may be on (their default, "auto"), and a
    connection to a node that died would then take a state change and fail after sending
    it (maybe applied) instead of before (retried on the new primary)."""
    try:
        from redis.maint_notifications import MaintNotificationsConfig  # noqa: PLC0415 (redis-py 7+)
    except ImportError:
        return {}
    return {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}
