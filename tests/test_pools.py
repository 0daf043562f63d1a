"""The connection pools worqr opens itself keep redis-py's check for dead pooled connections,
in both clients and for every URL kind: with maintenance notifications on ("auto", redis-py
8's default), redis-py reads pending data instead of reconnecting, so a connection to a
server that restarted could take a state change and fail after sending it (maybe applied)
instead of before (retried). The two clients once differed: only the asyncio one turned
them off."""

from __future__ import annotations

from typing import Any

import pytest

from worqr import AsyncWorqr, Worqr
from worqr._io._async.connect import async_pool
from worqr._io._sync.connect import sync_pool
from worqr.testing import RedisServer

URLS = ["redis://127.0.0.1:6399/0", "redis+sentinel://127.0.0.1:26399/mymaster"]


def _checks_dead_connections(pool: Any) -> bool:
    check: Any = pool.maint_notifications_enabled  # redis-py leaves it unannotated
    return not check()


def test_redis_py_turns_the_notifications_on_by_default() -> None:
    import redis

    default: Any = redis.ConnectionPool.from_url(URLS[0])
    assert not _checks_dead_connections(default)


@pytest.mark.parametrize("url", URLS)
def test_the_threaded_clients_pools_check_for_dead_connections(url: str) -> None:
    pool, owned = sync_pool(url)
    assert owned
    assert _checks_dead_connections(pool)
    pool.disconnect()


@pytest.mark.parametrize("url", URLS)
async def test_the_asyncio_clients_pools_check_for_dead_connections(url: str) -> None:
    pool, owned = async_pool(url)
    assert owned
    assert _checks_dead_connections(pool)
    await pool.aclose()


def test_a_stale_connection_after_a_restart_is_replaced_without_duplicating() -> None:
    with (
        RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]) as server,
        Worqr(redis=server.url) as wq,
    ):
        wq.enqueue("jobs", "a")
        server.restart()  # every pooled connection is now dead
        assert wq.enqueue("jobs", "b") == 1
        assert wq.get_tasks("jobs") == ["a", "b"]


async def test_async_a_stale_connection_after_a_restart_is_replaced_without_duplicating() -> None:
    with RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]) as server:
        async with AsyncWorqr(redis=server.url) as wq:
            await wq.enqueue("jobs", "a")
            server.restart()  # every pooled connection is now dead
            assert await wq.enqueue("jobs", "b") == 1  # not RedisUnavailableError(maybe_applied=True)
            assert await wq.get_tasks("jobs") == ["a", "b"]


@pytest.mark.parametrize(
    ("worker_timeout", "durability", "expected"),
    [(3.0, None, 6.0), (1.0, None, 5.0), (20.0, None, 30.0), (None, None, 30.0), (3.0, "replicated", 6.0)],
)
def test_the_read_timeout_of_worqrs_own_connections_follows_worker_timeout(
    worker_timeout: float | None, durability: str | None, expected: float
) -> None:
    """A reply that has not come within twice the worker timeout (5 to 30 s) belongs to a
    broken connection: waiting longer only keeps the worker stuck on it."""
    url, beat = "redis://127.0.0.1:6399/0", (worker_timeout or 3.0) / 3
    kwargs: dict[str, Any] = {"worker_timeout": worker_timeout, "heartbeat_interval": beat, "durability": durability}
    with Worqr(redis=url, **kwargs) as wq:
        runner: Any = wq._runner
        assert runner.pool.connection_kwargs["socket_timeout"] == expected
