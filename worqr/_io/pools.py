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
